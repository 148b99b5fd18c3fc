package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/certs/pki"
)

func generate(t *testing.T, opts pki.Options) *pki.Bundle {
	t.Helper()
	b, err := pki.Generate(opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return b
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("expected a PEM CERTIFICATE block, got %q", data)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("unexpected data after the certificate: %q", rest)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

func parseKey(t *testing.T, data []byte) any {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("expected a PEM PRIVATE KEY block, got %q", data)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse private key: %v", err)
	}
	return key
}

func rootsFor(t *testing.T, b *pki.Bundle) *x509.CertPool {
	t.Helper()
	pool, err := b.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestServingCertificateVerifiesAgainstTheCA(t *testing.T) {
	defaults := generate(t, pki.Options{})
	custom := generate(t, pki.Options{Hosts: []string{"*.example.test", "[fd00::10]", " 10.0.0.7 ", "Webhook.Local"}})

	tests := []struct {
		name   string
		bundle *pki.Bundle
		host   string
	}{
		{"the default certificate is valid for localhost", defaults, "localhost"},
		{"the default certificate is valid for 127.0.0.1", defaults, "127.0.0.1"},
		{"the default certificate is valid for ::1", defaults, "::1"},
		{"the default certificate is valid for the service name with .svc", defaults, "failover-webhook-webhook-service.failover-webhook-system.svc"},
		{"the default certificate is valid for the fully qualified service name", defaults, "failover-webhook-webhook-service.failover-webhook-system.svc.cluster.local"},
		{"a wildcard host covers a name below it", custom, "hook.example.test"},
		{"a bracketed IPv6 host is a valid IP address", custom, "fd00::10"},
		{"spaces around a host are ignored", custom, "10.0.0.7"},
		{"DNS names are matched without regard to case", custom, "webhook.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := parseCert(t, tt.bundle.Cert)
			_, err := cert.Verify(x509.VerifyOptions{
				DNSName:   tt.host,
				Roots:     rootsFor(t, tt.bundle),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Fatalf("verify for %q: %v", tt.host, err)
			}
		})
	}
}

func TestServingCertificateIsRejectedForOtherHostsAndOtherCAs(t *testing.T) {
	b := generate(t, pki.Options{})
	other := generate(t, pki.Options{})
	cert := parseCert(t, b.Cert)

	tests := []struct {
		name  string
		host  string
		roots *x509.CertPool
		check func(error) bool
	}{
		{
			name:  "a host that is not listed is rejected",
			host:  "example.com",
			roots: rootsFor(t, b),
			check: func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) },
		},
		{
			name:  "an IP address that is not listed is rejected",
			host:  "10.1.2.3",
			roots: rootsFor(t, b),
			check: func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) },
		},
		{
			name:  "another CA does not vouch for the certificate",
			host:  "localhost",
			roots: rootsFor(t, other),
			check: func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cert.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: tt.roots})
			if err == nil {
				t.Fatalf("verify for %q unexpectedly succeeded", tt.host)
			}
			if !tt.check(err) {
				t.Fatalf("verify for %q failed with an unexpected error: %v", tt.host, err)
			}
		})
	}
}

func TestGeneratedCertificateProperties(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b := generate(t, pki.Options{Now: now})
	ca := parseCert(t, b.CACert)
	leaf := parseCert(t, b.Cert)

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"the serving certificate is not a CA", func(t *testing.T) {
			if leaf.IsCA || !leaf.BasicConstraintsValid {
				t.Fatalf("IsCA=%v BasicConstraintsValid=%v, want false/true", leaf.IsCA, leaf.BasicConstraintsValid)
			}
			if leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
				t.Fatal("serving certificate may sign certificates")
			}
		}},
		{"the serving certificate is for server authentication with digital signatures", func(t *testing.T) {
			if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Fatalf("ExtKeyUsage = %v, want [ServerAuth]", leaf.ExtKeyUsage)
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Fatalf("KeyUsage = %v, want DigitalSignature", leaf.KeyUsage)
			}
		}},
		{"the CA certificate is a self-signed CA that signs only leaf certificates", func(t *testing.T) {
			if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Fatalf("IsCA=%v BasicConstraintsValid=%v KeyUsage=%v", ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage)
			}
			if ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
				t.Fatalf("MaxPathLen=%d MaxPathLenZero=%v, want 0/true", ca.MaxPathLen, ca.MaxPathLenZero)
			}
			if err := ca.CheckSignatureFrom(ca); err != nil {
				t.Fatalf("CA is not self-signed: %v", err)
			}
			if err := leaf.CheckSignatureFrom(ca); err != nil {
				t.Fatalf("serving certificate is not signed by the CA: %v", err)
			}
		}},
		{"the serving key matches the serving certificate", func(t *testing.T) {
			if _, err := tls.X509KeyPair(b.Cert, b.Key); err != nil {
				t.Fatal(err)
			}
			if _, err := b.TLSCertificate(); err != nil {
				t.Fatal(err)
			}
		}},
		{"the CA key matches the CA certificate", func(t *testing.T) {
			if _, err := tls.X509KeyPair(b.CACert, b.CAKey); err != nil {
				t.Fatal(err)
			}
		}},
		{"the serving key does not match the CA certificate", func(t *testing.T) {
			if _, err := tls.X509KeyPair(b.CACert, b.Key); err == nil {
				t.Fatal("serving key unexpectedly matches the CA certificate")
			}
		}},
		{"both keys are ECDSA P-256", func(t *testing.T) {
			for name, data := range map[string][]byte{"ca.key": b.CAKey, "tls.key": b.Key} {
				key, ok := parseKey(t, data).(*ecdsa.PrivateKey)
				if !ok || key.Curve != elliptic.P256() {
					t.Fatalf("%s is %T, want an ECDSA P-256 key", name, key)
				}
			}
			if leaf.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Fatalf("signature algorithm = %v", leaf.SignatureAlgorithm)
			}
		}},
		{"IP addresses and DNS names end up in the right fields", func(t *testing.T) {
			wantDNS := []string{
				"localhost",
				"failover-webhook-webhook-service.failover-webhook-system.svc",
				"failover-webhook-webhook-service.failover-webhook-system.svc.cluster.local",
			}
			if !slices.Equal(leaf.DNSNames, wantDNS) {
				t.Fatalf("DNSNames = %v, want %v", leaf.DNSNames, wantDNS)
			}
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, []string{"127.0.0.1", "::1"}) {
				t.Fatalf("IPAddresses = %v", ips)
			}
		}},
		{"the serving certificate lives for the default validity and the CA ten times as long", func(t *testing.T) {
			if !leaf.NotAfter.Equal(now.Add(pki.DefaultValidity)) {
				t.Fatalf("serving NotAfter = %v, want %v", leaf.NotAfter, now.Add(pki.DefaultValidity))
			}
			if !ca.NotAfter.Equal(now.Add(10 * pki.DefaultValidity)) {
				t.Fatalf("CA NotAfter = %v, want %v", ca.NotAfter, now.Add(10*pki.DefaultValidity))
			}
			if !leaf.NotBefore.Before(now) || now.Sub(leaf.NotBefore) > 10*time.Minute {
				t.Fatalf("serving NotBefore = %v, want shortly before %v", leaf.NotBefore, now)
			}
			if leaf.NotBefore.Before(ca.NotBefore) {
				t.Fatalf("serving certificate starts before the CA")
			}
		}},
		{"serial numbers are random and positive", func(t *testing.T) {
			again := parseCert(t, generate(t, pki.Options{}).Cert)
			serials := []string{ca.SerialNumber.String(), leaf.SerialNumber.String(), again.SerialNumber.String()}
			for _, c := range []*x509.Certificate{ca, leaf, again} {
				if c.SerialNumber.Sign() <= 0 {
					t.Fatalf("serial %v is not positive", c.SerialNumber)
				}
			}
			if serials[0] == serials[1] || serials[1] == serials[2] || serials[0] == serials[2] {
				t.Fatalf("serial numbers repeat: %v", serials)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func TestValidityOptions(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name             string
		opts             pki.Options
		wantServingUntil time.Time
		wantCAUntil      time.Time
	}{
		{
			name:             "a custom validity sets the serving lifetime and ten times that for the CA",
			opts:             pki.Options{Now: now, Validity: 48 * time.Hour},
			wantServingUntil: now.Add(48 * time.Hour),
			wantCAUntil:      now.Add(480 * time.Hour),
		},
		{
			name:             "an explicit CA validity is used as given",
			opts:             pki.Options{Now: now, Validity: time.Hour, CAValidity: 2 * time.Hour},
			wantServingUntil: now.Add(time.Hour),
			wantCAUntil:      now.Add(2 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := generate(t, tt.opts)
			if got := parseCert(t, b.Cert).NotAfter; !got.Equal(tt.wantServingUntil) {
				t.Errorf("serving NotAfter = %v, want %v", got, tt.wantServingUntil)
			}
			if got := parseCert(t, b.CACert).NotAfter; !got.Equal(tt.wantCAUntil) {
				t.Errorf("CA NotAfter = %v, want %v", got, tt.wantCAUntil)
			}
		})
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name        string
		opts        pki.Options
		wantErr     error
		wantMessage string
	}{
		{"an empty host list is rejected", pki.Options{Hosts: []string{}}, pki.ErrInvalidHosts, "at least one"},
		{"an empty -hosts flag value is rejected", pki.Options{Hosts: pki.SplitHosts("  ")}, pki.ErrInvalidHosts, "at least one"},
		{"an empty entry in the host list is rejected", pki.Options{Hosts: pki.SplitHosts("localhost,,127.0.0.1")}, pki.ErrInvalidHosts, "entry 2 is empty"},
		{"a host with a port is rejected", pki.Options{Hosts: []string{"localhost:9443"}}, pki.ErrInvalidHosts, `"localhost:9443"`},
		{"a URL is rejected", pki.Options{Hosts: []string{"https://localhost"}}, pki.ErrInvalidHosts, `"https://localhost"`},
		{"a host with an underscore is rejected", pki.Options{Hosts: []string{"my_host.local"}}, pki.ErrInvalidHosts, `"my_host.local"`},
		{"a host with a trailing dot is rejected", pki.Options{Hosts: []string{"localhost."}}, pki.ErrInvalidHosts, "RFC 1123 subdomain"},
		{"a label starting with a hyphen is rejected", pki.Options{Hosts: []string{"-bad.local"}}, pki.ErrInvalidHosts, "start and end with an alphanumeric character"},
		{"a label longer than 63 characters is rejected", pki.Options{Hosts: []string{strings.Repeat("a", 64) + ".local"}}, pki.ErrInvalidHosts, "longer than 63"},
		{"a wildcard that is not the first label is rejected", pki.Options{Hosts: []string{"a.*.local"}}, pki.ErrInvalidHosts, `"a.*.local"`},
		{"a negative validity is rejected", pki.Options{Validity: -time.Hour}, pki.ErrInvalidValidity, "must be positive"},
		{"a validity too long to represent for the CA is rejected", pki.Options{Validity: pki.MaxValidity + 1}, pki.ErrInvalidValidity, "longer than the maximum"},
		{"a negative CA validity is rejected", pki.Options{CAValidity: -time.Hour}, pki.ErrInvalidValidity, "must be positive"},
		{"a CA that expires before the serving certificate is rejected", pki.Options{Validity: 2 * time.Hour, CAValidity: time.Hour}, pki.ErrInvalidValidity, "shorter than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := pki.Generate(tt.opts)
			if err == nil {
				t.Fatalf("Generate(%+v) = %v, want an error", tt.opts, b)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not mention %q", err, tt.wantMessage)
			}
		})
	}
}

func TestSplitHosts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"a blank value gives an empty list", " ", []string{}},
		{"entries are trimmed", " localhost , ::1", []string{"localhost", "::1"}},
		{"empty entries are kept so that they can be reported", "a,,b", []string{"a", "", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pki.SplitHosts(tt.in); !slices.Equal(got, tt.want) || got == nil {
				t.Fatalf("SplitHosts(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWriteDir(t *testing.T) {
	type file struct {
		name string
		mode fs.FileMode
		data func(*pki.Bundle) []byte
	}
	files := []file{
		{pki.CACertFile, 0o644, func(b *pki.Bundle) []byte { return b.CACert }},
		{pki.CAKeyFile, 0o600, func(b *pki.Bundle) []byte { return b.CAKey }},
		{pki.CertFile, 0o644, func(b *pki.Bundle) []byte { return b.Cert }},
		{pki.KeyFile, 0o600, func(b *pki.Bundle) []byte { return b.Key }},
	}
	readAll := func(t *testing.T, dir string) map[string][]byte {
		t.Helper()
		got := map[string][]byte{}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, f.name))
			if err != nil {
				t.Fatal(err)
			}
			got[f.name] = data
		}
		return got
	}

	tests := []struct {
		name string
		run  func(t *testing.T, dir string)
	}{
		{"files are written with their contents and keys have mode 0600", func(t *testing.T, dir string) {
			out := filepath.Join(dir, "nested", "out")
			b := generate(t, pki.Options{})
			if err := b.WriteDir(out, false); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o700 {
				t.Errorf("folder mode = %o, want 700", got)
			}
			for _, f := range files {
				info, err := os.Stat(filepath.Join(out, f.name))
				if err != nil {
					t.Fatal(err)
				}
				if got := info.Mode().Perm(); got != f.mode {
					t.Errorf("%s mode = %o, want %o", f.name, got, f.mode)
				}
			}
			got := readAll(t, out)
			for _, f := range files {
				if !bytes.Equal(got[f.name], f.data(b)) {
					t.Errorf("%s content differs from the bundle", f.name)
				}
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(files) {
				t.Errorf("folder holds %d entries, want %d (no leftover temporary files)", len(entries), len(files))
			}
		}},
		{"written files load as a key pair and a CA pool", func(t *testing.T, dir string) {
			if err := generate(t, pki.Options{}).WriteDir(dir, false); err != nil {
				t.Fatal(err)
			}
			if _, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile)); err != nil {
				t.Fatal(err)
			}
			caPEM, err := os.ReadFile(filepath.Join(dir, pki.CACertFile))
			if err != nil {
				t.Fatal(err)
			}
			if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
				t.Fatal("ca.crt holds no certificate")
			}
		}},
		{"an existing folder keeps its mode", func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := generate(t, pki.Options{}).WriteDir(dir, false); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o755 {
				t.Errorf("folder mode = %o, want 755", got)
			}
		}},
		{"existing files are not overwritten without the overwrite flag", func(t *testing.T, dir string) {
			first := generate(t, pki.Options{})
			if err := first.WriteDir(dir, false); err != nil {
				t.Fatal(err)
			}
			before := readAll(t, dir)
			err := generate(t, pki.Options{}).WriteDir(dir, false)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("error = %v, want one wrapping fs.ErrExist", err)
			}
			for _, f := range files {
				if !strings.Contains(err.Error(), f.name) {
					t.Errorf("error %q does not name %s", err, f.name)
				}
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the folder %s", err, dir)
			}
			after := readAll(t, dir)
			for _, f := range files {
				if !bytes.Equal(before[f.name], after[f.name]) {
					t.Errorf("%s changed although overwriting was refused", f.name)
				}
			}
		}},
		{"a single existing file blocks writing any file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, pki.KeyFile), []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := generate(t, pki.Options{}).WriteDir(dir, false)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), pki.KeyFile) {
				t.Fatalf("error = %v, want one wrapping fs.ErrExist naming %s", err, pki.KeyFile)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("folder holds %d entries, want only the pre-existing %s", len(entries), pki.KeyFile)
			}
		}},
		{"existing files are replaced with the overwrite flag and keep tight modes", func(t *testing.T, dir string) {
			for _, f := range files {
				if err := os.WriteFile(filepath.Join(dir, f.name), []byte("old"), 0o666); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(dir, f.name), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			b := generate(t, pki.Options{})
			if err := b.WriteDir(dir, true); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, dir)
			for _, f := range files {
				if !bytes.Equal(got[f.name], f.data(b)) {
					t.Errorf("%s was not replaced", f.name)
				}
				info, err := os.Stat(filepath.Join(dir, f.name))
				if err != nil {
					t.Fatal(err)
				}
				if perm := info.Mode().Perm(); perm != f.mode {
					t.Errorf("%s mode = %o, want %o", f.name, perm, f.mode)
				}
			}
		}},
		{"a file in place of the folder is reported with its path", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "not-a-folder")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			err := generate(t, pki.Options{}).WriteDir(path, true)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("error = %v, want one naming %s", err, path)
			}
		}},
		{"an empty folder name is rejected", func(t *testing.T, dir string) {
			if err := generate(t, pki.Options{}).WriteDir("", true); err == nil {
				t.Fatal("WriteDir(\"\") unexpectedly succeeded")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, t.TempDir())
		})
	}
}

// TestTLSHandshake serves HTTPS over loopback with certificates read back
// from disk, the same way `webhook serve --cert-dir` does, and connects with
// clients that trust only a given ca.crt.
func TestTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	if err := generate(t, pki.Options{}).WriteDir(dir, false); err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := generate(t, pki.Options{}).WriteDir(otherDir, false); err != nil {
		t.Fatal(err)
	}

	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}

	isUnknownAuthority := func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) }
	isHostname := func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) }

	tests := []struct {
		name       string
		caFile     string
		serverName string // empty: verify the IP address in the URL
		wantErr    func(error) bool
	}{
		{name: "a client trusting only ca.crt connects to 127.0.0.1", caFile: filepath.Join(dir, pki.CACertFile)},
		{name: "a client trusting only ca.crt connects to localhost", caFile: filepath.Join(dir, pki.CACertFile), serverName: "localhost"},
		{
			name:       "a client trusting only ca.crt connects to the in-cluster service name",
			caFile:     filepath.Join(dir, pki.CACertFile),
			serverName: "failover-webhook-webhook-service.failover-webhook-system.svc",
		},
		{name: "a client trusting another CA fails", caFile: filepath.Join(otherDir, pki.CACertFile), wantErr: isUnknownAuthority},
		{name: "a client expecting a host that is not in the certificate fails", caFile: filepath.Join(dir, pki.CACertFile), serverName: "example.com", wantErr: isHostname},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caPEM, err := os.ReadFile(tt.caFile)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(caPEM) {
				t.Fatalf("%s holds no certificate", tt.caFile)
			}
			client := &http.Client{
				Timeout: 10 * time.Second,
				Transport: &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: tt.serverName, MinVersion: tls.VersionTLS12},
				},
			}
			t.Cleanup(client.CloseIdleConnections)

			resp, err := client.Get("https://" + net.JoinHostPort("127.0.0.1", port) + "/")
			if tt.wantErr != nil {
				if err == nil {
					_ = resp.Body.Close()
					t.Fatal("request unexpectedly succeeded")
				}
				if !tt.wantErr(err) {
					t.Fatalf("request failed with an unexpected error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("got %d %q, want 200 \"ok\"", resp.StatusCode, body)
			}
			if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
				t.Fatal("response was not served over TLS")
			}
		})
	}
}
