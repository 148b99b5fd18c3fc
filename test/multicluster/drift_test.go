package multicluster_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// driftCase is the guide's setup in one namespace of each of the first
// clusters clusters, changed in some of them, and the drift findings the
// audit of those clusters must report about it, no more.
type driftCase struct {
	namespace string
	// clusters is how many clusters take part; default 2.
	clusters int
	// change makes the clusters drift: setups[i] is what cluster i holds.
	change func(t *testing.T, setups []*setup)
	// namespaces are the namespaces to audit (-n); default namespace.
	namespaces []string
	want       []want
	// denied is how many objects the per-cluster audits deny.
	denied int
}

func (c driftCase) run(t *testing.T) {
	t.Helper()
	n := c.clusters
	if n == 0 {
		n = 2
	}
	setups := make([]*setup, n)
	for i := range setups {
		setups[i] = guide(t, c.namespace)
	}
	if c.change != nil {
		c.change(t, setups)
	}
	createIn(t, setups)

	namespaces := c.namespaces
	if namespaces == nil {
		namespaces = []string{c.namespace}
	}
	args := append(contexts(n), "-n", strings.Join(namespaces, ","))
	wantCode := app.ExitOK
	if len(c.want) > 0 || c.denied > 0 {
		wantCode = app.ExitFailure
	}

	r, doc := auditJSON(t, args...)
	if r.code != wantCode {
		t.Errorf("-o json: exit %d, want %d; stderr:\n%s", r.code, wantCode, r.stderr)
	}
	checkDrift(t, doc.drift(), c.want)
	if s := doc.Summary; s.Clusters != n || s.Drift != len(c.want) || s.Denied != c.denied {
		t.Errorf("summary %+v, want clusters %d, drift %d, denied %d", s, n, len(c.want), c.denied)
	}

	text := webhook(append([]string{"audit"}, args...)...)
	if text.code != wantCode {
		t.Errorf("text: exit %d, want %d; stderr:\n%s", text.code, wantCode, text.stderr)
	}
	checkText(t, text.stdout, doc.drift())
	if len(c.want) > 0 && !strings.Contains(text.stderr, differences(len(c.want))) {
		t.Errorf("stderr does not say %q:\n%s", differences(len(c.want)), text.stderr)
	}
	if compared := fmt.Sprintf("; %d clusters compared: %d difference", n, len(c.want)); !strings.Contains(text.stderr, compared) {
		t.Errorf("the summary line does not say %q:\n%s", compared, text.stderr)
	}
	if len(c.want) == 0 && strings.Contains(text.stderr, "the clusters differ") {
		t.Errorf("stderr says the clusters differ:\n%s", text.stderr)
	}
	if t.Failed() {
		t.Logf("text report:\n%s%s", text.stdout, text.stderr)
	}
}

// Where a message renders a label, it is key="value" or "key not set".
const (
	globalTrue   = `istio.io/global="true"`
	globalUnset  = `istio.io/global not set`
	guideOutlier = `{"consecutive5xxErrors":1,"interval":"1s","baseEjectionTime":"60s"}`
)

func TestConsistentClustersReportNoDrift(t *testing.T) {
	needClusters(t)
	tests := map[string]driftCase{
		"The guide's setup, the same in both clusters": {namespace: "consistent"},
		"The waypoint set on the Service in one cluster and on its namespace in the other": {
			namespace: "waypoint-from-namespace",
			change: func(t *testing.T, s []*setup) {
				removeLabels(s[1].service, useWaypoint)
				setLabels(s[1].namespace, map[string]string{useWaypoint: seed.Waypoint})
			},
		},
		"The DestinationRule's host short in one cluster and in full in the other": {
			namespace: "short-host",
			change: func(t *testing.T, s []*setup) {
				set(t, s[1].rule, seed.Service, "spec", "host")
			},
		},
		// Inherited or repeated, subset v1 gets the same outlier
		// detection (resolve: a subset's outlierDetection replaces the
		// top level's, here with an equal value).
		"Outlier detection inherited by a subset in one cluster and repeated in it in the other": {
			namespace: "subset-repeats-outlier",
			change: func(t *testing.T, s []*setup) {
				set(t, s[0].rule, value(t, `[{name: v1, labels: {version: v1}}]`), "spec", "subsets")
				set(t, s[1].rule, value(t, `
- name: v1
  labels: {version: v1}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}
`), "spec", "subsets")
			},
		},
		// A port entry replaces the top-level policy for its port; one
		// repeating it leaves the port's effective policy unchanged.
		"A port entry repeating the top-level policy in one cluster only": {
			namespace: "port-repeats-policy",
			change: func(t *testing.T, s []*setup) {
				set(t, s[1].rule, value(t, `
- port: {number: 5000}
  loadBalancer:
    simple: ROUND_ROBIN
    localityLbSetting: {enabled: true, failoverPriority: [topology.istio.io/cluster]}
  outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}
`), "spec", "trafficPolicy", "portLevelSettings")
			},
		},
		// A subset that sets only the load balancer inherits the
		// top-level outlier detection (docs/design.md §4).
		"A subset repeating the top-level load balancer in one cluster only": {
			namespace: "subset-repeats-balancer",
			change: func(t *testing.T, s []*setup) {
				set(t, s[0].rule, value(t, `[{name: v1, labels: {version: v1}}]`), "spec", "subsets")
				set(t, s[1].rule, value(t, `
- name: v1
  labels: {version: v1}
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {enabled: true, failoverPriority: [topology.istio.io/cluster]}
`), "spec", "subsets")
			},
		},
		// A waypoint applies the DestinationRules of a host merged (Istio's
		// mergeDestinationRule): the guide's policy and a subset in one
		// rule, or in two, are the same to it, whatever the rules' names.
		"The guide's DestinationRule in one cluster and the same split in two in the other": {
			namespace: "split-rules",
			change: func(t *testing.T, s []*setup) {
				set(t, s[0].rule, value(t, `[{name: v1, labels: {version: v1}}]`), "spec", "subsets")
				subsets := object(t, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: helloworld-subsets, namespace: split-rules}
spec:
  host: helloworld.split-rules.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
`)
				s[1].extra = append(s[1].extra, subsets)
			},
		},
		"The guide's setup, the same in three clusters": {namespace: "three-consistent", clusters: 3},
	}
	for name, tc := range tests {
		t.Run(name, tc.run)
	}
}

// TestConsistentPairJSONSummary checks the whole JSON report of a
// consistent pair: no finding of any kind, both clusters counted.
func TestConsistentPairJSONSummary(t *testing.T) {
	needClusters(t)
	createIn(t, []*setup{guide(t, "consistent-json"), guide(t, "consistent-json")})
	r, doc := auditJSON(t, append(contexts(2), "-n", "consistent-json")...)
	if r.code != app.ExitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, app.ExitOK, r.stderr)
	}
	if len(doc.Findings) != 0 {
		t.Errorf("findings %v, want none", doc.Findings)
	}
	// Per cluster: helloworld and the waypoint (both opted in), and the
	// DestinationRule.
	want := summary{Services: 4, DestinationRules: 2, Clusters: 2}
	if doc.Summary != want {
		t.Errorf("summary %+v, want %+v", doc.Summary, want)
	}
	if !strings.Contains(r.stdout, `"clusters": 2`) || strings.Contains(r.stdout, `"drift"`) {
		t.Errorf("the summary should count 2 clusters and leave out drift when there is none:\n%s", r.stdout)
	}
}

func TestEachKindOfDrift(t *testing.T) {
	needClusters(t)
	tests := map[string]driftCase{
		"A Service missing in one cluster": {
			namespace: "missing-svc",
			change:    func(t *testing.T, s []*setup) { s[1].service = nil },
			want: []want{{
				kind: "Service", namespace: "missing-svc", name: "helloworld", field: "metadata.name",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{"helloworld.missing-svc", "exists in cluster1 but not in cluster2"},
			}},
		},
		"A Service labeled failover=cluster in one cluster only": {
			namespace: "trigger",
			change:    func(t *testing.T, s []*setup) { removeLabels(s[1].service, trigger) },
			want: []want{{
				kind: "Service", namespace: "trigger", name: "helloworld", field: "metadata.labels[failover]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`failover="cluster" in cluster1`, "failover not set in cluster2"},
				fix:      []string{"kubectl --context cluster2 label service helloworld -n trigger failover=cluster --overwrite"},
			}},
		},
		"A Service global in one cluster only": {
			namespace: "global",
			change:    func(t *testing.T, s []*setup) { setLabels(s[1].service, map[string]string{global: "false"}) },
			want: []want{{
				kind: "Service", namespace: "global", name: "helloworld", field: "metadata.labels[istio.io/global]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{globalTrue + " in cluster1", `istio.io/global="false" in cluster2`},
				fix:      []string{"kubectl --context cluster2 label service helloworld -n global istio.io/global=true --overwrite"},
				without:  []string{"--context cluster1"},
			}},
		},
		// Both clusters hold both waypoints, so the name is the only
		// difference.
		"A Service using differently named waypoints": {
			namespace: "waypoint-name",
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					svc, deploy := newWaypoint(t, "waypoint-name", "other")
					c.extra = append(c.extra, svc, deploy)
				}
				setLabels(s[1].service, map[string]string{useWaypoint: "other"})
			},
			want: []want{{
				kind: "Service", namespace: "waypoint-name", name: "helloworld", field: "metadata.labels[istio.io/use-waypoint]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`waypoint "waypoint" in cluster1`, `waypoint "other" in cluster2`},
				fix:      []string{"kubectl --context cluster2 label service helloworld -n waypoint-name istio.io/use-waypoint=waypoint --overwrite"},
			}},
		},
		// The waypoint's Service is itself labeled failover=cluster and
		// global; as the waypoint helloworld uses, it is compared once, as
		// a waypoint, with the command that creates it.
		"A waypoint missing in one cluster": {
			namespace: "waypoint-missing",
			change:    func(t *testing.T, s []*setup) { s[1].waypoint, s[1].deployment = nil, nil },
			want: []want{{
				kind: "Service", namespace: "waypoint-missing", name: "waypoint", field: "metadata.name",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`the waypoint "waypoint" (used by waypoint-missing/helloworld) does not exist in cluster2`, "it exists in cluster1"},
				fix:      []string{"istioctl --context cluster2 waypoint apply -n waypoint-missing --name waypoint --for service"},
			}},
		},
		// As above: once, as a waypoint (label its Gateway, whose labels
		// Istio copies onto the Service).
		"A waypoint not global in one cluster": {
			namespace: "waypoint-not-global",
			change:    func(t *testing.T, s []*setup) { removeLabels(s[1].waypoint, global) },
			want: []want{{
				kind: "Service", namespace: "waypoint-not-global", name: "waypoint", field: "metadata.labels[istio.io/global]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`the Service of waypoint "waypoint" (used by waypoint-not-global/helloworld)`, globalTrue + " in cluster1", globalUnset + " in cluster2"},
				fix:      []string{"kubectl --context cluster2 label gateways.gateway.networking.k8s.io waypoint -n waypoint-not-global istio.io/global=true --overwrite"},
			}},
		},
		// Readiness is one finding naming every cluster's state.
		"A waypoint without its Deployment in one cluster": {
			namespace: "waypoint-no-deployment",
			change:    func(t *testing.T, s []*setup) { s[1].deployment = nil },
			want: []want{{
				kind: "Deployment", namespace: "waypoint-no-deployment", name: "waypoint", field: "status.readyReplicas",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`waypoint "waypoint" (used by waypoint-no-deployment/helloworld)`, "1 of 1 replicas ready in cluster1; no Deployment waypoint in cluster2", "fails in cluster2 until"},
			}},
		},
		"A waypoint with no ready replica in one cluster": {
			namespace: "waypoint-not-ready",
			change:    func(t *testing.T, s []*setup) { s[1].ready = false },
			want: []want{{
				kind: "Deployment", namespace: "waypoint-not-ready", name: "waypoint", field: "status.readyReplicas",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`waypoint "waypoint" (used by waypoint-not-ready/helloworld)`, "1 of 1 replicas ready in cluster1; 0 of 1 replicas ready in cluster2"},
			}},
		},
		// The Deployment is found by the gateway-name label of the
		// waypoint's Service, as istiod names it after the Gateway.
		"A waypoint whose Deployment is named after its Gateway, not ready in one cluster": {
			namespace: "waypoint-gateway-name",
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					setLabels(c.waypoint, map[string]string{gatewayName: "gateway"})
					c.deployment.SetName("gateway")
				}
				s[1].ready = false
			},
			want: []want{{
				kind: "Deployment", namespace: "waypoint-gateway-name", name: "gateway", field: "status.readyReplicas",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`waypoint "waypoint" (used by waypoint-gateway-name/helloworld)`, "0 of 1 replicas ready in cluster2"},
			}},
		},
		// Audited alone (-n), waypoint-user's Services are listed but not
		// those of waypoint-home: the waypoint is read by name, and only
		// the waypoint finding names it.
		"A waypoint of another namespace, outside -n, not global in one cluster": {
			namespace:  "waypoint-user",
			namespaces: []string{"waypoint-user"},
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					c.waypoint, c.deployment = newWaypoint(t, "waypoint-home", seed.Waypoint)
					c.extra = append(c.extra, object(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: waypoint-home\n"))
					setLabels(c.service, map[string]string{useWaypointNamespace: "waypoint-home"})
				}
				removeLabels(s[1].waypoint, global)
			},
			want: []want{{
				kind: "Service", namespace: "waypoint-home", name: "waypoint", field: "metadata.labels[istio.io/global]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`the Service of waypoint "waypoint" (used by waypoint-user/helloworld)`, globalTrue + " in cluster1", globalUnset + " in cluster2"},
				fix:      []string{"kubectl --context cluster2 label gateways.gateway.networking.k8s.io waypoint -n waypoint-home istio.io/global=true --overwrite"},
			}},
		},
		// Without a label of its own, the Service uses its namespace's
		// waypoint, which cluster2's namespace does not name.
		"A namespace naming the waypoint in one cluster only": {
			namespace: "waypoint-namespace-label",
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					removeLabels(c.service, useWaypoint)
				}
				setLabels(s[0].namespace, map[string]string{useWaypoint: seed.Waypoint})
			},
			want: []want{{
				kind: "Service", namespace: "waypoint-namespace-label", name: "helloworld", field: "metadata.labels[istio.io/use-waypoint]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`waypoint "waypoint" in cluster1; no waypoint in cluster2`},
				fix:      []string{"kubectl --context cluster2 label service helloworld -n waypoint-namespace-label istio.io/use-waypoint=waypoint --overwrite"},
			}},
		},
		"A DestinationRule missing in one cluster": {
			namespace: "dr-missing",
			change:    func(t *testing.T, s []*setup) { s[1].rule = nil },
			want: []want{{
				kind: "DestinationRule", namespace: "dr-missing", name: "helloworld", field: "spec.host",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{"the DestinationRule dr-missing/helloworld for host helloworld.dr-missing.svc.cluster.local exists in cluster1 but not in cluster2"},
			}},
		},
		"A DestinationRule with other outlier detection in one cluster": {
			namespace: "dr-outlier",
			change: func(t *testing.T, s []*setup) {
				set(t, s[1].rule, int64(5), "spec", "trafficPolicy", "outlierDetection", "consecutive5xxErrors")
			},
			want: []want{{
				kind: "DestinationRule", namespace: "dr-outlier", name: "helloworld", field: "spec.trafficPolicy.outlierDetection",
				clusters: []string{"cluster1", "cluster2"},
				message: []string{"host helloworld.dr-outlier.svc.cluster.local: the effective outlierDetection differs for traffic without a subset:",
					guideOutlier + " (spec.trafficPolicy.outlierDetection) in cluster1",
					`{"consecutive5xxErrors":5,"interval":"1s","baseEjectionTime":"60s"} (spec.trafficPolicy.outlierDetection) in cluster2`},
			}},
		},
		"A DestinationRule failing over by other labels in one cluster": {
			namespace: "dr-locality",
			change: func(t *testing.T, s []*setup) {
				set(t, s[1].rule, value(t, `[topology.istio.io/network]`), "spec", "trafficPolicy", "loadBalancer", "localityLbSetting", "failoverPriority")
			},
			want: []want{{
				kind: "DestinationRule", namespace: "dr-locality", name: "helloworld", field: "spec.trafficPolicy.loadBalancer.localityLbSetting",
				clusters: []string{"cluster1", "cluster2"},
				message: []string{"the effective localityLbSetting differs for traffic without a subset",
					`"topology.istio.io/cluster"`, "in cluster1", `"topology.istio.io/network"`, "in cluster2"},
			}},
		},
		"A DestinationRule with zone-aware failover in one cluster only": {
			namespace: "dr-zone-aware",
			change: func(t *testing.T, s []*setup) {
				set(t, s[0].rule, value(t, `{failoverPriority: [topology.kubernetes.io/zone]}`), "spec", "trafficPolicy", "loadBalancer", "zoneAwareLbSetting")
			},
			want: []want{{
				kind: "DestinationRule", namespace: "dr-zone-aware", name: "helloworld", field: "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting",
				clusters: []string{"cluster1", "cluster2"},
				message: []string{"the effective zoneAwareLbSetting differs for traffic without a subset",
					`"topology.kubernetes.io/zone"`, "in cluster1", "not set in cluster2"},
			}},
		},
		// Port-level settings replace the whole top-level policy for their
		// port: cluster2's entry for 5000 repeats the load balancer but
		// not the outlier detection, so port 5000 has none there. The
		// namespace is in warn mode in both clusters so that the rule
		// cluster2's audit finds is a warning, and the exit status is the
		// drift's alone.
		"A port entry without outlier detection in one cluster": {
			namespace: "dr-port-level",
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					setLabels(c.namespace, map[string]string{enforcement: "warn"})
				}
				set(t, s[1].rule, value(t, `
- port: {number: 5000}
  loadBalancer:
    simple: ROUND_ROBIN
    localityLbSetting: {enabled: true, failoverPriority: [topology.istio.io/cluster]}
`), "spec", "trafficPolicy", "portLevelSettings")
			},
			want: []want{{
				kind: "DestinationRule", namespace: "dr-port-level", name: "helloworld", field: "spec.trafficPolicy.outlierDetection",
				clusters: []string{"cluster1", "cluster2"},
				message: []string{"the effective outlierDetection differs for traffic without a subset port 5000:",
					guideOutlier + " (spec.trafficPolicy.outlierDetection) in cluster1", "not set in cluster2"},
				// Only port 5000 differs; the load balancers are equal.
				without: []string{"any other port", "localityLbSetting"},
			}},
		},
		// A subset's port entry replaces all four policies for its port,
		// so subset v1 on port 5000 has no outlier detection in cluster2,
		// while every other scope is the same.
		"A subset's port entry without outlier detection in one cluster": {
			namespace: "dr-subset-port",
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					setLabels(c.namespace, map[string]string{enforcement: "warn"})
				}
				set(t, s[0].rule, value(t, `
- name: v1
  labels: {version: v1}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 5000}
      loadBalancer:
        localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
      outlierDetection: {consecutive5xxErrors: 2}
`), "spec", "subsets")
				set(t, s[1].rule, value(t, `
- name: v1
  labels: {version: v1}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 5000}
      loadBalancer:
        localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`), "spec", "subsets")
			},
			want: []want{{
				kind: "DestinationRule", namespace: "dr-subset-port", name: "helloworld", field: "spec.subsets[0].trafficPolicy.portLevelSettings[0].outlierDetection",
				clusters: []string{"cluster1", "cluster2"},
				message: []string{`the effective outlierDetection differs for subset "v1" port 5000:`,
					`{"consecutive5xxErrors":2} (spec.subsets[0].trafficPolicy.portLevelSettings[0].outlierDetection) in cluster1`, "not set in cluster2"},
				without: []string{"any other port", "traffic without a subset"},
			}},
		},
		"A DestinationRule subset defined in one cluster only": {
			namespace: "dr-subset",
			change: func(t *testing.T, s []*setup) {
				set(t, s[0].rule, value(t, `[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`), "spec", "subsets")
				set(t, s[1].rule, value(t, `[{name: v1, labels: {version: v1}}]`), "spec", "subsets")
			},
			want: []want{{
				kind: "DestinationRule", namespace: "dr-subset", name: "helloworld", field: "spec.subsets",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{`subset "v2" is defined in cluster1 but not in cluster2`},
				without:  []string{`"v1"`},
			}},
		},
		"A namespace in another enforcement mode in one cluster": {
			namespace: "mode",
			change: func(t *testing.T, s []*setup) {
				setLabels(s[1].namespace, map[string]string{enforcement: "warn"})
			},
			want: []want{{
				kind: "Namespace", name: "mode", field: "metadata.labels[failover-webhook.io/enforcement]",
				clusters: []string{"cluster1", "cluster2"},
				message:  []string{"enforcement mode differs: enforce in cluster1; warn in cluster2"},
				fix:      []string{"kubectl --context cluster2 label namespace mode failover-webhook.io/enforcement=enforce --overwrite"},
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, tc.run)
	}
}

func TestThreeClusters(t *testing.T) {
	needClusters(t)
	all := []string{"cluster1", "cluster2", "cluster3"}
	tests := map[string]driftCase{
		"One cluster of three not global": {
			namespace: "three-global", clusters: 3,
			change: func(t *testing.T, s []*setup) { removeLabels(s[2].service, global) },
			want: []want{{
				kind: "Service", namespace: "three-global", name: "helloworld", field: "metadata.labels[istio.io/global]",
				clusters: all,
				message:  []string{globalTrue + " in cluster1 and cluster2; " + globalUnset + " in cluster3"},
				fix:      []string{"kubectl --context cluster3 label service helloworld -n three-global istio.io/global=true --overwrite"},
				without:  []string{"--context cluster1", "--context cluster2"},
			}},
		},
		// The fix moves the odd cluster out to the waypoint most clusters
		// use, even when the odd one is listed first.
		"The first of three clusters using another waypoint": {
			namespace: "three-waypoint", clusters: 3,
			change: func(t *testing.T, s []*setup) {
				for _, c := range s {
					svc, deploy := newWaypoint(t, "three-waypoint", "other")
					c.extra = append(c.extra, svc, deploy)
				}
				setLabels(s[0].service, map[string]string{useWaypoint: "other"})
			},
			want: []want{{
				kind: "Service", namespace: "three-waypoint", name: "helloworld", field: "metadata.labels[istio.io/use-waypoint]",
				clusters: all,
				message:  []string{`waypoint "other" in cluster1; waypoint "waypoint" in cluster2 and cluster3`},
				fix:      []string{"kubectl --context cluster1 label service helloworld -n three-waypoint istio.io/use-waypoint=waypoint --overwrite"},
				without:  []string{"--context cluster2", "--context cluster3"},
			}},
		},
		"A DestinationRule missing in two clusters of three": {
			namespace: "three-dr", clusters: 3,
			change: func(t *testing.T, s []*setup) { s[0].rule, s[2].rule = nil, nil },
			want: []want{{
				kind: "DestinationRule", namespace: "three-dr", name: "helloworld", field: "spec.host",
				clusters: all,
				message:  []string{"the DestinationRule three-dr/helloworld for host helloworld.three-dr.svc.cluster.local exists in cluster2 but not in cluster1 and cluster3"},
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, tc.run)
	}
}
