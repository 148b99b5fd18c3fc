package consolidate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// dr builds a rule created at t0 plus age seconds with the given host,
// subsets and options.
func dr(ns, name string, age int, host string, opts ...func(*networking.DestinationRule)) consolidate.Rule {
	spec := &networking.DestinationRule{Host: host}
	for _, o := range opts {
		o(spec)
	}
	return consolidate.Rule{Namespace: ns, Name: name, Created: t0.Add(time.Duration(age) * time.Second), Spec: spec}
}

func subsets(names ...string) func(*networking.DestinationRule) {
	return func(s *networking.DestinationRule) {
		for _, n := range names {
			s.Subsets = append(s.Subsets, &networking.Subset{Name: n})
		}
	}
}

func exportTo(ns ...string) func(*networking.DestinationRule) {
	return func(s *networking.DestinationRule) { s.ExportTo = ns }
}

func selector(app string) func(*networking.DestinationRule) {
	return func(s *networking.DestinationRule) {
		s.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": app}}
	}
}

// policy gives the rule a top-level trafficPolicy whose connection pool's
// maxConnections marks which rule it came from.
func policy(mark int32) func(*networking.DestinationRule) {
	return func(s *networking.DestinationRule) {
		s.TrafficPolicy = &networking.TrafficPolicy{ConnectionPool: &networking.ConnectionPoolSettings{
			Tcp: &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: mark},
		}}
	}
}

const reviews = "reviews.app.svc.cluster.local"

func names(rules []consolidate.Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.String())
	}
	return out
}

func subsetNames(spec *networking.DestinationRule) []string {
	var out []string
	for _, s := range spec.GetSubsets() {
		out = append(out, s.GetName())
	}
	return out
}

// ignored renders Ignored as "rule part[:subset]<winner" for comparison.
func ignored(res consolidate.Result) []string {
	var out []string
	for _, i := range res.Ignored {
		s := i.Rule.String() + " " + string(i.Part)
		if i.SubsetName != "" {
			s += ":" + i.SubsetName
		}
		if i.HasWinner() {
			s += "<" + i.Winner.String()
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestForWaypoint(t *testing.T) {
	tests := map[string]struct {
		rules            []consolidate.Rule
		proxyNS, svcNS   string
		host             string
		wantFrom         []string
		wantSubsets      []string
		wantPolicy       int32 // maxConnections of the merged top-level policy; 0 for none
		wantIgnored      []string
		wantReasonSubstr string // in the reason of the first whole-rule Ignored
	}{
		"one rule is used as it is": {
			rules:   []consolidate.Rule{dr("app", "a", 0, reviews, subsets("v1"), policy(1))},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/a"}, wantSubsets: []string{"v1"}, wantPolicy: 1,
		},
		"a short host resolves against the rule's namespace": {
			rules:   []consolidate.Rule{dr("app", "a", 0, "reviews", policy(1)), dr("other", "b", 0, "reviews", policy(2))},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/a"}, wantPolicy: 1,
		},
		"a host of two labels is taken as written and matches no Service": {
			rules:   []consolidate.Rule{dr("app", "a", 0, "reviews.app", policy(1))},
			proxyNS: "app", svcNS: "app", host: reviews,
		},
		"the older rule's top-level policy wins and the newer only adds subsets of new names": {
			rules: []consolidate.Rule{
				dr("app", "newer", 10, reviews, subsets("v1", "v3"), policy(2)),
				dr("app", "older", 0, reviews, subsets("v1", "v2"), policy(1)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/older", "app/newer"}, wantSubsets: []string{"v1", "v2", "v3"}, wantPolicy: 1,
			wantIgnored: []string{"app/newer subset:v1<app/older", "app/newer trafficPolicy<app/older"},
		},
		"same creation time: the name decides": {
			rules: []consolidate.Rule{
				dr("app", "b", 0, reviews, policy(2)),
				dr("app", "a", 0, reviews, policy(1)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/a", "app/b"}, wantPolicy: 1,
			wantIgnored: []string{"app/b trafficPolicy<app/a"},
		},
		"a first rule without top-level policy takes the next rule's": {
			rules: []consolidate.Rule{
				dr("app", "subsets-only", 0, reviews, subsets("v1")),
				dr("app", "policy", 5, reviews, policy(2)),
				dr("app", "late", 9, reviews, policy(3)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/subsets-only", "app/policy", "app/late"}, wantSubsets: []string{"v1"}, wantPolicy: 2,
			wantIgnored: []string{"app/late trafficPolicy<app/policy"},
		},
		"different exportTo are kept apart and the waypoint reads the last one, here the newer": {
			rules: []consolidate.Rule{
				dr("app", "private", 0, reviews, exportTo("."), policy(1)),
				dr("app", "public", 5, reviews, exportTo("*"), policy(2)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/public"}, wantPolicy: 2,
			wantIgnored:      []string{"app/private rule<app/public"},
			wantReasonSubstr: "exportTo differs",
		},
		"an exportTo that is a superset merges into the earlier rule and, both without selector, makes no entry of its own": {
			rules: []consolidate.Rule{
				dr("app", "narrow", 0, reviews, exportTo("ns1"), policy(1)),
				dr("app", "wide", 5, reviews, exportTo("ns1", "ns2"), policy(2)),
			},
			proxyNS: "ns2", svcNS: "app", host: reviews,
			wantIgnored:      []string{"app/narrow rule", "app/wide rule"},
			wantReasonSubstr: "does not reach namespace ns2",
		},
		"the superset merge as seen from a namespace both export to": {
			rules: []consolidate.Rule{
				dr("app", "narrow", 0, reviews, exportTo("ns1"), policy(1)),
				dr("app", "wide", 5, reviews, exportTo("ns1", "ns2"), policy(2), subsets("v2")),
			},
			proxyNS: "ns1", svcNS: "app", host: reviews,
			wantFrom: []string{"app/narrow", "app/wide"}, wantSubsets: []string{"v2"}, wantPolicy: 1,
			wantIgnored: []string{"app/wide trafficPolicy<app/narrow"},
		},
		"a rule with workloadSelector comes first in the order but a waypoint never reads it": {
			rules: []consolidate.Rule{
				dr("app", "all", 0, reviews, policy(1)),
				dr("app", "selected", 5, reviews, selector("x"), policy(2)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/all"}, wantPolicy: 1,
			wantIgnored:      []string{"app/selected rule<app/all"},
			wantReasonSubstr: "workloadSelector",
		},
		"a rule without selector exported like a selector rule is merged into it, and the waypoint reads nothing": {
			rules: []consolidate.Rule{
				dr("app", "selected", 5, reviews, selector("x"), policy(2)),
				dr("app", "all", 0, reviews, exportTo("."), policy(1)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantIgnored:      []string{"app/all rule", "app/selected rule"},
			wantReasonSubstr: "merged into app/selected, which has a workloadSelector",
		},
		"the waypoint's namespace is read before the Service's": {
			rules: []consolidate.Rule{
				dr("app", "svc-side", 0, reviews, policy(1)),
				dr("wp", "waypoint-side", 5, reviews, policy(2)),
			},
			proxyNS: "wp", svcNS: "app", host: reviews,
			wantFrom: []string{"wp/waypoint-side"}, wantPolicy: 2,
			wantIgnored:      []string{"app/svc-side rule<wp/waypoint-side"},
			wantReasonSubstr: "reads the rules of namespace wp first",
		},
		"the Service's namespace is read before the root namespace, and other namespaces never": {
			rules: []consolidate.Rule{
				dr("istio-system", "mesh", 0, reviews, policy(1)),
				dr("app", "svc-side", 5, reviews, policy(2)),
				dr("elsewhere", "stray", 0, reviews, policy(3)),
			},
			proxyNS: "wp", svcNS: "app", host: reviews,
			wantFrom: []string{"app/svc-side"}, wantPolicy: 2,
			wantIgnored: []string{"elsewhere/stray rule<app/svc-side", "istio-system/mesh rule<app/svc-side"},
		},
		"a rule of the Service's namespace exported only to itself falls back to the root namespace's": {
			rules: []consolidate.Rule{
				dr("istio-system", "mesh", 0, reviews, policy(1)),
				dr("app", "private", 0, reviews, exportTo("."), policy(2)),
			},
			proxyNS: "wp", svcNS: "app", host: reviews,
			wantFrom: []string{"istio-system/mesh"}, wantPolicy: 1,
			wantIgnored:      []string{"app/private rule<istio-system/mesh"},
			wantReasonSubstr: "does not reach namespace wp",
		},
		"a wildcard host matches": {
			rules:   []consolidate.Rule{dr("app", "wild", 0, "*.app.svc.cluster.local", policy(1))},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/wild"}, wantPolicy: 1,
		},
		"the exact host beats a wildcard, and a longer wildcard a shorter one": {
			rules: []consolidate.Rule{
				dr("app", "short", 0, "*.cluster.local", policy(1)),
				dr("app", "long", 0, "*.app.svc.cluster.local", policy(2)),
				dr("app", "exact", 9, reviews, policy(3)),
			},
			proxyNS: "app", svcNS: "app", host: reviews,
			wantFrom: []string{"app/exact"}, wantPolicy: 3,
			wantIgnored:      []string{"app/long rule<app/exact", "app/short rule<app/exact"},
			wantReasonSubstr: "more specific",
		},
		"a wildcard in the waypoint's namespace beats the exact host in the Service's": {
			rules: []consolidate.Rule{
				dr("app", "exact", 0, reviews, policy(1)),
				dr("wp", "wild", 5, "*.cluster.local", policy(2)),
			},
			proxyNS: "wp", svcNS: "app", host: reviews,
			wantFrom: []string{"wp/wild"}, wantPolicy: 2,
			wantIgnored: []string{"app/exact rule<wp/wild"},
		},
		"a waypoint in the root namespace reads the root's private rules first": {
			rules: []consolidate.Rule{
				dr("istio-system", "public", 0, reviews, policy(1)),
				dr("istio-system", "private", 5, reviews, exportTo("."), policy(2)),
			},
			proxyNS: "istio-system", svcNS: "app", host: reviews,
			wantFrom: []string{"istio-system/private"}, wantPolicy: 2,
			wantIgnored: []string{"istio-system/public rule<istio-system/private"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			before := make([]*networking.DestinationRule, len(tt.rules))
			for i, r := range tt.rules {
				before[i] = proto.Clone(r.Spec).(*networking.DestinationRule)
			}
			res := consolidate.ForWaypoint(tt.proxyNS, tt.svcNS, tt.host, tt.rules)
			if got := names(res.From); !slices.Equal(got, tt.wantFrom) {
				t.Errorf("From = %v, want %v", got, tt.wantFrom)
			}
			if (res.Spec == nil) != (len(tt.wantFrom) == 0) {
				t.Errorf("Spec = %v with From %v", res.Spec, res.From)
			}
			if got := subsetNames(res.Spec); !slices.Equal(got, tt.wantSubsets) {
				t.Errorf("subsets = %v, want %v", got, tt.wantSubsets)
			}
			if got := res.Spec.GetTrafficPolicy().GetConnectionPool().GetTcp().GetMaxConnections(); got != tt.wantPolicy {
				t.Errorf("top-level policy from the rule marked %d, want %d", got, tt.wantPolicy)
			}
			if got := ignored(res); !slices.Equal(got, tt.wantIgnored) {
				t.Errorf("Ignored = %q, want %q", got, tt.wantIgnored)
			}
			if tt.wantReasonSubstr != "" {
				found := false
				for _, i := range res.Ignored {
					found = found || (i.Part == consolidate.WholeRule && strings.Contains(i.Reason, tt.wantReasonSubstr))
				}
				if !found {
					t.Errorf("no whole-rule reason contains %q: %+v", tt.wantReasonSubstr, res.Ignored)
				}
			}
			for i, r := range tt.rules {
				if !proto.Equal(r.Spec, before[i]) {
					t.Errorf("rule %s was modified: %v", r, r.Spec)
				}
			}
		})
	}
}

// TestIstioExportToCases replays the cases of Istio's own
// TestSetDestinationRuleWithExportTo (pilot/pkg/model/push_context_test.go).
func TestIstioExportToCases(t *testing.T) {
	const h = "httpbin.org"
	rules := []consolidate.Rule{
		dr("test1", "rule1", 0, h, exportTo(".", "ns1"), subsets("subset1", "subset2")),
		dr("test2", "rule2", 0, h, exportTo("test2", "ns1", "test1", "newNS"), subsets("subset3", "subset4")),
		dr("test3", "rule3", 0, h, exportTo("test1", "test2", "*"), subsets("subset5", "subset6")),
		dr("test4", "rule4-local", 0, h, exportTo("test4"), subsets("subset15", "subset16")),
		dr("istio-system", "rule4", 0, h, subsets("subset7", "subset8")),
		dr("istio-system", "rule1", 0, h, exportTo("."), subsets("subset9", "subset10")),
		dr("istio-system", "rule2", 0, "*.org", exportTo("."), subsets("subset11", "subset12")),
		dr("istio-system", "rule3", 0, "*.app.org", exportTo("."), subsets("subset13", "subset14")),
		dr("test5", "rule5", 0, "api.test.com", exportTo("istio-system"), subsets("subset5-0", "subset5-1")),
		dr("test6", "rule6", 0, "api.test.com", exportTo("istio-system"), subsets("subset6-0", "subset6-1")),
	}
	idx := consolidate.DefaultMesh.Index(rules)
	cases := []struct {
		proxyNS, svcNS, host string
		want                 []string
	}{
		{"test1", "test1", h, []string{"subset1", "subset2"}},
		{"test1", "test2", h, []string{"subset1", "subset2"}},
		{"test2", "test1", h, []string{"subset3", "subset4"}},
		{"newNS", "test2", h, []string{"subset3", "subset4"}},
		{"test3", "test1", h, []string{"subset5", "subset6"}},
		{"test5", "test4", h, []string{"subset7", "subset8"}},
		{"ns1", "test1", h, []string{"subset1", "subset2"}},
		{"ns1", "random", h, []string{"subset7", "subset8"}},
		{"random", "random", h, []string{"subset7", "subset8"}},
		{"test3", "random", h, []string{"subset5", "subset6"}},
		{"istio-system", "random", h, []string{"subset9", "subset10"}},
		{"istio-system", "istio-system", h, []string{"subset9", "subset10"}},
		{"istio-system", "istio-system", "foo.app.org", []string{"subset13", "subset14"}},
		{"istio-system", "test5", "api.test.com", []string{"subset5-0", "subset5-1"}},
		{"istio-system", "test6", "api.test.com", []string{"subset6-0", "subset6-1"}},
		{"istio-system", "test7", "api.test.com", nil},
	}
	for _, c := range cases {
		res := idx.ForWaypoint(c.proxyNS, c.svcNS, c.host)
		if got := subsetNames(res.Spec); !slices.Equal(got, c.want) {
			t.Errorf("proxy in %s, Service in %s, %s: subsets %v, want %v", c.proxyNS, c.svcNS, c.host, got, c.want)
		}
	}
}

// TestIstioMergingCase replays Istio's TestSetDestinationRuleMerging: two
// rules of one namespace merge, a third with another exportTo stays apart.
func TestIstioMergingCase(t *testing.T) {
	const h = "httpbin.org"
	rules := []consolidate.Rule{
		dr("test", "rule1", 0, h, subsets("subset1", "subset2")),
		dr("test", "rule2", 0, h, subsets("subset3", "subset4")),
		dr("test", "rule3", 0, h, exportTo("istio-system"), subsets("subset5", "subset6")),
	}
	res := consolidate.ForWaypoint("test", "test", h, rules)
	if got, want := names(res.From), []string{"test/rule1", "test/rule2"}; !slices.Equal(got, want) {
		t.Errorf("From = %v, want %v", got, want)
	}
	if got, want := subsetNames(res.Spec), []string{"subset1", "subset2", "subset3", "subset4"}; !slices.Equal(got, want) {
		t.Errorf("subsets = %v, want %v", got, want)
	}
	// From the root namespace, through the Service's exported rules, the
	// waypoint reads the last entry: rule3's, exported to it alone.
	res = consolidate.ForWaypoint("istio-system", "test", h, rules)
	if got, want := subsetNames(res.Spec), []string{"subset5", "subset6"}; !slices.Equal(got, want) {
		t.Errorf("from istio-system: subsets = %v, want %v", got, want)
	}
}

func TestResolve(t *testing.T) {
	m := consolidate.DefaultMesh
	for host, want := range map[string]string{
		"reviews":                      "reviews.ns.svc.cluster.local",
		"reviews.ns":                   "reviews.ns",
		"*":                            "*",
		"*.ns.svc.cluster.local":       "*.ns.svc.cluster.local",
		"10.0.0.1":                     "10.0.0.1",
		"::1":                          "::1",
		"reviews.ns.svc.cluster.local": "reviews.ns.svc.cluster.local",
	} {
		if got := m.Resolve(host, "ns"); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestEndpointView follows SidecarScope.DestinationRule for outbound
// traffic, which NewEndpointBuilder asks for a waypoint's endpoints: the
// first merged rule of the waypoint's namespace whose workloadSelector is
// a subset of its pods' labels, else the rule its clusters read.
func TestEndpointView(t *testing.T) {
	waypointPods := func(s *networking.DestinationRule) {
		s.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"gateway.istio.io/managed": "istio.io-mesh-controller"}}
	}
	byName := func(name string) func(*networking.DestinationRule) {
		return func(s *networking.DestinationRule) {
			s.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"gateway.networking.k8s.io/gateway-name": name}}
		}
	}
	tests := map[string]struct {
		rules        []consolidate.Rule
		wantClusters []string
		wantSelected bool
		wantEndpoint []string
		wantIgnored  []string
	}{
		"no selector rule: the endpoints read what the clusters read": {
			rules:        []consolidate.Rule{dr("app", "plain", 0, reviews, policy(1))},
			wantClusters: []string{"app/plain"}, wantEndpoint: []string{"app/plain"},
		},
		"a selector of the waypoint's controller label: endpoints from it, not ignored": {
			rules:        []consolidate.Rule{dr("app", "plain", 0, reviews, policy(1)), dr("app", "sel", 10, reviews, waypointPods, policy(2))},
			wantClusters: []string{"app/plain"}, wantSelected: true, wantEndpoint: []string{"app/sel"},
		},
		"a selector of the waypoint's Gateway name selects it": {
			rules:        []consolidate.Rule{dr("app", "plain", 0, reviews, policy(1)), dr("app", "sel", 10, reviews, byName("waypoint"), policy(2))},
			wantClusters: []string{"app/plain"}, wantSelected: true, wantEndpoint: []string{"app/sel"},
		},
		"a selector of another Gateway's name does not, and is ignored": {
			rules:        []consolidate.Rule{dr("app", "plain", 0, reviews, policy(1)), dr("app", "sel", 10, reviews, byName("ingress"), policy(2))},
			wantClusters: []string{"app/plain"}, wantEndpoint: []string{"app/plain"},
			wantIgnored: []string{"app/sel rule<app/plain"},
		},
		"the oldest of two matching selector rules wins": {
			rules: []consolidate.Rule{
				dr("app", "sel-late", 20, reviews, waypointPods, policy(3), subsets("v2")),
				dr("app", "sel-early", 10, reviews, byName("waypoint"), policy(2)),
			},
			wantSelected: true, wantEndpoint: []string{"app/sel-early"},
			wantIgnored: []string{"app/sel-late rule"},
		},
		"a selector rule merged with a plain rule of the same exportTo: the clusters read neither, the endpoints both": {
			rules:        []consolidate.Rule{dr("app", "plain", 0, reviews, exportTo("."), policy(1)), dr("app", "sel", 10, reviews, waypointPods, subsets("v1"))},
			wantSelected: true, wantEndpoint: []string{"app/sel", "app/plain"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res := consolidate.ForWaypointPods("app", consolidate.WaypointPodLabels("waypoint"), "app", reviews, tt.rules)
			if got := names(res.From); !slices.Equal(got, tt.wantClusters) {
				t.Errorf("clusters from %v, want %v", got, tt.wantClusters)
			}
			if res.Endpoints.Selected != tt.wantSelected {
				t.Errorf("Selected = %v, want %v", res.Endpoints.Selected, tt.wantSelected)
			}
			if got := names(res.Endpoints.From); !slices.Equal(got, tt.wantEndpoint) {
				t.Errorf("endpoints from %v, want %v", got, tt.wantEndpoint)
			}
			if got := ignored(res); !slices.Equal(got, tt.wantIgnored) {
				t.Errorf("Ignored = %q, want %q", got, tt.wantIgnored)
			}
		})
	}
}
