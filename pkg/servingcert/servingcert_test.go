package servingcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/certs/pki"
)

// newCA returns a CA certificate whose validity starts at notBefore and
// lasts validity.
func newCA(t *testing.T, notBefore time.Time, validity time.Duration) *x509.Certificate {
	t.Helper()
	b, err := pki.Generate(pki.Options{Hosts: []string{"localhost"}, Validity: validity, CAValidity: validity, Now: notBefore})
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, b.CACert)[0]
}

func parse(t *testing.T, bundle []byte) []*x509.Certificate {
	t.Helper()
	cas, err := parseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return cas
}

func encode(cas ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range cas {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func TestMergeBundle(t *testing.T) {
	now := time.Now()
	older := newCA(t, now.Add(-4*time.Hour), 24*time.Hour)
	old := newCA(t, now.Add(-3*time.Hour), 24*time.Hour)
	recent := newCA(t, now.Add(-2*time.Hour), 24*time.Hour)
	current := newCA(t, now.Add(-time.Hour), 24*time.Hour)
	newest := newCA(t, now.Add(-30*time.Minute), 24*time.Hour)
	expired := newCA(t, now.Add(-48*time.Hour), time.Hour)

	tests := map[string]struct {
		bundle []byte
		// grace is how long a CA is kept after a newer one is issued;
		// a day unless set, so that nothing is pruned.
		grace time.Duration
		want  []*x509.Certificate
	}{
		"an empty bundle gets the CA": {
			want: []*x509.Certificate{current},
		},
		"a bundle with the CA is left as it is": {
			bundle: encode(old, current), want: []*x509.Certificate{old, current},
		},
		"a new CA goes after the ones already trusted, which stay": {
			bundle: encode(old), want: []*x509.Certificate{old, current},
		},
		"expired CAs are dropped": {
			bundle: encode(expired, old), want: []*x509.Certificate{old, current},
		},
		"duplicates are dropped": {
			bundle: encode(old, old, current, current), want: []*x509.Certificate{old, current},
		},
		"over MaxBundledCAs (4) the earliest issued go, never the CA": {
			bundle: encode(recent, older, current, old, newest), want: []*x509.Certificate{recent, current, old, newest},
		},
		"a CA superseded longer than the grace ago is pruned, the one superseded since stays": {
			bundle: encode(old, recent, current), grace: 90 * time.Minute, want: []*x509.Certificate{recent, current},
		},
		"a CA is pruned after the grace from its successor's issue, even if that one is gone": {
			bundle: encode(older, current), grace: 30 * time.Minute, want: []*x509.Certificate{current},
		},
		"a CA issued after the current one is never pruned": {
			bundle: encode(old, current, newest), grace: time.Minute, want: []*x509.Certificate{current, newest},
		},
		"the current CA stays however long ago a newer one was issued": {
			bundle: encode(current, newest), grace: time.Nanosecond, want: []*x509.Certificate{current, newest},
		},
		"a bundle that does not parse is replaced": {
			bundle: []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"), want: []*x509.Certificate{current},
		},
	}
	if MaxBundledCAs != 4 {
		t.Fatalf("the table assumes MaxBundledCAs is 4, it is %d", MaxBundledCAs)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			grace := tc.grace
			if grace == 0 {
				grace = 24 * time.Hour
			}
			got := mergeBundle(tc.bundle, current, now, grace)
			if cas := parse(t, got); !slices.EqualFunc(cas, tc.want, (*x509.Certificate).Equal) {
				t.Errorf("merged %d CAs, want %d in order", len(cas), len(tc.want))
			}
			if again := mergeBundle(got, current, now, grace); string(again) != string(got) {
				t.Error("merging again changed the bundle")
			}
		})
	}
}

func TestCommonCAs(t *testing.T) {
	now := time.Now()
	a, b, c := newCA(t, now, time.Hour), newCA(t, now, time.Hour), newCA(t, now, time.Hour)
	got, err := commonCAs([][]byte{encode(a, b, c), encode(c, b), encode(b, c)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, []*x509.Certificate{b, c}, (*x509.Certificate).Equal) {
		t.Errorf("got %d common CAs, want b and c", len(got))
	}
	if got, _ := commonCAs([][]byte{encode(a), nil}); len(got) != 0 {
		t.Errorf("a webhook without a caBundle has CAs in common with others: %d", len(got))
	}
}

func TestTrust(t *testing.T) {
	now := time.Now()
	const delay = 10 * time.Second
	// A self-signed CA checks against itself: each stands for the serving
	// certificates it signs.
	ca, other := newCA(t, now, time.Hour), newCA(t, now, time.Hour)

	tr := newTrust(delay)
	clock := now
	tr.now = func() time.Time { return clock }

	if err := tr.check(ca); err == nil || !strings.Contains(err.Error(), "not been read") {
		t.Errorf("before any observation: %v, want a wait for the configurations", err)
	}
	tr.observe([]*x509.Certificate{other}, []*x509.Certificate{other}, false)
	if err := tr.check(ca); err == nil || !strings.Contains(err.Error(), "not in the caBundle") {
		t.Errorf("a CA in no caBundle: %v", err)
	}
	if err := tr.check(other); err != nil {
		t.Errorf("a CA in place before the first observation: %v, want it trusted at once", err)
	}
	t.Run("a CA written by the first observation waits", func(t *testing.T) {
		fresh := newTrust(delay)
		fresh.observe([]*x509.Certificate{other, ca}, []*x509.Certificate{other}, false)
		if err := fresh.check(ca); err == nil {
			t.Error("a CA just written is trusted at once")
		}
		if err := fresh.check(other); err != nil {
			t.Errorf("a CA in place before: %v", err)
		}
	})
	tr.observe([]*x509.Certificate{other, ca}, nil, false)
	clock = clock.Add(delay - time.Second)
	if err := tr.check(ca); err == nil || !strings.Contains(err.Error(), "waiting 1s more") {
		t.Errorf("a CA injected %s ago: %v, want a wait of 1s", delay-time.Second, err)
	}
	clock = clock.Add(time.Second)
	if err := tr.check(ca); err != nil {
		t.Errorf("a CA injected %s ago: %v", delay, err)
	}
	tr.observe([]*x509.Certificate{ca}, nil, false)
	if err := tr.check(other); err == nil {
		t.Error("a CA removed from the caBundles is still trusted")
	}
	tr.observe(nil, nil, true)
	if err := tr.check(other); err != nil {
		t.Errorf("with no configuration to keep current: %v, want any CA trusted", err)
	}
}

// writePair writes a key pair as tls.crt and tls.key into dir.
func writePair(t *testing.T, dir string, b *pki.Bundle) {
	t.Helper()
	for name, data := range map[string][]byte{"tls.crt": b.Cert, "tls.key": b.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func generate(t *testing.T, opts pki.Options) *pki.Bundle {
	t.Helper()
	opts.Hosts = []string{"127.0.0.1"}
	b, err := pki.Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve runs a TLS server taking its certificate from src and returns its
// address.
func serve(t *testing.T, src Source) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: src.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

func TestFilesServesCurrent(t *testing.T) {
	dir := t.TempDir()
	first := generate(t, pki.Options{Validity: time.Hour})
	writePair(t, dir, first)
	src, err := NewFiles(dir, "tls.crt", "tls.key")
	if err != nil {
		t.Fatal(err)
	}
	check := ServesCurrent(src, serve(t, src))
	if err := check(nil); err != nil {
		t.Fatalf("serving the files: %v", err)
	}

	// The watcher is not started: the check itself reads the files again.
	second := generate(t, pki.Options{Validity: time.Hour})
	writePair(t, dir, second)
	if err := check(nil); err != nil {
		t.Errorf("after the files changed: %v, want the check to reload them", err)
	}
	if c, _ := src.Current(); !c.Equal(parse(t, second.Cert)[0]) {
		t.Error("Current is not the certificate on disk")
	}

	t.Run("a broken pair on disk leaves the last good one current", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "tls.key"), first.Key, 0o600); err != nil {
			t.Fatal(err)
		}
		if c, _ := src.Current(); !c.Equal(parse(t, second.Cert)[0]) {
			t.Error("Current does not fall back to the loaded certificate")
		}
		if err := check(nil); err != nil {
			t.Errorf("still serving the last good pair: %v", err)
		}
	})

	t.Run("an expired certificate is not ready", func(t *testing.T) {
		expired := generate(t, pki.Options{Validity: time.Hour, Now: time.Now().Add(-2 * time.Hour)})
		writePair(t, dir, expired)
		err := check(nil)
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("serving an expired certificate: %v", err)
		}
	})
}

// fixedSource serves one certificate and holds another as current.
type fixedSource struct {
	serve   tls.Certificate
	current *x509.Certificate
}

func (f *fixedSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &f.serve, nil
}
func (f *fixedSource) Start(ctx context.Context) error     { <-ctx.Done(); return nil }
func (f *fixedSource) Healthy() bool                       { return true }
func (f *fixedSource) Current() (*x509.Certificate, error) { return f.current, nil }

func TestServesCurrentReportsAMissedRotation(t *testing.T) {
	served := generate(t, pki.Options{Validity: time.Hour})
	pair, err := served.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	newer := generate(t, pki.Options{Validity: time.Hour})
	src := &fixedSource{serve: pair, current: parse(t, newer.Cert)[0]}
	err = ServesCurrent(src, serve(t, src))(nil)
	if err == nil || !strings.Contains(err.Error(), "a rotation was not picked up") {
		t.Errorf("serving an older certificate than the source holds: %v", err)
	}

	unreachable := ServesCurrent(src, closedAddress(t))(nil)
	if unreachable == nil || !strings.Contains(unreachable.Error(), "does not complete a TLS handshake") {
		t.Errorf("nothing listening: %v", unreachable)
	}
}

func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestACertificateIsServedOnlyOnceClocksBehindAcceptIt(t *testing.T) {
	signed := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	cert := &x509.Certificate{NotBefore: signed}
	tests := map[string]struct {
		now  time.Time
		want time.Duration
	}{
		"the moment it is signed, it waits the whole allowance": {now: signed, want: ClockSkewAllowance},
		"within the allowance, the rest of it":                  {now: signed.Add(2 * time.Second), want: ClockSkewAllowance - 2*time.Second},
		"once the allowance has passed, not at all":             {now: signed.Add(ClockSkewAllowance + time.Second), want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := untilValidEverywhere(cert, tc.now); got != tc.want {
				t.Errorf("waits %s, want %s", got, tc.want)
			}
		})
	}
}
