package drift

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/failover-webhook/failover-webhook/pkg/gateway"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

// waypoints reports waypoints used by the Services of services that are
// missing, not global, or not running in a cluster whose copy of a Service
// uses them, or that lacks the Service (which, created as it is elsewhere,
// will use them).
func (c *comparison) waypoints(services []service) {
	// users counts the Services using each waypoint and names the first
	// few, in order; services comes sorted and each appears once.
	users := map[types.NamespacedName]*ServiceNames{}
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
				users[w] = &ServiceNames{}
			}
			users[w].Add(svc.key)
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
			c.add(rules.WaypointMissing, f, in)
		}
		if len(notGlobal) > 0 {
			f := finding
			f.Field = labelPath(keys.Global)
			f.Message = fmt.Sprintf("the Service of waypoint %q (used by %s): %s: a waypoint's Service must be global too, or Istio does not share it across clusters; label its Gateway, whose labels Istio copies onto the Service",
				w.Name, usedBy, c.describe(found, func(i int) string { return labelValue(c.snaps[i].Waypoints[w].Service, keys.Global) }))
			var fixes []string
			for _, i := range notGlobal {
				wp := c.snaps[i].Waypoints[w]
				gw := types.NamespacedName{Namespace: w.Namespace, Name: DeploymentName(w, wp.Service)}
				fixes = append(fixes, gateway.LabelCommand(c.snaps[i].Kubectl, gw, wp.Gateway, keys.Global, keys.GlobalValue))
			}
			f.Fix = strings.Join(fixes, "; ")
			c.add(rules.WaypointServiceNotGlobal, f, found)
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
			c.add(rules.WaypointNotReady, policy.Finding{
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

// ServiceNames names the first Services added and counts all of them.
type ServiceNames struct {
	names []string
	last  types.NamespacedName
	count int
}

// Add adds svc unless it was the last one added (a Service present in
// several clusters uses the waypoint in each).
func (n *ServiceNames) Add(svc types.NamespacedName) {
	if n.count > 0 && n.last == svc {
		return
	}
	n.last = svc
	n.count++
	if len(n.names) < maxNamedUsers {
		n.names = append(n.names, svc.String())
	}
}

func (n *ServiceNames) String() string {
	s := strings.Join(n.names, ", ")
	if more := n.count - len(n.names); more > 0 {
		s += fmt.Sprintf(" and %d other Services", more)
	}
	return s
}
