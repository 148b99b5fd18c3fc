package seed_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/test/seed"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	os.Exit(m.Run())
}

// TestSeed plays Istio's guide "Configure failover behavior in multicluster
// ambient installation" with kubectl on two control planes, each with its
// own webhook. In both, the Services labeled failover=cluster must end up
// with exactly the labels the guide sets by hand, and the guide's
// DestinationRule must be admitted and denied without outlierDetection.
func TestSeed(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts two control planes (kube-apiserver and etcd), each with the webhook")
	}
	started := time.Now()
	clusters, err := seed.StartClusters(t.Context(), seed.ClusterNames...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := seed.StopClusters(clusters); err != nil {
			t.Error(err)
		}
	})
	t.Logf("started %v in %s", seed.ClusterNames, time.Since(started).Round(100*time.Millisecond))

	cacheDir := t.TempDir()
	for i, step := range seed.Steps() {
		t.Run(fmt.Sprintf("%d %s", i+1, step.Title), func(t *testing.T) {
			for _, c := range clusters {
				r := step.Run(t.Context(), seed.Kubectl{Cluster: c, CacheDir: cacheDir})
				t.Logf("%s$ %s", c.Name, step.Command())
				for _, line := range append(r.Output, r.Report...) {
					t.Logf("  %s", line)
				}
				for _, p := range r.Problems {
					t.Errorf("%s: %s", c.Name, p)
				}
			}
		})
	}
}
