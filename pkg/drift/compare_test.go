package drift

import (
	"fmt"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// The guide's setup in one cluster: namespace sample, the helloworld
// Service opted in with the webhook's labels, the waypoint global and
// ready, and the guide's DestinationRule.
const guideRule = `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}
  loadBalancer:
    simple: ROUND_ROBIN
    localityLbSetting:
      enabled: true
      failoverPriority: [topology.istio.io/cluster]
`

var (
	helloworld = types.NamespacedName{Namespace: "sample", Name: "helloworld"}
	waypoint   = types.NamespacedName{Namespace: "sample", Name: "waypoint"}
)

func guide(t *testing.T, name string) *Snapshot {
	t.Helper()
	return &Snapshot{
		Cluster:    name,
		Kubectl:    "--context " + name,
		Namespaces: map[string]Labels{"sample": nil, "default": nil},
		Services: map[types.NamespacedName]Labels{
			helloworld: {"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			waypoint:   {"gateway.istio.io/managed": "istio.io-mesh-controller", "istio.io/global": "true", "failover": "cluster"},
			{Namespace: "default", Name: "kubernetes"}: nil,
		},
		Waypoints: map[types.NamespacedName]Waypoint{
			waypoint: {Found: true, Service: Labels{"gateway.istio.io/managed": "istio.io-mesh-controller", "istio.io/global": "true"},
				Deployment: &Readiness{Name: "waypoint", Found: true, Ready: 1, Desired: 1}},
		},
		DestinationRules: []DestinationRule{rule(t, "sample", "helloworld", guideRule)},
	}
}

// created sets the creationTimestamp of dr to seconds after a fixed time.
func created(dr DestinationRule, seconds int) DestinationRule {
	dr.Created = time.Date(2026, 1, 1, 0, 0, seconds, 0, time.UTC)
	return dr
}

// rule is a DestinationRule of namespace/name with the spec in YAML, kept
// as a Snapshot keeps it.
func rule(t *testing.T, namespace, name, spec string) DestinationRule {
	t.Helper()
	dr := &networkingv1.DestinationRule{}
	if err := yaml.Unmarshal([]byte("spec:\n"+indent(spec)), dr); err != nil {
		t.Fatalf("spec of %s/%s: %v", namespace, name, err)
	}
	out := DestinationRule{Namespace: namespace, Name: name, Host: ResolveHost(dr.Spec.GetHost(), namespace)}
	for _, s := range dr.Spec.GetSubsets() {
		out.Subsets = append(out.Subsets, s.GetName())
	}
	out.Spec, out.Failover = &dr.Spec, validate.DeclaresFailoverPolicy(&dr.Spec)
	return out
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// want is the part of a finding a row pins down.
type want struct {
	// object is "KIND NAMESPACE/NAME: field" of the finding.
	object string
	// clusters the finding compares.
	clusters string
	// message holds these words; fix holds these.
	message []string
	fix     []string
}

func TestCompare(t *testing.T) {
	tests := map[string]struct {
		// change alters the clusters' snapshots (cluster1, cluster2, ...).
		clusters int
		change   func(t *testing.T, s []*Snapshot)
		want     []want
	}{
		"the guide applied alike in both clusters reports nothing": {
			change: func(*testing.T, []*Snapshot) {},
		},
		"a Service missing in one cluster": {
			change: func(_ *testing.T, s []*Snapshot) { delete(s[1].Services, helloworld) },
			want: []want{{
				object: "Service sample/helloworld: metadata.name", clusters: "cluster1,cluster2",
				message: []string{"exists in cluster1 but not in cluster2"},
			}},
		},
		"a Service and its waypoint missing in one cluster": {
			change: func(_ *testing.T, s []*Snapshot) {
				delete(s[1].Services, helloworld)
				delete(s[1].Services, waypoint)
				s[1].Waypoints[waypoint] = Waypoint{}
			},
			want: []want{{
				object: "Service sample/helloworld: metadata.name", clusters: "cluster1,cluster2",
				message: []string{"exists in cluster1 but not in cluster2"},
			}, {
				object: "Service sample/waypoint: metadata.name", clusters: "cluster1,cluster2",
				message: []string{`the waypoint "waypoint" (used by sample/helloworld) does not exist in cluster2; it exists in cluster1`},
				fix:     []string{"istioctl --context cluster2 waypoint apply -n sample --name waypoint --for service"},
			}},
		},
		"a Service opted in in one cluster only, labeled alike otherwise": {
			change: func(_ *testing.T, s []*Snapshot) { delete(s[1].Services[helloworld], "failover") },
			want: []want{{
				object: "Service sample/helloworld: metadata.labels[failover]", clusters: "cluster1,cluster2",
				message: []string{`failover="cluster" in cluster1; failover not set in cluster2`},
				fix:     []string{"kubectl --context cluster2 label service helloworld -n sample failover=cluster --overwrite"},
			}},
		},
		"a Service global in one cluster only": {
			change: func(_ *testing.T, s []*Snapshot) { s[0].Services[helloworld]["istio.io/global"] = "True" },
			want: []want{{
				object: "Service sample/helloworld: metadata.labels[istio.io/global]", clusters: "cluster1,cluster2",
				message: []string{`istio.io/global="True" in cluster1; istio.io/global="true" in cluster2`, "drops a remote copy"},
				fix:     []string{"kubectl --context cluster1 label service helloworld -n sample istio.io/global=true --overwrite"},
			}},
		},
		"a Service global in neither cluster is not a difference": {
			change: func(_ *testing.T, s []*Snapshot) {
				delete(s[0].Services[helloworld], "istio.io/global")
				s[1].Services[helloworld]["istio.io/global"] = "false"
			},
		},
		"a Service in no cluster's failover is not compared": {
			change: func(_ *testing.T, s []*Snapshot) {
				s[0].Services[types.NamespacedName{Namespace: "sample", Name: "local"}] = Labels{"istio.io/use-waypoint": "a"}
				s[1].Services[types.NamespacedName{Namespace: "sample", Name: "local"}] = Labels{"istio.io/use-waypoint": "b"}
			},
		},
		"a Service through differently named waypoints": {
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Services[helloworld]["istio.io/use-waypoint"] = "other"
				s[1].Waypoints[types.NamespacedName{Namespace: "sample", Name: "other"}] = s[1].Waypoints[waypoint]
			},
			want: []want{{
				object: "Service sample/helloworld: metadata.labels[istio.io/use-waypoint]", clusters: "cluster1,cluster2",
				message: []string{`waypoint "waypoint" in cluster1; waypoint "other" in cluster2`},
				fix:     []string{"kubectl --context cluster2 label service helloworld -n sample istio.io/use-waypoint=waypoint --overwrite"},
			}},
		},
		"a Service's waypoint from its namespace in one cluster and its own label in the other is the same waypoint": {
			change: func(_ *testing.T, s []*Snapshot) {
				delete(s[1].Services[helloworld], "istio.io/use-waypoint")
				s[1].Namespaces["sample"] = Labels{"istio.io/use-waypoint": "waypoint"}
			},
		},
		"a Service through a waypoint of another namespace in one cluster, and no waypoint in a third": {
			clusters: 3,
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Services[helloworld]["istio.io/use-waypoint-namespace"] = "istio-system"
				s[1].Waypoints[types.NamespacedName{Namespace: "istio-system", Name: "waypoint"}] = s[1].Waypoints[waypoint]
				s[2].Services[helloworld]["istio.io/use-waypoint"] = "none"
			},
			want: []want{{
				object: "Service sample/helloworld: metadata.labels[istio.io/use-waypoint]", clusters: "cluster1,cluster2,cluster3",
				message: []string{`waypoint "waypoint" in cluster1; waypoint "waypoint" of namespace istio-system in cluster2; no waypoint in cluster3`},
				fix: []string{
					"kubectl --context cluster2 label service helloworld -n sample istio.io/use-waypoint=waypoint istio.io/use-waypoint-namespace- --overwrite",
					"kubectl --context cluster3 label service helloworld -n sample istio.io/use-waypoint=waypoint --overwrite",
				},
			}},
		},
		"a waypoint missing in one cluster, reported once although its Service opted in": {
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Waypoints[waypoint] = Waypoint{}
				delete(s[1].Services, waypoint)
			},
			want: []want{{
				object: "Service sample/waypoint: metadata.name", clusters: "cluster1,cluster2",
				message: []string{"used by sample/helloworld", "does not exist in cluster2; it exists in cluster1"},
				fix:     []string{"istioctl --context cluster2 waypoint apply -n sample --name waypoint --for service"},
			}},
		},
		"a waypoint used by many Services names three and counts the others": {
			change: func(_ *testing.T, s []*Snapshot) {
				for _, snap := range s {
					for _, name := range []string{"a", "b", "c", "d"} {
						snap.Services[types.NamespacedName{Namespace: "sample", Name: name}] = Labels{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"}
					}
				}
				s[1].Waypoints[waypoint] = Waypoint{}
				delete(s[1].Services, waypoint)
			},
			want: []want{{
				object: "Service sample/waypoint: metadata.name", clusters: "cluster1,cluster2",
				message: []string{`the waypoint "waypoint" (used by sample/a, sample/b, sample/c and 2 other Services) does not exist in cluster2`},
				fix:     []string{"istioctl --context cluster2 waypoint apply -n sample --name waypoint --for service"},
			}},
		},
		"a waypoint not global in one cluster, reported once although its Service opted in": {
			change: func(_ *testing.T, s []*Snapshot) {
				delete(s[1].Services[waypoint], "istio.io/global")
				wp := s[1].Waypoints[waypoint]
				wp.Service = Labels{"gateway.networking.k8s.io/gateway-name": "wp-gateway"}
				s[1].Waypoints[waypoint] = wp
			},
			want: []want{{
				object: "Service sample/waypoint: metadata.labels[istio.io/global]", clusters: "cluster1,cluster2",
				message: []string{`istio.io/global="true" in cluster1; istio.io/global not set in cluster2`},
				fix:     []string{"kubectl --context cluster2 label gateways.gateway.networking.k8s.io wp-gateway -n sample istio.io/global=true --overwrite"},
			}},
		},
		"a waypoint without a ready replica, and one without a Deployment": {
			clusters: 3,
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Waypoints[waypoint].Deployment.Ready = 0
				s[1].Waypoints[waypoint].Deployment.Desired = 2
				s[2].Waypoints[waypoint].Deployment.Found = false
			},
			want: []want{{
				object: "Deployment sample/waypoint: status.readyReplicas", clusters: "cluster1,cluster2,cluster3",
				message: []string{"1 of 1 replicas ready in cluster1; 0 of 2 replicas ready in cluster2; no Deployment waypoint in cluster3", "fails in cluster2 and cluster3"},
			}},
		},
		"a waypoint's Service no Service uses is compared as a Service": {
			change: func(_ *testing.T, s []*Snapshot) {
				for _, snap := range s {
					snap.Services[helloworld]["istio.io/use-waypoint"] = "none"
				}
				delete(s[1].Services, waypoint)
			},
			want: []want{{
				object: "Service sample/waypoint: metadata.name", clusters: "cluster1,cluster2",
				message: []string{"the Service waypoint.sample exists in cluster1 but not in cluster2"},
			}},
		},
		"a waypoint whose readiness could not be read is not reported": {
			change: func(_ *testing.T, s []*Snapshot) {
				wp := s[1].Waypoints[waypoint]
				wp.Deployment = nil
				s[1].Waypoints[waypoint] = wp
			},
		},
		"a DestinationRule missing in one cluster": {
			change: func(_ *testing.T, s []*Snapshot) { s[1].DestinationRules = nil },
			want: []want{{
				object: "DestinationRule sample/helloworld: spec.host", clusters: "cluster1,cluster2",
				message: []string{"the DestinationRule sample/helloworld for host helloworld.sample.svc.cluster.local exists in cluster1 but not in cluster2"},
			}},
		},
		"a DestinationRule named by short host in one cluster and in full in the other is the same": {
			change: func(t *testing.T, s []*Snapshot) {
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "hw", strings.Replace(guideRule, "helloworld.sample.svc.cluster.local", "helloworld", 1))}
			},
		},
		"a DestinationRule without outlier detection in one cluster": {
			change: func(t *testing.T, s []*Snapshot) {
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", `
host: helloworld
trafficPolicy:
  loadBalancer:
    localityLbSetting: {enabled: true, failoverPriority: [topology.istio.io/cluster]}
`)}
			},
			want: []want{{
				object: "DestinationRule sample/helloworld: spec.trafficPolicy.outlierDetection", clusters: "cluster1,cluster2",
				message: []string{
					"the effective outlierDetection differs for traffic without a subset:",
					`{"consecutive5xxErrors":1,"interval":"1s","baseEjectionTime":"60s"} (spec.trafficPolicy.outlierDetection) in cluster1; not set in cluster2`,
				},
			}},
		},
		"a port entry that replaces the policy on one port in one cluster": {
			change: func(t *testing.T, s []*Snapshot) {
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", guideRule+`
  portLevelSettings:
  - port: {number: 5000}
    loadBalancer:
      localityLbSetting: {enabled: true, failoverPriority: [topology.istio.io/cluster]}
`)}
			},
			want: []want{{
				object: "DestinationRule sample/helloworld: spec.trafficPolicy.outlierDetection", clusters: "cluster1,cluster2",
				message: []string{"differs for traffic without a subset port 5000:", "not set in cluster2"},
			}},
		},
		"the same policy written at the top level in one cluster and in every subset in the other": {
			change: func(t *testing.T, s []*Snapshot) {
				s[0].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", guideRule+`
subsets:
- name: v1
  labels: {version: v1}
`)}
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", guideRule+`
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s}
`)}
			},
		},
		"a subset in one cluster only, and a failover priority that differs": {
			change: func(t *testing.T, s []*Snapshot) {
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", strings.Replace(guideRule, "[topology.istio.io/cluster]", "[topology.istio.io/network]", 1)+`
subsets:
- name: v2
  labels: {version: v2}
`)}
			},
			want: []want{
				{object: "DestinationRule sample/helloworld: spec.subsets", clusters: "cluster1,cluster2", message: []string{`subset "v2" is defined in cluster2 but not in cluster1`}},
				{
					object: "DestinationRule sample/helloworld: spec.trafficPolicy.loadBalancer.localityLbSetting", clusters: "cluster1,cluster2",
					message: []string{`"failoverPriority":["topology.istio.io/cluster"]`, `"failoverPriority":["topology.istio.io/network"]`},
				},
			},
		},
		"a difference in many scopes names the first twenty and counts the rest": {
			change: func(t *testing.T, s []*Snapshot) {
				subsets := "subsets:\n"
				for i := range 25 {
					subsets += fmt.Sprintf("- {name: v%d, labels: {version: v%d}}\n", i, i)
				}
				s[0].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", guideRule+subsets)}
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", strings.Replace(guideRule, "outlierDetection", "outlierDetectionX", 1)+subsets)}
			},
			want: []want{{
				object: "DestinationRule sample/helloworld: spec.trafficPolicy.outlierDetection", clusters: "cluster1,cluster2",
				message: []string{`for traffic without a subset, subset "v0", `, `subset "v18" and 6 other scopes:`},
			}},
		},
		"a DestinationRule without any failover policy in either cluster is not compared": {
			change: func(t *testing.T, s []*Snapshot) {
				s[0].DestinationRules = append(s[0].DestinationRules, rule(t, "sample", "other", "host: other\ntrafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}"))
			},
		},
		"a DestinationRule in a namespace the waypoint never reads makes no difference": {
			change: func(t *testing.T, s []*Snapshot) {
				s[0].DestinationRules = append(s[0].DestinationRules, rule(t, "other", "helloworld-od", "host: helloworld.sample.svc.cluster.local\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}"))
			},
		},
		"one DestinationRule in one cluster and the same policy in two merged ones in the other are the same": {
			change: func(t *testing.T, s []*Snapshot) {
				s[0].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", guideRule+"subsets:\n- {name: v1, labels: {version: v1}}\n")}
				s[1].DestinationRules = []DestinationRule{
					created(rule(t, "sample", "policy", guideRule), 0),
					created(rule(t, "sample", "subsets", "host: helloworld\nsubsets:\n- {name: v1, labels: {version: v1}}\n"), 60),
				}
			},
		},
		"the same two DestinationRules created in another order make another merged policy": {
			change: func(t *testing.T, s []*Snapshot) {
				pool := "host: helloworld\ntrafficPolicy: {connectionPool: {tcp: {maxConnections: 10}}}\n"
				s[0].DestinationRules = []DestinationRule{created(rule(t, "sample", "helloworld", guideRule), 0), created(rule(t, "sample", "pool", pool), 60)}
				s[1].DestinationRules = []DestinationRule{created(rule(t, "sample", "helloworld", guideRule), 60), created(rule(t, "sample", "pool", pool), 0)}
			},
			want: []want{
				{
					object: "DestinationRule sample/helloworld: spec.trafficPolicy.loadBalancer.localityLbSetting", clusters: "cluster1,cluster2",
					message: []string{"the waypoints merge sample/helloworld merged with sample/pool in cluster1; sample/pool merged with sample/helloworld in cluster2", "the effective localityLbSetting differs"},
				},
				{
					object: "DestinationRule sample/helloworld: spec.trafficPolicy.outlierDetection", clusters: "cluster1,cluster2",
					message: []string{"the effective outlierDetection differs"},
				},
			},
		},
		"a DestinationRule the waypoint does not read in one cluster is missing there": {
			change: func(t *testing.T, s []*Snapshot) {
				s[1].DestinationRules = []DestinationRule{rule(t, "sample", "helloworld", guideRule+"exportTo: [other]\n")}
			},
			want: []want{{
				object: "DestinationRule sample/helloworld: spec.host", clusters: "cluster1,cluster2",
				message: []string{"the waypoint applies the DestinationRule sample/helloworld in cluster1 but none in cluster2 (DestinationRules the waypoint does not read name the host there: sample/helloworld in cluster2, because its exportTo [other] does not reach namespace sample"},
			}},
		},
		"a namespace in different modes": {
			clusters: 3,
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Namespaces["sample"] = Labels{"failover-webhook.io/enforcement": "warn"}
				s[2].Namespaces["sample"] = Labels{"failover-webhook.io/enforcement": "off"}
			},
			want: []want{{
				object: "Namespace sample: metadata.labels[failover-webhook.io/enforcement]", clusters: "cluster1,cluster2,cluster3",
				message: []string{"enforce in cluster1; warn in cluster2; off in cluster3"},
				fix: []string{
					"kubectl --context cluster2 label namespace sample failover-webhook.io/enforcement=enforce --overwrite",
					"kubectl --context cluster3 label namespace sample failover-webhook.io/enforcement=enforce --overwrite",
				},
			}},
		},
		"an unknown mode reads as enforce, as the webhook reads it": {
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Namespaces["sample"] = Labels{"failover-webhook.io/enforcement": "enforced"}
			},
		},
		"objects of a namespace the webhook never sees are not compared": {
			change: func(_ *testing.T, s []*Snapshot) {
				key := types.NamespacedName{Namespace: "kube-system", Name: "x"}
				s[0].Services[key] = Labels{"failover": "cluster"}
				s[0].Namespaces["kube-system"] = nil
				s[1].Namespaces["kube-system"] = Labels{"failover-webhook.io/enforcement": "off"}
			},
		},
		"a namespace in one cluster only is not compared": {
			change: func(_ *testing.T, s []*Snapshot) {
				s[1].Namespaces["new"] = Labels{"failover-webhook.io/enforcement": "off"}
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			n := max(tt.clusters, 2)
			snaps := make([]*Snapshot, n)
			for i := range snaps {
				snaps[i] = guide(t, "cluster"+string(rune('1'+i)))
			}
			tt.change(t, snaps)
			got := Compare(snaps, Options{Excluded: []string{"kube-system"}})
			t.Log("\n" + render(got))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tt.want), render(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Severity != policy.Drift {
					t.Errorf("finding %d: severity %q, want drift", i, g.Severity)
				}
				if object := g.Kind + " " + objectName(g) + ": " + g.Field; object != w.object {
					t.Errorf("finding %d is about %q, want %q", i, object, w.object)
				}
				if clusters := strings.Join(g.Clusters, ","); clusters != w.clusters {
					t.Errorf("finding %d compares %q, want %q", i, clusters, w.clusters)
				}
				for _, m := range w.message {
					if !strings.Contains(g.Message, m) {
						t.Errorf("finding %d message lacks %q:\n%s", i, m, g.Message)
					}
				}
				fixes := strings.Split(g.Fix, "; ")
				if g.Fix == "" {
					fixes = nil
				}
				if strings.Join(fixes, "\n") != strings.Join(w.fix, "\n") {
					t.Errorf("finding %d fixes:\n%s\nwant:\n%s", i, strings.Join(fixes, "\n"), strings.Join(w.fix, "\n"))
				}
			}
		})
	}
}

func objectName(f policy.Finding) string {
	if f.Namespace == "" {
		return f.Name
	}
	return f.Namespace + "/" + f.Name
}

func render(fs []policy.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(strings.Join(f.Clusters, ",") + ": " + f.Kind + " " + objectName(f) + ": " + f.Field + ": " + f.Message + "\n")
		if f.Fix != "" {
			b.WriteString("    fix: " + f.Fix + "\n")
		}
	}
	return b.String()
}

func TestResolveHost(t *testing.T) {
	tests := map[string]struct{ host, want string }{
		"a short name is a Service of the namespace": {"helloworld", "helloworld.sample.svc.cluster.local"},
		"a name with a dot is taken as written":      {"helloworld.sample", "helloworld.sample"},
		"a full name stays":                          {"helloworld.sample.svc.cluster.local", "helloworld.sample.svc.cluster.local"},
		"a wildcard stays":                           {"*", "*"},
		"an IPv6 address stays":                      {"::1", "::1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ResolveHost(tt.host, "sample"); got != tt.want {
				t.Errorf("ResolveHost(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestEffectiveWaypoint(t *testing.T) {
	svc := types.NamespacedName{Namespace: "sample", Name: "helloworld"}
	tests := map[string]struct {
		service, namespace Labels
		want               string // "" for no waypoint
	}{
		"the Service's own label":                         {service: Labels{"istio.io/use-waypoint": "wp"}, want: "sample/wp"},
		"the Service's own label and namespace":           {service: Labels{"istio.io/use-waypoint": "wp", "istio.io/use-waypoint-namespace": "gw"}, want: "gw/wp"},
		"the namespace's label when the Service has none": {namespace: Labels{"istio.io/use-waypoint": "ns-wp", "istio.io/use-waypoint-namespace": "gw"}, want: "gw/ns-wp"},
		"the Service's label wins over the namespace's": {
			service: Labels{"istio.io/use-waypoint": "wp"}, namespace: Labels{"istio.io/use-waypoint": "ns-wp", "istio.io/use-waypoint-namespace": "gw"}, want: "sample/wp",
		},
		"none on the Service opts out of the namespace's": {service: Labels{"istio.io/use-waypoint": "none"}, namespace: Labels{"istio.io/use-waypoint": "ns-wp"}},
		"no label anywhere": {},
		"a waypoint's own Service never uses a waypoint": {
			service: Labels{"gateway.istio.io/managed": "istio.io-mesh-controller"}, namespace: Labels{"istio.io/use-waypoint": "ns-wp"},
		},
		"an east-west gateway's Service never uses a waypoint": {
			service: Labels{"gateway.istio.io/managed": "istio.io-eastwest-controller", "istio.io/use-waypoint": "wp"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			w, ok := EffectiveWaypoint(svc, tt.service, tt.namespace)
			got := ""
			if ok {
				got = w.String()
			}
			if got != tt.want {
				t.Errorf("EffectiveWaypoint = %q, want %q", got, tt.want)
			}
		})
	}
}
