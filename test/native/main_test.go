// Package native_test proves the native policies of manifests/native equal to
// the webhook: two real control planes, one with the webhook as shipped and one
// with `kubectl apply -k manifests/native` and no webhook, receive every case of
// the corpora, and every verdict, denied field and mutated Service must agree.
package native_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// webhook runs the webhook; native runs the policies of manifests/native.
var webhook, native *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if controlplane.Short() {
		// Every test skips itself; nothing to start.
		return m.Run()
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clusters, err := controlplane.StartAll(ctx,
		controlplane.Options{Name: "webhook"},
		controlplane.Options{Name: "native", NoWebhook: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := controlplane.StopAll(clusters); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	webhook, native = clusters[0], clusters[1]
	if err := installNative(ctx, native); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// installNative applies manifests/native as `kubectl apply -k` does and waits
// until the API server enforces the policies.
func installNative(ctx context.Context, c *controlplane.Cluster) error {
	root, err := controlplane.RepoRoot()
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
	return waitForPolicies(ctx, c)
}

// waitForPolicies waits until a violating DestinationRule is denied and an
// opted-in Service is mutated in a fresh namespace: the API server loads
// policies and bindings asynchronously.
func waitForPolicies(ctx context.Context, c *controlplane.Cluster) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "native-probe"}}
	if err := c.Client.Create(ctx, ns); err != nil {
		return err
	}
	for {
		dr := destinationRule("v1", ns.Name, "probe", map[string]any{"host": "probe", "trafficPolicy": map[string]any{
			"loadBalancer": map[string]any{"localityLbSetting": map[string]any{"failoverPriority": []any{"topology.istio.io/cluster"}}}}})
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

// destinationRule returns a DestinationRule of networking.istio.io version
// with spec as decoded from YAML.
func destinationRule(version, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	obj.SetAPIVersion("networking.istio.io/" + version)
	obj.SetKind("DestinationRule")
	obj.SetNamespace(namespace)
	obj.SetName(name)
	return obj
}

// needsControlPlanes skips t under go test -short (make test-unit).
func needsControlPlanes(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("sends every case to two control planes")
	}
}
