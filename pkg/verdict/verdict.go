// Package verdict is the one structured answer of the rules: a list of
// entries, each a rule's finding about one field, and what the namespace's
// mode makes of each. The rules evaluate an object once; the webhook
// handlers, `webhook check` and `webhook audit` all render from the same
// verdict, as Pod Security Admission evaluates a pod once and then applies
// its enforce, warn and audit levels.
package verdict

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

// Kind says what a finding is before any mode applies.
type Kind uint8

const (
	// Violation breaks a rule: denied in enforce mode, a warning in warn
	// mode, an audit annotation in audit mode.
	Violation Kind = iota
	// Advice is probably not what the author meant but breaks nothing: an
	// admission warning in enforce and warn mode. Audit mode returns
	// nothing to the client, and its annotation records violations only.
	Advice
	// Notice explains a change the webhook makes, or how it reads the
	// namespace: an admission warning in every mode that evaluates.
	Notice
)

// Entry is one rule's finding about one field of an object.
type Entry struct {
	Rule rules.ID
	// Field is the path of the offending field, e.g.
	// spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority.
	Field string
	// Message explains the finding and what to change, without the field
	// or the rule ID, which renderers place themselves.
	Message string
	// Fix is where the field that repairs a violation belongs (for FW101,
	// the outlierDetection next to the declaring loadBalancer); empty when
	// the fix is not one field.
	Fix  string
	Kind Kind
}

// New returns an entry about path.
func New(rule rules.ID, kind Kind, path *field.Path, format string, args ...any) Entry {
	return Entry{Rule: rule, Kind: kind, Field: path.String(), Message: fmt.Sprintf(format, args...)}
}

// String renders the entry as admission warnings and audit annotations
// carry it: the field, who says so and under which rule, and the message.
// A warning is not a denial, so it has no "Forbidden:".
func (e Entry) String() string {
	return e.Field + ": " + e.cause()
}

// cause is the explanation kubectl prints after the field and its reason:
// it names failover-webhook and the rule first, so that a denial cannot be
// mistaken for Istio's own schema validation.
func (e Entry) cause() string {
	return "failover-webhook " + string(e.Rule) + ": " + e.Message
}

// Outcome is what a namespace's mode makes of an entry.
type Outcome string

const (
	// Denied: the object is rejected (enforce mode).
	Denied Outcome = "denied"
	// Warned: the object is admitted and the entry returned as an
	// admission warning.
	Warned Outcome = "warned"
	// Ratcheted: a violation admitted because the UPDATE keeps the stored
	// spec; returned as a warning that says so.
	Ratcheted Outcome = "ratcheted"
	// Audited: the object is admitted and the entry recorded in the API
	// server's audit log only.
	Audited Outcome = "audited"
)

// Judged is an entry with its outcome.
type Judged struct {
	Entry
	Outcome Outcome
}

// Verdict is the answer for one object in one namespace.
type Verdict struct {
	// Mode is the namespace's mode. In mode off nothing is evaluated and
	// Entries is empty.
	Mode mode.Mode
	// Namespace is the object's namespace, named in the opt-out hint.
	Namespace string
	Entries   []Judged
}

// Apply gives each entry the outcome the mode m makes of it. specUnchanged
// marks an UPDATE that keeps the stored spec: its violations are admitted
// with a warning even in enforce mode, so that metadata and finalizer
// updates of objects admitted before the webhook existed never get stuck.
// A mode warning (an unrecognised mode label, read as enforce) comes last.
func Apply(m mode.Mode, modeWarning string, namespace string, entries []Entry, specUnchanged bool) Verdict {
	v := Verdict{Mode: m, Namespace: namespace}
	if m == mode.Off {
		return v
	}
	for _, e := range entries {
		if o, kept := outcome(m, e.Kind, specUnchanged); kept {
			v.Entries = append(v.Entries, Judged{Entry: e, Outcome: o})
		}
	}
	if modeWarning != "" {
		v.Entries = append(v.Entries, Judged{Outcome: Warned, Entry: Entry{
			Rule: rules.UnknownMode, Kind: Notice, Field: NamespaceLabelsField, Message: modeWarning,
		}})
	}
	return v
}

// NamespaceLabelsField is where a mode comes from: the namespace's labels.
const NamespaceLabelsField = "metadata.namespace"

func outcome(m mode.Mode, k Kind, specUnchanged bool) (Outcome, bool) {
	switch {
	case k == Notice:
		return Warned, true
	case k == Advice:
		return Warned, m != mode.Audit
	case m == mode.Audit:
		return Audited, true
	case m == mode.Warn:
		return Warned, true
	case specUnchanged:
		return Ratcheted, true
	}
	return Denied, true
}

// Allowed reports whether the object is admitted.
func (v Verdict) Allowed() bool {
	for _, e := range v.Entries {
		if e.Outcome == Denied {
			return false
		}
	}
	return true
}

// Denials are the causes of a rejection, as kubectl prints them: the
// field, "Forbidden:", failover-webhook and the rule, the message, and how
// to stop enforcement in the namespace.
func (v Verdict) Denials() field.ErrorList {
	var out field.ErrorList
	for _, e := range v.Entries {
		if e.Outcome == Denied {
			out = append(out, &field.Error{Type: field.ErrorTypeForbidden, Field: e.Field, Detail: e.cause() + v.optOutHint()})
		}
	}
	return out
}

func (v Verdict) optOutHint() string {
	return fmt.Sprintf(" (to warn instead of deny in this namespace: kubectl label namespace %s %s=warn --overwrite)", v.Namespace, keys.Enforcement)
}

// RatchetNote ends the warning of a violation admitted because the update
// keeps the spec.
const RatchetNote = " (allowed because this update does not change the spec)"

// Warnings are the admission warnings, in entry order.
func (v Verdict) Warnings() []string {
	var out []string
	for _, e := range v.Entries {
		switch e.Outcome {
		case Warned:
			out = append(out, e.String())
		case Ratcheted:
			out = append(out, e.String()+RatchetNote)
		}
	}
	return out
}

// AuditAnnotations are the response's audit annotations: the audited
// violations, under keys.AuditViolations.
func (v Verdict) AuditAnnotations() map[string]string {
	var audited []string
	for _, e := range v.Entries {
		if e.Outcome == Audited {
			audited = append(audited, e.String())
		}
	}
	if len(audited) == 0 {
		return nil
	}
	return map[string]string{keys.AuditViolations: strings.Join(audited, "; ")}
}
