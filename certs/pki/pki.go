// Package pki creates a throw-away certificate authority and a serving
// certificate signed by it, for running failover-webhook locally and in
// tests.
//
// The certificates produced here are meant for development only. In a
// cluster the serving certificate comes from cert-manager; see
// certs/README.md.
package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strings"
	"time"

	cmpki "github.com/cert-manager/cert-manager/pkg/util/pki"
	"k8s.io/apimachinery/pkg/util/validation"
)

// File names used by WriteDir. CertFile and KeyFile match the names that
// `webhook serve` expects by default (--cert-name tls.crt --key-name tls.key)
// and the keys of the Secret cert-manager writes.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "tls.crt"
	KeyFile    = "tls.key"
)

const (
	// DefaultValidity is the lifetime of the serving certificate when
	// Options.Validity is zero.
	DefaultValidity = 365 * 24 * time.Hour

	// CAValidityFactor is how much longer than the serving certificate the CA
	// lives when Options.CAValidity is zero.
	CAValidityFactor = 10

	// MaxValidity is the longest accepted serving certificate lifetime. It
	// keeps CAValidityFactor*Validity within the range of time.Duration.
	MaxValidity = time.Duration(math.MaxInt64 / CAValidityFactor)

	// clockSkew is how far NotBefore is moved into the past, so that a
	// certificate generated on the host is already valid inside a local
	// cluster whose clock is slightly behind.
	clockSkew = 5 * time.Minute

	caCommonName      = "failover-webhook development CA"
	servingCommonName = "failover-webhook"
	organization      = "failover-webhook"
)

// DefaultHosts are the names the serving certificate is valid for when
// Options.Hosts is nil: the loopback names used when the webhook runs on the
// developer machine, and the in-cluster names of the webhook Service.
var DefaultHosts = []string{
	"localhost",
	"127.0.0.1",
	"::1",
	"failover-webhook-webhook-service.failover-webhook-system.svc",
	"failover-webhook-webhook-service.failover-webhook-system.svc.cluster.local",
}

// Errors returned (wrapped) by Generate, so callers can tell which input was
// rejected with errors.Is.
var (
	ErrInvalidHosts    = errors.New("invalid hosts")
	ErrInvalidValidity = errors.New("invalid validity")
)

// Options controls Generate.
type Options struct {
	// Hosts are the DNS names and IP addresses the serving certificate is
	// valid for. IP addresses (IPv4, IPv6, optionally in brackets) become IP
	// SANs, everything else must be a DNS name (a leading "*." wildcard label
	// is allowed) and becomes a DNS SAN. Nil means DefaultHosts; an empty,
	// non-nil slice is an error.
	Hosts []string

	// Validity is the lifetime of the serving certificate. Zero means
	// DefaultValidity; negative values are an error.
	Validity time.Duration

	// CAValidity is the lifetime of the CA certificate. Zero means
	// CAValidityFactor times Validity. It must not be shorter than Validity.
	CAValidity time.Duration

	// Now is the reference time for the validity period. Zero means
	// time.Now().
	Now time.Time
}

// Bundle holds PEM encoded certificates and private keys.
type Bundle struct {
	// CACert is the self-signed CA certificate. Its contents are what a
	// webhook configuration's caBundle must contain (base64 encoded in YAML).
	CACert []byte
	// CAKey is the CA private key (PKCS#8).
	CAKey []byte
	// Cert is the serving certificate, signed by CACert.
	Cert []byte
	// Key is the serving certificate private key (PKCS#8).
	Key []byte
}

// SplitHosts splits a comma separated list of hosts, trimming spaces around
// each entry. It does not validate the entries; Generate does.
func SplitHosts(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Generate creates a new ECDSA P-256 CA and a serving certificate for
// opts.Hosts signed by that CA.
func Generate(opts Options) (*Bundle, error) {
	hosts := opts.Hosts
	if hosts == nil {
		hosts = DefaultHosts
	}
	dnsNames, ips, err := classifyHosts(hosts)
	if err != nil {
		return nil, err
	}

	validity, caValidity, err := validityPeriods(opts.Validity, opts.CAValidity)
	if err != nil {
		return nil, err
	}

	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	notBefore := now.Add(-clockSkew)

	caKey, err := cmpki.GenerateECPrivateKey(cmpki.ECCurve256)
	if err != nil {
		return nil, fmt.Errorf("generating CA private key: %w", err)
	}
	caSerial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber: caSerial,
		Subject: pkix.Name{
			CommonName:   caCommonName,
			Organization: []string{organization},
		},
		NotBefore:             notBefore,
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caCertPEM, caCert, err := cmpki.SignCertificate(caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("self-signing CA certificate: %w", err)
	}

	key, err := cmpki.GenerateECPrivateKey(cmpki.ECCurve256)
	if err != nil {
		return nil, fmt.Errorf("generating serving private key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   servingCommonName,
			Organization: []string{organization},
		},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		NotBefore:             notBefore,
		NotAfter:              now.Add(validity),
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	certPEM, _, err := cmpki.SignCertificate(template, caCert, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("signing serving certificate: %w", err)
	}

	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		return nil, fmt.Errorf("encoding CA private key: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding serving private key: %w", err)
	}

	return &Bundle{
		CACert: caCertPEM,
		CAKey:  caKeyPEM,
		Cert:   certPEM,
		Key:    keyPEM,
	}, nil
}

// TLSCertificate returns the serving certificate and key as a
// tls.Certificate, e.g. for tls.Config.Certificates.
func (b *Bundle) TLSCertificate() (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading serving key pair: %w", err)
	}
	return pair, nil
}

// CertPool returns a pool that trusts only the bundle's CA, e.g. for
// tls.Config.RootCAs of a client talking to the webhook.
func (b *Bundle) CertPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CACert) {
		return nil, errors.New("CA certificate: no PEM encoded certificate found")
	}
	return pool, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	return cmpki.EncodePKCS8PrivateKey(key)
}

// randomSerial returns a positive random 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func validityPeriods(validity, caValidity time.Duration) (time.Duration, time.Duration, error) {
	switch {
	case validity < 0:
		return 0, 0, fmt.Errorf("%w: serving certificate validity must be positive, got %s", ErrInvalidValidity, validity)
	case validity == 0:
		validity = DefaultValidity
	case validity > MaxValidity:
		return 0, 0, fmt.Errorf("%w: serving certificate validity %s is longer than the maximum %s", ErrInvalidValidity, validity, MaxValidity)
	}
	switch {
	case caValidity < 0:
		return 0, 0, fmt.Errorf("%w: CA validity must be positive, got %s", ErrInvalidValidity, caValidity)
	case caValidity == 0:
		caValidity = CAValidityFactor * validity
	case caValidity < validity:
		return 0, 0, fmt.Errorf("%w: CA validity %s is shorter than the serving certificate validity %s", ErrInvalidValidity, caValidity, validity)
	}
	return validity, caValidity, nil
}

// classifyHosts validates hosts and splits them into DNS names and IP
// addresses. DNS names are lower-cased; duplicates are dropped.
func classifyHosts(hosts []string) ([]string, []net.IP, error) {
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("%w: at least one DNS name or IP address is required", ErrInvalidHosts)
	}
	var (
		dnsNames []string
		ips      []net.IP
		seen     = map[string]bool{}
	)
	for i, raw := range hosts {
		h := strings.TrimSpace(raw)
		if h == "" {
			return nil, nil, fmt.Errorf("%w: entry %d is empty", ErrInvalidHosts, i+1)
		}
		ipText := h
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			ipText = h[1 : len(h)-1]
		}
		if ip := net.ParseIP(ipText); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			key := "ip:" + ip.String()
			if !seen[key] {
				seen[key] = true
				ips = append(ips, ip)
			}
			continue
		}
		name := strings.ToLower(h)
		if err := validateDNSName(name); err != nil {
			return nil, nil, fmt.Errorf("%w: host %q is neither an IP address nor a valid DNS name: %v", ErrInvalidHosts, raw, err)
		}
		key := "dns:" + name
		if !seen[key] {
			seen[key] = true
			dnsNames = append(dnsNames, name)
		}
	}
	return dnsNames, ips, nil
}

// validateDNSName checks a lower-cased DNS SAN with apimachinery's RFC 1123
// subdomain rules, a leading "*." wildcard label allowed. The label length
// stays a check of its own: DNS limits labels to 63 characters and
// IsDNS1123Subdomain checks only the whole name.
func validateDNSName(name string) error {
	check := validation.IsDNS1123Subdomain
	if strings.HasPrefix(name, "*.") {
		check = validation.IsWildcardDNS1123Subdomain
	}
	if errs := check(name); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) > validation.DNS1123LabelMaxLength {
			return fmt.Errorf("label %q is longer than %d characters", label, validation.DNS1123LabelMaxLength)
		}
	}
	return nil
}
