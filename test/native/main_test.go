// Package native_test proves the native policies of manifests/native equal to
// the webhook: two real control planes, one with the webhook as shipped and one
// with `kubectl apply -k manifests/native` and no webhook, receive every case of
// the corpora, and every verdict, denied field and mutated Service must agree.
package native_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

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
	if err := native.InstallNative(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
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
