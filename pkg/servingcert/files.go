package servingcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// ReloadInterval is how often the files are read again in any case. A
// change is normally seen at once: the watcher follows file events, and the
// kubelet's update of a Secret volume (a new timestamped folder, then an
// atomic rename of the ..data symlink, then removal of the old folder)
// removes the files it watched, which makes it read the new ones.
const ReloadInterval = 10 * time.Second

// Files serves the certificate and key in a folder: controller-runtime's
// certwatcher, plus a check of what is on disk for readiness.
type Files struct {
	certPath, keyPath string
	watcher           *certwatcher.CertWatcher
}

var _ Source = (*Files)(nil)

// NewFiles reads certName and keyName in dir; it fails if they do not form
// a key pair.
func NewFiles(dir, certName, keyName string) (*Files, error) {
	f := &Files{certPath: filepath.Join(dir, certName), keyPath: filepath.Join(dir, keyName)}
	w, err := certwatcher.New(f.certPath, f.keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the serving certificate %s and key %s: %w", f.certPath, f.keyPath, err)
	}
	f.watcher = w.WithWatchInterval(ReloadInterval)
	return f, nil
}

// GetCertificate implements Source.
func (f *Files) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.watcher.GetCertificate(hello)
}

// Start implements Source.
func (f *Files) Start(ctx context.Context) error { return f.watcher.Start(ctx) }

// NeedLeaderElection tells the manager that every replica runs the watcher.
func (f *Files) NeedLeaderElection() bool { return false }

// Healthy implements Source.
func (f *Files) Healthy() bool {
	c, _ := f.watcher.GetCertificate(nil)
	return c != nil
}

// Current implements Source: the pair on disk, or the one loaded last when
// the files do not form a pair (mid-update, or broken: the watcher keeps
// serving the last good pair and logs why).
func (f *Files) Current() (*x509.Certificate, error) {
	if pair, err := tls.LoadX509KeyPair(f.certPath, f.keyPath); err == nil {
		return leaf(&pair)
	}
	c, _ := f.watcher.GetCertificate(nil)
	return leaf(c)
}

// Reload reads the files now, rather than at the next event or poll.
func (f *Files) Reload() error { return f.watcher.ReadCertificate() }
