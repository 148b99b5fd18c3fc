package drift

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// Options configures Compare.
type Options struct {
	// Excluded are the namespaces the webhook never sees (kube-system, its
	// own); their objects are not compared.
	Excluded []string
}

// Compare returns a Drift finding for every difference between the
// clusters of snaps that changes how failover between them behaves, in a
// stable order: namespaces, Services, waypoints, DestinationRules, each by
// name. It needs at least two snapshots to find anything.
func Compare(snaps []*Snapshot, opts Options) []policy.Finding {
	c := &comparison{snaps: snaps, opts: opts}
	c.namespaces()
	services := c.services()
	c.waypoints(services)
	c.destinationRules()
	return c.findings
}

type comparison struct {
	snaps    []*Snapshot
	opts     Options
	findings []policy.Finding
}

func (c *comparison) excluded(namespace string) bool {
	return slices.Contains(c.opts.Excluded, namespace)
}

func (c *comparison) add(f policy.Finding, clusters []int) {
	f.Severity = policy.Drift
	f.Clusters = c.names(clusters)
	c.findings = append(c.findings, f)
}

// names returns the names of the clusters at the indexes idx.
func (c *comparison) names(idx []int) []string {
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = c.snaps[n].Cluster
	}
	return out
}

// list names the clusters at idx in prose: "a", "a and b", "a, b and c".
func (c *comparison) list(idx []int) string {
	names := c.names(idx)
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// describe renders a value per cluster, clusters with equal values
// together, in order of first appearance: `"true" in a and c; not set in b`.
func (c *comparison) describe(idx []int, value func(int) string) string {
	var order []string
	groups := map[string][]int{}
	for _, i := range idx {
		v := value(i)
		if _, seen := groups[v]; !seen {
			order = append(order, v)
		}
		groups[v] = append(groups[v], i)
	}
	parts := make([]string, len(order))
	for n, v := range order {
		parts[n] = v + " in " + c.list(groups[v])
	}
	return strings.Join(parts, "; ")
}

// differs reports whether key gives different answers across idx.
func differs[K comparable](idx []int, key func(int) K) bool {
	for _, i := range idx[1:] {
		if key(i) != key(idx[0]) {
			return true
		}
	}
	return false
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// command is a command line of tool (kubectl or istioctl) run against
// cluster i.
func (c *comparison) command(i int, tool, args string) string {
	if flags := c.snaps[i].Kubectl; flags != "" {
		return tool + " " + flags + " " + args
	}
	return tool + " " + args
}

func labelPath(key string) string {
	return field.NewPath("metadata", "labels").Key(key).String()
}

func labelValue(labels Labels, key string) string {
	if v, ok := labels[key]; ok {
		return fmt.Sprintf("%s=%q", key, v)
	}
	return key + " not set"
}

// namespaces reports namespaces in different enforcement modes.
func (c *comparison) namespaces() {
	names := map[string]bool{}
	for _, s := range c.snaps {
		for ns := range s.Namespaces {
			names[ns] = true
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(names)) {
		if c.excluded(ns) {
			continue
		}
		var present []int
		for i, s := range c.snaps {
			if _, ok := s.Namespaces[ns]; ok {
				present = append(present, i)
			}
		}
		if len(present) < 2 {
			continue
		}
		modeOf := func(i int) mode.Mode {
			m, _ := mode.FromLabels(c.snaps[i].Namespaces[ns])
			return m
		}
		if !differs(present, modeOf) {
			continue
		}
		strictest := mode.Off
		for _, i := range present {
			if slices.Index(mode.All, modeOf(i)) < slices.Index(mode.All, strictest) {
				strictest = modeOf(i)
			}
		}
		var fixes []string
		for _, i := range present {
			if modeOf(i) != strictest {
				fixes = append(fixes, c.command(i, "kubectl", fmt.Sprintf("label namespace %s %s=%s --overwrite", ns, keys.Enforcement, strictest)))
			}
		}
		c.add(policy.Finding{
			Kind: policy.NamespaceKind, Name: ns, Field: labelPath(keys.Enforcement),
			Message: fmt.Sprintf("enforcement mode differs: %s: a DestinationRule the webhook denies in one cluster is admitted in another, so a rule without outlier detection reaches some clusters only",
				c.describe(present, func(i int) string { return string(modeOf(i)) })),
			Fix: strings.Join(fixes, "; "),
		}, present)
	}
}

// service is a Service that takes part in failover in some cluster, with
// the clusters it exists in.
type service struct {
	key     types.NamespacedName
	present []int
}

// services reports Services configured differently for failover, and
// returns every Service that takes part in failover in some cluster. The
// Services of waypoints those Services use are compared as waypoints
// (package-level waypoints), once.
func (c *comparison) services() []service {
	relevant := map[types.NamespacedName]bool{}
	for _, s := range c.snaps {
		for key, labels := range s.Services {
			if labels[keys.Trigger] == keys.TriggerValue || labels[keys.Global] == keys.GlobalValue {
				relevant[key] = true
			}
		}
	}
	var out []service
	for _, key := range slices.SortedFunc(maps.Keys(relevant), compareNames) {
		if c.excluded(key.Namespace) {
			continue
		}
		var present []int
		for i, s := range c.snaps {
			if _, ok := s.Services[key]; ok {
				present = append(present, i)
			}
		}
		out = append(out, service{key: key, present: present})
	}
	waypoints := map[types.NamespacedName]bool{}
	for _, svc := range out {
		for _, i := range svc.present {
			s := c.snaps[i]
			if w, ok := EffectiveWaypoint(svc.key, s.Services[svc.key], s.Namespaces[svc.key.Namespace]); ok {
				waypoints[w] = true
			}
		}
	}
	for _, svc := range out {
		if !waypoints[svc.key] {
			c.compareService(svc)
		}
	}
	return out
}

// compareService reports a Service missing from some clusters or labeled
// differently for failover.
func (c *comparison) compareService(svc service) {
	key, present := svc.key, svc.present
	var missing []int
	for i := range c.snaps {
		if !slices.Contains(present, i) {
			missing = append(missing, i)
		}
	}
	finding := policy.Finding{Kind: policy.ServiceKind, Namespace: key.Namespace, Name: key.Name}
	if len(missing) > 0 {
		f := finding
		f.Field = "metadata.name"
		f.Message = fmt.Sprintf("the Service %s.%s exists in %s but not in %s: failover needs the Service, with the same labels, in every cluster; create it there as it is in %s",
			key.Name, key.Namespace, c.list(present), c.list(missing), c.snaps[present[0]].Cluster)
		c.add(f, allIndexes(len(c.snaps)))
	}
	if len(present) < 2 {
		return
	}
	labelsIn := func(i int) Labels { return c.snaps[i].Services[key] }
	c.compareLabel(finding, present, labelsIn, keys.Trigger, keys.TriggerValue,
		"the webhook keeps "+keys.Global+" and "+keys.UseWaypoint+" on the Service only where it carries "+keys.Trigger+"="+keys.TriggerValue+", so the clusters drift further apart with every change")
	c.compareLabel(finding, present, labelsIn, keys.Global, keys.GlobalValue,
		"Istio drops a remote copy of a Service that is not global, and ignores remote endpoints when the local copy is not global, so traffic does not fail over between these clusters")
	c.compareWaypoint(finding, present)
}

// compareLabel reports a label that is `key=want` in some of the clusters
// at present and not in others, and how to set it where it is missing.
func (c *comparison) compareLabel(finding policy.Finding, present []int, labelsIn func(int) Labels, key, want, why string) {
	has := func(i int) bool { return labelsIn(i)[key] == want }
	if !differs(present, has) {
		return
	}
	var fixes []string
	for _, i := range present {
		if !has(i) {
			fixes = append(fixes, c.command(i, "kubectl", fmt.Sprintf("label service %s -n %s %s=%s --overwrite", finding.Name, finding.Namespace, key, want)))
		}
	}
	finding.Field = labelPath(key)
	finding.Message = fmt.Sprintf("%s: %s", c.describe(present, func(i int) string { return labelValue(labelsIn(i), key) }), why)
	finding.Fix = strings.Join(fixes, "; ")
	c.add(finding, present)
}

// compareWaypoint reports a Service whose traffic goes through differently
// named waypoints in different clusters.
func (c *comparison) compareWaypoint(finding policy.Finding, present []int) {
	key := types.NamespacedName{Namespace: finding.Namespace, Name: finding.Name}
	type used struct {
		waypoint types.NamespacedName
		ok       bool
	}
	waypointIn := func(i int) used {
		s := c.snaps[i]
		w, ok := EffectiveWaypoint(key, s.Services[key], s.Namespaces[key.Namespace])
		return used{w, ok}
	}
	if !differs(present, waypointIn) {
		return
	}
	render := func(i int) string {
		u := waypointIn(i)
		switch {
		case !u.ok:
			return "no waypoint"
		case u.waypoint.Namespace == key.Namespace:
			return fmt.Sprintf("waypoint %q", u.waypoint.Name)
		default:
			return fmt.Sprintf("waypoint %q of namespace %s", u.waypoint.Name, u.waypoint.Namespace)
		}
	}
	// Suggest the waypoint most clusters use, the first listed on a tie.
	counts := map[used]int{}
	var target used
	for _, i := range present {
		if u := waypointIn(i); u.ok {
			counts[u]++
			if counts[u] > counts[target] {
				target = u
			}
		}
	}
	var fixes []string
	for _, i := range present {
		if !target.ok || waypointIn(i) == target {
			continue
		}
		set := fmt.Sprintf("%s=%s", keys.UseWaypoint, target.waypoint.Name)
		switch {
		case target.waypoint.Namespace != key.Namespace:
			set += fmt.Sprintf(" %s=%s", keys.UseWaypointNamespace, target.waypoint.Namespace)
		case c.snaps[i].Services[key][keys.UseWaypointNamespace] != "":
			set += " " + keys.UseWaypointNamespace + "-"
		}
		fixes = append(fixes, c.command(i, "kubectl", fmt.Sprintf("label service %s -n %s %s --overwrite", key.Name, key.Namespace, set)))
	}
	finding.Field = labelPath(keys.UseWaypoint)
	finding.Message = fmt.Sprintf("the Service's traffic goes through %s: ambient multicluster needs the same waypoint, by name, in every cluster, and the waypoint is what applies the DestinationRule's failover policy",
		c.describe(present, render))
	finding.Fix = strings.Join(fixes, "; ")
	c.add(finding, present)
}

// waypoints reports waypoints used by the Services of services that are
// missing, not global, or not running in a cluster whose copy of a Service
// uses them, or that lacks the Service (which, created as it is elsewhere,
// will use them).
func (c *comparison) waypoints(services []service) {
	// users counts the Services using each waypoint and names the first
	// few, in order; services comes sorted and each appears once.
	users := map[types.NamespacedName]*serviceNames{}
	usedIn := map[types.NamespacedName]map[int]bool{}
	for _, svc := range services {
		for _, i := range svc.present {
			s := c.snaps[i]
			w, ok := EffectiveWaypoint(svc.key, s.Services[svc.key], s.Namespaces[svc.key.Namespace])
			if !ok {
				continue
			}
			if usedIn[w] == nil {
				usedIn[w] = map[int]bool{}
			}
			if users[w] == nil {
				users[w] = &serviceNames{}
			}
			users[w].add(svc.key)
			usedIn[w][i] = true
			for j := range c.snaps {
				if !slices.Contains(svc.present, j) {
					usedIn[w][j] = true
				}
			}
		}
	}
	for _, w := range slices.SortedFunc(maps.Keys(usedIn), compareNames) {
		in := slices.Sorted(maps.Keys(usedIn[w]))
		var missing, found, notGlobal, noDeployment, notReady []int
		for _, i := range in {
			wp := c.snaps[i].Waypoints[w]
			switch {
			case !wp.Found:
				missing = append(missing, i)
				continue
			case wp.Service[keys.Global] != keys.GlobalValue:
				notGlobal = append(notGlobal, i)
			}
			found = append(found, i)
			switch d := wp.Deployment; {
			case d == nil:
			case !d.Found:
				noDeployment = append(noDeployment, i)
			case d.Ready == 0:
				notReady = append(notReady, i)
			}
		}
		usedBy := users[w].String()
		finding := policy.Finding{Kind: policy.ServiceKind, Namespace: w.Namespace, Name: w.Name}
		if len(missing) > 0 {
			f := finding
			f.Field = "metadata.name"
			where := "it exists in no cluster"
			if len(found) > 0 {
				where = "it exists in " + c.list(found)
			}
			f.Message = fmt.Sprintf("the waypoint %q (used by %s) does not exist in %s; %s: ambient multicluster needs identically named waypoints in every cluster, and without one the Service's traffic there bypasses the DestinationRule's failover policy",
				w.Name, usedBy, c.list(missing), where)
			var fixes []string
			for _, i := range missing {
				fixes = append(fixes, c.command(i, "istioctl", fmt.Sprintf("waypoint apply -n %s --name %s --for service", w.Namespace, w.Name)))
			}
			f.Fix = strings.Join(fixes, "; ")
			c.add(f, in)
		}
		if len(notGlobal) > 0 {
			f := finding
			f.Field = labelPath(keys.Global)
			f.Message = fmt.Sprintf("the Service of waypoint %q (used by %s): %s: a waypoint's Service must be global too, or Istio does not share it across clusters; label its Gateway, whose labels Istio copies onto the Service",
				w.Name, usedBy, c.describe(found, func(i int) string { return labelValue(c.snaps[i].Waypoints[w].Service, keys.Global) }))
			var fixes []string
			for _, i := range notGlobal {
				gw := DeploymentName(w, c.snaps[i].Waypoints[w].Service)
				fixes = append(fixes, c.command(i, "kubectl", fmt.Sprintf("label gateways.gateway.networking.k8s.io %s -n %s %s=%s --overwrite", gw, w.Namespace, keys.Global, keys.GlobalValue)))
			}
			f.Fix = strings.Join(fixes, "; ")
			c.add(f, found)
		}
		if len(noDeployment)+len(notReady) > 0 {
			var read []int
			name := ""
			for _, i := range found {
				if d := c.snaps[i].Waypoints[w].Deployment; d != nil {
					read = append(read, i)
					name = cmp.Or(name, d.Name)
				}
			}
			state := func(i int) string {
				d := c.snaps[i].Waypoints[w].Deployment
				switch {
				case !d.Found:
					return fmt.Sprintf("no Deployment %s", d.Name)
				case d.Name != name:
					return fmt.Sprintf("Deployment %s with %d of %d replicas ready", d.Name, d.Ready, d.Desired)
				}
				return fmt.Sprintf("%d of %d replicas ready", d.Ready, d.Desired)
			}
			c.add(policy.Finding{
				Kind: policy.DeploymentKind, Namespace: w.Namespace, Name: name, Field: "status.readyReplicas",
				Message: fmt.Sprintf("waypoint %q (used by %s): %s: traffic through the waypoint fails in %s until it runs a ready replica",
					w.Name, usedBy, c.describe(read, state), c.list(slices.Sorted(slices.Values(append(noDeployment, notReady...))))),
			}, read)
		}
	}
}

// maxNamedUsers is how many of the Services using a waypoint a finding
// names; the others are counted, so a waypoint shared by a whole namespace
// still gets a short message.
const maxNamedUsers = 3

// serviceNames names the first Services added and counts all of them.
type serviceNames struct {
	names []string
	last  types.NamespacedName
	count int
}

// add adds svc unless it was the last one added (a Service present in
// several clusters uses the waypoint in each).
func (n *serviceNames) add(svc types.NamespacedName) {
	if n.count > 0 && n.last == svc {
		return
	}
	n.last = svc
	n.count++
	if len(n.names) < maxNamedUsers {
		n.names = append(n.names, svc.String())
	}
}

func (n *serviceNames) String() string {
	s := strings.Join(n.names, ", ")
	if more := n.count - len(n.names); more > 0 {
		s += fmt.Sprintf(" and %d other Services", more)
	}
	return s
}

// ruleIn is one cluster's copy of a DestinationRule.
type ruleIn struct {
	cluster int
	rule    *DestinationRule
}

// destinationRules reports hosts whose DestinationRules declare a
// failover policy in some cluster and differ, or are missing, in another.
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
			relevant[dr.Host] = relevant[dr.Host] || dr.Spec != nil
		}
	}
	for _, host := range slices.Sorted(maps.Keys(byHost)) {
		if !relevant[host] {
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

// compareRules compares the copies of one DestinationRule for host, as
// rules holds them (at most one per cluster). others, when set, are all
// the DestinationRules of each cluster for the host, to name in the
// message where this one is missing.
func (c *comparison) compareRules(host string, rules []ruleIn, others [][]*DestinationRule) {
	first := rules[0].rule
	finding := policy.Finding{Kind: policy.DestinationRuleKind, Namespace: first.Namespace, Name: first.Name}
	var present, missing []int
	ruleOf := map[int]*DestinationRule{}
	for _, r := range rules {
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
		c.add(f, allIndexes(len(c.snaps)))
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
		c.add(f, present)
	}

	if len(common)*len(ports) > validate.MaxScopes {
		f := finding
		f.Field = "spec"
		f.Message = fmt.Sprintf("host %s: %d subsets × %d ports are too many scopes to compare one by one (at most %d); compare the DestinationRules' specs instead",
			host, len(common), len(ports), validate.MaxScopes)
		c.add(f, present)
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
			scopes = append(scopes, scopeName(subset, port, len(ports) == 1))
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
	c.add(f, present)
}

// rendered is an effective value and where it is declared.
type rendered struct {
	message proto.Message
	path    string
}

func (r rendered) String() string {
	if r.message == nil {
		return "not set"
	}
	raw, err := protojson.Marshal(r.message)
	if err != nil {
		return fmt.Sprintf("%v", r.message)
	}
	// protojson varies its whitespace on purpose; compact it so messages
	// are stable.
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		raw = b.Bytes()
	}
	return fmt.Sprintf("%s (%s)", raw, cmp.Or(r.path, "Istio's default"))
}

// scopeName names a (subset, port) scope as validation messages do.
func scopeName(subset string, port uint32, onlyPort bool) string {
	var b strings.Builder
	if subset == "" {
		b.WriteString("traffic without a subset")
	} else {
		fmt.Fprintf(&b, "subset %q", subset)
	}
	switch {
	case onlyPort:
	case port == validate.AnyPort:
		b.WriteString(" on any other port")
	default:
		fmt.Fprintf(&b, " port %d", port)
	}
	return b.String()
}
