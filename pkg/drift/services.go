package drift

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

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
		c.add(rules.ServiceMissingInCluster, f, allIndexes(len(c.snaps)))
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
	c.add(rules.LabelDiffers, finding, present)
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
	c.add(rules.WaypointDiffers, finding, present)
}
