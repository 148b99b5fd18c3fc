package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

func TestVersionAndExplain(t *testing.T) {
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		"version prints every field": {
			args:       []string{"version"},
			wantStdout: []string{"version:", "commit:", "go:        go1.", "istio api: "},
		},
		"--version prints one line": {
			args:       []string{"--version"},
			wantStdout: []string{"failover-webhook ", ", Istio API "},
		},
		"version -o yaml is a usage error": {
			args: []string{"version", "-o", "yaml"}, wantCode: 2, wantStderr: `--output "yaml" is not one of text, json`,
		},
		"explain prints the rule": {
			args:       []string{"explain", "FW101"},
			wantStdout: []string{"FW101: locality failover without outlier detection", "Why:", "Fix:", "outlierDetection"},
		},
		"explain accepts lower case": {
			args: []string{"explain", "fw105"}, wantStdout: []string{"FW105: "},
		},
		"explain without an ID lists every rule": {
			args: []string{"explain"}, wantStdout: []string{"FW101  locality failover", "FW414  "},
		},
		"explain --markdown prints the docs section": {
			args: []string{"explain", "--markdown", "FW101"}, wantStdout: []string{"## FW101: ", "**Fix:**"},
		},
		"an unknown rule is a usage error naming the rules": {
			args: []string{"explain", "FW999"}, wantCode: 2, wantStderr: "no rule FW999: the rules are FW101",
		},
		"two IDs are a usage error": {
			args: []string{"explain", "FW101", "FW102"}, wantCode: 2, wantStderr: "explain takes one rule ID",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, _ := run(tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			for _, want := range tc.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, stderr, _ := run("version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"version", "commit", "go", "platform", "istioAPI"} {
		if got[k] == "" {
			t.Errorf("%q is empty in %s", k, stdout)
		}
	}
}

func TestExplainListsTheWholeCatalogue(t *testing.T) {
	_, stdout, _, _ := run("explain")
	if n := strings.Count(stdout, "\n"); n != len(rules.Catalogue) {
		t.Errorf("explain listed %d lines, the catalogue has %d rules", n, len(rules.Catalogue))
	}
}
