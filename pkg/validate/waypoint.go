package validate

import (
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// EvaluateWaypoint judges failover without outlier detection where a
// waypoint reads two specs for one host: clusters, the spec it builds its
// clusters and their outlier detection from (SidecarScope.DestinationRule
// for inbound traffic, in buildWaypointInboundVIP,
// pilot/pkg/networking/core/cluster_waypoint.go, which never returns a
// rule with a workloadSelector), and endpoints, the spec its endpoints
// take their load balancing, and so their failover priorities, from (the
// same for outbound traffic, in NewEndpointBuilder,
// pilot/pkg/xds/endpoints/endpoint_builder.go, which returns a selector
// rule matching the waypoint's pods first). Either may be nil (no rule).
//
// The clusters are clusters's: per Service port, one for traffic without
// a subset ("http", "tcp" or both) and one per subset. Each cluster's
// endpoints take the policy of endpoints's subset of the cluster's name
// ("http" or "tcp" for traffic without a subset, as
// EndpointBuilder.populateSubsetInfo strips only "http/" and "tcp/"), else
// its top-level policy (getOutlierDetectionAndLoadBalancerSettings), for
// the port. A violation is a failover setting of endpoints active in some
// cluster whose own outlier detection is absent; its field is a path in
// endpoints under specPath. Only violations are returned: the warnings
// about each spec are those of EvaluateFor.
//
// With clusters == endpoints this is EvaluateFor's violations for a rule
// without a workloadSelector, and with clusters nil those for a rule whose
// selector selects the waypoint.
func EvaluateWaypoint(clusters, endpoints *networking.DestinationRule, specPath *field.Path, t Target) Findings {
	e := evaluation{byField: map[string]*failoverField{}}
	// Paths in clusters are never reported: only whether outlier
	// detection is there.
	cPath := field.NewPath("clusters")
	ctop := newPolicyLevels(clusters.GetTrafficPolicy(), cPath.Child("trafficPolicy"))
	csubs := clusters.GetSubsets()
	clevels := make([]policyLevels, len(csubs))
	for i, s := range csubs {
		clevels[i] = newPolicyLevels(s.GetTrafficPolicy(), cPath.Child("subsets").Index(i).Child("trafficPolicy"))
	}
	etop := newPolicyLevels(endpoints.GetTrafficPolicy(), specPath.Child("trafficPolicy"))
	elevels := make([]policyLevels, len(endpoints.GetSubsets()))
	esubs := map[string]*policyLevels{}
	for i, s := range endpoints.GetSubsets() {
		elevels[i] = newPolicyLevels(s.GetTrafficPolicy(), specPath.Child("subsets").Index(i).Child("trafficPolicy"))
		if _, dup := esubs[s.GetName()]; !dup {
			// getSubsetTrafficPolicy takes the first subset of a name.
			esubs[s.GetName()] = &elevels[i]
		}
	}
	ports := waypointPorts(clusters, endpoints, t)
	scopes := (len(csubs) + 1) * len(ports)
	active, declared := declaresFailover(etop, elevels)
	switch {
	case !declared:
		return Findings{}
	case scopes > MaxScopes:
		if active {
			e.tooManyScopes(specPath, len(csubs), len(ports), scopes)
		}
		return e.violations(specPath)
	}
	none := &policyLevels{}
	// lbOf is the policy the endpoints of the cluster for subset name
	// take on port.
	lbOf := func(name string, port uint32) (effective, bool) {
		sub, ok := esubs[name]
		if !ok {
			sub = none
		}
		return resolvePort(&etop, sub, port, resolve(&etop, sub, AnyPort)), ok
	}
	for _, port := range ports {
		anyPort := t.Service == nil && len(ports) == 1
		od := resolve(&ctop, none, port.Number).outlierDetection
		for _, kind := range port.clusters() {
			lb, viaSubset := lbOf(kind, port.Number)
			lb.outlierDetection, lb.inheritedOutlier = od, ""
			s := scope{port: port.Number, anyPort: anyPort}
			if viaSubset {
				s.viaSubset = kind
			}
			e.evaluateScope(s, lb)
		}
		for i, sub := range csubs {
			lb, _ := lbOf(sub.GetName(), port.Number)
			lb.outlierDetection, lb.inheritedOutlier = resolve(&ctop, &clevels[i], port.Number).outlierDetection, ""
			e.evaluateScope(scope{subset: sub, port: port.Number, anyPort: anyPort}, lb)
		}
	}
	return e.violations(specPath)
}

// violations is findings without the warnings evaluateScope gives.
func (e *evaluation) violations(specPath *field.Path) Findings {
	out := e.findings(specPath)
	out.Warnings = nil
	return out
}

// waypointPorts are the ports to evaluate: the Service's when it is known,
// else every port either spec names plus any other port.
func waypointPorts(clusters, endpoints *networking.DestinationRule, t Target) []ServicePort {
	if t.Service != nil {
		return ServicePorts(t.Service)
	}
	seen := map[uint32]bool{}
	var out []ServicePort
	for _, spec := range []*networking.DestinationRule{clusters, endpoints} {
		if spec == nil {
			continue
		}
		for _, n := range PortsNamed(spec) {
			if n != AnyPort && !seen[n] {
				seen[n] = true
				out = append(out, ServicePort{Number: n, HTTP: true, TCP: true})
			}
		}
	}
	return append(out, ServicePort{Number: AnyPort, HTTP: true, TCP: true})
}
