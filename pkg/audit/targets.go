package audit

import (
	"errors"
	"fmt"
)

// Target is one cluster to audit: a kubeconfig file ("" for the default
// loading rules) and a context ("" for its current one).
type Target struct {
	Kubeconfig, Context string
}

// Targets pairs the --kubeconfig and --context flags into clusters:
// one kubeconfig with any number of contexts, any number of kubeconfigs
// with at most one context (used in each), or as many of each, in pairs.
func Targets(kubeconfigs, contexts []string) ([]Target, error) {
	for _, f := range kubeconfigs {
		if f == "" {
			return nil, errors.New("--kubeconfig: empty path")
		}
	}
	for _, c := range contexts {
		if c == "" {
			return nil, errors.New("--context: empty name")
		}
	}
	n := max(len(kubeconfigs), len(contexts), 1)
	if len(kubeconfigs) > 1 && len(contexts) > 1 && len(kubeconfigs) != len(contexts) {
		return nil, fmt.Errorf("%d --kubeconfig and %d --context flags: give one kubeconfig with several contexts, several kubeconfigs with at most one context, or as many of each (paired in order)", len(kubeconfigs), len(contexts))
	}
	pick := func(values []string, i int) string {
		switch len(values) {
		case 0:
			return ""
		case 1:
			return values[0]
		}
		return values[i]
	}
	targets := make([]Target, n)
	for i := range targets {
		targets[i] = Target{Kubeconfig: pick(kubeconfigs, i), Context: pick(contexts, i)}
		for _, earlier := range targets[:i] {
			if earlier == targets[i] {
				return nil, fmt.Errorf("cluster %s given twice", targets[i])
			}
		}
	}
	return targets, nil
}

func (t Target) String() string {
	switch {
	case t.Kubeconfig == "":
		return fmt.Sprintf("--context %s", t.Context)
	case t.Context == "":
		return fmt.Sprintf("--kubeconfig %s", t.Kubeconfig)
	}
	return fmt.Sprintf("--kubeconfig %s --context %s", t.Kubeconfig, t.Context)
}

// DistinctServers refuses clusters that reach the same API server: two
// contexts of one cluster would be compared with each other and every
// object reported twice, which reads as two healthy clusters.
func DistinctServers(clusters []Cluster) error {
	for i, c := range clusters {
		for _, earlier := range clusters[:i] {
			if c.Server != "" && c.Server == earlier.Server {
				return fmt.Errorf("clusters %s and %s reach the same API server %s: give each cluster once", earlier.Name, c.Name, c.Server)
			}
		}
	}
	return nil
}
