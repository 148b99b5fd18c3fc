package mutate

import (
	"github.com/failover-webhook/failover-webhook/pkg/mode"
)

// Admission is what the mutating webhook does with a Service in its
// namespace: the namespace's mode, and the Service rules unless the mode is
// off. The webhook handler, `webhook check` and `webhook audit` all decide
// through Admit, so they cannot disagree.
type Admission struct {
	Mode mode.Mode
	// ModeWarning names an unrecognised mode label (read as enforce).
	ModeWarning string
	// Result is the outcome of Decide; in mode off it is the Service
	// unchanged, without warnings.
	Result
}

// Admit reads the mode from in.NamespaceLabels and, unless it is off,
// applies the Service rules.
func Admit(in Input) Admission {
	m, modeWarning := mode.FromLabels(in.NamespaceLabels)
	if m == mode.Off {
		return Admission{Mode: m, Result: Result{Service: in.Service}}
	}
	return Admission{Mode: m, ModeWarning: modeWarning, Result: Decide(in)}
}

// AllWarnings returns the admission warnings the webhook sends: the
// rules' warnings, then the mode warning.
func (a Admission) AllWarnings() []string {
	if a.ModeWarning == "" {
		return a.Warnings
	}
	return append(append([]string(nil), a.Warnings...), a.ModeWarning)
}
