package integration_test

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// The contract of docs/design.md §2, spelled out rather than taken from
// pkg/keys so that a renamed constant fails here.
const (
	trigger              = "failover"
	global               = "istio.io/global"
	useWaypoint          = "istio.io/use-waypoint"
	useWaypointNamespace = "istio.io/use-waypoint-namespace"
	gatewayManaged       = "gateway.istio.io/managed"
	enforcement          = "failover-webhook.io/enforcement"
	managedLabels        = "failover-webhook.io/managed-labels"
	validatingWebhook    = "vdestinationrule.failover-webhook.io"
	// defaultWaypoint is the webhook's --waypoint-name default, which the
	// harness keeps.
	defaultWaypoint = "waypoint"
)

var dnsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// newNamespace creates a namespace with labels for one test, named after
// it. The control plane is thrown away after the package, so namespaces are
// not deleted (no namespace controller runs to empty them anyway).
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	prefix := dnsUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(prefix) > 40 {
		prefix = prefix[len(prefix)-40:]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: strings.Trim(prefix, "-") + "-",
		Labels:       labels,
	}}
	if err := cluster.Client.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	return ns.Name
}

// withWarnings returns the test's context, recording the API server's
// warnings to the requests made with it.
func withWarnings(t *testing.T) (context.Context, *controlplane.Warnings) {
	return controlplane.CollectWarnings(t.Context())
}

func newService(namespace, name string, labels map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}},
	}
}

// Specs of DestinationRules. guideSpec is the rule of Istio's multicluster
// ambient failover guide; noOutlierSpec is it without outlierDetection,
// which makes the failover silently do nothing.
const (
	guideSpec = `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection:
    consecutive5xxErrors: 1
    interval: 1s
    baseEjectionTime: 1m
  loadBalancer:
    simple: ROUND_ROBIN
    localityLbSetting:
      enabled: true
      failoverPriority:
      - topology.istio.io/cluster
`
	noOutlierSpec = `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  loadBalancer:
    simple: ROUND_ROBIN
    localityLbSetting:
      enabled: true
      failoverPriority:
      - topology.istio.io/cluster
`
)

// topLevelFailoverPriority is the field a violation of noOutlierSpec names.
const topLevelFailoverPriority = "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"

// newDestinationRule returns a DestinationRule of networking.istio.io
// version ("v1", "v1beta1" or "v1alpha3") with spec given as YAML, decoded
// by Istio's own unmarshaler as the API server's clients would send it.
func newDestinationRule(t *testing.T, version, namespace, name, spec string) client.Object {
	t.Helper()
	var obj client.Object
	var target any
	switch version {
	case "v1":
		dr := &networkingv1.DestinationRule{}
		obj, target = dr, &dr.Spec
	case "v1beta1":
		dr := &networkingv1beta1.DestinationRule{}
		obj, target = dr, &dr.Spec
	case "v1alpha3":
		dr := &networkingv1alpha3.DestinationRule{}
		obj, target = dr, &dr.Spec
	default:
		t.Fatalf("no DestinationRule version %q", version)
	}
	if err := yaml.Unmarshal([]byte(spec), target); err != nil {
		t.Fatalf("decoding the DestinationRule spec: %v", err)
	}
	obj.SetNamespace(namespace)
	obj.SetName(name)
	return obj
}

// assertLabels fails unless labels are exactly want.
func assertLabels(t *testing.T, what string, labels, want map[string]string) {
	t.Helper()
	if !maps.Equal(labels, want) {
		t.Errorf("%s labels = %v, want %v", what, labels, want)
	}
}

// assertManagedLabels fails unless the record annotation is want ("" for
// absent).
func assertManagedLabels(t *testing.T, what string, obj client.Object, want string) {
	t.Helper()
	got, ok := obj.GetAnnotations()[managedLabels]
	switch {
	case want == "" && ok:
		t.Errorf("%s has annotation %s=%q, want none", what, managedLabels, got)
	case want != "" && got != want:
		t.Errorf("%s annotation %s = %q, want %q", what, managedLabels, got, want)
	}
}

// assertWarnings fails unless every phrase of want is in some warning; a
// nil want means no warning at all.
func assertWarnings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if want == nil && len(got) > 0 {
		t.Errorf("warnings = %q, want none", got)
	}
	for _, phrase := range want {
		if !containsPhrase(got, phrase) {
			t.Errorf("no warning contains %q; warnings: %q", phrase, got)
		}
	}
}

func containsPhrase(texts []string, phrase string) bool {
	for _, s := range texts {
		if strings.Contains(s, phrase) {
			return true
		}
	}
	return false
}

// assertDenied fails unless err is the validating webhook's denial and its
// message holds every phrase.
func assertDenied(t *testing.T, err error, phrases ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the request was allowed, want it denied by %s", validatingWebhook)
	}
	msg := err.Error()
	for _, phrase := range append([]string{`admission webhook "` + validatingWebhook + `" denied the request`}, phrases...) {
		if !strings.Contains(msg, phrase) {
			t.Errorf("the denial does not contain %q:\n%s", phrase, msg)
		}
	}
	// kubectl prints the causes of a 422 and drops the line naming the
	// webhook, so every cause must name failover-webhook and its rule, and
	// end with how to stop enforcement in the namespace.
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil || len(status.Status().Details.Causes) == 0 {
		t.Fatalf("the denial carries no causes: %v", err)
	}
	for _, c := range status.Status().Details.Causes {
		if !strings.HasPrefix(c.Message, "Forbidden: failover-webhook FW1") ||
			!strings.HasSuffix(c.Message, "failover-webhook.io/enforcement=warn --overwrite)") {
			t.Errorf("cause %s: %q, want it to name failover-webhook and the rule first and end with the opt-out", c.Field, c.Message)
		}
	}
}

// assertNotFound fails unless obj is not stored.
func assertNotFound(t *testing.T, obj client.Object) {
	t.Helper()
	err := cluster.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), obj)
	if !apierrors.IsNotFound(err) {
		t.Errorf("reading %s/%s: err = %v, want NotFound", obj.GetNamespace(), obj.GetName(), err)
	}
}

// eventually retries check until it succeeds or 10 seconds pass; caches
// (the webhook's namespace informer) lag a write by a little.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 10s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
