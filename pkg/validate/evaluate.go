// Package validate holds the DestinationRule rule: locality failover must
// come with outlier detection, judged on the traffic policy Istio actually
// applies to each subset and port.
package validate

import (
	"fmt"
	"slices"

	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Evaluate checks spec, the spec of a DestinationRule in any of the
// networking.istio.io versions (they share one schema), with specPath the
// path of the spec in the object ("spec" for a DestinationRule). Its time
// and memory are linear in the size of spec, plus at most MaxScopes scope
// checks.
func Evaluate(spec *networking.DestinationRule, specPath *field.Path) Findings {
	return EvaluateFor(spec, specPath, Target{})
}

// EvaluateFor is Evaluate with what is known of where the rule applies:
// its namespace (for the exportTo warning) and the Service its host names,
// whose ports replace the conservative scopes (every port named in
// portLevelSettings, and any other port).
func EvaluateFor(spec *networking.DestinationRule, specPath *field.Path, t Target) Findings {
	e := evaluation{byField: map[string]*failoverField{}}
	top := newPolicyLevels(spec.GetTrafficPolicy(), specPath.Child("trafficPolicy"))
	subsets := spec.GetSubsets()
	subs := make([]policyLevels, len(subsets))
	for i, s := range subsets {
		subs[i] = newPolicyLevels(s.GetTrafficPolicy(), specPath.Child("subsets").Index(i).Child("trafficPolicy"))
	}
	ports := scopePorts(spec, t.Service)
	// A waypoint's cluster for traffic without a subset is named "http" or
	// "tcp", and its endpoints take their load balancing from a subset of
	// that name (EndpointBuilder.populateSubsetInfo and
	// getOutlierDetectionAndLoadBalancerSettings), while the cluster's
	// own outlier detection is the top level's (buildWaypointInboundVIP).
	bySubsetName := map[string]int{}
	for i, s := range subsets {
		if n := s.GetName(); (n == clusterHTTP || n == clusterTCP) && bySubsetName[n] == 0 {
			bySubsetName[n] = i + 1
		}
	}

	// A rule whose workloadSelector selects a waypoint's pods reaches that
	// waypoint only through its endpoints: the waypoint builds its
	// clusters, and their outlier detection, from the rule without a
	// selector (buildWaypointInboundVIP reads SidecarScope.DestinationRule
	// for inbound traffic, which ignores selector rules), while its
	// endpoints take their load balancing, and failover priorities, from
	// the selector rule that matches it (NewEndpointBuilder reads it for
	// outbound traffic, which honours the selector). So only the clusters
	// without a subset exist, and none has this rule's outlier detection.
	forWaypoint := SelectsWaypoint(spec.GetWorkloadSelector(), t.Namespace, t.Waypoint)

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
			if i >= 0 && forWaypoint {
				break // the waypoint builds no cluster for this rule's subsets
			}
			var subset *networking.Subset
			sub := &policyLevels{} // traffic without a subset: nothing overrides the top level
			if i >= 0 {
				subset, sub = subsets[i], &subs[i]
			}
			anyPort := resolve(&top, sub, AnyPort)
			for _, port := range ports {
				eff := resolvePort(&top, sub, port.Number, anyPort)
				if forWaypoint {
					eff.outlierDetection, eff.inheritedOutlier = setting[networking.OutlierDetection]{}, ""
				}
				s := scope{subset: subset, port: port.Number, anyPort: t.Service == nil && len(ports) == 1}
				if i >= 0 {
					e.evaluateScope(s, eff)
					continue
				}
				own := false
				for _, kind := range port.clusters() {
					j := bySubsetName[kind]
					if j == 0 {
						own = true
						continue
					}
					lb := resolvePort(&top, &subs[j-1], port.Number, resolve(&top, &subs[j-1], AnyPort))
					lb.outlierDetection, lb.inheritedOutlier = eff.outlierDetection, eff.inheritedOutlier
					s.viaSubset = kind
					e.evaluateScope(s, lb)
				}
				if own {
					s.viaSubset = ""
					e.evaluateScope(s, eff)
				}
			}
		}
	}
	e.warnDroppedFailover(spec, specPath)
	e.warnObjectAlone(spec, specPath, t.Namespace)
	out := e.findings(specPath)
	if forWaypoint {
		for i := range out.Violations {
			out.Violations[i].Message += " (the workloadSelector selects a waypoint's pods: the waypoint takes its endpoint priorities from this rule but builds its clusters, and their outlier detection, only from a rule without a workloadSelector; put failover and outlier detection there)"
		}
	}
	if t.Service == nil && t.ServiceKey.Name != "" {
		// The scopes were the conservative ones; say so where it matters.
		why := "was not found"
		if t.ServiceUnread {
			why = "could not be read"
		}
		for i := range out.Violations {
			out.Violations[i].Message += fmt.Sprintf(" (Service %s %s, so every port named in portLevelSettings and any other port count)", t.ServiceKey.Name, why)
		}
	}
	return out
}

type evaluation struct {
	byField  map[string]*failoverField
	warnings []verdict.Entry
	// warned holds a key per warning given, so each is given once however
	// many scopes lead to it.
	warned map[string]bool
}

func (e *evaluation) warn(rule rules.ID, path *field.Path, format string, args ...any) {
	e.warnOnce(path.String()+"\x00"+format, rule, path, format, args...)
}

// warnOnce warns unless a warning with key was given already; key must
// determine the message, so that nothing is formatted for repeats.
func (e *evaluation) warnOnce(key string, rule rules.ID, path *field.Path, format string, args ...any) {
	if e.warned[key] {
		return
	}
	if e.warned == nil {
		e.warned = map[string]bool{}
	}
	e.warned[key] = true
	e.warnings = append(e.warnings, verdict.New(rule, verdict.Advice, path, format, args...))
}

func (e *evaluation) evaluateScope(s scope, eff effective) {
	for _, d := range eff.loadBalancer.declared {
		if d.disabled {
			e.warnDisabledDeclaration(d)
			continue
		}
		f := e.byField[d.key]
		if f == nil {
			f = &failoverField{rule: rules.FailoverWithoutOutlierDetection, path: d.path, kind: d.kind, fix: eff.loadBalancer.policy.Child("outlierDetection"), order: len(e.byField)}
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
			e.warnOnce(od.key+"\x00"+d.key, rules.OutlierDetectionNeverEjects, od.path, "this outlier detection can never eject an endpoint (consecutive5xxErrors is 0, consecutiveGatewayErrors is unset or 0, and splitExternalLocalOriginErrors is not true), so the failover of %s happens only when a locality has no endpoints at all; set consecutive5xxErrors to 1 or more", d.path)
		}
	}
}

func (e *evaluation) warnDisabledDeclaration(d declaration) {
	e.warnOnce(d.key+"\x00disabled", rules.FailoverDisabled, d.enabledPath, "%s load balancing is disabled here, so %s has no effect; remove it, or set enabled to true for failover to happen", d.kind, d.name)
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
		rule: rules.TooManyScopes,
		path: specPath,
		message: fmt.Sprintf("this DestinationRule sets failover and has %d subsets (counting traffic without a subset) × %d ports (counting any other port) = %d subset/port combinations, "+
			"over the %d the webhook evaluates; split it into several DestinationRules, or name fewer ports in portLevelSettings", subsets+1, ports, scopes, MaxScopes),
		unprotected: 1,
	}
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
			e.warn(rules.PortEntryDropsFailover, path.Child("portLevelSettings").Index(i), "port %d does not inherit the failover of %s: a port-level entry replaces loadBalancer, outlierDetection, connectionPool and tls as a whole, so locality failover is off for port %d; repeat the loadBalancer and outlierDetection in this entry if failover should apply", n, base.path, n)
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
