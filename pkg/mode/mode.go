// Package mode reads a namespace's policy mode from its labels.
package mode

import (
	"fmt"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
)

// Mode says what the webhook does with a namespace's objects, in the spirit
// of Pod Security Admission's enforce/warn/audit levels.
type Mode string

const (
	// Enforce denies violating DestinationRules. It is the default so that
	// installing the webhook protects every namespace not opted out.
	Enforce Mode = "enforce"
	// Warn allows them and returns the findings as admission warnings.
	Warn Mode = "warn"
	// Audit allows them and records the findings as audit annotations.
	Audit Mode = "audit"
	// Off disables the webhook for the namespace, mutation included.
	Off Mode = "off"
)

// All lists the modes in order from strictest to most lenient.
var All = []Mode{Enforce, Warn, Audit, Off}

// Parse returns the Mode named by s, or an error naming the valid values.
func Parse(s string) (Mode, error) {
	for _, m := range All {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown mode %q: want one of enforce, warn, audit, off", s)
}

// FromLabels returns the mode a namespace with these labels is in. An
// absent label means Enforce. An unrecognised value also means Enforce,
// the safe reading of a typo, and comes back with a warning naming it.
func FromLabels(labels map[string]string) (m Mode, warning string) {
	v, ok := labels[keys.Enforcement]
	if !ok {
		return Enforce, ""
	}
	m, err := Parse(v)
	if err != nil {
		return Enforce, fmt.Sprintf("namespace label %s=%q is not a known mode (enforce, warn, audit, off); enforcing", keys.Enforcement, v)
	}
	return m, ""
}
