// Package helm tests the chart charts/failover-webhook with Helm's own Go
// SDK (pinned in this module's go.mod, kept apart from the webhook's): it
// renders for each certificate mode and several value sets, lints, checks
// every rendered object with a server-side dry run against a real
// kube-apiserver, installs into a local control plane and has the webhook
// admit and deny there. It also tests manifests/monitoring: every alert and
// recording rule against synthetic series with Prometheus's rule
// evaluation, and the dashboard's queries.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// The install the design documents:
// helm install failover-webhook charts/failover-webhook -n failover-webhook-system --create-namespace
const (
	releaseName = "failover-webhook"
	namespace   = "failover-webhook-system"
	// kubeVersion is the control plane's version (bin/k8s).
	kubeVersion = "v1.37.2"
)

// repoPath returns a path inside the repository.
func repoPath(t testing.TB, elem ...string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(repoPath(t, "charts", "failover-webhook"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// render renders the chart as `helm template` does, with values over the
// chart's defaults (vals is YAML).
func render(t testing.TB, vals string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	in := action.NewInstall(action.NewConfiguration())
	in.DryRunStrategy = action.DryRunClient
	in.ReleaseName, in.Namespace = releaseName, namespace
	in.Replace = true
	// Without a cluster Helm assumes Kubernetes 1.20, older than the
	// chart's kubeVersion allows; render for the version the tests run.
	v, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	in.KubeVersion = v
	values := map[string]any{}
	if err := yaml.Unmarshal([]byte(vals), &values); err != nil {
		t.Fatal(err)
	}
	rel, err := in.RunWithContext(t.Context(), loadChart(t), values)
	if err != nil {
		return nil, err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("a release of type %T", rel)
	}
	return decode(r.Manifest)
}

// decode splits a multi-document manifest into objects.
func decode(manifest string) ([]*unstructured.Unstructured, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := d.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// kustomizeBuild renders a kustomization under manifests/.
func kustomizeBuild(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), repoPath(t, "manifests", dir))
	if err != nil {
		t.Fatal(err)
	}
	b, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func key(u *unstructured.Unstructured) string { return u.GetKind() + " " + u.GetName() }

// withoutInstallerLabels returns the objects by key, less the labels only
// one of Helm and kustomize adds, after checking each installer's value.
func withoutInstallerLabels(t *testing.T, objs []*unstructured.Unstructured, managedBy string) map[string]*unstructured.Unstructured {
	t.Helper()
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		o = o.DeepCopy()
		labels := o.GetLabels()
		if labels["app.kubernetes.io/managed-by"] != managedBy {
			t.Errorf("%s: app.kubernetes.io/managed-by is %q, want %q", key(o), labels["app.kubernetes.io/managed-by"], managedBy)
		}
		if managedBy == "Helm" && (labels["app.kubernetes.io/instance"] != releaseName || !strings.HasPrefix(labels["helm.sh/chart"], "failover-webhook-")) {
			t.Errorf("%s lacks Helm's labels: %v", key(o), labels)
		}
		for _, l := range []string{"app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "helm.sh/chart"} {
			delete(labels, l)
		}
		o.SetLabels(labels)
		byKey[key(o)] = o
	}
	return byKey
}

// TestDefaultRenderIsTheKustomizeOverlay: with default values, each
// certificate mode renders exactly its kustomize overlay, apart from the
// installers' own labels and the Namespace, which Helm creates
// (--create-namespace).
func TestDefaultRenderIsTheKustomizeOverlay(t *testing.T) {
	tests := map[string]struct {
		values   string
		overlays []string
	}{
		"cert-manager, the default, renders manifests/default": {overlays: []string{"default"}},
		"self-managed renders manifests/self-managed-certs": {
			values: "certificates: {mode: self-managed}", overlays: []string{"self-managed-certs"},
		},
		"monitoring switched on adds manifests/monitoring": {
			values:   "monitoring: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboard: {enabled: true}}",
			overlays: []string{"default", "monitoring"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := render(t, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			var want []*unstructured.Unstructured
			for _, overlay := range tc.overlays {
				for _, o := range kustomizeBuild(t, overlay) {
					if o.GetKind() != "Namespace" {
						want = append(want, o)
					}
				}
			}
			got := withoutInstallerLabels(t, objs, "Helm")
			wantByKey := withoutInstallerLabels(t, want, "kustomize")
			for k, w := range wantByKey {
				g, ok := got[k]
				if !ok {
					t.Errorf("the chart does not render %s", k)
					continue
				}
				if !reflect.DeepEqual(g.Object, w.Object) {
					gy, _ := yaml.Marshal(g.Object)
					wy, _ := yaml.Marshal(w.Object)
					t.Errorf("%s differs.\nchart:\n%s\nkustomize:\n%s", k, gy, wy)
				}
			}
			for k := range got {
				if _, ok := wantByKey[k]; !ok {
					t.Errorf("the chart renders %s, which manifests/%v do not", k, tc.overlays)
				}
			}
		})
	}
}

// find returns the rendered object of that kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// field returns the YAML of a field of a rendered object, for checks.
func field(t *testing.T, objs []*unstructured.Unstructured, kind, name string, path ...string) string {
	t.Helper()
	o := find(objs, kind, name)
	if o == nil {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	v, found, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !found {
		return ""
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Names the chart renders, as the overlays do.
const (
	deployment = "failover-webhook-controller-manager"
	mutating   = "failover-webhook-mutating-webhook-configuration"
	validating = "failover-webhook-validating-webhook-configuration"
)

// container returns the manager container's field as YAML.
func container(t *testing.T, objs []*unstructured.Unstructured, path ...string) string {
	t.Helper()
	o := find(objs, "Deployment", deployment)
	if o == nil {
		t.Fatal("no Deployment rendered")
	}
	containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	c, _ := containers[0].(map[string]any)
	v, _, _ := unstructured.NestedFieldNoCopy(c, path...)
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

// TestValuesRender: each value reaches the field it sets, and nothing else
// changes with it.
func TestValuesRender(t *testing.T) {
	tests := map[string]struct {
		values string
		check  func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		"replicaCount, image and pullPolicy set the Deployment": {
			values: "{replicaCount: 3, image: {repository: registry.example.com/failover-webhook, tag: v1.2.3, pullPolicy: IfNotPresent}}",
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				expect(t, "replicas", field(t, objs, "Deployment", deployment, "spec", "replicas"), "3")
				expect(t, "image", container(t, objs, "image"), "registry.example.com/failover-webhook:v1.2.3")
				expect(t, "imagePullPolicy", container(t, objs, "imagePullPolicy"), "IfNotPresent")
			},
		},
		"the waypoint name, TLS version and plain metrics become flags": {
			values: "{webhook: {waypointName: east-waypoint, tlsMinVersion: '1.3'}, metrics: {secure: false}}",
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				args := container(t, objs, "args")
				for _, want := range []string{"- --waypoint-name=east-waypoint", "- --tls-min-version=1.3"} {
					if !strings.Contains(args, want) {
						t.Errorf("no %s in the args:\n%s", want, args)
					}
				}
				if strings.Contains(args, "--metrics-secure") {
					t.Errorf("--metrics-secure with metrics.secure false:\n%s", args)
				}
			},
		},
		"self-managed mode keeps its flags when values add some": {
			values: "{certificates: {mode: self-managed}, webhook: {waypointName: east-waypoint}}",
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				args := container(t, objs, "args")
				for _, want := range []string{"- --cert-mode=self-managed", "- --self-managed-namespace=" + namespace, "- --waypoint-name=east-waypoint", "- --metrics-secure"} {
					if !strings.Contains(args, want) {
						t.Errorf("no %s in the args:\n%s", want, args)
					}
				}
				if find(objs, "Certificate", "failover-webhook-serving-cert") != nil {
					t.Error("a cert-manager Certificate in self-managed mode")
				}
			},
		},
		"excluded namespaces join kube-system and the release's in both webhooks": {
			values: "{webhook: {excludedNamespaces: [istio-system, legacy]}}",
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				want := "- kube-system\n- " + namespace + "\n- istio-system\n- legacy"
				for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
					name := map[string]string{"MutatingWebhookConfiguration": mutating, "ValidatingWebhookConfiguration": validating}[kind]
					webhooks := find(objs, kind, name).Object["webhooks"].([]any)
					expressions, _, _ := unstructured.NestedSlice(webhooks[0].(map[string]any), "namespaceSelector", "matchExpressions")
					b, _ := yaml.Marshal(expressions[0].(map[string]any)["values"])
					expect(t, kind+" excluded namespaces", strings.TrimSpace(string(b)), want)
				}
			},
		},
		"scheduling values reach the pod, and an existing priority class is used by name": {
			values: `{nodeSelector: {kubernetes.io/os: linux}, tolerations: [{key: dedicated, operator: Exists}],
				affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [system]}]}]}}},
				priorityClass: {create: false, name: system-cluster-critical}, resources: {requests: {cpu: 100m, memory: 96Mi}, limits: {memory: 256Mi}}}`,
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				pod := []string{"spec", "template", "spec"}
				expect(t, "nodeSelector", field(t, objs, "Deployment", deployment, append(pod, "nodeSelector")...), "kubernetes.io/os: linux")
				expect(t, "tolerations", field(t, objs, "Deployment", deployment, append(pod, "tolerations")...), "- key: dedicated\n  operator: Exists")
				if !strings.Contains(field(t, objs, "Deployment", deployment, append(pod, "affinity")...), "pool") {
					t.Error("no affinity")
				}
				expect(t, "priorityClassName", field(t, objs, "Deployment", deployment, append(pod, "priorityClassName")...), "system-cluster-critical")
				if find(objs, "PriorityClass", "failover-webhook-critical") != nil || find(objs, "PriorityClass", "system-cluster-critical") != nil {
					t.Error("a PriorityClass rendered with priorityClass.create false")
				}
				expect(t, "resources", container(t, objs, "resources"), "limits:\n  memory: 256Mi\nrequests:\n  cpu: 100m\n  memory: 96Mi")
			},
		},
		"monitoring renders the ServiceMonitor, alerts and dashboard, scraping plain HTTP when metrics are": {
			values: "{monitoring: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboard: {enabled: true}}, metrics: {secure: false}, networkPolicy: {enabled: false}}",
			check: func(t *testing.T, objs []*unstructured.Unstructured) {
				for _, k := range []string{"Service failover-webhook-metrics-service", "PrometheusRule failover-webhook-alerts", "ConfigMap failover-webhook-dashboard"} {
					kind, name, _ := strings.Cut(k, " ")
					if find(objs, kind, name) == nil {
						t.Errorf("no %s", k)
					}
				}
				expect(t, "endpoints", field(t, objs, "ServiceMonitor", "failover-webhook-metrics", "spec", "endpoints"),
					"- interval: 30s\n  path: /metrics\n  port: metrics\n  scheme: http")
				if find(objs, "NetworkPolicy", "failover-webhook-allow-webhook-traffic") != nil {
					t.Error("a NetworkPolicy with networkPolicy.enabled false")
				}
				// Helm leaves the alerts' own templates alone.
				if !strings.Contains(field(t, objs, "PrometheusRule", "failover-webhook-alerts", "spec", "groups"), "{{ $labels.webhook }}") {
					t.Error("the alerts lost their {{ $labels.webhook }}")
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := render(t, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, objs)
		})
	}
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n%s\nwant:\n%s", what, got, want)
	}
}

// TestSchemaRefusesBadValues: values.schema.json stops a bad value at
// install, with a message naming it.
func TestSchemaRefusesBadValues(t *testing.T) {
	tests := map[string]struct {
		values string
		want   string // in the error
	}{
		"an unknown certificate mode":            {values: "certificates: {mode: vault}", want: "certificates"},
		"a replica count that is not a number":   {values: "replicaCount: two", want: "replicaCount"},
		"no replicas":                            {values: "replicaCount: 0", want: "replicaCount"},
		"a misspelled top-level value":           {values: "replicas: 3", want: "replicas"},
		"a TLS version the webhook cannot serve": {values: "webhook: {tlsMinVersion: '1.1'}", want: "tlsMinVersion"},
		"a namespace name that is not a DNS label": {
			values: "webhook: {excludedNamespaces: [Team_A]}", want: "excludedNamespaces",
		},
		"an empty image tag":                    {values: "image: {tag: ''}", want: "tag"},
		"a waypoint name with capitals":         {values: "webhook: {waypointName: East}", want: "waypointName"},
		"a misspelled monitoring switch":        {values: "monitoring: {serviceMonitors: {enabled: true}}", want: "serviceMonitors"},
		"a memory limit that is not a quantity": {values: "resources: {limits: {memory: lots}}", want: "memory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil {
				t.Fatal("rendered")
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not name the schema and %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestLint: `helm lint` (--strict: warnings count) passes for both modes.
func TestLint(t *testing.T) {
	tests := map[string]struct{ values string }{
		"cert-manager":           {},
		"self-managed":           {values: "certificates: {mode: self-managed}"},
		"everything switched on": {values: "monitoring: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboard: {enabled: true}}"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			values := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &values); err != nil {
				t.Fatal(err)
			}
			l := action.NewLint()
			l.Strict = true
			l.Namespace = namespace
			v, err := common.ParseKubeVersion(kubeVersion)
			if err != nil {
				t.Fatal(err)
			}
			l.KubeVersion = v
			result := l.Run([]string{repoPath(t, "charts", "failover-webhook")}, values)
			var out bytes.Buffer
			for _, m := range result.Messages {
				fmt.Fprintln(&out, m)
			}
			for _, err := range result.Errors {
				t.Error(err)
			}
			if action.HasWarningsOrErrors(result) {
				t.Errorf("lint found warnings or errors:\n%s", out.String())
			}
			if result.TotalChartsLinted != 1 {
				t.Errorf("%d charts linted", result.TotalChartsLinted)
			}
		})
	}
}
