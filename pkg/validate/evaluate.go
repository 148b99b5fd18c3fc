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

// Bounds on the work and the output of Evaluate. Istio builds one cluster
// per (subset, port) pair, so the number of scopes is the product of the
// subsets and the named ports, and a DestinationRule that fits in an API
// request (3 MiB) could name tens of thousands of each. These constants keep
// the cost of one evaluation linear in the size of the spec plus at most
// MaxScopes cheap scope checks, and keep every message short enough for an
// admission response, a warning header and an audit annotation.
const (
	// MaxScopes is the largest number of (subset, port) scopes evaluated:
	// (subsets + 1 for traffic without a subset) × (named ports + 1 for any
	// other port). A spec over it that declares active failover gets one
	// violation asking to split it; a spec without failover is never
	// evaluated per scope, whatever its size.
	MaxScopes = 100_000
	// MaxListedScopes is how many unprotected scopes one violation names;
	// the rest are counted.
	MaxListedScopes = 20
	// MaxReported is how many violations, and how many warnings, Findings
	// holds; the rest are summarised in one more entry.
	MaxReported = 20
)

// Evaluate checks spec, the spec of a DestinationRule in any of the
// networking.istio.io versions (they share one schema), with specPath the
// path of the spec in the object ("spec" for a DestinationRule). Its time
// and memory are linear in the size of spec, plus at most MaxScopes scope
// checks.
func Evaluate(spec *networking.DestinationRule, specPath *field.Path) Findings {
	e := evaluation{byField: map[string]*failoverField{}}
	top := newPolicyLevels(spec.GetTrafficPolicy(), specPath.Child("trafficPolicy"))
	subsets := spec.GetSubsets()
	subs := make([]policyLevels, len(subsets))
	for i, s := range subsets {
		subs[i] = newPolicyLevels(s.GetTrafficPolicy(), specPath.Child("subsets").Index(i).Child("trafficPolicy"))
	}
	ports := portsNamed(spec)

	scopes := (len(subsets) + 1) * len(ports)
	switch active, declared := declaresFailover(top, subs); {
	case !declared:
		// Nothing can violate or warn per scope.
	case scopes > MaxScopes:
		e.warnDisabled(top, subs)
		if active {
			e.tooManyScopes(specPath, len(subsets), len(ports), scopes)
		}
	default:
		for i := -1; i < len(subsets); i++ {
			var subset *networking.Subset
			sub := &policyLevels{} // traffic without a subset: nothing overrides the top level
			if i >= 0 {
				subset, sub = subsets[i], &subs[i]
			}
			anyPort := resolve(&top, sub, portAny)
			for _, port := range ports {
				eff := anyPort
				if port != portAny {
					eff = resolve(&top, sub, port)
					if eff.outlierDetection.value == nil && anyPort.outlierDetection.value != nil {
						// What would apply without port-level replacement,
						// to explain why the port lost its outlier detection.
						eff.inheritedOutlier = anyPort.outlierDetection.key
					}
				}
				e.evaluateScope(scope{subset: subset, port: port, anyPort: len(ports) == 1}, eff)
			}
		}
	}
	e.warnDroppedFailover(spec, specPath)
	return e.findings(specPath)
}

// portAny stands for every port not named in any portLevelSettings entry.
const portAny uint32 = 0

// portsNamed returns every port number some portLevelSettings entry names,
// in order of first appearance, followed by portAny.
func portsNamed(spec *networking.DestinationRule) []uint32 {
	var ports []uint32
	var seen map[uint32]bool
	add := func(p *networking.TrafficPolicy) {
		for _, pls := range p.GetPortLevelSettings() {
			if n := pls.GetPort().GetNumber(); n != portAny && !seen[n] {
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
	return append(ports, portAny)
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
		if pls.GetPort() == nil || n == portAny || out.byPort[n] != nil {
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
	path  *field.Path
	kind  string // "locality" or "zone-aware"
	fix   *field.Path
	order int
	// unprotected counts the scopes without outlier detection; listed
	// names the first MaxListedScopes of them.
	unprotected int
	listed      []string
	inherited   []string // outlier detection paths lost to port-level replacement
	// message replaces the usual one for a finding about the whole spec.
	message string
}

type evaluation struct {
	byField  map[string]*failoverField
	warnings []Warning
	// warned holds a key per warning given, so each is given once however
	// many scopes lead to it.
	warned map[string]bool
}

func (e *evaluation) warn(path *field.Path, format string, args ...any) {
	e.warnOnce(path.String()+"\x00"+format, path, format, args...)
}

// warnOnce warns unless a warning with key was given already; key must
// determine the message, so that nothing is formatted for repeats.
func (e *evaluation) warnOnce(key string, path *field.Path, format string, args ...any) {
	if e.warned[key] {
		return
	}
	if e.warned == nil {
		e.warned = map[string]bool{}
	}
	e.warned[key] = true
	e.warnings = append(e.warnings, Warning{Field: path.String(), Message: fmt.Sprintf(format, args...)})
}

func (e *evaluation) evaluateScope(s scope, eff effective) {
	for _, d := range eff.loadBalancer.declared {
		if d.disabled {
			e.warnDisabledDeclaration(d)
			continue
		}
		f := e.byField[d.key]
		if f == nil {
			f = &failoverField{path: d.path, kind: d.kind, fix: eff.loadBalancer.policy.Child("outlierDetection"), order: len(e.byField)}
			e.byField[d.key] = f
		}
		od := eff.outlierDetection
		if od.value == nil {
			f.unprotected++
			if len(f.listed) < MaxListedScopes {
				f.listed = append(f.listed, s.String())
			}
			if eff.inheritedOutlier != "" && !slices.Contains(f.inherited, eff.inheritedOutlier) {
				f.inherited = append(f.inherited, eff.inheritedOutlier)
			}
		} else if neverEjects(od.value) {
			e.warnOnce(od.key+"\x00"+d.key, od.path, "this outlier detection can never eject an endpoint (consecutive5xxErrors is 0, consecutiveGatewayErrors is unset or 0, and splitExternalLocalOriginErrors is not true), so the failover of %s happens only when a locality has no endpoints at all; set consecutive5xxErrors to 1 or more", d.path)
		}
	}
}

func (e *evaluation) warnDisabledDeclaration(d declaration) {
	e.warnOnce(d.key+"\x00disabled", d.enabledPath, "%s load balancing is disabled here, so %s has no effect; remove it, or set enabled to true for failover to happen", d.kind, d.name)
}

// warnDisabled warns about every disabled failover declaration without
// walking the scopes: each declared load balancer applies in at least one
// scope (its own subset, or no subset, on its own port or any other port).
func (e *evaluation) warnDisabled(top policyLevels, subs []policyLevels) {
	eachDeclaration(top, subs, func(d declaration) {
		if d.disabled {
			e.warnDisabledDeclaration(d)
		}
	})
}

// tooManyScopes reports a spec with failover whose scopes are over
// MaxScopes: it is not evaluated, so it cannot be shown to be safe.
func (e *evaluation) tooManyScopes(specPath *field.Path, subsets, ports, scopes int) {
	e.byField[specPath.String()] = &failoverField{
		path: specPath,
		message: fmt.Sprintf("this DestinationRule sets failover and has %d subsets (counting traffic without a subset) × %d ports (counting any other port) = %d subset/port combinations, "+
			"over the %d the webhook evaluates; split it into several DestinationRules, or name fewer ports in portLevelSettings", subsets+1, ports, scopes, MaxScopes),
		unprotected: 1,
	}
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

func (e *evaluation) findings(specPath *field.Path) Findings {
	fields := make([]*failoverField, 0, len(e.byField))
	for _, f := range e.byField {
		fields = append(fields, f)
	}
	slices.SortFunc(fields, func(a, b *failoverField) int { return a.order - b.order })
	var out Findings
	unreported := 0
	for _, f := range fields {
		if f.unprotected == 0 {
			continue
		}
		if len(out.Violations) == MaxReported {
			unreported++
			continue
		}
		out.Violations = append(out.Violations, field.Forbidden(f.path, f.String()))
	}
	if unreported > 0 {
		out.Violations = append(out.Violations, field.Forbidden(specPath,
			fmt.Sprintf("%d more failover settings need outlierDetection; fix the ones above and evaluate again", unreported)))
	}
	out.Warnings = e.warnings
	if n := len(out.Warnings) - MaxReported; n > 0 {
		out.Warnings = append(out.Warnings[:MaxReported:MaxReported], Warning{Field: specPath.String(), Message: fmt.Sprintf("%d more warnings not shown", n)})
	}
	return out
}

// String is the violation message: which scopes lack outlier detection,
// why, and where to add it.
func (f *failoverField) String() string {
	if f.message != "" {
		return f.message
	}
	reason := ""
	if len(f.inherited) > 0 {
		reason = fmt.Sprintf(" (port-level settings do not inherit %s)", strings.Join(f.inherited, ", "))
	}
	scopes := strings.Join(f.listed, ", ")
	if more := f.unprotected - len(f.listed); more > 0 {
		scopes += fmt.Sprintf(" and %d other subset/port combinations", more)
	}
	return fmt.Sprintf("%s failover needs outlierDetection, and none applies to %s%s; add outlierDetection next to it (%s), e.g. %s",
		f.kind, scopes, reason, f.fix, ExampleOutlierDetection)
}
