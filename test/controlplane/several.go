package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// StartAll starts a control plane for each of opts, side by side. On error
// it stops those that started.
func StartAll(ctx context.Context, opts ...Options) ([]*Cluster, error) {
	clusters := make([]*Cluster, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Go(func() { clusters[i], errs[i] = Start(ctx, o) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, StopAll(clusters))
	}
	return clusters, nil
}

// StopAll stops every cluster that is not nil, side by side.
func StopAll(clusters []*Cluster) error {
	errs := make([]error, len(clusters))
	var wg sync.WaitGroup
	for i, c := range clusters {
		if c != nil {
			wg.Go(func() { errs[i] = c.Stop() })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// MergeKubeconfigs writes to path one kubeconfig holding the cluster, user
// and context of each cluster's own kubeconfig (each context named after
// its cluster), the first cluster's context current: what a user of
// several clusters has.
func MergeKubeconfigs(path string, clusters []*Cluster) error {
	merged := clientcmdapi.NewConfig()
	for _, c := range clusters {
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
	if len(clusters) > 0 {
		merged.CurrentContext = clusters[0].Name
	}
	return clientcmd.WriteToFile(*merged, path)
}
