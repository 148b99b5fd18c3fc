package drift

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// ruleIn is one cluster's copy of a DestinationRule.
type ruleIn struct {
	cluster int
	rule    *DestinationRule
}

// destinationRules reports hosts whose DestinationRules declare a
// failover policy in some cluster and differ, or are missing, in another.
// For the host of a Kubernetes Service it compares what the Service's
// waypoint applies in each cluster: the DestinationRules of the host merged
// as Istio merges them (pkg/consolidate), whatever their names and however
// many there are. Other hosts (wildcards, ServiceEntry hosts), whose
// readers the comparison does not know, are compared rule by rule.
func (c *comparison) destinationRules() {
	byHost := map[string][]ruleIn{}
	relevant := map[string]bool{}
	for i, s := range c.snaps {
		for n := range s.DestinationRules {
			dr := &s.DestinationRules[n]
			if c.excluded(dr.Namespace) {
				continue
			}
			byHost[dr.Host] = append(byHost[dr.Host], ruleIn{i, dr})
			relevant[dr.Host] = relevant[dr.Host] || dr.Failover
		}
	}
	for _, host := range slices.Sorted(maps.Keys(byHost)) {
		if !relevant[host] {
			continue
		}
		if svc, ok := validate.ServiceOf(host, ""); ok {
			c.mergedHost(host, svc)
			continue
		}
		rules := byHost[host]
		perCluster := make([][]*DestinationRule, len(c.snaps))
		for _, r := range rules {
			perCluster[r.cluster] = append(perCluster[r.cluster], r.rule)
		}
		single := true
		for _, drs := range perCluster {
			single = single && len(drs) <= 1
		}
		if single {
			// One DestinationRule per cluster: compare them whatever their
			// names.
			c.compareRules(host, rules, nil)
			continue
		}
		// Several in a cluster: pair them by namespace and name.
		byName := map[types.NamespacedName][]ruleIn{}
		for _, r := range rules {
			key := types.NamespacedName{Namespace: r.rule.Namespace, Name: r.rule.Name}
			byName[key] = append(byName[key], r)
		}
		for _, key := range slices.SortedFunc(maps.Keys(byName), compareNames) {
			c.compareRules(host, byName[key], perCluster)
		}
	}
}

func ruleName(dr *DestinationRule) string { return dr.Namespace + "/" + dr.Name }

// index returns the DestinationRules of cluster i merged as Istio merges
// them, built on first use. Rules of every namespace take part, those the
// comparison excludes too: Istio merges them all.
func (c *comparison) index(i int) *consolidate.Index {
	if c.indexes == nil {
		c.indexes = make([]*consolidate.Index, len(c.snaps))
	}
	if c.indexes[i] == nil {
		drs := c.snaps[i].DestinationRules
		rs := make([]consolidate.Rule, 0, len(drs))
		for _, dr := range drs {
			if dr.Spec != nil {
				rs = append(rs, consolidate.Rule{Namespace: dr.Namespace, Name: dr.Name, Created: dr.Created, Spec: dr.Spec})
			}
		}
		c.indexes[i] = consolidate.DefaultMesh.Index(rs)
	}
	return c.indexes[i]
}

// mergedHost compares, between the clusters, what the waypoint of Service
// svc applies to its host: the merged DestinationRule, or none.
func (c *comparison) mergedHost(host string, svc types.NamespacedName) {
	results := make([]consolidate.Result, len(c.snaps))
	var present, missing []int
	for i, s := range c.snaps {
		proxyNS := svc.Namespace
		if w, ok := EffectiveWaypoint(svc, s.Services[svc], s.Namespaces[svc.Namespace]); ok {
			proxyNS = w.Namespace
		}
		results[i] = c.index(i).ForWaypoint(proxyNS, svc.Namespace, host)
		if results[i].Spec != nil {
			present = append(present, i)
		} else {
			missing = append(missing, i)
		}
	}
	if len(present) == 0 {
		// No waypoint applies any: the same everywhere.
		return
	}
	head := results[present[0]].From[0]
	finding := policy.Finding{Kind: policy.DestinationRuleKind, Namespace: head.Namespace, Name: head.Name}
	applied := func(i int) string { return ruleNames(results[i].From) }
	if len(missing) > 0 {
		f := finding
		f.Field = "spec.host"
		var unread []string
		for _, i := range missing {
			for _, ig := range results[i].Ignored {
				unread = append(unread, fmt.Sprintf("%s in %s, because %s", ig.Rule, c.snaps[i].Cluster, ig.Reason))
			}
		}
		there := ""
		if len(unread) > 0 {
			there = " (DestinationRules the waypoint does not read name the host there: " + strings.Join(unread, "; ") + ")"
		}
		what := "the DestinationRule " + applied(present[0])
		if differs(present, applied) || len(results[present[0]].From) > 1 {
			what = "DestinationRules (" + c.describe(present, applied) + ")"
		}
		if there == "" {
			f.Message = fmt.Sprintf("%s for host %s exists in %s but not in %s", what, host, c.list(present), c.list(missing))
		} else {
			f.Message = fmt.Sprintf("for host %s, the waypoint applies %s in %s but none in %s%s", host, what, c.list(present), c.list(missing), there)
		}
		f.Message += ": the waypoints there apply Istio's default failover and outlier detection to the host; apply the same DestinationRules in every cluster"
		c.add(rules.RuleMissingInCluster, f, allIndexes(len(c.snaps)))
	}
	if len(present) < 2 {
		return
	}
	ruleOf := map[int]*DestinationRule{}
	for _, i := range present {
		r := results[i]
		merged := &DestinationRule{Namespace: r.From[0].Namespace, Name: r.From[0].Name, Spec: r.Spec, Failover: true}
		for _, sub := range r.Spec.GetSubsets() {
			merged.Subsets = append(merged.Subsets, sub.GetName())
		}
		ruleOf[i] = merged
	}
	note := ""
	if differs(present, applied) {
		note = " (the waypoints merge " + c.describe(present, applied) + ")"
	}
	c.compareEffective(finding, host+note, present, ruleOf)
}

func ruleNames(rs []consolidate.Rule) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, " merged with ")
}

// compareRules compares the copies of one DestinationRule for host, as
// rules holds them (at most one per cluster). others, when set, are all
// the DestinationRules of each cluster for the host, to name in the
// message where this one is missing.
func (c *comparison) compareRules(host string, found []ruleIn, others [][]*DestinationRule) {
	first := found[0].rule
	finding := policy.Finding{Kind: policy.DestinationRuleKind, Namespace: first.Namespace, Name: first.Name}
	var present, missing []int
	ruleOf := map[int]*DestinationRule{}
	for _, r := range found {
		ruleOf[r.cluster] = r.rule
	}
	for i := range c.snaps {
		if ruleOf[i] != nil {
			present = append(present, i)
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		f := finding
		f.Field = "spec.host"
		elsewhere := ""
		if others != nil {
			var names []string
			for _, i := range missing {
				for _, dr := range others[i] {
					names = append(names, fmt.Sprintf("%s in %s", ruleName(dr), c.snaps[i].Cluster))
				}
			}
			if len(names) > 0 {
				elsewhere = " (other DestinationRules name the host there: " + strings.Join(names, ", ") + ")"
			}
		}
		sameName := !differs(present, func(i int) string { return ruleName(ruleOf[i]) })
		if sameName {
			f.Message = fmt.Sprintf("the DestinationRule %s for host %s exists in %s but not in %s%s",
				ruleName(first), host, c.list(present), c.list(missing), elsewhere)
		} else {
			f.Message = fmt.Sprintf("the DestinationRule for host %s exists in %s (%s) but not in %s%s",
				host, c.list(present), c.describe(present, func(i int) string { return ruleName(ruleOf[i]) }), c.list(missing), elsewhere)
		}
		f.Message += ": the waypoints there apply another, or Istio's default, failover and outlier detection to the host; apply the same DestinationRule in every cluster"
		c.add(rules.RuleMissingInCluster, f, allIndexes(len(c.snaps)))
	}
	if len(present) < 2 {
		return
	}
	c.compareEffective(finding, host, present, ruleOf)
}

// aspect is one part of the effective policy compared scope by scope.
type aspect struct {
	name string
	// value returns the aspect's effective value and where it is declared.
	value func(validate.Effective) (proto.Message, string)
	// why says what the difference does to failover.
	why string
}

var aspects = []aspect{
	{
		name: "localityLbSetting",
		value: func(e validate.Effective) (proto.Message, string) {
			return nilIfEmpty(e.LocalityLbSetting), childPath(e.LoadBalancerPath, e.LocalityLbSetting != nil, "localityLbSetting")
		},
		why: "the clusters prefer, and fail over to, different localities",
	},
	{
		name: "zoneAwareLbSetting",
		value: func(e validate.Effective) (proto.Message, string) {
			return nilIfEmpty(e.ZoneAwareLbSetting), childPath(e.LoadBalancerPath, e.ZoneAwareLbSetting != nil, "zoneAwareLbSetting")
		},
		why: "the clusters prefer, and fail over to, different zones",
	},
	{
		name: "outlierDetection",
		value: func(e validate.Effective) (proto.Message, string) {
			return nilIfEmpty(e.OutlierDetection), e.OutlierDetectionPath
		},
		why: "failover happens only once outlier detection ejects failing endpoints, so the clusters fail over after different failures, or one never does",
	},
}

// nilIfEmpty returns a nil proto.Message for a nil pointer, so that
// proto.Equal and rendering see "not set" rather than a typed nil.
func nilIfEmpty[T any, P interface {
	*T
	proto.Message
}](m P) proto.Message {
	if m == nil {
		return nil
	}
	return m
}

func childPath(parent string, set bool, child string) string {
	if !set || parent == "" {
		return ""
	}
	return parent + "." + child
}

// compareEffective compares the policies Istio applies to each (subset,
// port) scope of the copies of a DestinationRule in the clusters at
// present, and the subsets they define.
func (c *comparison) compareEffective(finding policy.Finding, host string, present []int, ruleOf map[int]*DestinationRule) {
	resolvers := map[int]*validate.Resolver{}
	var subsets []string
	var ports []uint32
	for _, i := range present {
		dr := ruleOf[i]
		spec := dr.Spec
		if spec == nil {
			// Istio's defaults everywhere; only the subsets' names matter.
			spec = &networking.DestinationRule{}
			for _, name := range dr.Subsets {
				spec.Subsets = append(spec.Subsets, &networking.Subset{Name: name})
			}
		}
		resolvers[i] = validate.NewResolver(spec, field.NewPath("spec"))
		for _, name := range dr.Subsets {
			if !slices.Contains(subsets, name) {
				subsets = append(subsets, name)
			}
		}
		for _, p := range validate.PortsNamed(spec) {
			if p != validate.AnyPort && !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
	}
	slices.Sort(ports)
	ports = append(ports, validate.AnyPort)

	// Subsets only some copies define.
	common := []string{""}
	for _, name := range subsets {
		var has, lacks []int
		for _, i := range present {
			if resolvers[i].HasSubset(name) {
				has = append(has, i)
			} else {
				lacks = append(lacks, i)
			}
		}
		if len(lacks) == 0 {
			common = append(common, name)
			continue
		}
		f := finding
		f.Field = "spec.subsets"
		f.Message = fmt.Sprintf("host %s: subset %q is defined in %s but not in %s: traffic routed to the subset finds no destination there, and failover between the clusters has nothing to fail over to",
			host, name, c.list(has), c.list(lacks))
		c.add(rules.SubsetMissingInCluster, f, present)
	}

	if len(common)*len(ports) > validate.MaxScopes {
		f := finding
		f.Field = "spec"
		f.Message = fmt.Sprintf("host %s: %d subsets × %d ports are too many scopes to compare one by one (at most %d); compare the DestinationRules' specs instead",
			host, len(common), len(ports), validate.MaxScopes)
		c.add(rules.TooManyScopesToCompare, f, present)
		return
	}
	for _, a := range aspects {
		c.compareAspect(finding, host, present, resolvers, common, ports, a)
	}
}

// compareAspect reports the scopes in which one aspect of the effective
// policy differs between the clusters at present.
func (c *comparison) compareAspect(finding policy.Finding, host string, present []int, resolvers map[int]*validate.Resolver, subsets []string, ports []uint32, a aspect) {
	var scopes []string
	var sample map[int]rendered
	for _, subset := range subsets {
		for _, port := range ports {
			values := map[int]rendered{}
			for _, i := range present {
				m, path := a.value(resolvers[i].Resolve(subset, port))
				values[i] = rendered{message: m, path: path}
			}
			equal := true
			for _, i := range present[1:] {
				equal = equal && proto.Equal(values[i].message, values[present[0]].message)
			}
			if equal {
				continue
			}
			if sample == nil {
				sample = values
			}
			scopes = append(scopes, validate.ScopeName(subset, port, len(ports) == 1))
		}
	}
	if len(scopes) == 0 {
		return
	}
	f := finding
	f.Field = ""
	for _, i := range present {
		if f.Field = sample[i].path; f.Field != "" {
			break
		}
	}
	listed := scopes
	more := ""
	if len(scopes) > validate.MaxListedScopes {
		listed = scopes[:validate.MaxListedScopes]
		more = fmt.Sprintf(" and %d other scopes", len(scopes)-validate.MaxListedScopes)
	}
	f.Message = fmt.Sprintf("host %s: the effective %s differs for %s%s: %s: %s; apply the same DestinationRule in every cluster",
		host, a.name, strings.Join(listed, ", "), more,
		c.describe(present, func(i int) string { return sample[i].String() }), a.why)
	c.add(rules.EffectivePolicyDiffers, f, present)
}
