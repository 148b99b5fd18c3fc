package validate

import (
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

// warnObjectAlone gives the warnings that need nothing but the rule itself
// (and its namespace, "" when unknown): settings a waypoint ignores or
// takes from somewhere else than the author expects.
func (e *evaluation) warnObjectAlone(spec *networking.DestinationRule, specPath *field.Path, namespace string) {
	eachLoadBalancer(spec, specPath, func(lb *networking.LoadBalancerSettings, policy *field.Path) {
		path := policy.Child("loadBalancer")
		za, loc := lb.GetZoneAwareLbSetting(), lb.GetLocalityLbSetting()
		if za != nil {
			e.warn(rules.ZoneAwareIgnoredByWaypoint, path.Child("zoneAwareLbSetting"), "waypoints ignore zoneAwareLbSetting: Istio gives a waypoint's clusters no zone-aware load balancing and no failover priorities for it (sidecars apply it, even without outlier detection); for failover through a waypoint use localityLbSetting.failoverPriority with outlierDetection")
			if loc != nil {
				e.warn(rules.ZoneAwareIgnoredByWaypoint, path.Child("localityLbSetting"), "this localityLbSetting has no effect: zoneAwareLbSetting beside it takes precedence (and Istio's own validation rejects setting both); keep one of them")
			}
		}
		if len(loc.GetDistribute()) > 0 && (len(loc.GetFailover()) > 0 || len(loc.GetFailoverPriority()) > 0) {
			e.warn(rules.DistributeOverridesFailover, path.Child("localityLbSetting", "distribute"), "distribute wins: Istio applies these weights and ignores failover and failoverPriority in the same localityLbSetting; keep one of them")
		}
	})
	if namespace != "" && hidesFromOwnNamespace(spec.GetExportTo(), namespace) && DeclaresFailoverPolicy(spec) {
		e.warn(rules.ExportToHidesRule, specPath.Child("exportTo"), "this rule is not exported to its own namespace %q (exportTo has none of \".\", \"*\" or %q), so a waypoint in that namespace never sees its failover or outlier detection; add \".\" to exportTo", namespace, namespace)
	}
	if spec.GetWorkloadSelector() != nil && declaresActiveFailover(spec) {
		e.warn(rules.FailoverWithWorkloadSelector, specPath.Child("workloadSelector"), "failover in a rule with a workloadSelector: a waypoint builds its clusters, and their outlier detection, from the rule without a selector, but takes endpoint priorities from a selector rule that matches its own pods, so the two come from different rules; put failover in the rule without a selector")
	}
	for i, s := range spec.GetSubsets() {
		if n := s.GetName(); n == "http" || n == "tcp" {
			e.warn(rules.SubsetNamedLikeProtocol, specPath.Child("subsets").Index(i).Child("name"), "a subset named %q: a waypoint uses this subset's labels and load balancer for %s traffic that names no subset (its cluster for such traffic is named %q too); rename the subset", n, strings.ToUpper(n), n)
		}
	}
	if h := spec.GetHost(); strings.Count(h, ".") == 1 && !strings.HasPrefix(h, "*") {
		e.warn(rules.TwoLabelHost, specPath.Child("host"), "host %q has two labels: Istio reads it as a full name, not as NAME.NAMESPACE, so it matches no Service; write %s.svc.cluster.local (or the short name in the rule's namespace)", h, h)
	}
}

// hidesFromOwnNamespace reports an exportTo that leaves out namespace: not
// empty (the mesh default applies then), and none of ".", "*" or the
// namespace itself.
func hidesFromOwnNamespace(exportTo []string, namespace string) bool {
	return len(exportTo) > 0 && !slices.ContainsFunc(exportTo, func(e string) bool { return e == "." || e == "*" || e == namespace })
}

// declaresActiveFailover reports a failover or failoverPriority anywhere in
// spec that a waypoint could apply.
func declaresActiveFailover(spec *networking.DestinationRule) bool {
	found := false
	eachLoadBalancer(spec, field.NewPath("spec"), func(lb *networking.LoadBalancerSettings, policy *field.Path) {
		for _, d := range failoverDeclarations(at(lb, policy, "loadBalancer")) {
			found = found || !d.disabled
		}
	})
	return found
}

// eachLoadBalancer calls f with every loadBalancer of spec and the path of
// the trafficPolicy or port entry holding it: the top level, its port entries, each subset and
// their port entries.
func eachLoadBalancer(spec *networking.DestinationRule, specPath *field.Path, f func(*networking.LoadBalancerSettings, *field.Path)) {
	visit := func(p *networking.TrafficPolicy, path *field.Path) {
		if lb := p.GetLoadBalancer(); lb != nil {
			f(lb, path)
		}
		for i, pls := range p.GetPortLevelSettings() {
			if lb := pls.GetLoadBalancer(); lb != nil {
				f(lb, path.Child("portLevelSettings").Index(i))
			}
		}
	}
	visit(spec.GetTrafficPolicy(), specPath.Child("trafficPolicy"))
	for i, s := range spec.GetSubsets() {
		visit(s.GetTrafficPolicy(), specPath.Child("subsets").Index(i).Child("trafficPolicy"))
	}
}
