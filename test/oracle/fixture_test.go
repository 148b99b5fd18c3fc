package oracle

import (
	"slices"
	"testing"
)

// TestFixtureShowsFailover holds the oracle's world to what the corpus
// relies on, on a rule whose outcome is known: Istio builds the waypoint's
// cluster for each port of the host, with every endpoint; with outlier
// detection the endpoints get failover priorities and the cluster has it;
// without, they get none and askIstio still finds the failover. If Istio
// built nothing, or the world gave no priorities, every case of the corpus
// would read as "no violation"; this test fails instead.
func TestFixtureShowsFailover(t *testing.T) {
	ports := []servicePort{{"http", 80}, {"tcp-db", 90}}
	failover := map[string]any{"localityLbSetting": map[string]any{"failoverPriority": []any{"tier"}}}
	protected := ruleYAML("protected", map[string]any{"host": "app", "trafficPolicy": map[string]any{
		"loadBalancer": failover, "outlierDetection": map[string]any{"consecutive5xxErrors": 1},
	}})
	unprotected := ruleYAML("unprotected", map[string]any{"host": "app", "trafficPolicy": map[string]any{"loadBalancer": failover}})

	want := []string{
		"inbound-vip|80|http|" + appHost,
		"inbound-vip|90|tcp|" + appHost,
	}
	g := generate(t, ports, []string{protected})
	var names []string
	for name, cl := range g.clusters {
		names = append(names, name)
		if cl.GetOutlierDetection() == nil {
			t.Errorf("cluster %s has no outlier detection, though the rule sets it", name)
		}
		// The waypoint (tier a) keeps app-1, app-3 and app-4 at priority
		// 0 and fails over to app-2 (tier b) at priority 1.
		prio := slices.Sorted(slices.Values(g.endpoints[name]))
		if !slices.Equal(prio, []uint32{0, 0, 0, 1}) {
			t.Errorf("cluster %s: endpoint priorities %v, want [0 0 0 1]", name, prio)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("the waypoint's clusters for %s are %v, want %v", appHost, names, want)
	}
	if v := askIstio(t, istioCase{ports: ports, rules: []string{protected}}); v.violates() {
		t.Errorf("the rule with outlier detection violates: %v", v.unprotected)
	}

	g = generate(t, ports, []string{unprotected})
	for name := range g.clusters {
		if hasPriorities(g.endpoints[name]) {
			t.Errorf("cluster %s: priorities %v without outlier detection; Istio applies them only with it", name, g.endpoints[name])
		}
	}
	v := askIstio(t, istioCase{ports: ports, rules: []string{unprotected}})
	if !slices.Equal(v.unprotected, want) {
		t.Errorf("the rule without outlier detection leaves %v unprotected, want %v", v.unprotected, want)
	}
}
