package validate

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	apitype "istio.io/api/type/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
)

// Target is what the rule knows of where a DestinationRule applies.
type Target struct {
	// Namespace is the rule's namespace; "" when unknown.
	Namespace string
	// Service is the Kubernetes Service the rule's host names, read by
	// the caller; nil when the host names none or it was not read.
	Service *corev1.Service
	// ServiceKey names the Service the host names and was looked up;
	// zero when it names none (a ServiceEntry host, a wildcard) or was
	// not looked up (TargetOf).
	ServiceKey types.NamespacedName
	// ServiceUnread says the lookup of ServiceKey failed (an error, or
	// too many reads at once) rather than found no Service; the scopes
	// are the conservative ones either way.
	ServiceUnread bool
	// Waypoint is the waypoint the Service uses (its istio.io/use-waypoint
	// label, else its namespace's); zero when unknown. A rule whose
	// workloadSelector names the waypoint's Gateway selects its pods
	// (SelectsWaypoint).
	Waypoint types.NamespacedName
}

// SelectsWaypoint reports whether a rule of namespace ns whose
// workloadSelector is sel selects the pods of a waypoint, so that the
// waypoint takes its endpoints' load balancing, and failover priorities,
// from the rule (SidecarScope.DestinationRule, outbound) but never its
// clusters' outlier detection (the same, inbound, in
// buildWaypointInboundVIP). Istio labels every waypoint pod
// gateway.istio.io/managed=istio.io-mesh-controller and
// gateway.networking.k8s.io/gateway-name=<the Gateway's name>
// (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml,
// pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go), so a
// selector of the first selects any waypoint, and one of the second alone
// selects the waypoint w when it names w in w's own namespace (a selector
// rule reaches only proxies of its namespace). A Gateway's name that is not
// a known waypoint's may be an ingress gateway's, which applies a selector
// rule as a sidecar does, so the rule is then judged as usual.
func SelectsWaypoint(sel *apitype.WorkloadSelector, ns string, w types.NamespacedName) bool {
	m := sel.GetMatchLabels()
	if m[keys.GatewayManaged] == keys.ManagedByWaypointController {
		return true
	}
	name, ok := m[keys.GatewayName]
	return ok && len(m) == 1 && w.Name != "" && name == w.Name && ns == w.Namespace
}

// WaypointOf returns the waypoint Istio sends traffic of a Service
// through: the Service's own istio.io/use-waypoint, else its namespace's
// (nsLabels, nil when unknown), with the matching
// istio.io/use-waypoint-namespace (default: the Service's namespace). ok
// is false when the Service uses none (no label, or "none"), and for the
// Services of waypoints and east-west gateways, which Istio never sends
// through a waypoint (fetchWaypointForService).
func WaypointOf(svc types.NamespacedName, labels, nsLabels map[string]string) (_ types.NamespacedName, ok bool) {
	switch labels[keys.GatewayManaged] {
	case keys.ManagedByWaypointController, keys.ManagedByEastWestController:
		return types.NamespacedName{}, false
	}
	source := labels
	if _, own := labels[keys.UseWaypoint]; !own {
		source = nsLabels
	}
	name := source[keys.UseWaypoint]
	if name == "" || name == keys.NoWaypoint {
		return types.NamespacedName{}, false
	}
	ns := source[keys.UseWaypointNamespace]
	if ns == "" {
		ns = svc.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: name}, true
}

// waypointOf is WaypointOf, zero when the Service uses none.
func waypointOf(key types.NamespacedName, labels, nsLabels map[string]string) types.NamespacedName {
	w, _ := WaypointOf(key, labels, nsLabels)
	return w
}

// ServiceOf returns the Kubernetes Service host names from a rule in
// namespace: a short name (no dot) is a Service of that namespace, as
// Istio's ResolveShortnameToFQDN reads it, and NAME.NAMESPACE.svc.DOMAIN
// is NAME in NAMESPACE. Any other host names no Service the webhook can
// read.
func ServiceOf(host, namespace string) (types.NamespacedName, bool) {
	if host == "" || strings.Contains(host, "*") {
		return types.NamespacedName{}, false
	}
	labels := strings.Split(host, ".")
	switch {
	case len(labels) == 1 && namespace != "":
		return types.NamespacedName{Namespace: namespace, Name: host}, true
	case len(labels) >= 4 && labels[2] == "svc":
		return types.NamespacedName{Namespace: labels[1], Name: labels[0]}, true
	}
	return types.NamespacedName{}, false
}

// TargetOf builds the Target of spec in namespace, reading the Service its
// host names through lookup (nil when Services cannot be read; it returns
// nil for a Service it does not have) only when that can change the
// findings: when spec declares failover and its conservative scopes find
// something, or it has a workloadSelector. The Service's ports are a
// subset of the conservative scopes (every port named in
// portLevelSettings and any other port, each with both of a waypoint's
// clusters), and each is judged the same way, so a rule every
// conservative scope passes without a word passes on the Service's ports
// too; only a selector rule depends on the Service's labels, which name
// its waypoint (SelectsWaypoint). Most rules are such rules, and the
// webhook then admits them without a read.
func TargetOf(spec *networking.DestinationRule, namespace string, lookup func(types.NamespacedName) *corev1.Service) Target {
	t := Target{Namespace: namespace}
	if !DeclaresFailoverPolicy(spec) {
		return t
	}
	key, ok := ServiceOf(spec.GetHost(), namespace)
	if !ok || lookup == nil {
		return t
	}
	if spec.GetWorkloadSelector() == nil {
		if f := EvaluateFor(spec, field.NewPath("spec"), t); len(f.Violations) == 0 && len(f.Warnings) == 0 {
			return t
		}
	}
	t.ServiceKey, t.Service = key, lookup(key)
	if t.Service != nil {
		// The Service's own label names its waypoint; its namespace's
		// label, which Admit reads, is not known here.
		t.Waypoint = waypointOf(key, t.Service.Labels, nil)
	}
	return t
}
