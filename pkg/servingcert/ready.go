package servingcert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// dialTimeout bounds the readiness probe's TLS handshake with the webhook.
const dialTimeout = 2 * time.Second

// ServesCurrent returns a readiness check that completes a TLS handshake
// with the webhook server at address and compares the certificate it
// serves with the one src holds, so a missed rotation or an expired
// certificate takes the pod out of the Service instead of failing
// admissions. A Files source is read again before a mismatch is reported,
// since its watcher may be a moment behind the files.
func ServesCurrent(src Source, address string) healthz.Checker {
	return func(*http.Request) error {
		if !src.Healthy() {
			return fmt.Errorf("the certificate source has no certificate: %w", ErrNoCertificate)
		}
		served, err := servedCertificate(address)
		if err != nil {
			return err
		}
		want, err := src.Current()
		if err != nil {
			return fmt.Errorf("the certificate source has no certificate: %w", err)
		}
		if !served.Equal(want) {
			if f, ok := src.(*Files); ok {
				if err := f.Reload(); err != nil {
					return fmt.Errorf("serving %s, but the files hold %s, which do not load: %w", name(served), name(want), err)
				}
				if served, err = servedCertificate(address); err != nil {
					return err
				}
			}
		}
		if !served.Equal(want) {
			return fmt.Errorf("serving %s, but the certificate source holds %s: a rotation was not picked up", name(served), name(want))
		}
		if now := time.Now(); now.After(served.NotAfter) {
			return fmt.Errorf("serving %s, which expired %s ago", name(served), now.Sub(served.NotAfter).Round(time.Second))
		}
		return nil
	}
}

// servedCertificate returns the leaf certificate the server at address
// presents. It does not verify it: it compares, and the API server verifies.
func servedCertificate(address string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: dialTimeout}, "tcp", address, &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // compared with the source below, not trusted
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
	})
	if err != nil {
		return nil, fmt.Errorf("the webhook server does not complete a TLS handshake on %s: %w", address, err)
	}
	defer conn.Close()
	peers := conn.ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return nil, fmt.Errorf("the webhook server on %s presented no certificate", address)
	}
	return peers[0], nil
}

// name identifies a certificate in messages.
func name(c *x509.Certificate) string {
	return fmt.Sprintf("certificate serial %s (valid until %s)", c.SerialNumber, c.NotAfter.UTC().Format(time.RFC3339))
}
