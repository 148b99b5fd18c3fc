package audit

import (
	"slices"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failover-webhook/failover-webhook/pkg/drift"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

func TestPatchCommand(t *testing.T) {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "helloworld"}}
	const od = `{"baseEjectionTime":"1m","consecutive5xxErrors":1,"interval":"1s"}`
	tests := map[string]struct {
		violations []verdict.Entry
		want       string
	}{
		"a top-level failover": {
			violations: []verdict.Entry{{Field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority", Fix: "spec.trafficPolicy.outlierDetection"}},
			want:       `kubectl patch destinationrules.networking.istio.io helloworld -n sample --type=json -p '[{"op":"add","path":"/spec/trafficPolicy/outlierDetection","value":` + od + `}]'`,
		},
		"a subset's port entry, and the same place twice": {
			violations: []verdict.Entry{
				{Field: "spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failover", Fix: "spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection"},
				{Field: "spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority", Fix: "spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection"},
				{Field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority", Fix: "spec.trafficPolicy.outlierDetection"},
			},
			want: `kubectl patch destinationrules.networking.istio.io helloworld -n sample --type=json -p '[` +
				`{"op":"add","path":"/spec/subsets/1/trafficPolicy/portLevelSettings/0/outlierDetection","value":` + od + `},` +
				`{"op":"add","path":"/spec/trafficPolicy/outlierDetection","value":` + od + `}]'`,
		},
		"a violation no one field fixes": {
			violations: []verdict.Entry{{Field: "spec", Message: "too many scopes"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := patchCommand(dr, tc.violations); got != tc.want {
				t.Errorf("patchCommand =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestLocalThroughGlobal is FW413 in the audit of several clusters: each
// cluster's snapshot is judged on its own waypoints.
func TestLocalThroughGlobal(t *testing.T) {
	shared := types.NamespacedName{Namespace: "waypoints", Name: "shared"}
	key := func(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }
	use := drift.Labels{keys.UseWaypoint: "shared", keys.UseWaypointNamespace: "waypoints"}
	with := func(l drift.Labels, k, v string) drift.Labels {
		out := drift.Labels{k: v}
		for x, y := range l {
			out[x] = y
		}
		return out
	}
	snap := func(waypointGlobal bool) *drift.Snapshot {
		wp := drift.Waypoint{Found: true, Service: drift.Labels{}}
		if waypointGlobal {
			wp.Service[keys.Global] = keys.GlobalValue
		}
		return &drift.Snapshot{
			Namespaces: map[string]drift.Labels{"byns": {keys.UseWaypoint: "shared", keys.UseWaypointNamespace: "waypoints"}},
			Services: map[types.NamespacedName]drift.Labels{
				key("app", "local"):    use,
				key("app", "global"):   with(use, keys.Global, keys.GlobalValue),
				key("app", "opted-in"): with(use, keys.Trigger, keys.TriggerValue),
				key("app", "none"):     {},
				key("byns", "local"):   {},
				key("skip", "local"):   use,
			},
			Waypoints: map[types.NamespacedName]drift.Waypoint{shared: wp},
		}
	}
	excluded := func(ns string) bool { return ns == "skip" }
	render := func(us []localUse) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.service.String()+" via "+u.waypoint.String())
		}
		return out
	}
	want := []string{"app/local via waypoints/shared", "byns/local via waypoints/shared"}
	if got := render(localThroughGlobal(snap(true), excluded)); !slices.Equal(got, want) {
		t.Errorf("global waypoint: %v, want %v", got, want)
	}
	if got := localThroughGlobal(snap(false), excluded); len(got) != 0 {
		t.Errorf("waypoint not global in this cluster: %v, want none", render(got))
	}
}
