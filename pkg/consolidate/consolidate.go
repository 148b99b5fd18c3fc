// Package consolidate merges the DestinationRules of one host as Istio does
// before a waypoint uses them. Istio calls the result a
// ConsolidatedDestRule: several rules for one host, in one namespace, with
// the same exportTo, become one rule whose top-level trafficPolicy is the
// first rule's and whose subsets are every rule's subsets of new names.
// Which consolidated rule a waypoint then reads depends on the namespaces
// it looks in, exportTo, workloadSelector and how specific the host is.
//
// The code follows istio/istio step by step, so that its answers are
// Istio's, quirks included:
//
//   - pilot/pkg/model/push_context.go: sortConfigBySelectorAndCreationTime
//     (the order), setDestinationRules (the indexes per namespace), and
//     destinationRule and getExportedDestinationRuleFromNamespace (the
//     lookup: the proxy's namespace, the Service's, the root namespace);
//   - pilot/pkg/model/destination_rule.go: mergeDestinationRule (the merge,
//     with ENABLE_ENHANCED_DESTINATIONRULE_MERGE on, its default);
//   - pilot/pkg/model/config.go: ResolveShortnameToFQDN and
//     MostSpecificHostMatch; pkg/config/host/names.go: MoreSpecific;
//   - pilot/pkg/model/sidecar.go: SidecarScope.DestinationRule, which a
//     waypoint calls for inbound traffic when it builds its clusters
//     (cluster_waypoint.go, buildWaypointInboundVIP), so rules with a
//     workloadSelector never shape its clusters; and for outbound
//     traffic when it builds their endpoints (pilot/pkg/xds/endpoints/
//     endpoint_builder.go, NewEndpointBuilder), where the first rule of
//     its own namespace whose selector matches its pods wins (Result.
//     Endpoints).
//
// Rules Istio synthesizes from Gateway API backend policies (annotated
// internally, never written by users) are not modelled: every Rule here is
// user authored, for which the first rule's top-level policy always wins.
// Sidecar resources, which can narrow what a proxy sees, are not read.
package consolidate

import (
	"time"

	networking "istio.io/api/networking/v1alpha3"
)

// Rule is one DestinationRule of the cluster.
type Rule struct {
	Namespace, Name string
	// Created is the rule's creationTimestamp, which orders rules.
	Created time.Time
	// Spec is the rule's spec as stored; it is never modified.
	Spec *networking.DestinationRule
}

// String names the rule as namespace/name.
func (r Rule) String() string { return r.Namespace + "/" + r.Name }

// Part is the part of a rule Istio drops.
type Part string

const (
	// WholeRule: the waypoint does not read the rule at all.
	WholeRule Part = "rule"
	// TrafficPolicy: the rule's top-level trafficPolicy is replaced by an
	// earlier rule's.
	TrafficPolicy Part = "trafficPolicy"
	// Subset: an earlier rule already has a subset of this name.
	Subset Part = "subset"
)

// Ignored is a rule, or a part of one, that a waypoint does not apply.
type Ignored struct {
	Rule Rule
	Part Part
	// SubsetName names the dropped subset when Part is Subset.
	SubsetName string
	// Winner is the rule whose part applies instead (for WholeRule, the
	// first rule of what the waypoint uses); zero when none applies.
	Winner Rule
	// Reason says why, in a sentence fragment naming Istio's rule.
	Reason string
}

// HasWinner reports whether another rule applies instead.
func (i Ignored) HasWinner() bool { return i.Winner.Name != "" }

// Result is what a waypoint uses for one host.
type Result struct {
	// Spec is the merged spec, to be read only; nil when no rule applies.
	// Its host is the first rule's, resolved to a fully qualified name.
	Spec *networking.DestinationRule
	// From are the rules merged, in Istio's order; the first gives the
	// top-level trafficPolicy when it has one.
	From []Rule
	// PolicyFrom is the rule whose top-level trafficPolicy Spec carries;
	// zero when none of From has one.
	PolicyFrom Rule
	// Ignored are the rules matching the host (exactly or by wildcard)
	// and the parts of merged rules that the waypoint does not apply.
	Ignored []Ignored
	// Endpoints is what the waypoint's endpoints read: the merged rule
	// whose load balancing, and so failover priorities, they take. It is
	// the same as Spec, From and PolicyFrom (Selected false) unless a
	// rule with a workloadSelector selects the waypoint's pods.
	Endpoints View
}

// View is one merged rule, as one part of a waypoint reads it.
type View struct {
	// Spec is the merged spec, to be read only; nil when no rule applies.
	Spec *networking.DestinationRule
	// From are the rules merged, in Istio's order.
	From []Rule
	// PolicyFrom is the rule whose top-level trafficPolicy Spec carries.
	PolicyFrom Rule
	// Selected is set when a workloadSelector chose this rule, which
	// then differs from the one the waypoint's clusters read.
	Selected bool
}

// WaypointPodLabels are the labels Istio gives every pod of the waypoint
// named name (manifests/charts/istio-control/istio-discovery/files/
// waypoint.yaml, filled in by pilot/pkg/config/kube/gatewaycommon/
// deploymentcontroller.go with GatewayNameLabel and ControllerLabel), as
// far as they do not depend on the Gateway's own settings: its
// gatewayClassName and spec.infrastructure.labels add more, which a
// selector naming them is not judged to match. An empty name leaves the
// gateway-name label out: the waypoint is not known.
func WaypointPodLabels(name string) map[string]string {
	out := map[string]string{
		"gateway.istio.io/managed": "istio.io-mesh-controller",
		"istio.io/dataplane-mode":  "none",
		"sidecar.istio.io/inject":  "false",
	}
	if name != "" {
		out["gateway.networking.k8s.io/gateway-name"] = name
	}
	return out
}

// Mesh holds the mesh-wide settings the merge and lookup read.
type Mesh struct {
	// RootNamespace is meshConfig.rootNamespace.
	RootNamespace string
	// Domain is the cluster's DNS domain, which completes short hosts.
	Domain string
	// DefaultExportTo is meshConfig.defaultDestinationRuleExportTo; nil
	// means "*", Istio's default.
	DefaultExportTo []string
}

// DefaultMesh is Istio's default mesh configuration.
var DefaultMesh = Mesh{RootNamespace: "istio-system", Domain: "cluster.local"}

// ForWaypoint returns what a waypoint in namespace proxyNamespace uses for
// the Service host (FQDN) in serviceNamespace, given every DestinationRule
// of the cluster, in the DefaultMesh.
func ForWaypoint(proxyNamespace, serviceNamespace, host string, rules []Rule) Result {
	return DefaultMesh.Index(rules).ForWaypoint(proxyNamespace, serviceNamespace, host)
}

// ForWaypointPods is ForWaypoint for a waypoint whose pods carry labels
// (WaypointPodLabels), which choose the rule its endpoints read.
func ForWaypointPods(proxyNamespace string, labels map[string]string, serviceNamespace, host string, rules []Rule) Result {
	return DefaultMesh.Index(rules).ForWaypointPods(proxyNamespace, labels, serviceNamespace, host)
}
