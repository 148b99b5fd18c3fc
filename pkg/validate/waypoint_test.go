package validate

import (
	"path/filepath"
	"slices"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/tables"
)

// TestEvaluateWaypointOneView holds EvaluateWaypoint to EvaluateFor on
// every spec of this package's decision tables: when the clusters and the
// endpoints read the same rule (no selector), and when the endpoints read
// a rule selecting the waypoint's pods and the clusters none, the two must
// name the same violating fields.
func TestEvaluateWaypointOneView(t *testing.T) {
	rows, err := tables.DestinationRuleSpecs(".")
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "tcp-db", Port: 90}, {Port: 8080}}}}
	fields := func(f Findings) []string {
		var out []string
		for _, v := range f.Violations {
			out = append(out, v.Field)
		}
		slices.Sort(out)
		return out
	}
	path := field.NewPath("spec")
	judged := 0
	for _, r := range rows {
		raw, err := yaml.Marshal(r.Spec)
		if err != nil {
			t.Fatal(err)
		}
		spec := parseSpec(t, string(raw))
		if hasDuplicateSubset(spec.GetSubsets()) {
			// EvaluateFor judges each of two subsets of one name on its
			// own policy; Istio's endpoints read the first
			// (getSubsetTrafficPolicy), as EvaluateWaypoint does.
			continue
		}
		for _, target := range []Target{{}, {Service: svc}} {
			want := fields(EvaluateFor(spec, path, target))
			clusters := spec
			if SelectsWaypoint(spec.GetWorkloadSelector(), target.Namespace, target.Waypoint) {
				clusters = nil
			} else if spec.GetWorkloadSelector() != nil {
				continue // judged as usual: not a waypoint's view
			}
			if got := fields(EvaluateWaypoint(clusters, spec, path, target)); !slices.Equal(got, want) {
				t.Errorf("%s:%d (Service %v): EvaluateWaypoint gives %v, EvaluateFor %v", filepath.Base(r.Pos.Filename), r.Pos.Line, target.Service != nil, got, want)
			}
			judged++
		}
	}
	if judged < 40 {
		t.Fatalf("judged %d specs, want the tables' rows", judged)
	}
}

func hasDuplicateSubset(subsets []*networking.Subset) bool {
	seen := map[string]bool{}
	for _, s := range subsets {
		if seen[s.GetName()] {
			return true
		}
		seen[s.GetName()] = true
	}
	return false
}
