package validate

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// ExampleOutlierDetection is the fix suggested in messages: the outlier
// detection of Istio's multicluster ambient failover guide.
const ExampleOutlierDetection = "{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}"

// Findings is the result of evaluating a DestinationRule spec.
type Findings struct {
	// Violations are the failover settings that have no outlier detection
	// in some scope, one per declaring field (verdict.Violation entries).
	Violations []verdict.Entry
	// Warnings are allowed but probably not what the author meant
	// (verdict.Advice entries).
	Warnings []verdict.Entry
}

// Entries returns the violations, then the warnings.
func (f Findings) Entries() []verdict.Entry {
	return append(slices.Clip(f.Violations), f.Warnings...)
}

// Bounds on the work and the output of Evaluate. Istio builds one cluster
// per (subset, port) pair, so the number of scopes is the product of the
// subsets and the named ports, and a DestinationRule that fits in an API
// request (3 MiB) could name tens of thousands of each. These constants keep
// the cost of one evaluation linear in the size of the spec plus at most
// MaxScopes cheap scope checks, and keep every message short enough for an
// admission response, a warning header and an audit annotation.
const (
	// MaxScopes is the largest number of (subset, port) scopes evaluated:
	// (subsets + 1 for traffic without a subset) × (named ports + 1 for any
	// other port). A spec over it that declares active failover gets one
	// violation asking to split it; a spec without failover is never
	// evaluated per scope, whatever its size.
	MaxScopes = 100_000
	// MaxListedScopes is how many unprotected scopes one violation names;
	// the rest are counted.
	MaxListedScopes = 20
	// MaxReported is how many violations, and how many warnings, Findings
	// holds; the rest are summarised in one more entry.
	MaxReported = 20
)

// failoverField is one declared failover or failoverPriority and what the
// evaluation learnt about it across scopes.
type failoverField struct {
	path  *field.Path
	kind  string // "locality" or "zone-aware"
	rule  rules.ID
	fix   *field.Path
	order int
	// unprotected counts the scopes without outlier detection; listed
	// names the first MaxListedScopes of them.
	unprotected int
	listed      []string
	inherited   []string // outlier detection paths lost to port-level replacement
	// message replaces the usual one for a finding about the whole spec.
	message string
}

func (e *evaluation) findings(specPath *field.Path) Findings {
	fields := make([]*failoverField, 0, len(e.byField))
	for _, f := range e.byField {
		fields = append(fields, f)
	}
	slices.SortFunc(fields, func(a, b *failoverField) int { return a.order - b.order })
	var out Findings
	unreported := 0
	for _, f := range fields {
		if f.unprotected == 0 {
			continue
		}
		if len(out.Violations) == MaxReported {
			unreported++
			continue
		}
		v := verdict.Entry{Rule: f.rule, Kind: verdict.Violation, Field: f.path.String(), Message: f.String()}
		if f.fix != nil {
			v.Fix = f.fix.String()
		}
		out.Violations = append(out.Violations, v)
	}
	if unreported > 0 {
		out.Violations = append(out.Violations, verdict.New(rules.FailoverWithoutOutlierDetection, verdict.Violation, specPath,
			"%d more failover settings need outlierDetection; fix the ones above and evaluate again", unreported))
	}
	out.Warnings = e.warnings
	if n := len(out.Warnings) - MaxReported; n > 0 {
		// The summary has the rule of the first warning it stands for.
		out.Warnings = append(out.Warnings[:MaxReported:MaxReported],
			verdict.New(out.Warnings[MaxReported].Rule, verdict.Advice, specPath, "%d more warnings not shown", n))
	}
	return out
}

// String is the violation message: which scopes lack outlier detection,
// why, and where to add it.
func (f *failoverField) String() string {
	if f.message != "" {
		return f.message
	}
	reason := ""
	if len(f.inherited) > 0 {
		reason = fmt.Sprintf(" (port-level settings do not inherit %s)", strings.Join(f.inherited, ", "))
	}
	scopes := strings.Join(f.listed, ", ")
	if more := f.unprotected - len(f.listed); more > 0 {
		scopes += fmt.Sprintf(" and %d other subset/port combinations", more)
	}
	return fmt.Sprintf("%s failover needs outlierDetection, and none applies to %s%s; add outlierDetection next to it (%s), e.g. %s",
		f.kind, scopes, reason, f.fix, ExampleOutlierDetection)
}
