package validate

import (
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// resolvePort resolves the policy of port, given anyPort, the policy of a
// port no entry names, which explains an outlier detection lost to a
// port-level entry.
func resolvePort(top, sub *policyLevels, port uint32, anyPort effective) effective {
	if port == AnyPort {
		return anyPort
	}
	eff := resolve(top, sub, port)
	if eff.outlierDetection.value == nil && anyPort.outlierDetection.value != nil {
		// What would apply without port-level replacement, to explain
		// why the port lost its outlier detection.
		eff.inheritedOutlier = anyPort.outlierDetection.key
	}
	return eff
}

// AnyPort stands for every port no portLevelSettings entry names.
const AnyPort uint32 = 0

// PortsNamed returns every port number a portLevelSettings entry of spec
// names, at the top level or in a subset, in order of first appearance,
// followed by AnyPort.
func PortsNamed(spec *networking.DestinationRule) []uint32 {
	var ports []uint32
	var seen map[uint32]bool
	add := func(p *networking.TrafficPolicy) {
		for _, pls := range p.GetPortLevelSettings() {
			if n := pls.GetPort().GetNumber(); n != AnyPort && !seen[n] {
				if seen == nil {
					seen = map[uint32]bool{}
				}
				seen[n] = true
				ports = append(ports, n)
			}
		}
	}
	add(spec.GetTrafficPolicy())
	for _, s := range spec.GetSubsets() {
		add(s.GetTrafficPolicy())
	}
	return append(ports, AnyPort)
}

// setting is one of the four fields Istio merges as a whole, with the path
// it was declared at (nil when the effective value is Istio's default).
type setting[T any] struct {
	value *T
	path  *field.Path
	// key is path as a string, computed once per declared outlier
	// detection (withKey), where messages and deduplication need it.
	key string
	// policy is the trafficPolicy or portLevelSettings entry holding it,
	// where a missing sibling setting belongs.
	policy *field.Path
}

// effective is the part of the merged traffic policy the rule reads, for
// one (subset, port) scope.
type effective struct {
	loadBalancer     *lbSetting
	outlierDetection setting[networking.OutlierDetection]
	// inheritedOutlier is the outlier detection this scope would have had
	// if a port-level entry had not replaced the policy; it explains a
	// violation caused by that replacement.
	inheritedOutlier string
}

// lbSetting is a declared loadBalancer with its failover declarations,
// found once per field rather than once per scope.
type lbSetting struct {
	setting[networking.LoadBalancerSettings]
	declared []declaration
}

// noLoadBalancer is Istio's default load balancer: no failover.
var noLoadBalancer = &lbSetting{}

// level is a traffic policy resolved for one port: either the policy's own
// fields, or the whole of the portLevelSettings entry for that port.
type level struct {
	loadBalancer     *lbSetting
	outlierDetection setting[networking.OutlierDetection]
	portLevel        bool
}

// policyLevels is a trafficPolicy resolved for every port at once: its own
// fields, and the first portLevelSettings entry of each port number, as
// Istio's GetPortLevelTrafficPolicy picks it (an entry replaces the four
// fields wholesale; nil means Istio's default, never the policy's value).
type policyLevels struct {
	present bool
	base    level
	byPort  map[uint32]*level
	entries []*level // byPort's values, in the order of the entries
}

func newPolicyLevels(p *networking.TrafficPolicy, path *field.Path) policyLevels {
	if p == nil {
		return policyLevels{base: level{loadBalancer: noLoadBalancer}}
	}
	out := policyLevels{
		present: true,
		base:    level{loadBalancer: newLBSetting(p.GetLoadBalancer(), path), outlierDetection: withKey(at(p.GetOutlierDetection(), path, "outlierDetection"))},
	}
	for i, pls := range p.GetPortLevelSettings() {
		n := pls.GetPort().GetNumber()
		if pls.GetPort() == nil || n == AnyPort || out.byPort[n] != nil {
			continue // Istio uses the first entry for a port
		}
		if out.byPort == nil {
			out.byPort = map[uint32]*level{}
		}
		entry := path.Child("portLevelSettings").Index(i)
		l := &level{
			loadBalancer:     newLBSetting(pls.GetLoadBalancer(), entry),
			outlierDetection: withKey(at(pls.GetOutlierDetection(), entry, "outlierDetection")),
			portLevel:        true,
		}
		out.byPort[n] = l
		out.entries = append(out.entries, l)
	}
	return out
}

// forPort is the level that applies to port.
func (p *policyLevels) forPort(port uint32) *level {
	if l := p.byPort[port]; l != nil {
		return l
	}
	return &p.base
}

// eachDeclaration calls f with every failover declaration of the load
// balancers of the top-level policy and the subsets' policies.
func eachDeclaration(top policyLevels, subs []policyLevels, f func(declaration)) {
	visit := func(p *policyLevels) {
		for _, d := range p.base.loadBalancer.declared {
			f(d)
		}
		for _, l := range p.entries {
			for _, d := range l.loadBalancer.declared {
				f(d)
			}
		}
	}
	visit(&top)
	for i := range subs {
		visit(&subs[i])
	}
}

func at[T any](v *T, policy *field.Path, name string) setting[T] {
	if v == nil {
		return setting[T]{}
	}
	return setting[T]{value: v, path: policy.Child(name), policy: policy}
}

// withKey fills in the key of a declared setting.
func withKey[T any](s setting[T]) setting[T] {
	if s.path != nil {
		s.key = s.path.String()
	}
	return s
}

func newLBSetting(lb *networking.LoadBalancerSettings, policy *field.Path) *lbSetting {
	if lb == nil {
		return noLoadBalancer
	}
	s := &lbSetting{setting: at(lb, policy, "loadBalancer")}
	s.declared = failoverDeclarations(s.setting)
	return s
}

// resolve mirrors Istio's MergeSubsetTrafficPolicy and MergeTrafficPolicy:
// resolve the top-level policy for the port, then let each field the subset
// sets replace the inherited one as a whole — all four of them when the
// subset has a port-level entry for the port.
func resolve(top, sub *policyLevels, port uint32) effective {
	t := top.forPort(port)
	merged := effective{loadBalancer: t.loadBalancer, outlierDetection: t.outlierDetection}
	if sub.present {
		s := sub.forPort(port)
		if s.loadBalancer.value != nil || s.portLevel {
			merged.loadBalancer = s.loadBalancer
		}
		if s.outlierDetection.value != nil || s.portLevel {
			merged.outlierDetection = s.outlierDetection
		}
	}
	return merged
}

// declaresFailover reports whether any load balancer of the spec declares
// failover at all, and whether any such declaration is active.
func declaresFailover(top policyLevels, subs []policyLevels) (active, declared bool) {
	eachDeclaration(top, subs, func(d declaration) {
		declared = true
		active = active || !d.disabled
	})
	return active, declared
}

// declaration is one failover setting found in a load balancer.
type declaration struct {
	path        *field.Path
	key         string // path as a string
	name        string // failover or failoverPriority
	kind        string
	disabled    bool
	enabledPath *field.Path
}

// failoverDeclarations lists the failover and failoverPriority fields set in
// lb's localityLbSetting and zoneAwareLbSetting.
func failoverDeclarations(lb setting[networking.LoadBalancerSettings]) []declaration {
	if lb.value == nil {
		return nil
	}
	var out []declaration
	add := func(kind string, path *field.Path, enabled interface{ GetValue() bool }, isNil bool, hasFailover, hasPriority bool) {
		disabled := !isNil && !enabled.GetValue()
		for _, name := range []string{"failover", "failoverPriority"} {
			if name == "failover" && !hasFailover || name == "failoverPriority" && !hasPriority {
				continue
			}
			p := path.Child(name)
			out = append(out, declaration{path: p, key: p.String(), name: name, kind: kind, disabled: disabled, enabledPath: path.Child("enabled")})
		}
	}
	// Istio's GetEffectiveLbSetting gives zoneAwareLbSetting precedence,
	// and a waypoint assigns no priorities for it (ZoneAwareLBSettings.
	// ApplyToCluster, EndpointBuilder.BuildClusterLoadAssignment); in
	// ApplyLocalityLoadBalancer distribute wins over failover. Neither
	// declares failover a waypoint applies; warnObjectAlone says so.
	l := lb.value.GetLocalityLbSetting()
	if l == nil || lb.value.GetZoneAwareLbSetting() != nil || len(l.GetDistribute()) > 0 {
		return nil
	}
	add("locality", lb.path.Child("localityLbSetting"), l.GetEnabled(), l.GetEnabled() == nil, len(l.GetFailover()) > 0, len(l.GetFailoverPriority()) > 0)
	return out
}
