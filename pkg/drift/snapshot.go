// Package drift compares what several clusters hold that Istio ambient
// multicluster failover depends on, and reports every difference that
// changes failover behaviour: the engine of `webhook audit` with several
// clusters. Each cluster's admission policy, this webhook's included, sees
// one cluster; failover needs the same configuration in all of them.
//
// A Snapshot is what one cluster holds, reduced to what the comparison
// reads; Compare is a pure function of the snapshots.
package drift

import (
	"slices"
	"strings"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failover-webhook/failover-webhook/pkg/gateway"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// Snapshot is what one cluster holds that failover depends on. It keeps a
// few labels per Service and namespace and the specs of the
// DestinationRules that declare a failover policy, never whole objects, so
// it stays small next to the cluster.
type Snapshot struct {
	// Cluster names the cluster in findings.
	Cluster string
	// Kubectl are the kubectl flags selecting the cluster, such as
	// "--context cluster2", for the commands findings suggest.
	Kubectl string
	// Namespaces are the cluster's namespaces with their RelevantLabels.
	Namespaces map[string]Labels
	// Services are the cluster's Services with their RelevantLabels.
	Services map[types.NamespacedName]Labels
	// Waypoints are the waypoints the Services use (EffectiveWaypoint),
	// as found in the cluster.
	Waypoints map[types.NamespacedName]Waypoint
	// DestinationRules are the cluster's DestinationRules.
	DestinationRules []DestinationRule
}

// Labels are the labels of one object that the comparison reads.
type Labels map[string]string

// RelevantLabels are the label keys a Snapshot keeps.
var RelevantLabels = []string{
	keys.Trigger, keys.Global, keys.UseWaypoint, keys.UseWaypointNamespace,
	keys.GatewayManaged, keys.Enforcement, gatewayName,
}

// gatewayName is the label Istio puts on a gateway's Service and
// Deployment, naming the Gateway they were generated from.
const gatewayName = "gateway.networking.k8s.io/gateway-name"

// Relevant returns the RelevantLabels of labels; nil when there are none.
func Relevant(labels map[string]string) Labels {
	var out Labels
	for _, k := range RelevantLabels {
		if v, ok := labels[k]; ok {
			if out == nil {
				out = Labels{}
			}
			out[k] = v
		}
	}
	return out
}

// Waypoint is what a cluster holds of one waypoint.
type Waypoint struct {
	// Service is the waypoint's Service's RelevantLabels; Found says
	// whether it exists.
	Found   bool
	Service Labels
	// Deployment is the readiness of the waypoint's Deployment; nil when
	// it could not be read.
	Deployment *Readiness
	// Gateway is the waypoint's Gateway; nil when it was not found or
	// could not be read (the cluster serves no Gateway API).
	Gateway *gateway.Gateway
}

// Readiness is the state of a waypoint's Deployment.
type Readiness struct {
	// Name is the Deployment's name: the waypoint Gateway's.
	Name string
	// Found says whether the Deployment exists.
	Found bool
	// Ready and Desired are its ready and desired replicas.
	Ready, Desired int32
}

// DeploymentName is the name of the Deployment Istio runs a waypoint in:
// the name of its Gateway, which Istio records on the waypoint's Service.
func DeploymentName(waypoint types.NamespacedName, service Labels) string {
	if name := service[gatewayName]; name != "" {
		return name
	}
	return waypoint.Name
}

// DestinationRule is one DestinationRule of a cluster.
type DestinationRule struct {
	Namespace, Name string
	// Created is its creationTimestamp, which orders Istio's merge of the
	// DestinationRules of one host.
	Created time.Time
	// Host is spec.host resolved as Istio resolves it (ResolveHost).
	Host string
	// Spec is the spec: every rule takes part in Istio's merge, those
	// without a failover policy too (their top-level policy can win).
	Spec *networking.DestinationRule
	// Failover says whether the spec declares a failover policy
	// (validate.DeclaresFailoverPolicy); hosts that no such rule names
	// are not compared.
	Failover bool
	// Subsets are the names of its subsets.
	Subsets []string
}

// ClusterDomain is the DNS domain Istio assumes for Kubernetes Services
// when it resolves a short host name.
const ClusterDomain = "cluster.local"

// ResolveHost resolves a DestinationRule's host as Istio's
// ResolveShortnameToFQDN does: a name without a dot is a Service of the
// DestinationRule's namespace; anything else is taken as written.
func ResolveHost(host, namespace string) string {
	if host == "" || host == "*" || strings.Contains(host, ".") || strings.Contains(host, ":") {
		return host
	}
	return host + "." + namespace + ".svc." + ClusterDomain
}

// ServiceHost is the host name of a Kubernetes Service, as DestinationRules
// name it in full.
func ServiceHost(svc types.NamespacedName) string {
	return svc.Name + "." + svc.Namespace + ".svc." + ClusterDomain
}

// EffectiveWaypoint returns the waypoint Istio sends traffic of a Service
// through: the Service's own istio.io/use-waypoint, else its namespace's,
// with the matching istio.io/use-waypoint-namespace (default: the
// Service's namespace). ok is false when the Service uses none (no label,
// or "none"), and for the Services of waypoints and east-west gateways,
// which Istio never sends through a waypoint (fetchWaypointForService).
func EffectiveWaypoint(svc types.NamespacedName, service, namespace Labels) (_ types.NamespacedName, ok bool) {
	return validate.WaypointOf(svc, service, namespace)
}

// WaypointsUsed returns the waypoints the Services of s use, each once, in
// order, for collecting the Waypoints of a Snapshot.
func (s *Snapshot) WaypointsUsed() []types.NamespacedName {
	seen := map[types.NamespacedName]bool{}
	for svc, labels := range s.Services {
		if w, ok := EffectiveWaypoint(svc, labels, s.Namespaces[svc.Namespace]); ok {
			seen[w] = true
		}
	}
	out := make([]types.NamespacedName, 0, len(seen))
	for w := range seen {
		out = append(out, w)
	}
	slices.SortFunc(out, compareNames)
	return out
}

func compareNames(a, b types.NamespacedName) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
