package multicluster_test

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// The contract of docs/design.md §2 and the Istio labels the comparison
// reads, spelled out rather than taken from pkg/keys so that a renamed
// constant fails here.
const (
	trigger              = "failover"
	triggerValue         = "cluster"
	global               = "istio.io/global"
	useWaypoint          = "istio.io/use-waypoint"
	useWaypointNamespace = "istio.io/use-waypoint-namespace"
	enforcement          = "failover-webhook.io/enforcement"
	gatewayName          = "gateway.networking.k8s.io/gateway-name"
)

// setup is what one cluster holds in one test namespace: the guide's
// objects, each of which a test may change or drop (nil) to make the
// cluster drift from the others.
type setup struct {
	namespace  *unstructured.Unstructured
	service    *unstructured.Unstructured // helloworld
	waypoint   *unstructured.Unstructured // the waypoint's Service
	deployment *unstructured.Unstructured // the waypoint's Deployment
	rule       *unstructured.Unstructured // the guide's DestinationRule
	// extra are more objects; Namespaces among them are created first.
	extra []*unstructured.Unstructured
	// ready makes every Deployment report one ready replica, as the
	// Deployment controller would once the pod runs; envtest runs no
	// controllers.
	ready bool
}

// guide returns the state the guide leaves a cluster in, in namespace ns
// instead of sample: helloworld labeled failover=cluster with the labels
// the webhook adds, the waypoint's Service as istiod renders it with the
// label the guide adds by hand, its Deployment ready, and the guide's
// DestinationRule for the Service of ns.
func guide(t *testing.T, ns string) *setup {
	t.Helper()
	s := &setup{
		namespace: object(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns)),
		service:   object(t, seed.HelloworldService),
		rule:      object(t, seed.GuideDestinationRule),
		ready:     true,
	}
	s.service.SetNamespace(ns)
	setLabels(s.service, map[string]string{trigger: triggerValue, global: "true", useWaypoint: seed.Waypoint})
	s.waypoint, s.deployment = newWaypoint(t, ns, seed.Waypoint)
	s.rule.SetNamespace(ns)
	set(t, s.rule, "helloworld."+ns+".svc.cluster.local", "spec", "host")
	return s
}

// newWaypoint returns the Service and the Deployment of a global waypoint
// called name in namespace ns.
func newWaypoint(t *testing.T, ns, name string) (service, deployment *unstructured.Unstructured) {
	t.Helper()
	service, deployment = object(t, seed.WaypointService), object(t, seed.WaypointDeployment)
	for _, o := range []*unstructured.Unstructured{service, deployment} {
		o.SetName(name)
		o.SetNamespace(ns)
		setLabels(o, map[string]string{gatewayName: name})
	}
	setLabels(service, map[string]string{global: "true"})
	set(t, service, name, "spec", "selector", gatewayName)
	set(t, deployment, name, "spec", "selector", "matchLabels", gatewayName)
	set(t, deployment, name, "spec", "template", "metadata", "labels", gatewayName)
	return service, deployment
}

// objects returns the objects of s in the order they can be created.
func (s *setup) objects() []*unstructured.Unstructured {
	var namespaces, others []*unstructured.Unstructured
	for _, o := range append([]*unstructured.Unstructured{s.namespace, s.service, s.waypoint, s.deployment, s.rule}, s.extra...) {
		switch {
		case o == nil:
		case o.GetKind() == "Namespace":
			namespaces = append(namespaces, o)
		default:
			others = append(others, o)
		}
	}
	return append(namespaces, others...)
}

// create creates the objects of s in c, copies so that s can be created in
// several clusters.
func (s *setup) create(ctx context.Context, c *controlplane.Cluster) error {
	for _, o := range s.objects() {
		o = o.DeepCopy()
		if err := c.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("%s: creating %s %s/%s: %w", c.Name, o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		if o.GetKind() != "Deployment" || !s.ready {
			continue
		}
		if err := seed.ReportReady(ctx, c.Client, o); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

// createIn creates setups[i] in clusters[i], for as many clusters as
// there are setups.
func createIn(t *testing.T, setups []*setup) {
	t.Helper()
	for i, s := range setups {
		if err := s.create(t.Context(), clusters[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// object decodes one YAML manifest.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	o := &unstructured.Unstructured{}
	raw, err := yaml.YAMLToJSON([]byte(manifest))
	if err == nil {
		err = o.UnmarshalJSON(raw)
	}
	if err != nil {
		t.Fatalf("decoding %q: %v", manifest, err)
	}
	return o
}

// value decodes a YAML value into what unstructured objects hold (int64
// for integers).
func value(t *testing.T, text string) any {
	t.Helper()
	var v any
	raw, err := yaml.YAMLToJSON([]byte(text))
	if err == nil {
		err = utiljson.Unmarshal(raw, &v)
	}
	if err != nil {
		t.Fatalf("decoding %q: %v", text, err)
	}
	return v
}

// set sets the field at path of o to v.
func set(t *testing.T, o *unstructured.Unstructured, v any, path ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(o.Object, v, path...); err != nil {
		t.Fatalf("setting %v of %s %s: %v", path, o.GetKind(), o.GetName(), err)
	}
}

// setLabels adds labels to those of o.
func setLabels(o *unstructured.Unstructured, labels map[string]string) {
	all := o.GetLabels()
	if all == nil {
		all = map[string]string{}
	}
	for k, v := range labels {
		all[k] = v
	}
	o.SetLabels(all)
}

// removeLabels removes labels from o.
func removeLabels(o *unstructured.Unstructured, keys ...string) {
	all := o.GetLabels()
	for _, k := range keys {
		delete(all, k)
	}
	o.SetLabels(all)
}
