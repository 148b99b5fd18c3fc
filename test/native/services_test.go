package native_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// Every value each input of the Service rules (docs/design.md section 3) can
// take, "" standing for absent: the cases are drawn from their product.
var (
	triggerValues  = []string{"", "cluster", "region"}
	globalValues   = []string{"", "true", "false", "True"}
	waypointValues = []string{"", "my-waypoint", "none", "<empty>"}
	wpNSValues     = []string{"", "mine"}
	managedValues  = []string{"", "istio.io-mesh-controller", "istio.io-eastwest-controller"}
	recordValues   = []string{"", "istio.io/global,istio.io/use-waypoint", " istio.io/global , ,example.com/other", "<empty>", "istio.io/use-waypoint-namespace"}
	// namespaceLabels are the namespaces' choices of waypoint, in every mode.
	namespaceLabels = []map[string]string{
		{},
		{"istio.io/use-waypoint": "ns-waypoint"},
		{"istio.io/use-waypoint": "ns-waypoint", "istio.io/use-waypoint-namespace": "other"},
		{"istio.io/use-waypoint": "none"},
	}
)

func put(m map[string]string, k, v string) {
	switch v {
	case "":
	case "<empty>":
		m[k] = ""
	default:
		m[k] = v
	}
}

// serviceLabels draws one Service's labels and annotations.
func serviceLabels(r *rand.Rand) (labels, annotations map[string]string) {
	oneOf := func(vs []string) string { return vs[r.IntN(len(vs))] }
	labels, annotations = map[string]string{"app": "helloworld"}, map[string]string{}
	put(labels, "failover", oneOf(triggerValues))
	put(labels, "istio.io/global", oneOf(globalValues))
	put(labels, "istio.io/use-waypoint", oneOf(waypointValues))
	put(labels, "istio.io/use-waypoint-namespace", oneOf(wpNSValues))
	put(labels, "gateway.istio.io/managed", oneOf(managedValues))
	put(annotations, "failover-webhook.io/managed-labels", oneOf(recordValues))
	return labels, annotations
}

// edits are the UPDATEs applied to a stored, already mutated Service.
var edits = map[string]func(s *corev1.Service){
	"remove failover=cluster": func(s *corev1.Service) { delete(s.Labels, "failover") },
	"remove failover=cluster and the record": func(s *corev1.Service) {
		delete(s.Labels, "failover")
		delete(s.Annotations, "failover-webhook.io/managed-labels")
	},
	"remove failover=cluster, set use-waypoint by hand": func(s *corev1.Service) {
		delete(s.Labels, "failover")
		s.Labels["istio.io/use-waypoint"] = "hand-picked"
	},
	"opt in":                   func(s *corev1.Service) { s.Labels["failover"] = "cluster" },
	"set use-waypoint by hand": func(s *corev1.Service) { s.Labels["istio.io/use-waypoint"] = "hand-picked" },
	"blank the record":         func(s *corev1.Service) { s.Annotations["failover-webhook.io/managed-labels"] = "" },
	"remove the labels map":    func(s *corev1.Service) { s.Labels = map[string]string{"failover": "cluster"} },
	"change global to false":   func(s *corev1.Service) { s.Labels["istio.io/global"] = "false" },
	"unchanged (reinvocation)": func(s *corev1.Service) {},
}

func TestServicesAgree(t *testing.T) {
	needsControlPlanes(t)
	ctx := t.Context()
	r := rand.New(rand.NewPCG(14, 2))
	type svcCase struct {
		ns                  string
		mode                string
		labels, annotations map[string]string
	}
	var cases []svcCase
	for _, mode := range modes {
		for j, nsl := range namespaceLabels {
			ns := fmt.Sprintf("svc-%s-%d", mode, j)
			labels := maps.Clone(nsl)
			labels["failover-webhook.io/enforcement"] = mode
			namespacePair(t, ns, labels)
			for range 40 {
				l, a := serviceLabels(r)
				cases = append(cases, svcCase{ns: ns, mode: mode, labels: l, annotations: a})
			}
		}
	}
	var tally counts
	var mu sync.Mutex
	var disagreements []string
	disagree := func(what string, w, n any) {
		mu.Lock()
		defer mu.Unlock()
		disagreements = append(disagreements, fmt.Sprintf("%s\n  webhook: %v\n  native:  %v", what, w, n))
	}
	parallel(len(cases), func(i int) {
		sc := cases[i]
		name := fmt.Sprintf("case-%d", i)
		created := map[*controlplane.Cluster]*corev1.Service{}
		for _, c := range []*controlplane.Cluster{webhook, native} {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sc.ns, Labels: maps.Clone(sc.labels), Annotations: maps.Clone(sc.annotations)},
				Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}},
			}
			if err := c.Client.Create(ctx, svc); err != nil {
				disagree(fmt.Sprintf("create %s/%s %v %v", sc.ns, name, sc.labels, sc.annotations), c.Name, err)
				return
			}
			created[c] = svc
		}
		tally.add("Service create " + sc.mode)
		w, n := created[webhook], created[native]
		if !equalMaps(w.Labels, sc.labels) || !equalMaps(w.Annotations, sc.annotations) {
			tally.add("Service create " + sc.mode + ", mutated")
		}
		if !sameMeta(w, n) {
			disagree(fmt.Sprintf("create in %s of labels %v annotations %v", sc.ns, sc.labels, sc.annotations), meta(w), meta(n))
			return
		}
		for what, edit := range edits {
			tally.add("Service update " + sc.mode)
			after := map[*controlplane.Cluster]*corev1.Service{}
			for _, c := range []*controlplane.Cluster{webhook, native} {
				svc := created[c].DeepCopy()
				if svc.Labels == nil {
					svc.Labels = map[string]string{}
				}
				if svc.Annotations == nil {
					svc.Annotations = map[string]string{}
				}
				edit(svc)
				if err := c.Client.Update(ctx, svc, client.DryRunAll); err != nil {
					after[c] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"<error>": err.Error()}}}
					continue
				}
				after[c] = svc
			}
			if !sameMeta(after[webhook], after[native]) {
				disagree(fmt.Sprintf("update %q in %s of stored labels %v annotations %v", what, sc.ns, w.Labels, w.Annotations), meta(after[webhook]), meta(after[native]))
			}
		}
	})
	tally.report(t)
	for _, d := range disagreements {
		t.Error(d)
	}
	t.Logf("%d disagreements", len(disagreements))
}

func sameMeta(a, b *corev1.Service) bool {
	return equalMaps(a.Labels, b.Labels) && equalMaps(a.Annotations, b.Annotations)
}

// equalMaps treats an absent map and an empty one alike, as the API does.
func equalMaps(a, b map[string]string) bool { return len(a) == len(b) && maps.Equal(a, b) }

func meta(s *corev1.Service) string {
	return fmt.Sprintf("labels %v annotations %v", s.Labels, s.Annotations)
}

// TestRemovalAfterNamespaceChangeAgrees covers the one rule the drawn cases
// cannot reach: a waypoint copied from a namespace label that has changed
// since is still the policy's to remove when the Service opts out.
func TestRemovalAfterNamespaceChangeAgrees(t *testing.T) {
	needsControlPlanes(t)
	const ns = "svc-relabeled"
	namespacePair(t, ns, map[string]string{"istio.io/use-waypoint": "first"})
	ctx := t.Context()
	after := map[*controlplane.Cluster]*corev1.Service{}
	for _, c := range []*controlplane.Cluster{webhook, native} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: ns, Labels: map[string]string{"failover": "cluster"}},
			Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}},
		}
		if err := c.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		n := &corev1.Namespace{}
		if err := c.Client.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
			t.Fatal(err)
		}
		n.Labels["istio.io/use-waypoint"] = "second"
		if err := c.Client.Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		// Both read the namespace from an informer: wait until a new
		// Service gets the new waypoint.
		deadline := time.Now().Add(30 * time.Second)
		for {
			probe := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns, Labels: map[string]string{"failover": "cluster"}},
				Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}},
			}
			if err := c.Client.Create(ctx, probe, client.DryRunAll); err == nil && probe.Labels["istio.io/use-waypoint"] == "second" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the namespace's new waypoint is not used after 30s", c.Name)
			}
			time.Sleep(200 * time.Millisecond)
		}
		delete(svc.Labels, "failover")
		if err := c.Client.Update(ctx, svc, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		after[c] = svc
	}
	if w, n := after[webhook], after[native]; !sameMeta(w, n) {
		t.Errorf("after opting out:\n  webhook: %s\n  native:  %s", meta(w), meta(n))
	}
	if _, ok := after[native].Labels["istio.io/use-waypoint"]; ok {
		t.Errorf("the waypoint copied from the old namespace label is left: %s", meta(after[native]))
	}
}
