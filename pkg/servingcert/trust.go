package servingcert

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"

	cmauthority "github.com/cert-manager/cert-manager/pkg/server/tls/authority"
)

// trust records which CAs the API server trusts for the webhook: those in
// the caBundle of every webhook of the configurations, for at least the
// propagation delay (the API server reads the configurations through an
// informer, so it applies a new caBundle a moment after it is written).
type trust struct {
	delay time.Duration
	now   func() time.Time

	mu sync.Mutex
	// observed is set once the configurations have been read.
	observed bool
	// unconstrained is set while no configuration (or no webhook) exists:
	// nothing calls the webhook, so any CA will do.
	unconstrained bool
	// cas holds each CA in every caBundle, by its DER bytes.
	cas map[string]bundledCA
}

// bundledCA is a CA and when it was first seen in every caBundle.
type bundledCA struct {
	cert  *x509.Certificate
	since time.Time
}

func newTrust(delay time.Duration) *trust {
	return &trust{delay: delay, now: time.Now, cas: map[string]bundledCA{}}
}

// observe records the CAs present in every webhook's caBundle. On the first
// observation, those of them that were in place before it (preexisting,
// not just written) count as trusted already: they were there before this
// process started.
func (t *trust) observe(cas, preexisting []*x509.Certificate, unconstrained bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	first := !t.observed
	t.observed = true
	t.unconstrained = unconstrained
	seen := make(map[string]bool, len(cas))
	for _, ca := range cas {
		key := string(ca.Raw)
		seen[key] = true
		if _, ok := t.cas[key]; ok {
			continue
		}
		since := now
		if first && slices.ContainsFunc(preexisting, ca.Equal) {
			since = now.Add(-t.delay)
		}
		t.cas[key] = bundledCA{cert: ca, since: since}
	}
	for key := range t.cas {
		if !seen[key] {
			delete(t.cas, key)
		}
	}
}

// check returns nil when the API server trusts a CA that signed cert.
func (t *trust) check(cert *x509.Certificate) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case !t.observed:
		return fmt.Errorf("%w: the webhook configurations have not been read yet", cmauthority.ErrCertificateNotAvailable)
	case t.unconstrained:
		return nil
	}
	now := t.now()
	for _, ca := range t.cas {
		if cert.CheckSignatureFrom(ca.cert) != nil {
			continue
		}
		if wait := ca.since.Add(t.delay).Sub(now); wait > 0 {
			return fmt.Errorf("%w: the CA that signed it reached every caBundle %s ago; waiting %s more for the API server to apply them",
				cmauthority.ErrCertificateNotAvailable, now.Sub(ca.since).Round(time.Millisecond), wait.Round(time.Millisecond))
		}
		return nil
	}
	return fmt.Errorf("%w: the CA that signed it is not in the caBundle of every webhook yet", cmauthority.ErrCertificateNotAvailable)
}
