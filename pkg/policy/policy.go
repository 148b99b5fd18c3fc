// Package policy judges objects away from admission, for `webhook check`
// (manifests) and `webhook audit` (a live cluster): it asks the same
// decision functions the webhook handlers ask (mutate.Admit and
// validate.Admit) and reports their answers as findings, one per field.
package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/pkg/gateway"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Severity says what a finding means for the object at admission.
type Severity string

const (
	// Error: the webhook denies the object (its namespace enforces).
	Error Severity = "error"
	// Warning: the webhook admits it and returns the finding as a warning,
	// which kubectl prints.
	Warning Severity = "warning"
	// Audit: the webhook admits it and records the finding in the API
	// server's audit log only.
	Audit Severity = "audit"
	// Mutation: the webhook changes the object; never a failure.
	Mutation Severity = "mutation"
	// Drift: clusters hold different configurations of the object, which
	// changes how failover between them behaves (`webhook audit` with
	// several clusters).
	Drift Severity = "drift"
)

// Finding is one thing the webhook says or does about one object.
type Finding struct {
	// File, Doc, Line and Column place a finding about an object read
	// from manifests: the file, the document's position in it (from 1),
	// and the line and column of the offending field in the file (of the
	// deepest part of its path the file holds, when the fix would add the
	// field). They are empty for objects read from a cluster.
	File   string `json:"file,omitempty"`
	Doc    int    `json:"doc,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Cluster names the cluster an object was read from when several
	// clusters are audited at once.
	Cluster string `json:"cluster,omitempty"`
	// Clusters are the clusters a Drift finding compares.
	Clusters []string `json:"clusters,omitempty"`

	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Rule      rules.ID `json:"rule"`
	Field     string   `json:"field"`
	Severity  Severity `json:"severity"`
	Message   string   `json:"message"`

	// Fixed marks a mutation `webhook audit --fix` applied.
	Fixed bool `json:"fixed,omitempty"`
	// Fix is a command that repairs a violation `webhook audit --fix`
	// does not repair itself.
	Fix string `json:"fix,omitempty"`
}

// Field paths of findings that are not about the spec.
const (
	LabelsField      = "metadata.labels"
	AnnotationsField = "metadata.annotations"
	NamespaceField   = verdict.NamespaceLabelsField
)

// Kinds of the objects the webhook admits.
const (
	ServiceKind         = "Service"
	DestinationRuleKind = "DestinationRule"
)

// Kinds of the other objects findings name.
const (
	NamespaceKind  = "Namespace"
	DeploymentKind = "Deployment"
	GatewayKind    = "Gateway"
)

// Namespaces gives the labels the webhook would read for each namespace.
type Namespaces struct {
	// Labels are the namespaces' own labels, by name.
	Labels map[string]map[string]string
	// Modes override the mode label of the named namespaces.
	Modes map[string]mode.Mode
	// DefaultMode, when set, is the mode of a namespace whose labels and
	// Modes name none (the webhook reads that as enforce).
	DefaultMode mode.Mode
	// Excluded are namespaces the webhook configurations never send to
	// the webhook (kube-system, the webhook's own namespace).
	Excluded []string
}

// LabelsOf returns the labels of namespace name with the overrides applied.
func (n Namespaces) LabelsOf(name string) map[string]string {
	labels := maps.Clone(n.Labels[name])
	m, override := n.Modes[name]
	if !override {
		if _, labeled := labels[keys.Enforcement]; labeled || n.DefaultMode == "" {
			return labels
		}
		m = n.DefaultMode
	}
	if labels == nil {
		labels = map[string]string{}
	}
	labels[keys.Enforcement] = string(m)
	return labels
}

// IsExcluded reports a namespace the webhook never sees.
func (n Namespaces) IsExcluded(name string) bool {
	return slices.Contains(n.Excluded, name)
}

// Config is how `webhook check` and `webhook audit` judge objects, from
// the flags both take: the webhook's own settings, and what-if modes.
type Config struct {
	// NamespaceModes override the modes the namespaces' labels set.
	NamespaceModes map[string]mode.Mode
	// DefaultMode, when set, is the mode of a namespace that nothing else
	// gives one (check only: a live namespace always has its labels).
	DefaultMode mode.Mode
	// ExcludedNamespaces are the namespaces the webhook never sees.
	ExcludedNamespaces []string
	// WaypointName is the webhook's --waypoint-name.
	WaypointName string
}

// Evaluator returns the Evaluator of c, for namespaces with labels and
// the Services services reads.
func (c Config) Evaluator(labels map[string]map[string]string, services func(types.NamespacedName) *corev1.Service) Evaluator {
	return Evaluator{
		Namespaces: Namespaces{
			Labels:      labels,
			Modes:       c.NamespaceModes,
			DefaultMode: c.DefaultMode,
			Excluded:    c.ExcludedNamespaces,
		},
		DefaultWaypoint: c.WaypointName,
		Services:        services,
	}
}

// Evaluator judges objects as the webhook would admit them on CREATE.
type Evaluator struct {
	Namespaces Namespaces
	// DefaultWaypoint is the webhook's --waypoint-name.
	DefaultWaypoint string
	// Services looks up the Service a DestinationRule's host names, whose
	// ports are the scopes Istio builds a waypoint's clusters for; it
	// returns nil for one it does not have. A nil Services reads none.
	Services func(types.NamespacedName) *corev1.Service
}

// Outcome is what the webhook does with one object.
type Outcome struct {
	Findings []Finding
	// Denied: the webhook rejects the object.
	Denied bool
	// Mutated is the Service as the webhook admits it; nil when the
	// webhook leaves it as it is.
	Mutated *corev1.Service
	// Violations are a DestinationRule's violations of the rule, whatever
	// the mode made of them; nil in mode off.
	Violations []verdict.Entry
	// Mode is the object's namespace's mode; empty when Excluded.
	Mode mode.Mode
	// Excluded: the webhook never sees the object's namespace.
	Excluded bool
}

// Service judges svc, whose namespace must be set, as the mutating webhook
// would on CREATE: mutations first, then warnings.
func (e Evaluator) Service(svc *corev1.Service) Outcome {
	if e.Namespaces.IsExcluded(svc.Namespace) {
		return Outcome{Excluded: true}
	}
	adm := mutate.Admit(mutate.Input{Service: svc, NamespaceLabels: e.Namespaces.LabelsOf(svc.Namespace), DefaultWaypoint: e.DefaultWaypoint})
	out := Outcome{Mode: adm.Verdict.Mode}
	if adm.Changed {
		out.Mutated = adm.Service
		if change := describeChange(svc.Labels, adm.Service.Labels); change != "" {
			out.Findings = append(out.Findings, newFinding(ServiceKind, svc, rules.ServiceMutated, LabelsField, Mutation, "would "+change))
		}
		if change := describeChange(svc.Annotations, adm.Service.Annotations); change != "" {
			out.Findings = append(out.Findings, newFinding(ServiceKind, svc, rules.ServiceMutated, AnnotationsField, Mutation, "would "+change))
		}
	}
	out.Findings = append(out.Findings, judged(ServiceKind, svc, adm.Verdict)...)
	return out
}

// DestinationRule judges dr, a DestinationRule of any networking.istio.io
// version whose namespace must be set, as the validating webhook would on
// CREATE. Its findings are the verdict's entries with the severity their
// outcome gives: denials as errors, admission warnings as warnings, and
// audit annotations as audit findings.
func (e Evaluator) DestinationRule(dr client.Object) Outcome {
	if e.Namespaces.IsExcluded(dr.GetNamespace()) {
		return Outcome{Excluded: true}
	}
	spec := validate.Spec(dr)
	v := validate.Admit(spec, validate.TargetOf(spec, dr.GetNamespace(), e.Services), e.Namespaces.LabelsOf(dr.GetNamespace()), false)
	out := Outcome{Mode: v.Mode, Denied: !v.Allowed(), Findings: judged(DestinationRuleKind, dr, v)}
	for _, j := range v.Entries {
		if j.Kind == verdict.Violation {
			out.Violations = append(out.Violations, j.Entry)
		}
	}
	return out
}

// severities say how each outcome of a verdict is reported.
var severities = map[verdict.Outcome]Severity{
	verdict.Denied:    Error,
	verdict.Warned:    Warning,
	verdict.Ratcheted: Warning,
	verdict.Audited:   Audit,
}

// judged returns a finding per entry of v.
func judged(kind string, obj client.Object, v verdict.Verdict) []Finding {
	out := make([]Finding, 0, len(v.Entries))
	for _, j := range v.Entries {
		out = append(out, newFinding(kind, obj, j.Rule, j.Field, severities[j.Outcome], j.Message))
	}
	return out
}

func newFinding(kind string, obj client.Object, rule rules.ID, field string, sev Severity, msg string) Finding {
	name := obj.GetName()
	if name == "" && obj.GetGenerateName() != "" {
		name = obj.GetGenerateName() + "*"
	}
	return Finding{Kind: kind, Namespace: obj.GetNamespace(), Name: name, Rule: rule, Field: field, Severity: sev, Message: msg}
}

// describeChange says how after differs from before, e.g.
// `set istio.io/global=true, istio.io/use-waypoint=waypoint and remove x`;
// "" when they are equal.
func describeChange(before, after map[string]string) string {
	var set, removed []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		old, had := before[k]
		switch {
		case !had:
			set = append(set, k+"="+after[k])
		case old != after[k]:
			set = append(set, fmt.Sprintf("%s=%s (was %q)", k, after[k], old))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, kept := after[k]; !kept {
			removed = append(removed, k)
		}
	}
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "remove "+strings.Join(removed, ", "))
	}
	return strings.Join(parts, " and ")
}

// MarkFixed turns a mutation finding ("would set ...") into the record of
// the change made.
func MarkFixed(f Finding) Finding {
	f.Message = strings.TrimPrefix(f.Message, "would ")
	f.Fixed = true
	return f
}

// Gateway judges gw, a Gateway API Gateway as unstructured content whose
// namespace must be set: a waypoint Gateway labeled for failover whose
// label never reaches its Service, because the Gateway sets
// spec.infrastructure.labels without it, is a warning (FW412). Other
// Gateways have no findings.
func (e Evaluator) Gateway(u *unstructured.Unstructured) Outcome {
	if e.Namespaces.IsExcluded(u.GetNamespace()) {
		return Outcome{Excluded: true}
	}
	gw := gateway.Of(u)
	if gw.Class != gateway.WaypointClass {
		return Outcome{}
	}
	var out Outcome
	reaching := gw.LabelsReachingService()
	key := types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()}
	for _, k := range []string{keys.Trigger, keys.Global} {
		v, labeled := gw.Labels[k]
		if !labeled || reaching[k] == v {
			continue
		}
		f := newFinding(GatewayKind, u, rules.GatewayLabelNotCopied, field.NewPath("metadata", "labels").Key(k).String(), Warning,
			fmt.Sprintf("%s=%s on the Gateway never reaches its waypoint's Service: the Gateway sets spec.infrastructure.labels, so Istio copies those onto the Service instead of the Gateway's own labels", k, v))
		f.Fix = gateway.LabelCommand("", key, gw, k, v)
		out.Findings = append(out.Findings, f)
	}
	return out
}
