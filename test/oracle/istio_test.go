package oracle

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/test"
	"sigs.k8s.io/yaml"
)

// The fixed world every case runs in: a waypoint in namespace default, and
// four endpoints of the Service, placed so that every kind of failover the
// corpus declares shows up as a priority. The waypoint is in region r1 with
// tier=a: endpoint 1 is beside it, endpoint 2 differs by tier only (seen by
// failoverPriority [tier]), endpoints 3 and 4 are in other regions (seen by
// Istio's default locality failover, and told apart by failover r1 → r2).
const world = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: default
spec:
  gatewayClassName: waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
status:
  addresses:
  - type: Hostname
    value: waypoint.default.svc.cluster.local
---
apiVersion: v1
kind: Service
metadata:
  labels:
    gateway.istio.io/managed: istio.io-mesh-controller
    gateway.networking.k8s.io/gateway-name: waypoint
    istio.io/gateway-name: waypoint
  name: waypoint
  namespace: default
spec:
  clusterIP: 3.0.0.0
  ports:
  - appProtocol: hbone
    name: mesh
    port: 15008
  selector:
    gateway.networking.k8s.io/gateway-name: waypoint
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: waypoint-a
  namespace: default
spec:
  address: 3.0.0.1
  labels:
    gateway.networking.k8s.io/gateway-name: waypoint
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: app-1
  namespace: default
  annotations:
    ambient.istio.io/redirection: enabled
spec:
  address: 1.1.1.1
  locality: r1/z1
  labels: {app: app, tier: a}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: app-2
  namespace: default
  annotations:
    ambient.istio.io/redirection: enabled
spec:
  address: 1.1.1.2
  locality: r1/z1
  labels: {app: app, tier: b}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: app-3
  namespace: default
  annotations:
    ambient.istio.io/redirection: enabled
spec:
  address: 1.1.1.3
  locality: r2/z2
  labels: {app: app, tier: a}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: app-4
  namespace: default
  annotations:
    ambient.istio.io/redirection: enabled
spec:
  address: 1.1.1.4
  locality: r3/z3
  labels: {app: app, tier: a}
`

func init() {
	// Ambient is off unless PILOT_ENABLE_AMBIENT is set when Istio's
	// features package initializes; without it the fake discovery server
	// builds no ambient index, so no Service is bound to the waypoint and
	// the waypoint gets no inbound-vip clusters. Istio's own waypoint tests
	// switch it on the same way, once for the whole test binary
	// (pilot/pkg/xds/workload_test.go, init), because setting it per test
	// races with controllers still running after a test ends.
	features.EnableAmbient = true
}

// worldEndpoints is how many endpoints of the Service world holds.
const worldEndpoints = 4

// waypointLabels are the waypoint's own labels, which a DestinationRule's
// workloadSelector can match.
var waypointLabels = map[string]string{
	"gateway.networking.k8s.io/gateway-name": "waypoint",
	"gateway.istio.io/managed":               constants.ManagedGatewayMeshControllerLabel,
	"tier":                                   "a",
}

// istioCase is what Istio is given: the Service's ports and the
// DestinationRules for it (YAML documents).
type istioCase struct {
	ports []servicePort
	rules []string
}

type servicePort struct {
	name string
	port int32
}

// serviceYAML is the host as a ServiceEntry bound to the waypoint (the
// form Istio's own waypoint tests use; the fake registry builds ambient
// Kubernetes Services from it the same way): one port per servicePort,
// with the protocol Istio reads from a Service port of that name.
func serviceYAML(ports []servicePort) string {
	var b strings.Builder
	b.WriteString(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: app
  namespace: default
  labels:
    istio.io/use-waypoint: waypoint
spec:
  hosts: [app.default.svc.cluster.local]
  addresses: [2.0.0.1]
  resolution: STATIC
  workloadSelector:
    labels: {app: app}
  ports:
`)
	for _, p := range ports {
		fmt.Fprintf(&b, "  - name: %s\n    number: %d\n", p.name, p.port)
		switch {
		case strings.HasPrefix(p.name, "http"):
			b.WriteString("    protocol: HTTP\n")
		case strings.HasPrefix(p.name, "grpc"):
			b.WriteString("    protocol: GRPC\n")
		case strings.HasPrefix(p.name, "tcp"):
			b.WriteString("    protocol: TCP\n")
		}
	}
	return b.String()
}

// istioVerdict is what Istio's generator gives the waypoint for the host.
type istioVerdict struct {
	// unprotected names each waypoint cluster of the host that has no
	// outlier detection while its endpoints get (or, with outlier
	// detection added to every policy, would get) failover priorities.
	unprotected []string
	clusters    int
}

func (v istioVerdict) violates() bool { return len(v.unprotected) > 0 }

// askIstio runs Istio's generator twice: on the rules as written, and on
// the rules with outlier detection added wherever a policy lacks it. The
// second run shows where failover is declared and in effect (Istio applies
// priorities only with outlier detection, and a waypoint ignores
// zone-aware settings); the first shows which clusters really have outlier
// detection.
func askIstio(t *testing.T, c istioCase) istioVerdict {
	t.Helper()
	asWritten := generate(t, c.ports, c.rules)
	protected := make([]string, len(c.rules))
	for i, r := range c.rules {
		protected[i] = withOutlierDetectionEverywhere(t, r)
	}
	withOD := generate(t, c.ports, protected)
	var v istioVerdict
	for name, cl := range asWritten.clusters {
		v.clusters++
		if cl.GetOutlierDetection() != nil {
			continue
		}
		if hasPriorities(asWritten.endpoints[name]) || hasPriorities(withOD.endpoints[name]) {
			v.unprotected = append(v.unprotected, name)
		}
	}
	slices.Sort(v.unprotected)
	return v
}

type generated struct {
	clusters  map[string]*cluster.Cluster
	endpoints map[string][]uint32 // priorities of each cluster's endpoint groups
}

const appHost = "app.default.svc.cluster.local"

// domainSuffix is the fake discovery server's cluster domain.
const domainSuffix = "cluster.local"

// worldCreated is the creation time of every object that does not set one.
var worldCreated = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func generate(t *testing.T, ports []servicePort, rules []string) generated {
	t.Helper()
	mc := mesh.DefaultMeshConfig()
	// Istio's default mesh config turns on locality load balancing, so that
	// outlier detection alone brings default failover; off here, only what
	// a DestinationRule declares gives priorities.
	mc.LocalityLbSetting = &networking.LocalityLoadBalancerSetting{Enabled: wrapperspb.Bool(false)}
	objects := strings.Join(append([]string{world, serviceYAML(ports)}, rules...), "\n---\n")
	test.SetForTest(t, &features.EnableDualStack, true)
	test.SetForTest(t, &features.EnableIngressWaypointRouting, true)
	configs, _, err := crd.ParseInputs(objects)
	if err != nil {
		t.Fatalf("Istio refuses the configuration: %v", err)
	}
	for i := range configs {
		// Istio's Kubernetes config client gives every object the
		// cluster's domain (crdclient/client.go, TranslateObject), which
		// a short host needs to resolve to the Service
		// (ResolveShortnameToFQDN); the fake's own parsing of a config
		// string leaves it empty, so "app" would name app.default.
		configs[i].Domain = domainSuffix
		if configs[i].CreationTimestamp.IsZero() {
			configs[i].CreationTimestamp = worldCreated
		}
	}
	d := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		Configs:                configs,
		KubernetesObjectString: objects,
		MeshConfig:             mc,
	})
	proxy := d.SetupProxy(&model.Proxy{
		Type:            model.Waypoint,
		ConfigNamespace: "default",
		Labels:          waypointLabels,
		IPAddresses:     []string{"3.0.0.1"},
		Locality:        &core.Locality{Region: "r1", Zone: "z1"},
	})
	out := generated{clusters: map[string]*cluster.Cluster{}, endpoints: map[string][]uint32{}}
	all := d.Clusters(proxy)
	for _, cl := range all {
		if strings.HasPrefix(cl.GetName(), "inbound-vip|") && strings.HasSuffix(cl.GetName(), "|"+appHost) {
			out.clusters[cl.GetName()] = cl
		}
	}
	if len(out.clusters) == 0 {
		var names []string
		for _, cl := range all {
			names = append(names, cl.GetName())
		}
		// An empty result must never pass as "no violation".
		t.Fatalf("Istio built no waypoint cluster for %s; the waypoint got %v", appHost, names)
	}
	for _, cla := range d.Endpoints(proxy) {
		if _, ok := out.clusters[cla.GetClusterName()]; !ok {
			continue
		}
		var prio []uint32
		endpoints := 0
		for _, e := range cla.GetEndpoints() {
			prio = append(prio, e.GetPriority())
			endpoints += len(e.GetLbEndpoints())
		}
		if endpoints == 0 || endpoints > worldEndpoints {
			// Priorities can only show among endpoints: every cluster
			// must reach the world's (subsets select app: app), all of
			// them but those of a locality a distribute weighs 0.
			t.Fatalf("Istio gave waypoint cluster %s %d endpoints, want the world's %d", cla.GetClusterName(), endpoints, worldEndpoints)
		}
		out.endpoints[cla.GetClusterName()] = prio
	}
	for name := range out.clusters {
		if _, ok := out.endpoints[name]; !ok {
			t.Fatalf("Istio gave waypoint cluster %s no load assignment", name)
		}
	}
	return out
}

func hasPriorities(prio []uint32) bool {
	return slices.ContainsFunc(prio, func(p uint32) bool { return p > 0 })
}

// withOutlierDetectionEverywhere adds outlierDetection: {} to the top-level
// policy, every subset's policy and every port entry that lacks one. It
// changes no load balancer: each of Istio's merges replaces outlier
// detection independently of the load balancer, and a port entry that
// gains one still replaces the whole policy for its port.
func withOutlierDetectionEverywhere(t *testing.T, rule string) string {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(rule), &obj); err != nil {
		t.Fatalf("rule %q: %v", rule, err)
	}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return rule
	}
	addTo := func(policy map[string]any) map[string]any {
		if policy == nil {
			policy = map[string]any{}
		}
		if _, ok := policy["outlierDetection"]; !ok {
			policy["outlierDetection"] = map[string]any{}
		}
		withoutDefaultFailover(policy)
		entries, _ := policy["portLevelSettings"].([]any)
		for _, e := range entries {
			if entry, ok := e.(map[string]any); ok {
				if _, ok := entry["outlierDetection"]; !ok {
					entry["outlierDetection"] = map[string]any{}
				}
				withoutDefaultFailover(entry)
			}
		}
		return policy
	}
	tp, _ := spec["trafficPolicy"].(map[string]any)
	spec["trafficPolicy"] = addTo(tp)
	subsets, _ := spec["subsets"].([]any)
	for _, s := range subsets {
		if subset, ok := s.(map[string]any); ok {
			sp, _ := subset["trafficPolicy"].(map[string]any)
			subset["trafficPolicy"] = addTo(sp)
		}
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// withoutDefaultFailover turns off a localityLbSetting of policy that
// declares no failover, failoverPriority or distribute: with outlier
// detection Istio would give its endpoints its default failover by
// locality (ApplyLocalityLoadBalancer, applyLocalityFailover), which the
// rule never asked for, as the world's mesh config turns it off for rules
// without a localityLbSetting.
func withoutDefaultFailover(policy map[string]any) {
	lb, _ := policy["loadBalancer"].(map[string]any)
	loc, _ := lb["localityLbSetting"].(map[string]any)
	if loc == nil {
		return
	}
	for _, k := range []string{"failover", "failoverPriority", "distribute"} {
		if list, _ := loc[k].([]any); len(list) > 0 {
			return
		}
	}
	loc["enabled"] = false
}
