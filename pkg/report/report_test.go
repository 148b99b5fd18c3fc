package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/report"
)

var (
	denial = policy.Finding{File: "dr.yaml", Doc: 2, Line: 9, Column: 7, Kind: "DestinationRule", Namespace: "prod", Name: "a",
		Rule: "FW101", Field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority", Severity: policy.Error, Message: "locality failover needs outlierDetection"}
	warning  = policy.Finding{Kind: "DestinationRule", Namespace: "staging", Name: "b", Rule: "FW104", Field: "spec.trafficPolicy.outlierDetection", Severity: policy.Warning, Message: "never ejects"}
	audited  = policy.Finding{Kind: "DestinationRule", Namespace: "legacy", Name: "c", Rule: "FW101", Field: "spec.x", Severity: policy.Audit, Message: "y"}
	mutation = policy.Finding{File: "svc.yaml", Doc: 1, Line: 5, Column: 3, Kind: "Service", Namespace: "prod", Name: "s", Rule: "FW201", Field: "metadata.labels", Severity: policy.Mutation, Message: "would set istio.io/global=true"}
)

func TestLine(t *testing.T) {
	tests := map[string]struct {
		f    policy.Finding
		want string
	}{
		"an error from a file": {
			f:    denial,
			want: "dr.yaml:9:7 DestinationRule prod/a: FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: locality failover needs outlierDetection",
		},
		"a warning from a cluster": {f: warning, want: "DestinationRule staging/b: FW104 spec.trafficPolicy.outlierDetection: warning: never ejects"},
		"an audit finding":         {f: audited, want: "DestinationRule legacy/c: FW101 spec.x: audit: y"},
		"a mutation":               {f: mutation, want: "svc.yaml:5:3 Service prod/s: FW201 metadata.labels: mutation: would set istio.io/global=true"},
		"a fixed mutation":         {f: policy.MarkFixed(mutation), want: "svc.yaml:5:3 Service prod/s: FW201 metadata.labels: fixed: set istio.io/global=true"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := report.Line(tc.f); got != tc.want {
				t.Errorf("Line() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	var out, summary bytes.Buffer
	w, err := report.NewWriter(report.Text, &out, &summary, true)
	if err != nil {
		t.Fatal(err)
	}
	withFix := denial
	withFix.Fix = "kubectl patch ..."
	for _, f := range []policy.Finding{withFix, warning, mutation} {
		if err := w.Finding(f); err != nil {
			t.Fatal(err)
		}
	}
	obj := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"prod","labels":{"istio.io/global":"true"}}}`
	if err := w.Mutated(report.Mutation{File: "svc.yaml", Doc: 1, Namespace: "prod", Name: "s", Object: json.RawMessage(obj)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&report.Summary{Documents: 3, Services: 1, DestinationRules: 2, Denied: 1, Mutated: 1, Skipped: 1}); err != nil {
		t.Fatal(err)
	}
	want := report.Line(withFix) + "\n    fix: kubectl patch ...\n" + report.Line(warning) + "\n" + report.Line(mutation) + "\n" +
		"---\n# svc.yaml:1 Service prod/s as the webhook admits it\napiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    istio.io/global: \"true\"\n  name: s\n  namespace: prod\n"
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	wantSummary := "3 documents, 1 Service, 2 DestinationRules: 1 would be denied, 1 warning, 0 audit findings, 1 Service would be mutated, 1 skipped\n"
	if summary.String() != wantSummary {
		t.Errorf("summary %q, want %q", summary.String(), wantSummary)
	}
}

func TestJSON(t *testing.T) {
	tests := map[string]struct {
		findings      []policy.Finding
		mutations     int
		showMutations bool
		wantSummary   report.Summary
	}{
		"no findings": {
			wantSummary: report.Summary{Services: 2},
		},
		"findings, counted by severity": {
			findings:    []policy.Finding{denial, warning, warning, audited, mutation},
			wantSummary: report.Summary{Services: 2, Warnings: 2, Audited: 1},
		},
		"mutated Services": {
			findings: []policy.Finding{mutation}, mutations: 2, showMutations: true,
			wantSummary: report.Summary{Services: 2},
		},
		"no mutated Services to show": {
			showMutations: true,
			wantSummary:   report.Summary{Services: 2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, summary bytes.Buffer
			w, err := report.NewWriter(report.JSON, &out, &summary, tc.showMutations)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.findings {
				if err := w.Finding(f); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.mutations {
				if err := w.Mutated(report.Mutation{Namespace: "prod", Name: "s", Object: json.RawMessage(`{"kind":"Service"}`)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(&report.Summary{Services: 2}); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Findings        []policy.Finding  `json:"findings"`
				MutatedServices []report.Mutation `json:"mutatedServices"`
				Summary         report.Summary    `json:"summary"`
			}
			dec := json.NewDecoder(strings.NewReader(out.String()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("not one JSON document: %v\n%s", err, out.String())
			}
			if doc.Findings == nil || len(doc.Findings) != len(tc.findings) {
				t.Errorf("findings %v, want %d (an empty list, not null, when there are none)", doc.Findings, len(tc.findings))
			}
			if len(doc.MutatedServices) != tc.mutations || (tc.showMutations && doc.MutatedServices == nil) {
				t.Errorf("mutatedServices %v, want %d", doc.MutatedServices, tc.mutations)
			}
			if !tc.showMutations && strings.Contains(out.String(), "mutatedServices") {
				t.Error("mutatedServices is written without showMutations")
			}
			if !reflect.DeepEqual(doc.Summary, tc.wantSummary) {
				t.Errorf("summary %+v, want %+v", doc.Summary, tc.wantSummary)
			}
			if summary.Len() != 0 {
				t.Errorf("the JSON format wrote %q elsewhere", summary.String())
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"text", "json", "github", "sarif", "junit", "yaml"} {
		if f, err := report.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := report.ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "want text, json, github, sarif, junit or yaml") {
		t.Errorf("ParseFormat(xml) error = %v, want one naming the formats", err)
	}
}

func TestWorkflowCommand(t *testing.T) {
	tests := map[string]struct {
		f    policy.Finding
		want string
	}{
		"an error on the field's line and column": {
			f: denial,
			want: "::error file=dr.yaml,line=9,col=7,title=FW101 DestinationRule prod/a::" +
				"spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: locality failover needs outlierDetection",
		},
		"a finding from a cluster has no file": {
			f:    warning,
			want: "::warning title=FW104 DestinationRule staging/b::spec.trafficPolicy.outlierDetection: never ejects",
		},
		"a mutation is a notice": {
			f:    mutation,
			want: "::notice file=svc.yaml,line=5,col=3,title=FW201 Service prod/s::metadata.labels: would set istio.io/global=true",
		},
		"newlines, percent signs, and commas and colons in properties are escaped": {
			f: policy.Finding{File: "a,b:c.yaml", Line: 1, Column: 1, Kind: "DestinationRule", Namespace: "n", Name: "x", Rule: "FW101",
				Field: "spec", Severity: policy.Audit, Message: "100% sure", Fix: "kubectl patch"},
			want: "::warning file=a%2Cb%3Ac.yaml,line=1,col=1,title=FW101 DestinationRule n/x::spec: 100%25 sure%0Afix: kubectl patch",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := report.WorkflowCommand(tc.f); got != tc.want {
				t.Errorf("WorkflowCommand() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestSummaryNamesWhatWasNotJudged(t *testing.T) {
	var s report.Summary
	s.DestinationRules = 3
	s.CountNotJudged("sample", policy.Outcome{Mode: mode.Off})
	s.CountNotJudged("kube-system", policy.Outcome{Excluded: true})
	s.CountNotJudged("sample", policy.Outcome{Mode: mode.Off})
	s.CountNotJudged("prod", policy.Outcome{Mode: mode.Enforce})
	want := "0 Services, 3 DestinationRules: 0 would be denied, 0 warnings, 0 audit findings, 0 Services would be mutated; " +
		"not judged: sample (mode off, 2 objects), kube-system (excluded, 1 object)"
	if got := s.String(); got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
}

func TestJUnit(t *testing.T) {
	drift := policy.Finding{Clusters: []string{"cluster1", "cluster2"}, Kind: "Service", Namespace: "sample", Name: "helloworld",
		Rule: "FW402", Field: "metadata.labels", Severity: policy.Drift, Message: "differs"}
	var out bytes.Buffer
	w, err := report.NewWriter(report.JUnit, &out, io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []policy.Finding{denial, warning, audited, mutation, drift} {
		if err := w.Finding(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(&report.Summary{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				ClassName string `xml:"classname,attr"`
				Failure   *struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out.String())
	}
	if doc.Tests != 5 || doc.Failures != 2 {
		t.Errorf("tests=%d failures=%d, want 5 and 2 (the denial and the drift)\n%s", doc.Tests, doc.Failures, out.String())
	}
	var suites, failed []string
	for _, s := range doc.Suites {
		suites = append(suites, s.Name)
		for _, c := range s.Cases {
			if c.Failure != nil {
				failed = append(failed, c.ClassName+" "+c.Failure.Type)
			}
		}
	}
	if want := []string{"dr.yaml", "cluster", "svc.yaml", "cluster1,cluster2"}; !slices.Equal(suites, want) {
		t.Errorf("suites %q, want %q", suites, want)
	}
	if want := []string{"FW101 error", "FW402 drift"}; !slices.Equal(failed, want) {
		t.Errorf("failures %q, want %q", failed, want)
	}
}

// TestYAMLKeepsStandardOutputForObjects: in the YAML format, standard
// output holds the mutated objects and nothing else; the findings and the
// summary go to the other stream, coloured when asked.
func TestYAMLKeepsStandardOutputForObjects(t *testing.T) {
	var out, other bytes.Buffer
	w, err := report.NewWriter(report.YAML, &out, &other, false)
	if err != nil {
		t.Fatal(err)
	}
	w.Color = true
	finding := policy.Finding{Kind: policy.ServiceKind, Namespace: "sample", Name: "helloworld", Rule: "FW201",
		Field: policy.LabelsField, Severity: policy.Mutation, Message: "would set istio.io/global=true"}
	if err := w.Finding(finding); err != nil {
		t.Fatal(err)
	}
	if err := w.Mutated(report.Mutation{Namespace: "sample", Name: "helloworld", Object: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"helloworld"}}`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&report.Summary{Services: 1, Mutated: 1}); err != nil {
		t.Fatal(err)
	}
	if want := "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: helloworld\n"; out.String() != want {
		t.Errorf("standard output %q, want only the object %q", out.String(), want)
	}
	if want := "Service sample/helloworld: \x1b[1mFW201\x1b[0m metadata.labels: \x1b[32mmutation\x1b[0m: would set istio.io/global=true\n"; !strings.HasPrefix(other.String(), want) {
		t.Errorf("the other stream %q, want it to start with the coloured finding %q", other.String(), want)
	}
	if !strings.Contains(other.String(), "1 Service would be mutated") {
		t.Errorf("the other stream %q lacks the summary", other.String())
	}
}
