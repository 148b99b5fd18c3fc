package report_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/report"
)

// TestSARIFIsValid writes findings of every severity, from files and from
// clusters, and validates the log against the SARIF 2.1.0 JSON schema:
// testdata/sarif-schema-2.1.0.json is OASIS's
// (https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json).
func TestSARIFIsValid(t *testing.T) {
	stdin := denial
	stdin.File = "<stdin>"
	drift := policy.Finding{Clusters: []string{"cluster1", "cluster2"}, Kind: "Service", Namespace: "sample", Name: "helloworld",
		Rule: "FW402", Field: "metadata.labels[istio.io/global]", Severity: policy.Drift, Message: "differs", Fix: "kubectl label ..."}
	tests := map[string][]policy.Finding{
		"no findings":                        nil,
		"every severity, files and clusters": {denial, warning, audited, mutation, policy.MarkFixed(mutation), drift, stdin},
	}
	schema := gojsonschema.NewReferenceLoader("file://" + filepath.Join(must(os.Getwd()), "testdata", "sarif-schema-2.1.0.json"))
	// The schema must be able to fail: a log with an unknown level and no
	// tool is refused.
	if r, err := gojsonschema.Validate(schema, gojsonschema.NewStringLoader(`{"version":"2.1.0","runs":[{"results":[{"level":"fatal","message":{"text":"x"}}]}]}`)); err != nil || r.Valid() {
		t.Fatalf("the schema accepts an invalid log (err %v)", err)
	}
	for name, findings := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			w, err := report.NewWriter(report.SARIF, &out, io.Discard, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findings {
				if err := w.Finding(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(&report.Summary{}); err != nil {
				t.Fatal(err)
			}
			result, err := gojsonschema.Validate(schema, gojsonschema.NewBytesLoader(out.Bytes()))
			if err != nil {
				t.Fatalf("validating: %v\n%s", err, out.String())
			}
			for _, e := range result.Errors() {
				t.Errorf("invalid SARIF: %s", e)
			}
			var doc struct {
				Runs []struct {
					Results []struct {
						RuleID    string `json:"ruleId"`
						RuleIndex int    `json:"ruleIndex"`
						Level     string `json:"level"`
					} `json:"results"`
					Tool struct {
						Driver struct {
							Rules []struct {
								ID string `json:"id"`
							} `json:"rules"`
						} `json:"driver"`
					} `json:"tool"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Runs) != 1 || len(doc.Runs[0].Results) != len(findings) {
				t.Fatalf("want one run with %d results:\n%s", len(findings), out.String())
			}
			run := doc.Runs[0]
			wantLevels := map[policy.Severity]string{policy.Error: "error", policy.Warning: "warning", policy.Audit: "warning", policy.Mutation: "note", policy.Drift: "warning"}
			for i, r := range run.Results {
				if r.RuleID != string(findings[i].Rule) || run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
					t.Errorf("result %d: rule %s at index %d, want %s described at its index", i, r.RuleID, r.RuleIndex, findings[i].Rule)
				}
				if r.Level != wantLevels[findings[i].Severity] {
					t.Errorf("result %d: level %s, want %s", i, r.Level, wantLevels[findings[i].Severity])
				}
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
