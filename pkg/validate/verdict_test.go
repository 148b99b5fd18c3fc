package validate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
)

func TestJudge(t *testing.T) {
	violating := Findings{
		Violations: field.ErrorList{field.Forbidden(field.NewPath("spec", "x"), "needs outlierDetection")},
		Warnings:   []Warning{{Field: "spec.y", Message: "has no effect"}},
	}
	clean := Findings{Warnings: []Warning{{Field: "spec.y", Message: "has no effect"}}}

	tests := map[string]struct {
		mode          mode.Mode
		findings      Findings
		specUnchanged bool

		allowed      bool
		denials      int
		warnings     []string // substrings, one per expected warning, in order
		auditContain string
	}{
		"enforce denies a violation and still returns the warnings": {
			mode: mode.Enforce, findings: violating,
			denials: 1, warnings: []string{"spec.y: has no effect"},
		},
		"enforce allows a clean rule with its warnings": {
			mode: mode.Enforce, findings: clean,
			allowed: true, warnings: []string{"spec.y: has no effect"},
		},
		"enforce allows an update that leaves the spec unchanged, with the violation as a warning": {
			mode: mode.Enforce, findings: violating, specUnchanged: true,
			allowed: true, warnings: []string{"spec.x: Forbidden: needs outlierDetection (allowed because this update does not change the spec)", "spec.y: has no effect"},
		},
		"warn allows and turns violations into warnings": {
			mode: mode.Warn, findings: violating,
			allowed: true, warnings: []string{"spec.x: Forbidden: needs outlierDetection", "spec.y: has no effect"},
		},
		"audit allows silently and records violations for the audit log": {
			mode: mode.Audit, findings: violating,
			allowed: true, auditContain: "spec.x: Forbidden: needs outlierDetection",
		},
		"audit of a clean rule records nothing": {
			mode: mode.Audit, findings: clean,
			allowed: true,
		},
		"off allows silently": {
			mode: mode.Off, findings: violating,
			allowed: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := Judge(tc.mode, tc.findings, tc.specUnchanged)
			if v.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v", v.Allowed, tc.allowed)
			}
			if len(v.Denials) != tc.denials {
				t.Errorf("denials = %v, want %d", v.Denials, tc.denials)
			}
			if len(v.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings = %q, want %q", v.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if v.Warnings[i] != w {
					t.Errorf("warning %d = %q, want %q", i, v.Warnings[i], w)
				}
			}
			got := v.AuditAnnotations[keys.AuditViolations]
			if tc.auditContain == "" && len(v.AuditAnnotations) > 0 {
				t.Errorf("unexpected audit annotations %v", v.AuditAnnotations)
			}
			if tc.auditContain != "" && !strings.Contains(got, tc.auditContain) {
				t.Errorf("audit annotation %q lacks %q", got, tc.auditContain)
			}
		})
	}
}
