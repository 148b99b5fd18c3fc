package controlplane_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	os.Exit(m.Run())
}

func TestRepoRoot(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "manifests", "webhook", "manifests.yaml")); err != nil {
		t.Errorf("RepoRoot() = %s, which has no manifests/webhook/manifests.yaml: %v", root, err)
	}

	t.Run("outside the repository it is an error", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if _, err := controlplane.RepoRoot(); err == nil || !strings.Contains(err.Error(), "github.com/failover-webhook/failover-webhook") {
			t.Errorf("RepoRoot() error = %v, want one naming the module", err)
		}
	})
}

func TestAssetsDir(t *testing.T) {
	binaries := t.TempDir()
	writeBinaries(t, binaries)
	repo := t.TempDir()
	writeBinaries(t, filepath.Join(repo, "bin", "k8s"))
	empty := t.TempDir()

	tests := map[string]struct {
		assets    string // KUBEBUILDER_ASSETS
		root      string
		want      string
		wantError []string
	}{
		"KUBEBUILDER_ASSETS holding the binaries is used": {
			assets: binaries, root: repo, want: binaries,
		},
		"without KUBEBUILDER_ASSETS, bin/k8s of the repository is used": {
			root: repo, want: filepath.Join(repo, "bin", "k8s"),
		},
		"a KUBEBUILDER_ASSETS folder without the binaries is an error telling how to build them": {
			assets: empty, root: repo,
			wantError: []string{"kube-apiserver not found in " + empty + ", the folder KUBEBUILDER_ASSETS names", "make envtest-assets"},
		},
		"a repository without bin/k8s is an error telling how to build it": {
			root:      empty,
			wantError: []string{"kube-apiserver not found in " + filepath.Join(empty, "bin", "k8s"), "run `make envtest-assets` in " + empty},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KUBEBUILDER_ASSETS", tc.assets)
			got, err := controlplane.AssetsDir(tc.root)
			if tc.wantError == nil {
				if err != nil || got != tc.want {
					t.Errorf("AssetsDir() = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("AssetsDir() = %s, want an error", got)
			}
			for _, phrase := range tc.wantError {
				if !strings.Contains(err.Error(), phrase) {
					t.Errorf("error %q does not contain %q", err, phrase)
				}
			}
		})
	}
}

// writeBinaries puts empty stand-ins for the control-plane binaries in dir.
func writeBinaries(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if err := os.WriteFile(filepath.Join(dir, bin), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIstioCRDPath(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path, err := controlplane.IstioCRDPath(root)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(path, root+string(filepath.Separator)) {
		t.Errorf("IstioCRDPath() = %s, inside the repository; want the module cache", path)
	}
	if !strings.Contains(path, "istio.io/api@") {
		t.Errorf("IstioCRDPath() = %s, want a file of the istio.io/api module", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "name: destinationrules.networking.istio.io") {
		t.Errorf("%s has no DestinationRule CRD", path)
	}
}

// TestTwoClusters starts two control planes in one process, one of them
// without the webhook until objects exist, and shows each API server calls
// its own webhook (each has its own default waypoint), the late webhook
// denies from the moment InstallWebhook returns, and the kubeconfigs work.
func TestTwoClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two control planes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	east, err := controlplane.Start(ctx, controlplane.Options{Name: "east", WaypointName: "east-waypoint"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, east)
	west, err := controlplane.Start(ctx, controlplane.Options{Name: "west", WaypointName: "west-waypoint", NoWebhook: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, west)

	// Before its webhook, west admits what the webhook would deny.
	early := violatingDestinationRule("early")
	if err := west.Client.Create(ctx, early); err != nil {
		t.Fatalf("creating a DestinationRule in west before the webhook: %v", err)
	}
	if err := west.InstallWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	err = west.Client.Create(ctx, violatingDestinationRule("late"))
	if err == nil || !strings.Contains(err.Error(), `admission webhook "vdestinationrule.failover-webhook.io" denied the request`) {
		t.Errorf("creating a violating DestinationRule in west after InstallWebhook: err = %v, want a denial", err)
	}

	for _, c := range []*controlplane.Cluster{east, west} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "helloworld", Labels: map[string]string{"failover": "cluster"}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5000}}},
		}
		if err := c.Client.Create(ctx, svc); err != nil {
			t.Fatalf("creating a Service in %s: %v", c.Name, err)
		}
		if got, want := svc.Labels["istio.io/use-waypoint"], c.Name+"-waypoint"; got != want {
			t.Errorf("the Service in %s got istio.io/use-waypoint=%q, want %q from its own webhook", c.Name, got, want)
		}

		out, err := exec.CommandContext(ctx, c.KubectlPath, "--kubeconfig", c.KubeconfigPath,
			"get", "service", "helloworld", "-n", "default", "-o", "yaml").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl with the kubeconfig of %s: %v\n%s", c.Name, err, out)
		}
		var got corev1.Service
		if err := yaml.Unmarshal(out, &got); err != nil || got.Labels["istio.io/global"] != "true" {
			t.Errorf("kubectl in %s shows labels %v (%v), want istio.io/global=true", c.Name, got.Labels, err)
		}
	}
}

func stop(t *testing.T, c *controlplane.Cluster) {
	t.Helper()
	dir := filepath.Dir(c.KubeconfigPath)
	if err := c.Stop(); err != nil {
		t.Errorf("stopping %s: %v", c.Name, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is left behind after Stop: %v", dir, err)
	}
}

func violatingDestinationRule(name string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	if err := yaml.Unmarshal([]byte(`
host: helloworld.default.svc.cluster.local
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      failoverPriority: [topology.istio.io/cluster]
`), &dr.Spec); err != nil {
		panic(err)
	}
	return dr
}
