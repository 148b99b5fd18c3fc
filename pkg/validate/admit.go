package validate

import (
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Admit is what the validating webhook does with a DestinationRule in its
// namespace: it reads the mode from nsLabels, evaluates spec unless the
// mode is off, and applies the mode to the findings. The webhook handler,
// `webhook check` and `webhook audit` all decide through Admit, so they
// cannot disagree. t says what is known of where the rule applies (see
// EvaluateFor); specUnchanged marks an UPDATE that keeps the stored spec
// (see verdict.Apply).
func Admit(spec *networking.DestinationRule, t Target, nsLabels map[string]string, specUnchanged bool) verdict.Verdict {
	m, modeWarning := mode.FromLabels(nsLabels)
	if m == mode.Off {
		return verdict.Apply(m, "", t.Namespace, nil, false)
	}
	if t.Waypoint.Name == "" && t.Service != nil && t.ServiceKey.Namespace == t.Namespace {
		// nsLabels are the Service's namespace's too: its
		// istio.io/use-waypoint names the waypoint when the Service's
		// own labels do not.
		t.Waypoint = waypointOf(t.ServiceKey, t.Service.Labels, nsLabels)
	}
	f := EvaluateFor(spec, field.NewPath("spec"), t)
	return verdict.Apply(m, modeWarning, t.Namespace, f.Entries(), specUnchanged)
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
