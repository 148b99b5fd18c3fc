package controlplane

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// nativeProbeNamespace is where InstallNative dry-runs its probes.
const nativeProbeNamespace = "native-probe"

// InstallNative applies manifests/native as `kubectl apply -k` does and
// waits until the API server enforces the policies. The cluster should run
// no webhook (Options.NoWebhook), as a cluster that chose the native form.
func (c *Cluster) InstallNative(ctx context.Context) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "manifests", "native"))
	if err != nil {
		return fmt.Errorf("building manifests/native: %w", err)
	}
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: m}
		if err := c.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return c.waitForNative(ctx)
}

// waitForNative waits until a violating DestinationRule is denied and an
// opted-in Service is mutated in a namespace of their own (then removed):
// the API server loads policies and bindings asynchronously.
func (c *Cluster) waitForNative(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nativeProbeNamespace}}
	if err := c.Client.Create(ctx, ns); err != nil {
		return err
	}
	defer func() { _ = c.Client.Delete(context.WithoutCancel(ctx), ns) }()
	for {
		dr := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"host": "probe", "trafficPolicy": map[string]any{
			"loadBalancer": map[string]any{"localityLbSetting": map[string]any{"failoverPriority": []any{"topology.istio.io/cluster"}}}}}}}
		dr.SetAPIVersion("networking.istio.io/v1")
		dr.SetKind("DestinationRule")
		dr.SetNamespace(ns.Name)
		dr.SetName("probe")
		drErr := c.Client.Create(ctx, dr, client.DryRunAll)
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns.Name, Labels: map[string]string{"failover": "cluster"}},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		svcErr := c.Client.Create(ctx, svc, client.DryRunAll)
		if apierrors.IsInvalid(drErr) && svcErr == nil && svc.Labels["istio.io/global"] == "true" {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("the native policies are not enforced (DestinationRule: %v; Service: %v, labels %v)", drErr, svcErr, svc.Labels), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
