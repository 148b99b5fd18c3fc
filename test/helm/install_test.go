package helm

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// TestInstallIntoAControlPlane installs the chart with Helm's SDK into a
// local control plane (kube-apiserver and etcd, with the Istio and
// cert-manager CRDs) in self-managed mode; every object the chart renders,
// in both modes with every switch on, passes a server-side dry run there;
// then it runs the webhook here with the flags the installed Deployment
// carries, as the installed ServiceAccount, and has the API server send it
// the seed scenario's admissions.
func TestInstallIntoAControlPlane(t *testing.T) {
	controlplane.SkipIfShort(t)
	ctx := t.Context()
	start := time.Now()
	cluster, err := controlplane.Start(ctx, controlplane.Options{Name: "helm", NoWebhook: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crds, err := controlplane.CertManagerCRDPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(cluster.Config, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane with the Istio and cert-manager CRDs up in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	rel := install(t, cluster.KubeconfigPath, map[string]any{"certificates": map[string]any{"mode": "self-managed"}})
	installed, err := decode(rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helm install (self-managed): %d objects in %s", len(installed), time.Since(start).Round(time.Millisecond))
	for _, o := range installed {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			t.Errorf("%s is not in the cluster after the install: %v", key(o), err)
		}
	}

	t.Run("every rendered object passes a server-side dry run", func(t *testing.T) {
		everything := "monitoring: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboard: {enabled: true}}, webhook: {excludedNamespaces: [istio-system]}, tolerations: [{key: dedicated, operator: Exists}], metrics: {secure: false}"
		for _, mode := range []string{"cert-manager", "self-managed"} {
			start := time.Now()
			var objs []*unstructured.Unstructured
			for _, values := range []string{"{certificates: {mode: %s}}", "{certificates: {mode: %s}, " + everything + "}"} {
				rendered, err := render(t, fmt.Sprintf(values, mode))
				if err != nil {
					t.Fatal(err)
				}
				objs = append(objs, rendered...)
			}
			checked := 0
			for _, o := range objs {
				switch o.GetKind() {
				case "ServiceMonitor", "PrometheusRule":
					// The Prometheus Operator's CRDs are not installed here:
					// its API types judge these two, strictly.
					if err := strictMonitoring(o); err != nil {
						t.Errorf("%s: %v", key(o), err)
					}
					continue
				}
				if err := cluster.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("dry-run"), client.ForceOwnership, client.DryRunAll); err != nil {
					t.Errorf("%s (%s): %v", key(o), mode, err)
				}
				checked++
			}
			t.Logf("%s: %d objects dry-run on the API server in %s", mode, checked, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("the installed webhook admits and denies as in the seed scenario", func(t *testing.T) {
		address := serveAsInstalled(t, cluster)
		admitsAndDenies(t, cluster.Client)
		servesItsCertificateExpiry(t, address)
		monitoringQueriesTheWebhooksMetrics(t)
	})
}

// install runs `helm install failover-webhook charts/failover-webhook -n
// failover-webhook-system --create-namespace` with values.
func install(t *testing.T, kubeconfig string, values map[string]any) *release.Release {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	ns := namespace
	flags.KubeConfig, flags.Namespace = &kubeconfig, &ns
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace = releaseName, namespace, true
	// Nothing runs pods here: waiting for the Deployment would never end.
	in.WaitStrategy = kube.HookOnlyStrategy
	in.Timeout = time.Minute
	r, err := in.RunWithContext(t.Context(), loadChart(t), values)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	rel, ok := r.(*release.Release)
	if !ok {
		t.Fatalf("a release of type %T", r)
	}
	if rel.Info == nil || rel.Info.Status != "deployed" {
		t.Fatalf("the release is not deployed: %+v", rel.Info)
	}
	return rel
}

// serveAsInstalled runs the webhook in this process with the installed
// Deployment's flags, as its ServiceAccount. There is no pod network here:
// the webhook listens on localhost, its certificate names localhost, and
// both webhook configurations are pointed at it by URL (as an admin, which
// the chart's cabundle-only policy allows). It returns the webhook's
// address.
func serveAsInstalled(t *testing.T, cluster *controlplane.Cluster) string {
	t.Helper()
	ctx := t.Context()
	var d appsv1.Deployment
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: deployment}, &d); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	var parsed *app.ServeConfig
	cmd := app.NewRootCommand(func(_ context.Context, cfg app.ServeConfig) error {
		parsed = &cfg
		return nil
	})
	var out bytes.Buffer
	cmd.SetArgs(pod.Containers[0].Args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err != nil || parsed == nil {
		t.Fatalf("webhook %s: %v\n%s", strings.Join(pod.Containers[0].Args, " "), err, out.String())
	}
	opts := parsed.Server
	if opts.CertMode != server.CertModeSelfManaged {
		t.Fatalf("the installed Deployment runs in %q certificate mode", opts.CertMode)
	}

	port := freePort(t)
	opts.Host, opts.Port = "127.0.0.1", port
	opts.MetricsBindAddress = "0"
	opts.HealthProbeBindAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	opts.SelfManaged.DNSNames = []string{"localhost"}
	// A new CA is served once every caBundle holds it; here they are
	// written at once.
	opts.SelfManaged.PropagationDelay = time.Second
	opts.ShutdownDelay = 0
	url := "https://localhost:" + strconv.Itoa(port)
	pointAt(t, cluster.Client, &admv1.MutatingWebhookConfiguration{}, opts.SelfManaged.MutatingWebhookConfiguration, url)
	pointAt(t, cluster.Client, &admv1.ValidatingWebhookConfiguration{}, opts.SelfManaged.ValidatingWebhookConfiguration, url)

	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + pod.ServiceAccountName}
	mgr, err := server.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the webhook: %v", err)
		}
	})
	eventually(t, "the webhook is ready", func() error {
		return ready("http://" + opts.HealthProbeBindAddress + "/readyz")
	})
	return net.JoinHostPort(opts.Host, strconv.Itoa(port))
}

// pointAt replaces the Service reference of every webhook of the named
// configuration by url plus its path.
func pointAt(t *testing.T, c client.Client, obj client.Object, name, url string) {
	t.Helper()
	if err := c.Get(t.Context(), client.ObjectKey{Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	point := func(cc *admv1.WebhookClientConfig) {
		u := url + *cc.Service.Path
		cc.Service, cc.URL = nil, &u
	}
	switch o := obj.(type) {
	case *admv1.MutatingWebhookConfiguration:
		for i := range o.Webhooks {
			point(&o.Webhooks[i].ClientConfig)
		}
	case *admv1.ValidatingWebhookConfiguration:
		for i := range o.Webhooks {
			point(&o.Webhooks[i].ClientConfig)
		}
	}
	if err := c.Update(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
}

// admitsAndDenies plays the seed scenario's admissions: an opted-in
// Service gets its labels, the guide's DestinationRule is admitted, and the
// same rule without outlierDetection is denied.
func admitsAndDenies(t *testing.T, c client.Client) {
	t.Helper()
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: seed.Namespace}}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	if err := yaml.UnmarshalStrict([]byte(seed.HelloworldService), svc); err != nil {
		t.Fatal(err)
	}
	svc.Namespace = seed.Namespace
	svc.Labels["failover"] = "cluster"
	// The CA reaches the caBundles shortly after the webhook is ready.
	eventually(t, "the opted-in Service is created", func() error { return c.Create(ctx, svc) })
	if svc.Labels["istio.io/global"] != "true" || svc.Labels["istio.io/use-waypoint"] != seed.Waypoint {
		t.Errorf("the Service was not mutated: %v", svc.Labels)
	}

	for name, tc := range map[string]struct {
		rule   string
		denied bool
	}{
		"the guide's DestinationRule is admitted":     {rule: seed.GuideDestinationRule},
		"the rule without outlierDetection is denied": {rule: seed.NoOutlierDestinationRule, denied: true},
	} {
		t.Run(name, func(t *testing.T) {
			dr := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.rule), &dr.Object); err != nil {
				t.Fatal(err)
			}
			dr.SetNamespace(seed.Namespace)
			err := c.Create(ctx, dr, client.DryRunAll)
			switch {
			case tc.denied && err == nil:
				t.Error("admitted")
			case tc.denied && !strings.Contains(err.Error(), `admission webhook "vdestinationrule.failover-webhook.io" denied the request`):
				t.Errorf("not denied by the webhook: %v", err)
			case !tc.denied && err != nil:
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// servesItsCertificateExpiry: the expiry gauge is the NotAfter of the
// certificate the installed webhook serves.
func servesItsCertificateExpiry(t *testing.T, address string) {
	t.Helper()
	got, err := controlplane.MetricSum(metrics.ServingCertificateExpiryName, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", address, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) //nolint:gosec // only reads the served certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	served := conn.ConnectionState().PeerCertificates[0]
	if want := float64(served.NotAfter.Unix()); got != want {
		t.Errorf("%s = %v, the served certificate expires at %v", metrics.ServingCertificateExpiryName, got, want)
	}
}

// strictMonitoring decodes a ServiceMonitor or PrometheusRule into the
// Prometheus Operator's API type, refusing unknown fields.
func strictMonitoring(o *unstructured.Unstructured) error {
	b, err := yaml.Marshal(o.Object)
	if err != nil {
		return err
	}
	switch o.GetKind() {
	case "ServiceMonitor":
		return yaml.UnmarshalStrict(b, &monitoringv1.ServiceMonitor{})
	default:
		return yaml.UnmarshalStrict(b, &monitoringv1.PrometheusRule{})
	}
}
