// Package servingcert provides the webhook server's TLS certificate, in one
// of two modes behind one small interface, as cert-manager's own webhook
// does (github.com/cert-manager/cert-manager/pkg/server/tls):
//
//   - files: a certificate and key on disk (a cert-manager Secret mounted as
//     a volume), reloaded when they change;
//   - self-managed: a CA kept in a Secret and a serving certificate signed by
//     it in memory, both renewed before they expire, with the CA injected
//     into the webhook configurations.
//
// It also tells whether the webhook server serves the certificate its
// source holds, which the readiness probe reports.
package servingcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// Source provides the serving certificate.
type Source interface {
	// GetCertificate is the webhook server's tls.Config.GetCertificate.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Start keeps the certificate current until ctx is done.
	Start(ctx context.Context) error
	// Healthy reports whether the source has a certificate to serve.
	Healthy() bool
	// Current returns the leaf certificate that should be served now: for
	// files, what is on disk (when it parses as a key pair); for the
	// self-managed mode, the certificate it holds.
	Current() (*x509.Certificate, error)
}

// ErrNoCertificate is returned by Current while a source has none yet.
var ErrNoCertificate = errors.New("no serving certificate yet")

// leaf returns the parsed leaf of a key pair.
func leaf(c *tls.Certificate) (*x509.Certificate, error) {
	if c == nil || len(c.Certificate) == 0 {
		return nil, ErrNoCertificate
	}
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	return x509.ParseCertificate(c.Certificate[0])
}
