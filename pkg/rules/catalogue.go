package rules

const (
	deniedInEnforce = "denied at admission in mode `enforce`; an admission warning in `warn`; an audit annotation in `audit`; " +
		"an error line in `webhook check` and `webhook audit` (exit 1) when the namespace is in `enforce`"
	deniedInEnforceOrMerged = deniedInEnforce + "; also, in `webhook check` and `webhook audit`, for a setting fine in its own rule " +
		"that loses its outlier detection once Istio merges the DestinationRules of its host (see FW112): an error (exit 1) " +
		"in `enforce`, a warning in `warn`"
	warningOnly   = "an admission warning (never a denial); a warning line in `webhook check` and `webhook audit`"
	mutationOnly  = "a `mutation` line in `webhook check` and `webhook audit`; at admission, the patch itself"
	auditOnly     = "by `webhook audit` only (one cluster or several); a difference between clusters exits 1"
	waypointCheck = "by `webhook audit`: for one cluster, a warning about the waypoint of opted-in Services; " +
		"across clusters, a difference (exit 1)"
	clusterWarning = "a warning by `webhook audit` (one cluster) when it reads the cluster's Services and waypoints"
	gatewayWarning = "a warning by `webhook audit` and by `webhook check` for the Gateways in its input"
)

// Catalogue lists every rule, in ID order.
var Catalogue = []Rule{
	{
		ID:       FailoverWithoutOutlierDetection,
		Title:    "locality failover without outlier detection",
		Reported: deniedInEnforceOrMerged,
		Why: "Istio applies `localityLbSetting.failoverPriority` and `failover` to a cluster's endpoints only when " +
			"the cluster has outlier detection (pilot/pkg/networking/core/loadbalancer/loadbalancer.go): without it, " +
			"no endpoint ever gets a lower priority and Envoy never fails over; Istio only warns. The check runs per " +
			"(subset, port) with Istio's own merge: a port-level entry replaces the top-level policy as a whole, and a " +
			"subset's policy replaces each of loadBalancer, outlierDetection, connectionPool and tls it sets " +
			"(pilot/pkg/networking/util/util.go `MergeSubsetTrafficPolicy`, `GetPortLevelTrafficPolicy`). " +
			"The finding names the declaring field and every (subset, port) left unprotected.",
		Fix: "add `outlierDetection` next to the `loadBalancer` that declares failover, e.g. " +
			"`{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}`. To keep the rule but stop enforcement in " +
			"one namespace: `kubectl label namespace NS failover-webhook.io/enforcement=warn`.",
	},
	{
		ID:       TooManyScopes,
		Title:    "too many subset and port combinations to evaluate",
		Reported: deniedInEnforce,
		Why: "Each subset (and traffic without a subset) is evaluated for every port any port-level entry names. " +
			"A rule with failover whose product exceeds the evaluation bound is not judged scope by scope, so the " +
			"webhook cannot prove it protects every scope.",
		Fix: "split the DestinationRule, or declare fewer port-level entries; the message gives the counts.",
	},
	{
		ID:       FailoverDisabled,
		Title:    "failover settings next to `enabled: false`",
		Reported: warningOnly,
		Why:      "With `localityLbSetting.enabled: false` Istio skips locality load balancing entirely, so its failover settings have no effect.",
		Fix:      "remove the failover settings, or set `enabled: true`.",
	},
	{
		ID:       OutlierDetectionNeverEjects,
		Title:    "outlier detection that can never eject an endpoint",
		Reported: warningOnly,
		Why: "With `consecutive5xxErrors: 0`, `consecutiveGatewayErrors` unset or 0 and `splitExternalLocalOriginErrors` " +
			"not true, Envoy never ejects a host, so failover happens only when a locality has no endpoints at all.",
		Fix: "set `consecutive5xxErrors` (or `consecutiveGatewayErrors`) to 1 or more.",
	},
	{
		ID:       PortEntryDropsFailover,
		Title:    "a port-level entry drops the top-level failover",
		Reported: warningOnly,
		Why:      "A `portLevelSettings` entry replaces loadBalancer, outlierDetection, connectionPool and tls as a whole for its port (pilot/pkg/networking/util/util.go `GetPortLevelTrafficPolicy`), so the top-level failover does not apply there.",
		Fix:      "repeat the `loadBalancer` and `outlierDetection` in the entry if failover should apply to that port.",
	},
	{
		ID:       ZoneAwareIgnoredByWaypoint,
		Title:    "`zoneAwareLbSetting` is ignored by waypoints",
		Reported: warningOnly,
		Why: "A waypoint builds its clusters without zone-aware load balancing and assigns no failover priorities from " +
			"`zoneAwareLbSetting` (pilot/pkg/networking/core/cluster_waypoint.go, loadbalancer/loadbalancer.go); sidecars " +
			"force failover for it even without outlier detection. In ambient mode it therefore does nothing.",
		Fix: "use `localityLbSetting.failoverPriority` with `outlierDetection`.",
	},
	{
		ID:       DistributeOverridesFailover,
		Title:    "`distribute` next to failover settings",
		Reported: warningOnly,
		Why:      "When a `localityLbSetting` sets `distribute`, Istio applies the weighted distribution and ignores `failover` and `failoverPriority` (loadbalancer.go).",
		Fix:      "keep either `distribute` or the failover settings.",
	},
	{
		ID:       ExportToHidesRule,
		Title:    "`exportTo` hides the rule from its own namespace",
		Reported: warningOnly,
		Why:      "A waypoint looks DestinationRules up by its namespace's visibility (pilot/pkg/model/push_context.go); a rule whose `exportTo` names none of `.`, `*` or its own namespace is never seen by a waypoint there.",
		Fix:      "add `.` to `exportTo`, or remove `exportTo`.",
	},
	{
		ID:       FailoverWithWorkloadSelector,
		Title:    "failover in a rule with `workloadSelector`",
		Reported: warningOnly,
		Why:      "A waypoint builds its clusters from rules without a selector but may take endpoint priorities from a selector rule matching its pods, so priorities and outlier detection can come from different rules.",
		Fix:      "put failover and outlier detection in a rule without `workloadSelector`.",
	},
	{
		ID:       SubsetNamedLikeProtocol,
		Title:    "a subset named `http` or `tcp`",
		Reported: warningOnly,
		Why:      "A waypoint names its default inbound clusters after the protocol, so a subset called `http` or `tcp` supplies the labels and policy for traffic that names no subset.",
		Fix:      "rename the subset.",
	},
	{
		ID:       TwoLabelHost,
		Title:    "a host of exactly two labels",
		Reported: warningOnly,
		Why:      "Istio takes `name.namespace` as a fully qualified name, which matches no Kubernetes Service (`name.namespace.svc.cluster.local` does).",
		Fix:      "use the short name or the full `name.namespace.svc.cluster.local`.",
	},
	{
		ID:       RuleShadowed,
		Title:    "another DestinationRule for the same host takes precedence",
		Reported: "a warning line in `webhook check` and `webhook audit` (not at admission, which sees one rule at a time); the failover a merge breaks is FW101, an error",
		Why: "Istio merges the DestinationRules of one host before a waypoint uses them (pilot/pkg/model/push_context.go " +
			"`setDestinationRules`, destination_rule.go `mergeDestinationRule`): rules of one namespace with the same " +
			"`exportTo` are ordered (workloadSelector first, then creation time, then name), the first rule's top-level " +
			"trafficPolicy wins and later rules only add subsets of new names. The waypoint reads the rules of its own " +
			"namespace first, then those the Service's namespace exports to it, then the root namespace's " +
			"(`destinationRule`), the most specific host in each, and never a rule with a workloadSelector " +
			"for its clusters (sidecar.go `DestinationRule`, inbound), while its endpoints take their failover from a selector rule " +
			"matching its pods (outbound, endpoint_builder.go `NewEndpointBuilder`). A rule can be fine alone and broken after the merge, or have its " +
			"failover silently dropped; the finding names the rule that applies instead, and why.",
		Fix: "keep one DestinationRule per host, or put the traffic policy in the rule that comes first.",
	},
	{
		ID:       ServiceNotFound,
		Title:    "the host's Service was not found: conservative scopes",
		Reported: warningOnly,
		Why:      "A waypoint builds clusters per Service port only. When the host's Service cannot be read, the rule is evaluated for every port named in it plus any other port, which can deny a rule that protects every real port.",
		Fix:      "create the Service first, or re-check with `webhook audit` once it exists.",
	},
	{
		ID:       ServiceMutated,
		Title:    "an opted-in Service gets the waypoint and global labels",
		Reported: mutationOnly,
		Why:      "A Service labeled `failover=cluster` needs `istio.io/use-waypoint` (so a waypoint enforces the DestinationRule) and `istio.io/global=true` (so its endpoints are shared across clusters). The keys added are recorded in the annotation `failover-webhook.io/managed-labels` and removed with the opt-in.",
		Fix:      "nothing: this is what the opt-in asks for.",
	},
	{
		ID:       GlobalValueReplaced,
		Title:    "`istio.io/global` had another value than `true`",
		Reported: warningOnly,
		Why:      "Istio shares a Service's endpoints across clusters only when the label is exactly `true`; the webhook sets it.",
		Fix:      "set `istio.io/global=true` in the manifest so it stops changing.",
	},
	{
		ID:       NoWaypoint,
		Title:    "`istio.io/use-waypoint=none`: failover is not enforced",
		Reported: warningOnly,
		Why:      "No waypoint serves the Service, so nothing applies its DestinationRule's failover policy.",
		Fix:      "set `istio.io/use-waypoint` to a waypoint name.",
	},
	{
		ID:       EmptyWaypoint,
		Title:    "`istio.io/use-waypoint` with an empty value",
		Reported: warningOnly,
		Why:      "Istio treats an empty value as a waypoint that is not ready and does not fall back to the namespace's label (pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go).",
		Fix:      "remove the label, or give it a waypoint name.",
	},
	{
		ID:       WaypointNamespaceApplies,
		Title:    "the Service's own `istio.io/use-waypoint-namespace` now takes effect",
		Reported: warningOnly,
		Why:      "Istio reads `use-waypoint-namespace` from the object that carries `use-waypoint`. Once the webhook puts `use-waypoint` on the Service, the Service's own namespace label binds it to that namespace's waypoint.",
		Fix:      "remove the Service's `istio.io/use-waypoint-namespace` if the namespace's waypoint was meant.",
	},
	{
		ID:       EastWestGatewayUntouched,
		Title:    "an east-west gateway Service is left alone",
		Reported: warningOnly,
		Why:      "East-west gateways carry cross-network traffic for every global Service and must not be routed through a waypoint.",
		Fix:      "remove `failover=cluster` from the gateway.",
	},
	{
		ID:       UnknownMode,
		Title:    "unknown value of `failover-webhook.io/enforcement`",
		Reported: warningOnly,
		Why:      "An unrecognised mode is read as `enforce`, the safe reading of a typo, as Pod Security Admission does.",
		Fix:      "set the label to `enforce`, `warn`, `audit` or `off`.",
	},
	{
		ID:       ServiceMissingInCluster,
		Title:    "a failover Service exists in some clusters only",
		Reported: auditOnly,
		Why:      "Failover needs the Service, with the same labels, in every cluster.",
		Fix:      "create the Service where it is missing, as it is elsewhere.",
	},
	{
		ID:       LabelDiffers,
		Title:    "`failover` or `istio.io/global` differs between clusters",
		Reported: auditOnly,
		Why:      "Istio drops every remote Service that is not global, so a Service global in one cluster only is not shared.",
		Fix:      "the fix line gives the `kubectl label` command for each cluster.",
	},
	{
		ID:       WaypointDiffers,
		Title:    "a Service uses different waypoints in different clusters",
		Reported: auditOnly,
		Why:      "Ambient multicluster needs the same waypoint, by name, in every cluster.",
		Fix:      "the fix line labels the Service with the same waypoint everywhere.",
	},
	{
		ID:       WaypointMissing,
		Title:    "the waypoint a Service uses does not exist",
		Reported: waypointCheck,
		Why:      "Without the waypoint, the Service's traffic bypasses the DestinationRule's failover policy.",
		Fix:      "`istioctl waypoint apply -n NS --name NAME --for service`.",
	},
	{
		ID:       WaypointServiceNotGlobal,
		Title:    "a waypoint's Service is not global",
		Reported: waypointCheck,
		Why:      "A waypoint's Service must be global too, or Istio does not share it across clusters.",
		Fix:      "label the waypoint's Gateway (`gateways.gateway.networking.k8s.io`) `failover=cluster` or `istio.io/global=true`; when the Gateway sets `spec.infrastructure.labels`, add the label there (FW412).",
	},
	{
		ID:       WaypointNotReady,
		Title:    "a waypoint has no ready replica",
		Reported: waypointCheck,
		Why:      "Traffic through the waypoint fails in that cluster until it runs a ready replica.",
		Fix:      "look at the waypoint's Deployment and pods.",
	},
	{
		ID:       RuleMissingInCluster,
		Title:    "a DestinationRule for a failover host exists in some clusters only",
		Reported: auditOnly,
		Why:      "The waypoints where it is missing apply another, or Istio's default, failover and outlier detection.",
		Fix:      "apply the same DestinationRule in every cluster.",
	},
	{
		ID:       SubsetMissingInCluster,
		Title:    "a subset exists in some clusters only",
		Reported: auditOnly,
		Why:      "Traffic routed to the subset finds no destination where it is missing.",
		Fix:      "apply the same DestinationRule in every cluster.",
	},
	{
		ID:       EffectivePolicyDiffers,
		Title:    "the effective locality or outlier policy differs between clusters",
		Reported: auditOnly,
		Why:      "Compared per (subset, port) after Istio's merge: rules written differently but equal in effect are not reported.",
		Fix:      "apply the same DestinationRule in every cluster.",
	},
	{
		ID:       TooManyScopesToCompare,
		Title:    "too many scopes to compare between clusters",
		Reported: auditOnly,
		Why:      "The host has more subset/port scopes than the comparison bound.",
		Fix:      "compare the DestinationRules' specs directly.",
	},
	{
		ID:       ModeDiffers,
		Title:    "a namespace's enforcement mode differs between clusters",
		Reported: auditOnly,
		Why:      "A DestinationRule denied in one cluster is admitted in another, so a rule without outlier detection reaches some clusters only.",
		Fix:      "the fix line aligns the clusters on the strictest mode.",
	},
	{
		ID:       GatewayLabelNotCopied,
		Title:    "a waypoint Gateway's label never reaches its Service",
		Reported: gatewayWarning,
		Why:      "When a Gateway sets `spec.infrastructure.labels` (even `{}`), Istio copies those instead of the Gateway's own labels onto the generated Service (extractInfrastructureMetadata in pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go), so `kubectl label gateway` does nothing there.",
		Fix:      "add the label under `spec.infrastructure.labels` of the Gateway.",
	},
	{
		ID:       GlobalThroughWaypoint,
		Title:    "a Service that is not global uses a global waypoint",
		Reported: "a warning by `webhook audit` (per cluster, one or several) and by `webhook check` for the Services of its input whose waypoint's Service or Gateway in the input is global",
		Why: "Istio decides a Service's scope from its own and its namespace's labels only (matchServiceScope in " +
			"pilot/pkg/serviceregistry/ambient/services.go, against meshConfig's serviceScopeConfigs), never from its waypoint: " +
			"the reverse holds, a waypoint serving global Services is exposed through the east-west gateway " +
			"(AllLocalNetworkGlobalServices in ambientindex.go). So a Service behind a global waypoint stays in its cluster: " +
			"its endpoints elsewhere are not shared, and its traffic never fails over to them.",
		Fix: "opt the Service in with `failover=cluster` if it should fail over across clusters; if it should stay in its cluster, nothing.",
	},
	{
		ID:       SameClusterTwice,
		Title:    "two contexts reach the same cluster",
		Reported: auditOnly,
		Why:      "Comparing a cluster with itself reports no real difference and hides the cluster that was meant.",
		Fix:      "name each cluster once.",
	},
}
