package seed

import (
	"context"
	"errors"

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

// StartWebhookAndNative starts two clusters side by side: the first named
// runs the webhook, the second the native policies of manifests/native
// and no webhook, as two clusters of one mesh whose admins chose
// differently.
func StartWebhookAndNative(ctx context.Context, webhook, native string) ([]*controlplane.Cluster, error) {
	clusters, err := controlplane.StartAll(ctx, controlplane.Options{Name: webhook}, controlplane.Options{Name: native, NoWebhook: true})
	if err != nil {
		return nil, err
	}
	if err := clusters[1].InstallNative(ctx); err != nil {
		return nil, errors.Join(err, StopClusters(clusters))
	}
	return clusters, nil
}
