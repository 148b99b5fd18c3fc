package consolidate

import (
	"fmt"
	"slices"
	"strings"
)

// found is where Istio's lookup found the merged rules of a host.
type found struct {
	entries []*entry
	// namespace holds the rules; host is the key that matched.
	namespace, host string
}

// ForWaypoint returns what a waypoint in namespace proxyNamespace uses for
// the Service host (FQDN) in serviceNamespace, with the labels of no
// particular waypoint's pods: its endpoints read what its clusters read
// unless a selector rule names gateway.istio.io/managed alone.
func (x *Index) ForWaypoint(proxyNamespace, serviceNamespace, host string) Result {
	return x.ForWaypointPods(proxyNamespace, WaypointPodLabels(""), serviceNamespace, host)
}

// ForWaypointPods is ForWaypoint for a waypoint whose pods carry labels
// (WaypointPodLabels of its name): Result.Endpoints is the merged rule of
// the first selector rule of proxyNamespace that selects them, if any.
func (x *Index) ForWaypointPods(proxyNamespace string, labels map[string]string, serviceNamespace, host string) Result {
	f := x.lookup(proxyNamespace, serviceNamespace, host)
	chosen := waypointEntry(f.entries)
	var res Result
	if chosen != nil {
		res = Result{Spec: chosen.spec, From: chosen.from, PolicyFrom: chosen.policyFrom}
		res.Ignored = append(res.Ignored, chosen.dropped...)
	}
	res.Endpoints = View{Spec: res.Spec, From: res.From, PolicyFrom: res.PolicyFrom}
	endpoints := endpointEntry(f.entries, proxyNamespace, labels)
	if endpoints != nil && endpoints != chosen {
		res.Endpoints = View{Spec: endpoints.spec, From: endpoints.from, PolicyFrom: endpoints.policyFrom, Selected: true}
		for _, d := range endpoints.dropped {
			if d.Part == Subset || d.Part == TrafficPolicy {
				res.Ignored = append(res.Ignored, d)
			}
		}
	}
	for _, i := range x.candidates(host) {
		r := x.rules[i]
		if chosen != nil && contains(chosen.from, r) {
			continue
		}
		if res.Endpoints.Selected && contains(res.Endpoints.From, r) {
			// Not ignored: its load balancing reaches the waypoint's
			// endpoints, which mergedViolations judges.
			continue
		}
		ig := Ignored{Rule: r, Part: WholeRule, Reason: x.whyNotRead(r, x.resolved[i], proxyNamespace, serviceNamespace, f, chosen)}
		if chosen != nil {
			ig.Winner = chosen.from[0]
		}
		res.Ignored = append(res.Ignored, ig)
	}
	return res
}

// lookup is Istio's PushContext.destinationRule: the rules of the proxy's
// namespace (the root namespace's private ones for a proxy there), then
// those the Service's namespace exports to the proxy's, then those the
// root namespace exports to it; in each, the most specific host matching.
func (x *Index) lookup(proxyNamespace, serviceNamespace, host string) found {
	local := x.namespaceLocal[proxyNamespace]
	if proxyNamespace == x.mesh.RootNamespace {
		local = x.rootLocal
	}
	if local != nil {
		if h, entries, ok := mostSpecificHostMatch(host, local); ok {
			return found{entries: entries, namespace: proxyNamespace, host: h}
		}
	}
	for _, ns := range []string{serviceNamespace, x.mesh.RootNamespace} {
		if ns == "" {
			continue
		}
		if h, entries := x.exportedTo(ns, host, proxyNamespace); len(entries) > 0 {
			return found{entries: entries, namespace: ns, host: h}
		}
	}
	return found{}
}

// exportedTo is Istio's getExportedDestinationRuleFromNamespace: the
// merged rules of the most specific matching host that namespace owner
// exports, kept only when exported to client.
func (x *Index) exportedTo(owner, host, client string) (string, []*entry) {
	t := x.exported[owner]
	if t == nil {
		return "", nil
	}
	h, entries, ok := mostSpecificHostMatch(host, t)
	if !ok {
		return "", nil
	}
	var out []*entry
	for _, e := range entries {
		if len(e.exportTo) == 0 || has(e.exportTo, public) || has(e.exportTo, client) {
			out = append(out, e)
		}
	}
	return h, out
}

// waypointEntry is Istio's SidecarScope.DestinationRule for inbound
// traffic, which a waypoint asks: the last merged rule without a
// workloadSelector (selectors are honored for outbound traffic only).
func waypointEntry(entries []*entry) *entry {
	var catchAll *entry
	for _, e := range entries {
		if e.spec.GetWorkloadSelector() == nil {
			catchAll = e
		}
	}
	return catchAll
}

// endpointEntry is Istio's SidecarScope.DestinationRule for outbound
// traffic, which NewEndpointBuilder (pilot/pkg/xds/endpoints/
// endpoint_builder.go) asks for every cluster, a waypoint's inbound-vip
// clusters included: the first merged rule, in order, of the proxy's own
// namespace whose workloadSelector is a subset of the proxy's labels;
// nil when none is (the caller then has the catch-all rule, as Istio
// returns it).
func endpointEntry(entries []*entry, proxyNamespace string, labels map[string]string) *entry {
	for _, e := range entries {
		sel := e.spec.GetWorkloadSelector()
		if sel == nil || e.from[0].Namespace != proxyNamespace {
			continue
		}
		if subsetOf(sel.GetMatchLabels(), labels) {
			return e
		}
	}
	return nil
}

// subsetOf is labels.Instance.SubsetOf: every label of sel is in labels
// with the same value (an empty selector selects every workload).
func subsetOf(sel, labels map[string]string) bool {
	for k, v := range sel {
		if w, ok := labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// mostSpecificHostMatch is Istio's MostSpecificHostMatch for a host that is
// not a wildcard: the exact host, else the most specific wildcard whose
// suffix matches (host.MoreSpecific: longest, then alphabetical).
func mostSpecificHostMatch(needle string, t *table) (string, []*entry, bool) {
	if isWildcard(needle) {
		if v, ok := t.wildcard[needle]; ok {
			return needle, v, true
		}
		needle = needle[1:]
	} else if v, ok := t.specific[needle]; ok {
		return needle, v, true
	}
	var match string
	found := false
	for h := range t.wildcard {
		if strings.HasSuffix(needle, h[1:]) && (!found || moreSpecific(h, match)) {
			match, found = h, true
		}
	}
	return match, t.wildcard[match], found
}

// moreSpecific is host.MoreSpecific for two wildcards.
func moreSpecific(a, b string) bool {
	if len(a) == len(b) {
		return a < b
	}
	return len(a) > len(b)
}

// candidates returns the indexes of the rules whose host matches host,
// in Istio's order.
func (x *Index) candidates(host string) []int {
	out := slices.Clone(x.byHost[host])
	for _, i := range x.wildcards {
		if x.resolved[i] != host && hostMatches(host, x.resolved[i]) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// hostMatches reports whether a rule for host ruleHost could apply to
// needle: the same host, or a wildcard covering it.
func hostMatches(needle, ruleHost string) bool {
	if ruleHost == needle {
		return true
	}
	return isWildcard(ruleHost) && !isWildcard(needle) && strings.HasSuffix(needle, ruleHost[1:])
}

func contains(rules []Rule, r Rule) bool {
	for _, x := range rules {
		if x.Namespace == r.Namespace && x.Name == r.Name {
			return true
		}
	}
	return false
}

// whyNotRead says why a rule whose host matches is not read by the
// waypoint, following the steps of the lookup.
func (x *Index) whyNotRead(r Rule, host, proxyNS, serviceNS string, f found, chosen *entry) string {
	root := x.mesh.RootNamespace
	order := fmt.Sprintf("namespace %s, then %s, then the root namespace %s", proxyNS, serviceNS, root)
	if proxyNS == serviceNS {
		order = fmt.Sprintf("namespace %s, then the root namespace %s", proxyNS, root)
	}
	switch {
	case r.Spec.GetWorkloadSelector() != nil:
		return "it has a workloadSelector, and a waypoint reads only rules without one (SidecarScope.DestinationRule honors selectors for outbound traffic only)"
	case r.Namespace != proxyNS && r.Namespace != serviceNS && r.Namespace != root:
		return "a waypoint looks for the rules of a host in " + order + " only (PushContext.destinationRule)"
	case !x.visible(r, proxyNS):
		return fmt.Sprintf("its exportTo %v does not reach namespace %s, the waypoint's", r.Spec.GetExportTo(), proxyNS)
	case chosen == nil:
		if into := x.mergedInto(r); into != nil && into.spec.GetWorkloadSelector() != nil {
			return fmt.Sprintf("it is merged into %s, which has a workloadSelector, so the waypoint reads neither (mergeDestinationRule merges rules with equal exportTo even when only one has a selector)", into.from[0])
		} else if into != nil {
			return fmt.Sprintf("it is merged into %s, whose exportTo %v the merged rule keeps, and that does not reach namespace %s (mergeDestinationRule)", into.from[0], into.from[0].Spec.GetExportTo(), proxyNS)
		}
		return "no rule of its host is visible to namespace " + proxyNS
	case r.Namespace != f.namespace:
		return fmt.Sprintf("the waypoint reads the rules of namespace %s first (%s; PushContext.destinationRule)", f.namespace, order)
	case host != f.host:
		return fmt.Sprintf("host %s is more specific than %s (MostSpecificHostMatch)", f.host, host)
	}
	return "its exportTo differs from the rule the waypoint reads, so Istio keeps it apart, and the waypoint reads the last such rule without a workloadSelector (mergeDestinationRule, SidecarScope.DestinationRule)"
}

// visible reports whether a proxy in namespace ns can read r at all.
func (x *Index) visible(r Rule, ns string) bool {
	export := r.Spec.GetExportTo()
	if r.Namespace == ns {
		return len(export) == 0 || containsAny(export, private, public, ns)
	}
	if len(export) == 0 {
		return x.mesh.DefaultExportTo == nil || containsAny(x.mesh.DefaultExportTo, public)
	}
	return containsAny(export, public, ns)
}

func containsAny(values []string, want ...string) bool {
	for _, v := range values {
		for _, w := range want {
			if v == w {
				return true
			}
		}
	}
	return false
}

// mergedInto returns the merged rule of another, earlier rule that r was
// merged into; nil when r heads every merged rule it is part of.
func (x *Index) mergedInto(r Rule) *entry {
	tables := []*table{x.namespaceLocal[r.Namespace], x.exported[r.Namespace]}
	if r.Namespace == x.mesh.RootNamespace {
		tables = append(tables, x.rootLocal)
	}
	for _, t := range tables {
		if t == nil {
			continue
		}
		for _, byHost := range []map[string][]*entry{t.specific, t.wildcard} {
			for _, e := range byHost[x.mesh.Resolve(r.Spec.GetHost(), r.Namespace)] {
				if len(e.from) > 1 && contains(e.from[1:], r) {
					return e
				}
			}
		}
	}
	return nil
}
