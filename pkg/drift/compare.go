package drift

import (
	"slices"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
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
	// indexes are each cluster's DestinationRules merged per host.
	indexes []*consolidate.Index
}

func (c *comparison) excluded(namespace string) bool {
	return slices.Contains(c.opts.Excluded, namespace)
}

func (c *comparison) add(rule rules.ID, f policy.Finding, clusters []int) {
	f.Rule = rule
	f.Severity = policy.Drift
	f.Clusters = c.names(clusters)
	c.findings = append(c.findings, f)
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
