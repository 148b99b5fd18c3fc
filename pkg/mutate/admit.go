package mutate

import (
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Admission is what the mutating webhook does with a Service in its
// namespace. The webhook handler, `webhook check` and `webhook audit` all
// decide through Admit, so they cannot disagree.
type Admission struct {
	// Verdict holds the mode and the rules' warnings as the mode gives
	// them; a Service is never denied.
	Verdict verdict.Verdict
	// Result is the outcome of Decide; in mode off it is the Service
	// unchanged, without warnings.
	Result
}

// Admit reads the mode from in.NamespaceLabels and, unless it is off,
// applies the Service rules.
func Admit(in Input) Admission {
	m, modeWarning := mode.FromLabels(in.NamespaceLabels)
	if m == mode.Off {
		return Admission{Verdict: verdict.Apply(m, "", in.Service.Namespace, nil, false), Result: Result{Service: in.Service}}
	}
	r := Decide(in)
	return Admission{Verdict: verdict.Apply(m, modeWarning, in.Service.Namespace, r.Warnings, false), Result: r}
}
