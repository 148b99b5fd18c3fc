// Package keys holds every label and annotation key the webhook reads or
// writes, so the rules, the manifests' tests and the docs agree on one spelling.
package keys

const (
	// Trigger is the label a Service carries to opt in to cross-cluster
	// failover; the webhook acts only when its value is exactly TriggerValue.
	Trigger      = "failover"
	TriggerValue = "cluster"

	// Global marks a Service whose endpoints Istio shares across clusters.
	// Istio's ambient profile selects `istio.io/global In [true]`, so only the
	// exact string GlobalValue counts.
	Global      = "istio.io/global"
	GlobalValue = "true"

	// UseWaypoint names the waypoint that enforces a Service's
	// DestinationRule; UseWaypointNamespace names the waypoint's namespace
	// when it is not the Service's own. NoWaypoint opts out of waypoints.
	UseWaypoint          = "istio.io/use-waypoint"
	UseWaypointNamespace = "istio.io/use-waypoint-namespace"
	NoWaypoint           = "none"

	// GatewayManaged is set by Istio on the Services it generates for
	// gateways; the value says which controller owns the gateway.
	GatewayManaged              = "gateway.istio.io/managed"
	ManagedByWaypointController = "istio.io-mesh-controller"
	ManagedByEastWestController = "istio.io-eastwest-controller"

	// GatewayName is the label Istio gives the pods of the Gateway
	// it deploys, a waypoint's included, with the Gateway's name.
	GatewayName = "gateway.networking.k8s.io/gateway-name"

	// Enforcement is the namespace label choosing the policy mode.
	Enforcement = "failover-webhook.io/enforcement"

	// ManagedLabels is the Service annotation recording, comma-separated,
	// the label keys the webhook set, so it can remove exactly those when
	// the Service opts out again.
	ManagedLabels = "failover-webhook.io/managed-labels"

	// AuditViolations is the audit annotation key (the API server prefixes
	// it with the webhook name) under which audit mode records findings.
	AuditViolations = "violations"
)
