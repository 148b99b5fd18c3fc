package manifests_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// overlays are the kustomizations a user installs. Every other folder is a
// building block of at least one of them (TestEveryFolderIsAnOverlayOrPartOfOne).
var overlays = []string{"default", selfManagedOverlay, enforcementLabelGuard, "native", "monitoring"}

// operatorGroup is the Prometheus Operator's API group (manifests/monitoring):
// its CRDs are not in the module cache at the version the monitoring is
// written for, so test/helm decodes those objects strictly into the
// operator's Go types instead of dry-running them here.
const operatorGroup = "monitoring.coreos.com"

func TestEveryFolderIsAnOverlayOrPartOfOne(t *testing.T) {
	used := map[string]bool{}
	for _, overlay := range overlays {
		used[overlay] = true
		var k struct{ Resources []string }
		b, err := os.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		for _, r := range k.Resources {
			used[filepath.Base(r)] = true
		}
	}
	folders, err := filepath.Glob("*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if dir := filepath.Dir(f); !used[dir] {
			t.Errorf("%s is neither an overlay nor used by one; add it to overlays so its objects are applied", dir)
		}
	}
}

// TestEveryRenderedObjectIsAcceptedByTheAPIServer server-side applies, as a
// dry run, every object of every overlay to a real kube-apiserver of the
// Kubernetes version go.mod pins, with cert-manager's and Istio's CRDs: the
// API server's own validation, defaulting and admission run on each. The
// install namespace is created for real first, since namespaced objects
// need it.
func TestEveryRenderedObjectIsAcceptedByTheAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c, _ := startAPIServer(t)
	ctx := t.Context()
	const fieldOwner = client.FieldOwner("manifests-test")

	for _, overlay := range overlays {
		r, err := render(overlay)
		if err != nil {
			t.Fatal(err)
		}
		objects := make([]*unstructured.Unstructured, len(r))
		for i, o := range r {
			objects[i] = &unstructured.Unstructured{}
			if err := yaml.Unmarshal(o.YAML, &objects[i].Object); err != nil {
				t.Fatalf("%s: %v", o.id(), err)
			}
		}
		// Namespaces first, for real; applying one again is harmless.
		slices.SortStableFunc(objects, func(a, b *unstructured.Unstructured) int {
			return boolRank(b.GetKind() == "Namespace") - boolRank(a.GetKind() == "Namespace")
		})
		for _, obj := range objects {
			if obj.GetKind() == "Namespace" {
				if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()), fieldOwner); err != nil {
					t.Fatalf("%s: creating Namespace %s: %v", overlay, obj.GetName(), err)
				}
			}
		}
		t.Run(overlay, func(t *testing.T) {
			for _, obj := range objects {
				if obj.GroupVersionKind().Group == operatorGroup {
					continue
				}
				t.Run(obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
					if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()), fieldOwner, client.DryRunAll, client.ForceOwnership); err != nil {
						t.Errorf("server-side apply (dry run) refused: %v", err)
					}
				})
			}
		})
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// startAPIServer starts kube-apiserver and etcd with cert-manager's and
// Istio's CRDs, read from the module cache, and stops them when the test
// ends.
func startAPIServer(t *testing.T) (client.Client, *rest.Config) {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	certManager, err := controlplane.CertManagerCRDPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	env, err := controlplane.NewEnvironment(root, nil, certManager...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}
