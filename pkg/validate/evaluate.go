// Package validate holds the DestinationRule rule: locality failover must
// come with outlier detection, judged on the traffic policy Istio actually
// applies to each subset and port.
package validate

import (
	"fmt"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ExampleOutlierDetection is the fix suggested in messages: the outlier
// detection of Istio's multicluster ambient failover guide.
const ExampleOutlierDetection = "{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}"

// Findings is the result of evaluating a DestinationRule spec.
type Findings struct {
	// Violations are the failover settings that have no outlier detection
	// in some scope, one per declaring field.
	Violations field.ErrorList
	// Warnings are allowed but probably not what the author meant.
	Warnings []Warning
}

// Warning is an advisory finding about one field.
type Warning struct {
	Field   string
	Message string
}

func (w Warning) String() string { return w.Field + ": " + w.Message }

// WarningStrings renders the warnings as "field: message" lines.
func (f Findings) WarningStrings() []string {
	out := make([]string, len(f.Warnings))
	for i, w := range f.Warnings {
		out[i] = w.String()
	}
	return out
}

// Evaluate checks spec, the spec of a DestinationRule in any of the
// networking.istio.io versions (they share one schema), with specPath the
// path of the spec in the object ("spec" for a DestinationRule).
func Evaluate(spec *networking.DestinationRule, specPath *field.Path) Findings {
	e := evaluation{byField: map[string]*failoverField{}}
	subsets := append([]*networking.Subset{nil}, spec.GetSubsets()...)
	ports := portsNamed(spec)
	for i, subset := range subsets {
		subsetPath := specPath.Child("subsets").Index(i - 1)
		for _, port := range ports {
			s := scope{subset: subset, port: port, anyPort: len(ports) == 1}
			e.evaluateScope(s, resolve(spec.GetTrafficPolicy(), specPath.Child("trafficPolicy"), subset.GetTrafficPolicy(), subsetPath.Child("trafficPolicy"), port))
		}
	}
	e.warnDroppedFailover(spec, specPath)
	return e.findings()
}

// portAny stands for every port not named in any portLevelSettings entry.
const portAny uint32 = 0

// portsNamed returns every port number some portLevelSettings entry names,
// in order of first appearance, followed by portAny.
func portsNamed(spec *networking.DestinationRule) []uint32 {
	var ports []uint32
	add := func(p *networking.TrafficPolicy) {
		for _, pls := range p.GetPortLevelSettings() {
			if n := pls.GetPort().GetNumber(); n != portAny && !slices.Contains(ports, n) {
				ports = append(ports, n)
			}
		}
	}
	add(spec.GetTrafficPolicy())
	for _, s := range spec.GetSubsets() {
		add(s.GetTrafficPolicy())
	}
	return append(ports, portAny)
}

// setting is one of the four fields Istio merges as a whole, with the path
// it was declared at (nil when the effective value is Istio's default).
type setting[T any] struct {
	value *T
	path  *field.Path
	// policy is the trafficPolicy or portLevelSettings entry holding it,
	// where a missing sibling setting belongs.
	policy *field.Path
}

// effective is the part of the merged traffic policy the rule reads, for
// one (subset, port) scope.
type effective struct {
	loadBalancer     setting[networking.LoadBalancerSettings]
	outlierDetection setting[networking.OutlierDetection]
	// inheritedOutlier is the outlier detection this scope would have had
	// if a port-level entry had not replaced the policy; it explains a
	// violation caused by that replacement.
	inheritedOutlier *field.Path
}

// level is a traffic policy resolved for one port: either the policy's own
// fields, or the whole of the portLevelSettings entry for that port.
type level struct {
	loadBalancer     setting[networking.LoadBalancerSettings]
	outlierDetection setting[networking.OutlierDetection]
	portLevel        bool
}

// resolveLevel mirrors Istio's GetPortLevelTrafficPolicy: the first
// portLevelSettings entry naming the port replaces the four fields wholesale
// (nil means Istio's default, never the policy's own value).
func resolveLevel(p *networking.TrafficPolicy, path *field.Path, port uint32) level {
	if p == nil {
		return level{}
	}
	if port != portAny {
		for i, pls := range p.GetPortLevelSettings() {
			if pls.GetPort() != nil && pls.GetPort().GetNumber() == port {
				entry := path.Child("portLevelSettings").Index(i)
				return level{
					loadBalancer:     at(pls.GetLoadBalancer(), entry, "loadBalancer"),
					outlierDetection: at(pls.GetOutlierDetection(), entry, "outlierDetection"),
					portLevel:        true,
				}
			}
		}
	}
	return level{
		loadBalancer:     at(p.GetLoadBalancer(), path, "loadBalancer"),
		outlierDetection: at(p.GetOutlierDetection(), path, "outlierDetection"),
	}
}

func at[T any](v *T, policy *field.Path, name string) setting[T] {
	if v == nil {
		return setting[T]{}
	}
	return setting[T]{value: v, path: policy.Child(name), policy: policy}
}

// resolve mirrors Istio's MergeSubsetTrafficPolicy and MergeTrafficPolicy:
// resolve the top-level policy for the port, then let each field the subset
// sets replace the inherited one as a whole — all four of them when the
// subset has a port-level entry for the port.
func resolve(top *networking.TrafficPolicy, topPath *field.Path, sub *networking.TrafficPolicy, subPath *field.Path, port uint32) effective {
	t := resolveLevel(top, topPath, port)
	merged := effective{loadBalancer: t.loadBalancer, outlierDetection: t.outlierDetection}
	if sub != nil {
		s := resolveLevel(sub, subPath, port)
		if s.loadBalancer.value != nil || s.portLevel {
			merged.loadBalancer = s.loadBalancer
		}
		if s.outlierDetection.value != nil || s.portLevel {
			merged.outlierDetection = s.outlierDetection
		}
	}
	if merged.outlierDetection.value == nil && port != portAny {
		// What would apply without port-level replacement, to explain
		// why a port lost its outlier detection.
		if without := resolve(top, topPath, sub, subPath, portAny); without.outlierDetection.value != nil {
			merged.inheritedOutlier = without.outlierDetection.path
		}
	}
	return merged
}

// scope is one (subset, port) pair Istio builds a cluster for.
type scope struct {
	subset *networking.Subset // nil: traffic without a subset
	port   uint32             // portAny: ports no entry names
	// anyPort is set when no port is named anywhere, so the port need not
	// be mentioned at all.
	anyPort bool
}

func (s scope) String() string {
	var b strings.Builder
	if s.subset == nil {
		b.WriteString("traffic without a subset")
	} else {
		fmt.Fprintf(&b, "subset %q", s.subset.GetName())
	}
	switch {
	case s.anyPort:
	case s.port == portAny:
		b.WriteString(" on any other port")
	default:
		fmt.Fprintf(&b, " port %d", s.port)
	}
	return b.String()
}

// failoverField is one declared failover or failoverPriority and what the
// evaluation learnt about it across scopes.
type failoverField struct {
	path        *field.Path
	kind        string // "locality" or "zone-aware"
	fix         *field.Path
	order       int
	unprotected []string // scopes without outlier detection
	inherited   []string // outlier detection paths lost to port-level replacement
}

type evaluation struct {
	byField  map[string]*failoverField
	warnings []Warning
	warned   map[string]bool
}

func (e *evaluation) warn(path *field.Path, format string, args ...any) {
	key := path.String()
	msg := fmt.Sprintf(format, args...)
	if e.warned == nil {
		e.warned = map[string]bool{}
	}
	if e.warned[key+"\x00"+msg] {
		return
	}
	e.warned[key+"\x00"+msg] = true
	e.warnings = append(e.warnings, Warning{Field: key, Message: msg})
}

func (e *evaluation) evaluateScope(s scope, eff effective) {
	declared := failoverDeclarations(eff.loadBalancer)
	if len(declared) == 0 {
		return
	}
	for _, d := range declared {
		if d.disabled {
			e.warn(d.enabledPath, "%s load balancing is disabled here, so %s has no effect; remove it, or set enabled to true for failover to happen", d.kind, d.name)
			continue
		}
		f := e.byField[d.path.String()]
		if f == nil {
			f = &failoverField{path: d.path, kind: d.kind, fix: eff.loadBalancer.policy.Child("outlierDetection"), order: len(e.byField)}
			e.byField[d.path.String()] = f
		}
		if eff.outlierDetection.value == nil {
			f.unprotected = append(f.unprotected, s.String())
			if eff.inheritedOutlier != nil && !slices.Contains(f.inherited, eff.inheritedOutlier.String()) {
				f.inherited = append(f.inherited, eff.inheritedOutlier.String())
			}
		} else if neverEjects(eff.outlierDetection.value) {
			e.warn(eff.outlierDetection.path, "this outlier detection can never eject an endpoint (consecutive5xxErrors is 0, consecutiveGatewayErrors is unset or 0, and splitExternalLocalOriginErrors is not true), so the failover of %s happens only when a locality has no endpoints at all; set consecutive5xxErrors to 1 or more", d.path)
		}
	}
}

// declaration is one failover setting found in a load balancer.
type declaration struct {
	path        *field.Path
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
		if hasFailover {
			out = append(out, declaration{path: path.Child("failover"), name: "failover", kind: kind, disabled: disabled, enabledPath: path.Child("enabled")})
		}
		if hasPriority {
			out = append(out, declaration{path: path.Child("failoverPriority"), name: "failoverPriority", kind: kind, disabled: disabled, enabledPath: path.Child("enabled")})
		}
	}
	if l := lb.value.GetLocalityLbSetting(); l != nil {
		add("locality", lb.path.Child("localityLbSetting"), l.GetEnabled(), l.GetEnabled() == nil, len(l.GetFailover()) > 0, len(l.GetFailoverPriority()) > 0)
	}
	if z := lb.value.GetZoneAwareLbSetting(); z != nil {
		add("zone-aware", lb.path.Child("zoneAwareLbSetting"), z.GetEnabled(), z.GetEnabled() == nil, len(z.GetFailover()) > 0, len(z.GetFailoverPriority()) > 0)
	}
	return out
}

// neverEjects reports outlier detection that is present but configured so
// Envoy can never eject a host: Istio maps a zero threshold to enforcement 0.
func neverEjects(od *networking.OutlierDetection) bool {
	return od.GetConsecutive_5XxErrors() != nil && od.GetConsecutive_5XxErrors().GetValue() == 0 &&
		od.GetConsecutiveGatewayErrors().GetValue() == 0 &&
		!od.GetSplitExternalLocalOriginErrors()
}

// warnDroppedFailover warns about port-level entries that silently turn off
// a failover set on the policy they belong to or inherit from.
func (e *evaluation) warnDroppedFailover(spec *networking.DestinationRule, specPath *field.Path) {
	check := func(p *networking.TrafficPolicy, path *field.Path, inherited setting[networking.LoadBalancerSettings]) {
		base := inherited
		if p.GetLoadBalancer() != nil {
			base = at(p.GetLoadBalancer(), path, "loadBalancer")
		}
		if !hasActiveFailover(base) {
			return
		}
		seen := map[uint32]bool{}
		for i, pls := range p.GetPortLevelSettings() {
			n := pls.GetPort().GetNumber()
			if pls.GetPort() == nil || seen[n] {
				continue // Istio uses the first entry for a port
			}
			seen[n] = true
			if hasActiveFailover(at(pls.GetLoadBalancer(), path, "loadBalancer")) {
				continue
			}
			e.warn(path.Child("portLevelSettings").Index(i), "port %d does not inherit the failover of %s: a port-level entry replaces loadBalancer, outlierDetection, connectionPool and tls as a whole, so locality failover is off for port %d; repeat the loadBalancer and outlierDetection in this entry if failover should apply", n, base.path, n)
		}
	}
	top := spec.GetTrafficPolicy()
	topPath := specPath.Child("trafficPolicy")
	check(top, topPath, setting[networking.LoadBalancerSettings]{})
	topLB := at(top.GetLoadBalancer(), topPath, "loadBalancer")
	for i, s := range spec.GetSubsets() {
		check(s.GetTrafficPolicy(), specPath.Child("subsets").Index(i).Child("trafficPolicy"), topLB)
	}
}

func hasActiveFailover(lb setting[networking.LoadBalancerSettings]) bool {
	for _, d := range failoverDeclarations(lb) {
		if !d.disabled {
			return true
		}
	}
	return false
}

func (e *evaluation) findings() Findings {
	fields := make([]*failoverField, 0, len(e.byField))
	for _, f := range e.byField {
		fields = append(fields, f)
	}
	slices.SortFunc(fields, func(a, b *failoverField) int { return a.order - b.order })
	var out Findings
	for _, f := range fields {
		if len(f.unprotected) == 0 {
			continue
		}
		reason := ""
		if len(f.inherited) > 0 {
			reason = fmt.Sprintf(" (port-level settings do not inherit %s)", strings.Join(f.inherited, ", "))
		}
		msg := fmt.Sprintf("%s failover needs outlierDetection, and none applies to %s%s; add outlierDetection next to it (%s), e.g. %s",
			f.kind, strings.Join(f.unprotected, ", "), reason, f.fix, ExampleOutlierDetection)
		out.Violations = append(out.Violations, field.Forbidden(f.path, msg))
	}
	out.Warnings = e.warnings
	return out
}
