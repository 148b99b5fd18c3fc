package seed

import (
	"context"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// StartClusters starts, side by side, a control plane with failover-webhook
// for each name. On error it stops those that started.
func StartClusters(ctx context.Context, names ...string) ([]*controlplane.Cluster, error) {
	opts := make([]controlplane.Options, len(names))
	for i, name := range names {
		opts[i] = controlplane.Options{Name: name}
	}
	return controlplane.StartAll(ctx, opts...)
}

// StopClusters stops every cluster that is not nil, side by side.
func StopClusters(clusters []*controlplane.Cluster) error {
	return controlplane.StopAll(clusters)
}
