package consolidate

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// exportTo values with a meaning of their own (pkg/config/visibility).
const (
	private = "."
	public  = "*"
)

// Index holds every DestinationRule of a cluster merged per namespace and
// host, as Istio's PushContext holds them; build it once and ask it for
// many hosts.
type Index struct {
	mesh Mesh
	// rules are every rule in Istio's order, with their resolved hosts.
	rules    []Rule
	resolved []string
	// byHost and wildcards find the rules whose host may match one:
	// indexes into rules, by resolved host, and those of wildcard hosts.
	byHost    map[string][]int
	wildcards []int
	// namespaceLocal, exported and rootLocal are Istio's
	// destinationRuleIndex: the rules a proxy of a namespace reads first,
	// the rules each namespace exports, and the root namespace's private
	// rules.
	namespaceLocal map[string]*table
	exported       map[string]*table
	rootLocal      *table
}

// table is Istio's consolidatedDestRules: merged rules by host.
type table struct {
	specific map[string][]*entry
	wildcard map[string][]*entry
}

func newTable() *table {
	return &table{specific: map[string][]*entry{}, wildcard: map[string][]*entry{}}
}

// entry is Istio's ConsolidatedDestRule, with what the merge dropped.
type entry struct {
	exportTo map[string]struct{}
	// spec is this entry's own merged spec: a new struct whose subsets
	// slice is its own, so merging never touches a stored Spec.
	spec       *networking.DestinationRule
	from       []Rule
	policyFrom Rule
	subsetFrom map[string]Rule
	dropped    []Ignored
}

// Index sorts and merges rules as Istio's setDestinationRules does.
func (m Mesh) Index(rules []Rule) *Index {
	x := &Index{
		mesh:           m,
		rules:          sorted(rules),
		byHost:         map[string][]int{},
		namespaceLocal: map[string]*table{},
		exported:       map[string]*table{},
		rootLocal:      newTable(),
	}
	x.resolved = make([]string, len(x.rules))
	defaultPrivate := m.DefaultExportTo != nil && slices.Contains(m.DefaultExportTo, private)
	for i, r := range x.rules {
		ns := r.Namespace
		host := m.Resolve(r.Spec.GetHost(), ns)
		x.resolved[i] = host
		x.byHost[host] = append(x.byHost[host], i)
		if isWildcard(host) {
			x.wildcards = append(x.wildcards, i)
		}
		// Rules with a workloadSelector are never exported.
		exportTo := map[string]struct{}{private: {}}
		if r.Spec.GetWorkloadSelector() == nil {
			exportTo = make(map[string]struct{}, len(r.Spec.GetExportTo()))
			for _, e := range r.Spec.GetExportTo() {
				exportTo[e] = struct{}{}
			}
		}
		if has(exportTo, public) || has(exportTo, private) || has(exportTo, ns) || len(exportTo) == 0 {
			if x.namespaceLocal[ns] == nil {
				x.namespaceLocal[ns] = newTable()
			}
			x.namespaceLocal[ns].merge(r, host, exportTo)
		}
		privateOnly := (len(exportTo) == 0 && defaultPrivate) ||
			(len(exportTo) == 1 && (has(exportTo, private) || has(exportTo, ns)))
		switch {
		case !privateOnly:
			if x.exported[ns] == nil {
				x.exported[ns] = newTable()
			}
			x.exported[ns].merge(r, host, exportTo)
		case ns == m.RootNamespace:
			x.rootLocal.merge(r, host, exportTo)
		}
	}
	return x
}

// sorted returns rules in Istio's order (sortConfigBySelectorAndCreationTime):
// rules with a workloadSelector first, then by creation time, name and
// namespace.
func sorted(rules []Rule) []Rule {
	out := slices.Clone(rules)
	slices.SortFunc(out, func(a, b Rule) int {
		as, bs := a.Spec.GetWorkloadSelector() != nil, b.Spec.GetWorkloadSelector() != nil
		switch {
		case as && !bs:
			return -1
		case !as && bs:
			return 1
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	return out
}

// Resolve completes a rule's host as Istio's ResolveShortnameToFQDN does:
// a name without a dot is a Service of the rule's namespace; "*", an IP
// address and any name with a dot stay as written.
func (m Mesh) Resolve(host, namespace string) string {
	if host == "" || host == public || strings.Contains(host, ".") {
		return host
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	out := host
	if namespace != "" {
		out += "." + namespace
	}
	if m.Domain != "" {
		out += ".svc." + m.Domain
	}
	return out
}

// merge is Istio's mergeDestinationRule for user-authored rules.
func (t *table) merge(r Rule, host string, exportTo map[string]struct{}) {
	byHost := t.specific
	if isWildcard(host) {
		byHost = t.wildcard
	}
	list, exists := byHost[host]
	if !exists {
		byHost[host] = []*entry{newEntry(r, host, exportTo)}
		return
	}
	// Whether the rule also becomes an entry of its own.
	appendSeparately := true
	for _, e := range list {
		switch {
		case maps.Equal(exportTo, e.exportTo):
			appendSeparately = false
		case len(e.exportTo) > 0 && supersetOf(exportTo, e.exportTo):
			// Istio means "merge, and keep an entry of its own too",
			// but the selector check below resets this for two rules
			// without selector, as in Istio.
			appendSeparately = true
		default:
			appendSeparately = true
			continue
		}
		existing, incoming := e.spec.GetWorkloadSelector(), r.Spec.GetWorkloadSelector()
		bothWithout := existing == nil && incoming == nil
		bothWith := existing != nil && incoming != nil
		selectorsMatch := maps.Equal(existing.GetMatchLabels(), incoming.GetMatchLabels())
		if bothWith && !selectorsMatch {
			appendSeparately = true
			continue
		}
		if bothWithout || (bothWith && selectorsMatch) {
			appendSeparately = false
		}
		// Istio merges here even when only one of the two has a
		// workloadSelector (and the exportTo are equal).
		e.add(r)
	}
	if appendSeparately {
		byHost[host] = append(byHost[host], newEntry(r, host, exportTo))
	}
}

func newEntry(r Rule, host string, exportTo map[string]struct{}) *entry {
	s := r.Spec
	e := &entry{
		exportTo: exportTo,
		spec: &networking.DestinationRule{
			Host:             host,
			TrafficPolicy:    s.GetTrafficPolicy(),
			Subsets:          slices.Clone(s.GetSubsets()),
			ExportTo:         s.GetExportTo(),
			WorkloadSelector: s.GetWorkloadSelector(),
		},
		from: []Rule{r},
	}
	if s.GetTrafficPolicy() != nil {
		e.policyFrom = r
	}
	for _, sub := range s.GetSubsets() {
		if _, seen := e.subsetFrom[sub.GetName()]; !seen {
			e.setSubsetFrom(sub.GetName(), r)
		}
	}
	return e
}

// add merges r into e: subsets of new names are appended, and r's
// top-level trafficPolicy is taken only when e has none yet.
func (e *entry) add(r Rule) {
	e.from = append(e.from, r)
	for _, sub := range r.Spec.GetSubsets() {
		if winner, dup := e.subsetFrom[sub.GetName()]; dup {
			e.dropped = append(e.dropped, Ignored{
				Rule: r, Part: Subset, SubsetName: sub.GetName(), Winner: winner,
				Reason: "a subset of this name comes first in the merge (mergeDestinationRule keeps the first subset of a name)",
			})
			continue
		}
		e.spec.Subsets = append(e.spec.Subsets, sub)
		e.setSubsetFrom(sub.GetName(), r)
	}
	switch {
	case r.Spec.GetTrafficPolicy() == nil:
	case e.spec.TrafficPolicy == nil:
		e.spec.TrafficPolicy = r.Spec.GetTrafficPolicy()
		e.policyFrom = r
	default:
		e.dropped = append(e.dropped, Ignored{
			Rule: r, Part: TrafficPolicy, Winner: e.policyFrom,
			Reason: "the top-level trafficPolicy of the first rule in Istio's order (workloadSelector first, then creation time, then name) wins (mergeDestinationRule)",
		})
	}
}

// setSubsetFrom records the rule a subset name comes from; the map is made
// on first use, as most rules have no subsets.
func (e *entry) setSubsetFrom(name string, r Rule) {
	if e.subsetFrom == nil {
		e.subsetFrom = map[string]Rule{}
	}
	e.subsetFrom[name] = r
}

func has(set map[string]struct{}, v string) bool {
	_, ok := set[v]
	return ok
}

// supersetOf is sets.Set.SupersetOf.
func supersetOf(s, of map[string]struct{}) bool {
	if len(of) > len(s) {
		return false
	}
	for k := range of {
		if !has(s, k) {
			return false
		}
	}
	return true
}

func isWildcard(host string) bool { return strings.HasPrefix(host, "*") }
