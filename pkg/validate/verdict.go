package validate

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
)

// Verdict is what the namespace's mode makes of a DestinationRule's findings.
type Verdict struct {
	Allowed bool
	// Denials are the violations that reject the object (enforce mode only).
	Denials field.ErrorList
	// Warnings go back to the client as admission warnings.
	Warnings []string
	// AuditAnnotations go to the API server's audit log (audit mode only).
	AuditAnnotations map[string]string
}

// Judge applies the namespace's mode to the findings. specUnchanged marks an
// UPDATE that leaves the spec as stored: it is allowed even in enforce mode
// (the findings come back as warnings), so that metadata and finalizer
// updates of objects admitted before the webhook existed never get stuck.
func Judge(m mode.Mode, f Findings, specUnchanged bool) Verdict {
	violations := make([]string, len(f.Violations))
	for i, v := range f.Violations {
		violations[i] = v.Error()
	}
	switch m {
	case mode.Off:
		return Verdict{Allowed: true}
	case mode.Audit:
		v := Verdict{Allowed: true}
		if len(violations) > 0 {
			v.AuditAnnotations = map[string]string{keys.AuditViolations: strings.Join(violations, "; ")}
		}
		return v
	case mode.Warn:
		return Verdict{Allowed: true, Warnings: append(violations, f.WarningStrings()...)}
	}
	if len(violations) == 0 {
		return Verdict{Allowed: true, Warnings: f.WarningStrings()}
	}
	if specUnchanged {
		ratcheted := make([]string, len(violations))
		for i, v := range violations {
			ratcheted[i] = v + " (allowed because this update does not change the spec)"
		}
		return Verdict{Allowed: true, Warnings: append(ratcheted, f.WarningStrings()...)}
	}
	return Verdict{Denials: f.Violations, Warnings: f.WarningStrings()}
}
