package ops_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/failover-webhook/failover-webhook/certs/pki"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/pkg/servingcert"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// TestFilesModeRotationUnderLoad replaces the serving certificate the way
// the kubelet updates a mounted Secret while clients send admissions
// continuously, half of them on kept-alive connections and half making a
// new TLS handshake for every request.
func TestFilesModeRotationUnderLoad(t *testing.T) {
	controlplane.SkipIfShort(t)
	captureLogs(t)
	hosts := []string{"127.0.0.1", "localhost"}
	before, err := pki.Generate(pki.Options{Hosts: hosts, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	after, err := pki.Generate(pki.Options{Hosts: hosts, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	secretVolume(t, certDir, 1, map[string][]byte{"tls.crt": before.Cert, "tls.key": before.Key, "ca.crt": before.CACert})

	address, port := freeAddress(t)
	probes, _ := freeAddress(t)
	opts := server.DefaultOptions()
	opts.Host, opts.Port, opts.CertDir = "127.0.0.1", port, certDir
	opts.MetricsBindAddress, opts.HealthProbeBindAddress = "0", probes
	startManager(t, rest.CopyConfig(cluster.Config), opts)
	waitFor(t, "the webhook is ready", func() error { return ready(probes) })

	// Clients trust both CAs, as a caBundle does across a CA change.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(before.CACert)
	roots.AppendCertsFromPEM(after.CACert)
	keepAlive, handshakes := tlsClient(roots, true), tlsClient(roots, false)
	base := "https://" + address
	l := startLoad(workers, func(ctx context.Context, w, i int) error {
		c := keepAlive
		if w%2 == 1 {
			c = handshakes
		}
		return postReview(ctx, c, base, i)
	})
	time.Sleep(time.Second)

	swapped := time.Now()
	secretVolume(t, certDir, 2, map[string][]byte{"tls.crt": after.Cert, "tls.key": after.Key, "ca.crt": after.CACert})
	want := parsePEM(t, after.Cert)
	waitFor(t, "the new certificate is served", func() error {
		leaf, err := servedLeaf(address)
		if err != nil {
			return err
		}
		if !leaf.Equal(want) {
			return fmt.Errorf("still serving serial %s", leaf.SerialNumber)
		}
		return nil
	})
	reload := time.Since(swapped)
	t.Logf("the new certificate was served %s after the ..data swap (reload interval %s)", reload.Round(time.Millisecond), servingcert.ReloadInterval)
	if reload > servingcert.ReloadInterval {
		t.Errorf("the new certificate took %s, more than the reload interval %s", reload, servingcert.ReloadInterval)
	}
	time.Sleep(time.Second)
	l.Stop(t, "files-mode rotation")

	if err := ready(probes); err != nil {
		t.Errorf("not ready after the rotation: %v", err)
	}
}
