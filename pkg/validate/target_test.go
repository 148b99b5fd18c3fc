package validate

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/test/tables"
)

// servicesFor are Services a rule's host may name: with the ports the rule
// names and others of every protocol, with some of them, with none of
// them, and without ports; with and without a waypoint label.
func servicesFor(spec *networking.DestinationRule) []*corev1.Service {
	var named, some []corev1.ServicePort
	for i, n := range PortsNamed(spec) {
		if n == AnyPort {
			continue
		}
		p := corev1.ServicePort{Name: []string{"http", "tcp", "grpc-x", ""}[i%4], Port: int32(n)}
		named = append(named, p)
		if i%2 == 0 {
			some = append(some, p)
		}
	}
	others := []corev1.ServicePort{{Name: "http", Port: 8080}, {Name: "tcp-db", Port: 5432}, {Port: 9999}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	var out []*corev1.Service
	for _, ports := range [][]corev1.ServicePort{append(append([]corev1.ServicePort{}, named...), others...), some, others[:1], nil} {
		for _, labels := range []map[string]string{nil, {keys.UseWaypoint: "waypoint"}} {
			out = append(out, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.ServiceSpec{Ports: ports}})
		}
	}
	return out
}

// TestTargetOfReadsTheServiceWhenItCanMatter holds TargetOf to its
// promise: whenever it does not look the Service up for a rule that
// declares failover, the rule judged with that Service (its ports and its
// waypoint) gets the same verdict, in every mode; and it does look it up
// whenever the conservative scopes find something.
func TestTargetOfReadsTheServiceWhenItCanMatter(t *testing.T) {
	rows, err := tables.DestinationRuleSpecs(".")
	if err != nil {
		t.Fatal(err)
	}
	var specs []*networking.DestinationRule
	for _, row := range rows {
		raw, err := json.Marshal(row.Spec)
		if err != nil {
			t.Fatalf("%s: %v", row.Pos, err)
		}
		if spec, err := decodeSpecJSONPB(raw); err == nil {
			specs = append(specs, spec)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		specs = append(specs, randomSpec(r))
	}
	var skipped, read int
	for _, spec := range specs {
		key, ok := ServiceOf(spec.GetHost(), "default")
		if !ok || !DeclaresFailoverPolicy(spec) {
			continue
		}
		for _, svc := range servicesFor(spec) {
			looked := false
			got := TargetOf(spec, "default", func(types.NamespacedName) *corev1.Service { looked = true; return svc })
			conservative := EvaluateFor(spec, field.NewPath("spec"), Target{Namespace: "default"})
			if !looked {
				if n := len(conservative.Violations) + len(conservative.Warnings); n != 0 || spec.GetWorkloadSelector() != nil {
					t.Fatalf("TargetOf read no Service for a rule with %d findings on its conservative scopes (workloadSelector %v): %v", n, spec.GetWorkloadSelector(), spec)
				}
				skipped++
				full := Target{Namespace: "default", ServiceKey: key, Service: svc, Waypoint: waypointOf(key, svc.Labels, nil)}
				for _, m := range []string{"enforce", "warn", "audit"} {
					ns := map[string]string{keys.Enforcement: m, keys.UseWaypoint: "waypoint"}
					want, got := Admit(spec, full, ns, false), Admit(spec, got, ns, false)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("mode %s: admitted without reading the Service\n%+v\nbut with its ports %v and labels %v\n%+v\nspec: %v", m, got, svc.Spec.Ports, svc.Labels, want, spec)
					}
				}
				continue
			}
			read++
		}
	}
	t.Logf("%d (rule, Service) pairs judged without a read and the same as with it; %d read", skipped, read)
	if skipped < 250 || read < 1000 {
		t.Errorf("too few pairs of each kind: %d without a read, %d with", skipped, read)
	}
}
