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

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
	cs, err := startClusters(ctx, clusterNames)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := seed.StopClusters(cs); err != nil {
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
	if err := mergeKubeconfigs(mergedKubeconfig, cs); err != nil {
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

// startClusters starts a control plane without the webhook for each name,
// side by side, as seed.StartClusters does with the webhook.
func startClusters(ctx context.Context, names []string) ([]*controlplane.Cluster, error) {
	out := make([]*controlplane.Cluster, len(names))
	errs := make(chan error, len(names))
	for i, name := range names {
		go func() {
			var err error
			out[i], err = controlplane.Start(ctx, controlplane.Options{Name: name, NoWebhook: true})
			errs <- err
		}()
	}
	var first error
	for range names {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, fmt.Errorf("%w (stopping the others: %v)", first, seed.StopClusters(out))
	}
	return out, nil
}

// mergeKubeconfigs writes one kubeconfig holding the cluster, user and
// context of each cluster's own kubeconfig, the first cluster's context
// current.
func mergeKubeconfigs(path string, cs []*controlplane.Cluster) error {
	merged := clientcmdapi.NewConfig()
	for _, c := range cs {
		kc, err := clientcmd.LoadFromFile(c.KubeconfigPath)
		if err != nil {
			return fmt.Errorf("reading the kubeconfig of %s: %w", c.Name, err)
		}
		for name, v := range kc.Clusters {
			merged.Clusters[name] = v
		}
		for name, v := range kc.AuthInfos {
			merged.AuthInfos[name] = v
		}
		for name, v := range kc.Contexts {
			merged.Contexts[name] = v
		}
	}
	merged.CurrentContext = cs[0].Name
	return clientcmd.WriteToFile(*merged, path)
}

// needClusters skips the test with -short, where no control plane runs.
func needClusters(t *testing.T) {
	t.Helper()
	if clusters == nil {
		t.Skip("skipped with -short: needs three control planes (kube-apiserver and etcd)")
	}
}
