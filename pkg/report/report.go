// Package report writes the findings of `webhook check` and `webhook
// audit`: one line per finding (text, GitHub workflow commands), written
// as they come, or one JSON document encoded by encoding/json when the run
// ends, which holds the findings (not the objects) in memory until then.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
)

// Format is an output format.
type Format string

const (
	Text Format = "text"
	JSON Format = "json"
	// GitHub writes GitHub Actions workflow commands, which annotate the
	// offending line of a pull request.
	GitHub Format = "github"
	// SARIF writes a SARIF 2.1.0 log, for code scanning tools.
	SARIF Format = "sarif"
	// JUnit writes JUnit XML, which CI systems show as test results.
	JUnit Format = "junit"
)

// Formats lists the formats, for flag help and validation.
var Formats = []Format{Text, JSON, GitHub, SARIF, JUnit}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q: want text, json, github, sarif or junit", s)
}

// Summary counts what a run found.
type Summary struct {
	// Documents is the number of documents read (check only).
	Documents int `json:"documents,omitempty"`
	// Services and DestinationRules are the objects judged.
	Services         int `json:"services"`
	DestinationRules int `json:"destinationRules"`
	// Denied is the number of objects the webhook would reject.
	Denied int `json:"denied"`
	// Warnings and Audited are the numbers of findings of those severities.
	Warnings int `json:"warnings"`
	Audited  int `json:"audited"`
	// Merged is the number of failover settings left without outlier
	// detection once Istio merges the DestinationRules of a host, though
	// fine in their own rule (FW101 errors of pkg/merged).
	Merged int `json:"merged,omitempty"`
	// Mutated is the number of Services the webhook would change.
	Mutated int `json:"mutated"`
	// Fixed is the number of Services `webhook audit --fix` changed.
	Fixed int `json:"fixed,omitempty"`
	// Skipped is the number of documents and objects not judged: empty,
	// not Kubernetes objects, kinds the webhook does not admit, or in a
	// namespace the webhook never sees.
	Skipped int `json:"skipped"`
	// Invalid is the number of documents that could not be read.
	Invalid int `json:"invalid,omitempty"`
	// NotJudged are the namespaces whose objects were read but not judged:
	// in mode off, or excluded from the webhook. An all-clear says nothing
	// about them, so they are named.
	NotJudged []NotJudged `json:"notJudged,omitempty"`
	// Clusters is the number of clusters audited at once, and Drift the
	// number of findings of differences between them (audit with several
	// clusters only).
	Clusters int `json:"clusters,omitempty"`
	Drift    int `json:"drift,omitempty"`
}

// NotJudged is a namespace whose objects were not judged, and why.
type NotJudged struct {
	Namespace string `json:"namespace"`
	// Reason is "mode off" or "excluded".
	Reason string `json:"reason"`
	// Objects counts its Services and DestinationRules.
	Objects int `json:"objects"`
}

// Reasons a namespace is not judged.
const (
	ModeOff  = "mode off"
	Excluded = "excluded"
)

// CountNotJudged records an object of namespace whose outcome judged
// nothing: excluded from the webhook, or in mode off. It does nothing for
// an object that was judged.
func (s *Summary) CountNotJudged(namespace string, out policy.Outcome) {
	reason := ""
	switch {
	case out.Excluded:
		reason = Excluded
	case out.Mode == mode.Off:
		reason = ModeOff
	default:
		return
	}
	for i := range s.NotJudged {
		if s.NotJudged[i].Namespace == namespace && s.NotJudged[i].Reason == reason {
			s.NotJudged[i].Objects++
			return
		}
	}
	s.NotJudged = append(s.NotJudged, NotJudged{Namespace: namespace, Reason: reason, Objects: 1})
}

func (s Summary) String() string {
	var b strings.Builder
	if s.Documents > 0 {
		fmt.Fprintf(&b, "%s, ", plural(s.Documents, "document"))
	}
	fmt.Fprintf(&b, "%s, %s: %d would be denied, %s, %s, %s would be mutated",
		plural(s.Services, "Service"), plural(s.DestinationRules, "DestinationRule"), s.Denied,
		plural(s.Warnings, "warning"), plural(s.Audited, "audit finding"), plural(s.Mutated, "Service"))
	if s.Merged > 0 {
		fmt.Fprintf(&b, ", %d broken by Istio's merge of several DestinationRules", s.Merged)
	}
	if s.Fixed > 0 {
		fmt.Fprintf(&b, ", %d fixed", s.Fixed)
	}
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", s.Skipped)
	}
	if s.Invalid > 0 {
		fmt.Fprintf(&b, ", %d invalid", s.Invalid)
	}
	if len(s.NotJudged) > 0 {
		parts := make([]string, len(s.NotJudged))
		for i, n := range s.NotJudged {
			parts[i] = fmt.Sprintf("%s (%s, %s)", n.Namespace, n.Reason, plural(n.Objects, "object"))
		}
		fmt.Fprintf(&b, "; not judged: %s", strings.Join(parts, ", "))
	}
	if s.Clusters > 1 {
		fmt.Fprintf(&b, "; %d clusters compared: %s", s.Clusters, plural(s.Drift, "difference"))
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Mutation is a Service as the webhook would admit it.
type Mutation struct {
	File      string          `json:"file,omitempty"`
	Doc       int             `json:"doc,omitempty"`
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Object    json.RawMessage `json:"object"`
}

// Writer writes one report.
type Writer struct {
	// Quiet leaves the mutation findings out of the report; the summary
	// still counts the Services.
	Quiet bool

	format Format
	out    io.Writer
	// summary receives the summary line of the text format.
	summary io.Writer
	// warnings, audited and drift count those severities for the summary.
	warnings, audited, drift int
	// collected holds the JSON format's findings until Close encodes the
	// document: about half a kilobyte each.
	collected []policy.Finding
	// mutations spools the Mutations until the findings are written.
	mutations *os.File
	err       error
}

// NewWriter returns a Writer of format to out. The text format writes its
// summary line to summary, keeping out for findings and mutated objects;
// JSON writes everything to out. showMutations makes room for Mutated.
func NewWriter(format Format, out, summary io.Writer, showMutations bool) (*Writer, error) {
	w := &Writer{format: format, out: out, summary: summary}
	if showMutations {
		f, err := os.CreateTemp("", "failover-webhook-mutations-*")
		if err != nil {
			return nil, fmt.Errorf("creating a spool for mutated objects: %w", err)
		}
		w.mutations = f
	}
	return w, nil
}

// Finding writes one finding.
func (w *Writer) Finding(f policy.Finding) error {
	if w.err != nil {
		return w.err
	}
	if w.Quiet && f.Severity == policy.Mutation && !f.Fixed {
		return nil
	}
	switch f.Severity {
	case policy.Warning:
		w.warnings++
	case policy.Audit:
		w.audited++
	case policy.Drift:
		w.drift++
	}
	if w.format == JSON || w.format == SARIF || w.format == JUnit {
		w.collected = append(w.collected, f)
		return nil
	}
	if w.format == GitHub {
		_, w.err = io.WriteString(w.out, WorkflowCommand(f)+"\n")
		return w.err
	}
	_, w.err = io.WriteString(w.out, Line(f)+"\n")
	if w.err == nil && f.Fix != "" {
		_, w.err = fmt.Fprintf(w.out, "    fix: %s\n", f.Fix)
	}
	return w.err
}

// Line renders a finding as text:
// `FILE:LINE:COL KIND NAMESPACE/NAME: RULE-ID field.path: SEVERITY: message`,
// LINE:COL being the field's position in the file and SEVERITY one of
// error, warning, audit, mutation, drift or fixed. FILE:LINE:COL is left
// out for objects read
// from a cluster; when several clusters are audited, the cluster takes its
// place (`CLUSTER: KIND ...`), or the clusters a drift finding compares
// (`CLUSTER,CLUSTER: KIND ...`). A cluster-scoped object is `KIND NAME`.
func Line(f policy.Finding) string {
	var b strings.Builder
	switch {
	case f.File != "":
		fmt.Fprintf(&b, "%s:%d:%d ", f.File, f.Line, f.Column)
	case f.Cluster != "":
		fmt.Fprintf(&b, "%s: ", f.Cluster)
	case len(f.Clusters) > 0:
		fmt.Fprintf(&b, "%s: ", strings.Join(f.Clusters, ","))
	}
	if f.Namespace == "" {
		fmt.Fprintf(&b, "%s %s: %s %s: ", f.Kind, f.Name, f.Rule, f.Field)
	} else {
		fmt.Fprintf(&b, "%s %s/%s: %s %s: ", f.Kind, f.Namespace, f.Name, f.Rule, f.Field)
	}
	if f.Fixed {
		b.WriteString("fixed: ")
	} else {
		b.WriteString(string(f.Severity) + ": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// WorkflowCommand renders a finding as a GitHub Actions workflow command
// (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):
// errors as ::error, mutations as ::notice, everything else as ::warning,
// placed on the field's line and column when the finding has a file.
func WorkflowCommand(f policy.Finding) string {
	command := "warning"
	switch f.Severity {
	case policy.Error:
		command = "error"
	case policy.Mutation:
		command = "notice"
	}
	var props []string
	if f.File != "" {
		props = append(props, "file="+escapeProperty(f.File), fmt.Sprintf("line=%d", f.Line), fmt.Sprintf("col=%d", f.Column))
	}
	props = append(props, "title="+escapeProperty(string(f.Rule)+" "+f.Kind+" "+objectName(f)))
	msg := f.Field + ": " + f.Message
	if f.Fix != "" {
		msg += "\nfix: " + f.Fix
	}
	return "::" + command + " " + strings.Join(props, ",") + "::" + escapeData(msg)
}

func objectName(f policy.Finding) string {
	if f.Namespace == "" {
		return f.Name
	}
	return f.Namespace + "/" + f.Name
}

// escapeData and escapeProperty escape as the GitHub Actions toolkit does
// (@actions/core's command.ts).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Drift returns the number of drift findings written.
func (w *Writer) Drift() int { return w.drift }

// Mutated records a Service as the webhook would admit it; the report
// shows it after the findings.
func (w *Writer) Mutated(m Mutation) error {
	if w.mutations == nil || w.err != nil {
		return w.err
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, w.err = w.mutations.Write(append(line, '\n'))
	return w.err
}

// Close writes the mutated objects and the summary, and ends the report.
// It sets the summary's Warnings, Audited and Drift to the findings
// written, so that the caller judges the run on what was reported.
func (w *Writer) Close(summary *Summary) (err error) {
	summary.Warnings, summary.Audited, summary.Drift = w.warnings, w.audited, w.drift
	s := *summary
	defer func() {
		if w.mutations != nil {
			err = errors.Join(err, w.mutations.Close(), os.Remove(w.mutations.Name()))
			w.mutations = nil
		}
	}()
	if w.err != nil {
		return w.err
	}
	if w.format == SARIF || w.format == JUnit {
		// The document is the whole of standard output: the summary goes
		// to the summary stream, and mutated objects have no place in it.
		if err := w.writeDocument(); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w.summary, s.String())
		return err
	}
	if w.format != JSON {
		if err := w.eachMutation(w.writeMutationYAML); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w.summary, s.String())
		return err
	}

	doc := jsonDocument{Findings: w.collected, Summary: s}
	if doc.Findings == nil {
		doc.Findings = []policy.Finding{}
	}
	if w.mutations != nil {
		mutated := []Mutation{}
		if err := w.eachMutation(func(m Mutation) error {
			mutated = append(mutated, m)
			return nil
		}); err != nil {
			return err
		}
		doc.MutatedServices = &mutated
	}
	enc := json.NewEncoder(w.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeDocument writes the SARIF log or the JUnit XML of the findings.
func (w *Writer) writeDocument() error {
	if w.format == JUnit {
		if _, err := io.WriteString(w.out, xml.Header); err != nil {
			return err
		}
		enc := xml.NewEncoder(w.out)
		enc.Indent("", "  ")
		if err := enc.Encode(newJUnit(w.collected)); err != nil {
			return err
		}
		_, err := io.WriteString(w.out, "\n")
		return err
	}
	enc := json.NewEncoder(w.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(newSARIF(w.collected))
}

// jsonDocument is the report in the JSON format.
type jsonDocument struct {
	Findings []policy.Finding `json:"findings"`
	// MutatedServices is present, empty or not, with showMutations.
	MutatedServices *[]Mutation `json:"mutatedServices,omitempty"`
	Summary         Summary     `json:"summary"`
}

func (w *Writer) eachMutation(fn func(Mutation) error) error {
	if w.mutations == nil {
		return nil
	}
	if _, err := w.mutations.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReader(w.mutations)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var m Mutation
			if err := json.Unmarshal(line, &m); err != nil {
				return err
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (w *Writer) writeMutationYAML(m Mutation) error {
	y, err := yaml.JSONToYAML(m.Object)
	if err != nil {
		return err
	}
	where := ""
	if m.File != "" {
		where = fmt.Sprintf("%s:%d ", m.File, m.Doc)
	}
	_, err = fmt.Fprintf(w.out, "---\n# %sService %s/%s as the webhook admits it\n%s", where, m.Namespace, m.Name, y)
	return err
}
