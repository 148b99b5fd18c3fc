package verdict

import (
	"slices"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

func TestApply(t *testing.T) {
	violation := Entry{Rule: rules.FailoverWithoutOutlierDetection, Kind: Violation, Field: "spec.x", Message: "needs outlierDetection"}
	advice := Entry{Rule: rules.FailoverDisabled, Kind: Advice, Field: "spec.y", Message: "has no effect"}
	notice := Entry{Rule: rules.GlobalValueReplaced, Kind: Notice, Field: "metadata.labels", Message: "value replaced"}
	const (
		violationLine = "spec.x: failover-webhook FW101: needs outlierDetection"
		adviceLine    = "spec.y: failover-webhook FW103: has no effect"
		noticeLine    = "metadata.labels: failover-webhook FW202: value replaced"
	)

	tests := map[string]struct {
		mode          mode.Mode
		modeWarning   string
		entries       []Entry
		specUnchanged bool

		allowed  bool
		denials  []string // whole cause details, in order
		warnings []string // whole warnings, in order
		audit    string   // the whole annotation
	}{
		"enforce denies a violation, naming the webhook, the rule and the opt-out, and still returns the warnings": {
			mode: mode.Enforce, entries: []Entry{violation, advice},
			denials:  []string{"failover-webhook FW101: needs outlierDetection (to warn instead of deny in this namespace: kubectl label namespace sample failover-webhook.io/enforcement=warn --overwrite)"},
			warnings: []string{adviceLine},
		},
		"enforce allows advice alone, as a warning": {
			mode: mode.Enforce, entries: []Entry{advice},
			allowed: true, warnings: []string{adviceLine},
		},
		"enforce allows an update that leaves the spec unchanged, with the violation as a warning that says why": {
			mode: mode.Enforce, entries: []Entry{violation, advice}, specUnchanged: true,
			allowed: true, warnings: []string{violationLine + RatchetNote, adviceLine},
		},
		"warn allows and turns violations into warnings without Forbidden": {
			mode: mode.Warn, entries: []Entry{violation, advice},
			allowed: true, warnings: []string{violationLine, adviceLine},
		},
		"audit records violations for the audit log and returns no advice": {
			mode: mode.Audit, entries: []Entry{violation, advice},
			allowed: true, audit: violationLine,
		},
		"audit still returns the notices of a mutation": {
			mode: mode.Audit, entries: []Entry{notice},
			allowed: true, warnings: []string{noticeLine},
		},
		"audit of a clean rule records nothing": {
			mode: mode.Audit, entries: []Entry{advice},
			allowed: true,
		},
		"off allows silently": {
			mode: mode.Off, entries: []Entry{violation, advice, notice},
			allowed: true,
		},
		"an unknown mode label comes last, as a warning under its own rule": {
			mode: mode.Enforce, modeWarning: "not a known mode", entries: []Entry{advice},
			allowed: true, warnings: []string{adviceLine, "metadata.namespace: failover-webhook FW301: not a known mode"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := Apply(tc.mode, tc.modeWarning, "sample", tc.entries, tc.specUnchanged)
			if v.Allowed() != tc.allowed {
				t.Errorf("allowed = %v, want %v", v.Allowed(), tc.allowed)
			}
			var denials []string
			for _, d := range v.Denials() {
				if d.Field != "spec.x" || !strings.HasPrefix(d.Error(), "spec.x: Forbidden: failover-webhook FW101: ") {
					t.Errorf("denial %q, want one at spec.x, Forbidden, naming failover-webhook and FW101 first", d.Error())
				}
				denials = append(denials, d.Detail)
			}
			if !slices.Equal(denials, tc.denials) {
				t.Errorf("denials = %q, want %q", denials, tc.denials)
			}
			if got := v.Warnings(); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings = %q, want %q", got, tc.warnings)
			}
			got := v.AuditAnnotations()
			if tc.audit == "" && got != nil {
				t.Errorf("unexpected audit annotations %v", got)
			}
			if tc.audit != "" && got[keys.AuditViolations] != tc.audit {
				t.Errorf("audit annotation %q, want %q", got[keys.AuditViolations], tc.audit)
			}
		})
	}
}
