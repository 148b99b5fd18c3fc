package seed

import (
	"context"
	"errors"
	"sync"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// StartClusters starts, side by side, a control plane with failover-webhook
// for each name. On error it stops those that started.
func StartClusters(ctx context.Context, names ...string) ([]*controlplane.Cluster, error) {
	clusters := make([]*controlplane.Cluster, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			clusters[i], errs[i] = controlplane.Start(ctx, controlplane.Options{Name: name})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, StopClusters(clusters))
	}
	return clusters, nil
}

// StopClusters stops every cluster that is not nil, side by side.
func StopClusters(clusters []*controlplane.Cluster) error {
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
