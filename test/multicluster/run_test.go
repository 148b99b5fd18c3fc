package multicluster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
)

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// webhook runs the webhook command line in this process.
func webhook(args ...string) result {
	var out, errOut bytes.Buffer
	code := app.Main(args, &out, &errOut, nil)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// finding is a finding of `-o json`, decoded with the output's own keys
// rather than pkg/policy's type, so that a renamed key fails here.
type finding struct {
	Cluster   string   `json:"cluster"`
	Clusters  []string `json:"clusters"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Rule      string   `json:"rule"`
	Field     string   `json:"field"`
	Severity  string   `json:"severity"`
	Message   string   `json:"message"`
	Fix       string   `json:"fix"`
}

func (f finding) String() string {
	return fmt.Sprintf("%s %s %s/%s: %s: %s: %s (fix: %q) %v", f.Cluster, f.Kind, f.Namespace, f.Name, f.Field, f.Severity, f.Message, f.Fix, f.Clusters)
}

type summary struct {
	Services         int `json:"services"`
	DestinationRules int `json:"destinationRules"`
	Denied           int `json:"denied"`
	Warnings         int `json:"warnings"`
	Mutated          int `json:"mutated"`
	Clusters         int `json:"clusters"`
	Drift            int `json:"drift"`
}

type jsonReport struct {
	Findings []finding `json:"findings"`
	Summary  summary   `json:"summary"`
}

// drift returns the drift findings of the report.
func (r jsonReport) drift() []finding {
	var out []finding
	for _, f := range r.Findings {
		if f.Severity == "drift" {
			out = append(out, f)
		}
	}
	return out
}

// auditJSON runs `webhook audit ARGS -o json` and decodes its report.
func auditJSON(t *testing.T, args ...string) (result, jsonReport) {
	t.Helper()
	r := webhook(append(append([]string{"audit"}, args...), "-o", "json")...)
	var doc jsonReport
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("exit %d, stdout is not one JSON document: %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return r, doc
}

// contexts returns the --context flags of the first n clusters.
func contexts(n int) []string {
	var out []string
	for _, name := range clusterNames[:n] {
		out = append(out, "--context", name)
	}
	return out
}

// want describes one drift finding.
type want struct {
	kind, namespace, name, field string
	clusters                     []string
	// message are words the message must contain.
	message []string
	// fix are words the fix command must contain; none: the finding
	// must have no fix.
	fix []string
	// without are words neither the message nor the fix may contain.
	without []string
}

func (w want) String() string {
	return fmt.Sprintf("%s %s/%s: %s %v, message with %q, fix with %q", w.kind, w.namespace, w.name, w.field, w.clusters, w.message, w.fix)
}

func (w want) matches(f finding) bool {
	if f.Kind != w.kind || f.Namespace != w.namespace || f.Name != w.name || f.Field != w.field || !slices.Equal(f.Clusters, w.clusters) {
		return false
	}
	if (len(w.fix) == 0) != (f.Fix == "") {
		return false
	}
	return containsAll(f.Message, w.message) && containsAll(f.Fix, w.fix) &&
		!containsAny(f.Message, w.without) && !containsAny(f.Fix, w.without)
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// checkDrift checks that got are exactly the findings of wants, one each.
func checkDrift(t *testing.T, got []finding, wants []want) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range wants {
		i := slices.IndexFunc(got, func(f finding) bool { return w.matches(f) })
		for i >= 0 && used[i] {
			next := slices.IndexFunc(got[i+1:], func(f finding) bool { return w.matches(f) })
			if next < 0 {
				i = -1
				break
			}
			i += 1 + next
		}
		if i < 0 {
			t.Errorf("no drift finding: %s", w)
			continue
		}
		used[i] = true
	}
	for i, f := range got {
		if !used[i] {
			t.Errorf("unexpected drift finding: %s", f)
		}
		// "cluster" is for findings about one cluster's object.
		if f.Cluster != "" {
			t.Errorf("drift finding with cluster %q: %s", f.Cluster, f)
		}
	}
}

// textLine is the text form of a drift finding, built here from the JSON
// form: `CLUSTERS: KIND NS/NAME: RULE field: drift: message`.
func textLine(f finding) string {
	object := f.Namespace + "/" + f.Name
	if f.Namespace == "" {
		object = f.Name
	}
	if !strings.HasPrefix(f.Rule, "FW4") {
		return fmt.Sprintf("a drift finding without a FW4xx rule: %+v", f)
	}
	return fmt.Sprintf("%s: %s %s: %s %s: drift: %s", strings.Join(f.Clusters, ","), f.Kind, object, f.Rule, f.Field, f.Message)
}

// checkText checks that the text report of the same run has a line for
// each drift finding, the fix on the line below when there is one, and no
// other drift line.
func checkText(t *testing.T, text string, drift []finding) {
	t.Helper()
	lines := strings.Split(text, "\n")
	for _, f := range drift {
		i := slices.Index(lines, textLine(f))
		if i < 0 {
			t.Errorf("the text report has no line\n%s\n:\n%s", textLine(f), text)
			continue
		}
		if f.Fix == "" {
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    fix: ") {
				t.Errorf("a fix below a finding without one: %q", lines[i+1])
			}
			continue
		}
		if wantFix := "    fix: " + f.Fix; i+1 >= len(lines) || lines[i+1] != wantFix {
			t.Errorf("below %q, want %q:\n%s", lines[i], wantFix, text)
		}
	}
	n := 0
	for _, l := range lines {
		if strings.Contains(l, ": drift: ") {
			n++
		}
	}
	if n != len(drift) {
		t.Errorf("%d drift lines in the text report, want %d:\n%s", n, len(drift), text)
	}
}

// differences is how the command says the clusters differ in n places.
func differences(n int) string {
	if n == 1 {
		return "the clusters differ in 1 place"
	}
	return fmt.Sprintf("the clusters differ in %d places", n)
}
