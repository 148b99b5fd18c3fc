// Package multicluster_test runs `webhook audit` across two and three real
// control planes (kube-apiserver and etcd) holding the objects of Istio's
// multicluster ambient failover guide, each test in its own namespace with
// the difference between the clusters it is about, and checks every drift
// finding, its clusters, its fix and the exit status.
//
// The control planes run without the webhook: the objects are created as
// they are in clusters that drifted apart, which no admission policy of one
// cluster can prevent.
package multicluster_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// clusterNames are the guide's two clusters and a third; each control
// plane's kubeconfig context is its name.
var clusterNames = append(append([]string(nil), seed.ClusterNames...), "cluster3")

// clusters are the running control planes, in the order of clusterNames;
// nil with -short.
var clusters []*controlplane.Cluster

// mergedKubeconfig holds the contexts of all the clusters, as a user of
// several clusters has them. KUBECONFIG names it, so `--context NAME`
// alone selects a cluster, as in the guide's commands.
var mergedKubeconfig string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		// Every test skips itself; nothing to start.
		return m.Run()
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started := time.Now()
	opts := make([]controlplane.Options, len(clusterNames))
	for i, name := range clusterNames {
		opts[i] = controlplane.Options{Name: name, NoWebhook: true}
	}
	cs, err := controlplane.StartAll(ctx, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := controlplane.StopAll(cs); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Fprintf(os.Stderr, "started %v in %s\n", clusterNames, time.Since(started).Round(100*time.Millisecond))
	clusters = cs

	dir, err := os.MkdirTemp("", "failover-webhook-multicluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	mergedKubeconfig = filepath.Join(dir, "kubeconfig")
	if err := controlplane.MergeKubeconfigs(mergedKubeconfig, cs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Also keeps the tests away from the user's own ~/.kube/config.
	if err := os.Setenv("KUBECONFIG", mergedKubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// needClusters skips the test with -short, where no control plane runs.
func needClusters(t *testing.T) {
	t.Helper()
	if clusters == nil {
		t.Skip("skipped with -short: needs three control planes (kube-apiserver and etcd)")
	}
}
