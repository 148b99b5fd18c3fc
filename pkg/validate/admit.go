package validate

import (
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/pkg/mode"
)

// Admission is what the validating webhook does with a DestinationRule in
// its namespace. The webhook handler, `webhook check` and `webhook audit`
// all decide through Admit, so they cannot disagree.
type Admission struct {
	Mode mode.Mode
	// ModeWarning names an unrecognised mode label (read as enforce).
	ModeWarning string
	// Findings are the rule's findings; empty in mode off, which does not
	// evaluate the rule.
	Findings Findings
	Verdict  Verdict
}

// Admit reads the mode from nsLabels, evaluates spec (unless the mode is
// off) and judges the findings. specUnchanged marks an UPDATE that keeps
// the stored spec (see Judge).
func Admit(spec *networking.DestinationRule, nsLabels map[string]string, specUnchanged bool) Admission {
	return AdmitFor(spec, Target{}, nsLabels, specUnchanged)
}

// AdmitFor is Admit with what is known of where the rule applies (see
// EvaluateFor).
func AdmitFor(spec *networking.DestinationRule, t Target, nsLabels map[string]string, specUnchanged bool) Admission {
	m, modeWarning := mode.FromLabels(nsLabels)
	if m == mode.Off {
		return Admission{Mode: m, Verdict: Verdict{Allowed: true}}
	}
	f := EvaluateFor(spec, field.NewPath("spec"), t)
	return Admission{Mode: m, ModeWarning: modeWarning, Findings: f, Verdict: Judge(m, f, specUnchanged)}
}

// AllWarnings returns the admission warnings the webhook sends: the
// verdict's warnings, then the mode warning.
func (a Admission) AllWarnings() []string {
	if a.ModeWarning == "" {
		return a.Verdict.Warnings
	}
	return append(append([]string(nil), a.Verdict.Warnings...), a.ModeWarning)
}

// versions are the networking.istio.io versions of DestinationRule, with
// their istio.io/client-go types, whose specs decode through Istio's own
// jsonpb unmarshaler.
var versions = map[string]struct {
	object func() client.Object
	list   func() client.ObjectList
}{
	networkingv1.SchemeGroupVersion.Version: {
		func() client.Object { return &networkingv1.DestinationRule{} },
		func() client.ObjectList { return &networkingv1.DestinationRuleList{} },
	},
	networkingv1beta1.SchemeGroupVersion.Version: {
		func() client.Object { return &networkingv1beta1.DestinationRule{} },
		func() client.ObjectList { return &networkingv1beta1.DestinationRuleList{} },
	},
	networkingv1alpha3.SchemeGroupVersion.Version: {
		func() client.Object { return &networkingv1alpha3.DestinationRule{} },
		func() client.ObjectList { return &networkingv1alpha3.DestinationRuleList{} },
	},
}

// NewObject returns an empty DestinationRule of the networking.istio.io
// version ("v1", "v1beta1" or "v1alpha3"); nil for any other version.
func NewObject(version string) client.Object {
	if v, ok := versions[version]; ok {
		return v.object()
	}
	return nil
}

// NewList returns an empty DestinationRuleList of the networking.istio.io
// version; nil for any other version.
func NewList(version string) client.ObjectList {
	if v, ok := versions[version]; ok {
		return v.list()
	}
	return nil
}
