package validate

import (
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Effective is the part of the traffic policy Istio applies to one
// (subset, port) scope that failover depends on, after Istio's subset and
// port merge: the locality and zone-aware load balancing settings and the
// outlier detection. A nil value is Istio's default (nothing declared).
type Effective struct {
	LocalityLbSetting  *networking.LocalityLoadBalancerSetting
	ZoneAwareLbSetting *networking.ZoneAwareLoadBalancerSetting
	OutlierDetection   *networking.OutlierDetection
	// LoadBalancerPath and OutlierDetectionPath are where the effective
	// loadBalancer and outlierDetection are declared; "" when they are
	// Istio's defaults.
	LoadBalancerPath     string
	OutlierDetectionPath string
}

// Resolver answers which policy applies to each scope of one
// DestinationRule spec, as Evaluate resolves it: the same merge, built once
// per spec, for comparing the effective policies of two specs scope by
// scope.
type Resolver struct {
	top     policyLevels
	subsets map[string]*policyLevels
}

// NewResolver resolves spec, whose path in its object is specPath.
func NewResolver(spec *networking.DestinationRule, specPath *field.Path) *Resolver {
	r := &Resolver{
		top:     newPolicyLevels(spec.GetTrafficPolicy(), specPath.Child("trafficPolicy")),
		subsets: map[string]*policyLevels{},
	}
	for i, s := range spec.GetSubsets() {
		if _, dup := r.subsets[s.GetName()]; dup {
			continue // Istio builds one cluster per subset name, from the first
		}
		levels := newPolicyLevels(s.GetTrafficPolicy(), specPath.Child("subsets").Index(i).Child("trafficPolicy"))
		r.subsets[s.GetName()] = &levels
	}
	return r
}

// HasSubset reports whether the spec defines a subset called name.
func (r *Resolver) HasSubset(name string) bool {
	_, ok := r.subsets[name]
	return ok
}

// Resolve returns the policy of traffic to subset ("" for traffic without
// a subset) on port (AnyPort for a port no portLevelSettings entry names).
// An unknown subset resolves as traffic without one.
func (r *Resolver) Resolve(subset string, port uint32) Effective {
	sub := &policyLevels{}
	if s, ok := r.subsets[subset]; ok && subset != "" {
		sub = s
	}
	eff := resolve(&r.top, sub, port)
	out := Effective{OutlierDetection: eff.outlierDetection.value}
	if p := eff.outlierDetection.path; p != nil {
		out.OutlierDetectionPath = p.String()
	}
	if lb := eff.loadBalancer.value; lb != nil {
		out.LocalityLbSetting = lb.GetLocalityLbSetting()
		out.ZoneAwareLbSetting = lb.GetZoneAwareLbSetting()
		out.LoadBalancerPath = eff.loadBalancer.path.String()
	}
	return out
}

// DeclaresFailoverPolicy reports whether spec sets anything failover
// depends on anywhere: a localityLbSetting, a zoneAwareLbSetting or an
// outlierDetection, at the top level, in a port entry or in a subset.
// Outlier detection alone counts: with it, Istio turns on its default
// locality failover.
func DeclaresFailoverPolicy(spec *networking.DestinationRule) bool {
	if declaresFailoverPolicy(spec.GetTrafficPolicy()) {
		return true
	}
	for _, s := range spec.GetSubsets() {
		if declaresFailoverPolicy(s.GetTrafficPolicy()) {
			return true
		}
	}
	return false
}

// declaresFailoverPolicy reports whether p, or one of its port entries,
// sets a localityLbSetting, a zoneAwareLbSetting or an outlierDetection.
func declaresFailoverPolicy(p *networking.TrafficPolicy) bool {
	sets := func(lb *networking.LoadBalancerSettings, od *networking.OutlierDetection) bool {
		return od != nil || lb.GetLocalityLbSetting() != nil || lb.GetZoneAwareLbSetting() != nil
	}
	if p != nil && sets(p.GetLoadBalancer(), p.GetOutlierDetection()) {
		return true
	}
	for _, pls := range p.GetPortLevelSettings() {
		if sets(pls.GetLoadBalancer(), pls.GetOutlierDetection()) {
			return true
		}
	}
	return false
}
