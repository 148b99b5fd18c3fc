package drift

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

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
		c.add(rules.ModeDiffers, policy.Finding{
			Kind: policy.NamespaceKind, Name: ns, Field: labelPath(keys.Enforcement),
			Message: fmt.Sprintf("enforcement mode differs: %s: a DestinationRule the webhook denies in one cluster is admitted in another, so a rule without outlier detection reaches some clusters only",
				c.describe(present, func(i int) string { return string(modeOf(i)) })),
			Fix: strings.Join(fixes, "; "),
		}, present)
	}
}
