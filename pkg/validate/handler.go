package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/admit"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
)

// Path is where the API server sends DestinationRule admission reviews.
const Path = "/validate-destinationrule"

// GroupKind is the kind this package validates, in every served version.
var GroupKind = schema.GroupKind{Group: networkingv1.GroupName, Kind: "DestinationRule"}

var resources = []schema.GroupVersionResource{
	networkingv1.SchemeGroupVersion.WithResource("destinationrules"),
	networkingv1beta1.SchemeGroupVersion.WithResource("destinationrules"),
	networkingv1alpha3.SchemeGroupVersion.WithResource("destinationrules"),
}

// Handler is the validating webhook: the shared admission skeleton with
// DestinationRule decoding and Admit.
type Handler struct {
	admit.Handler[*admittedRule]
	// services reads the Service a DestinationRule that declares failover
	// is for; nil reads none (conservative scopes).
	services ServiceReader
}

// ServiceReader gets a Service by name: nil and no error when it does not
// exist. The Service may be shared; it is only read.
type ServiceReader interface {
	Service(ctx context.Context, key types.NamespacedName) (*corev1.Service, error)
}

// NewHandler returns a Handler reading namespace modes from ns.
func NewHandler(ns namespaces.LabelGetter) *Handler {
	h := &Handler{}
	h.Handler = admit.NewHandler(ns, admit.Policy[*admittedRule]{
		Webhook:       metrics.WebhookValidate,
		Configuration: "validating",
		Kind:          GroupKind,
		Resources:     resources,
		Decode:        decode,
		DecodeOld:     decodeStored,
		Decide:        h.decide,
	})
	return h
}

// WithServices makes h read, through r (services.Reader: a get by name),
// the Service the host of a DestinationRule that declares failover names:
// its ports are the scopes Istio builds a waypoint's clusters for.
// DestinationRule writes are rare, and a rule without failover reads
// nothing.
func (h *Handler) WithServices(r ServiceReader) *Handler {
	h.services = r
	return h
}

// serviceLookup returns a lookup of Services for TargetOf, or nil when h
// reads none. A Service that cannot be read is treated as absent: the rule
// then uses its conservative scopes, and unread reports that its message
// should say so.
func (h *Handler) serviceLookup(ctx context.Context) (lookup func(types.NamespacedName) *corev1.Service, unread func() bool) {
	if h.services == nil {
		return nil, func() bool { return false }
	}
	failed := false
	return func(key types.NamespacedName) *corev1.Service {
		svc, err := h.services.Service(ctx, key)
		if err != nil {
			log.FromContext(ctx).Error(err, "reading the Service of a DestinationRule; judging on conservative scopes", "service", key)
			failed = true
			return nil
		}
		return svc
	}, func() bool { return failed }
}

func (h *Handler) decide(ctx context.Context, req admission.Request, dr, old *admittedRule, nsLabels map[string]string) (admit.Decision, error) {
	name := dr.Metadata.Name
	if name == "" {
		name = dr.Metadata.GenerateName
	}
	lookup, unread := h.serviceLookup(ctx)
	if m, _ := mode.FromLabels(nsLabels); m == mode.Off {
		// Admit judges nothing in such a namespace: a live read, which
		// may wait for the read rate, would be spent for nothing.
		lookup = nil
	}
	target := TargetOf(dr.spec, req.Namespace, lookup)
	target.ServiceUnread = unread()
	// An UPDATE that keeps the stored spec is ratcheted (verdict.Apply).
	// The API server encodes both objects the same way, so a spec whose
	// bytes did not change is unchanged; one whose bytes changed may
	// still be the same spec in other words (a duration written another
	// way), which matters only when the rule is denied: only then are
	// both specs decoded whole and compared.
	unchanged := old != nil && bytes.Equal(old.RawSpec, dr.RawSpec)
	v := Admit(dr.spec, target, nsLabels, unchanged)
	if old != nil && !unchanged && !v.Allowed() {
		same, err := sameSpec(old.RawSpec, dr.RawSpec)
		if err != nil {
			return admit.Decision{}, err
		}
		if same {
			v = Admit(dr.spec, target, nsLabels, true)
		}
	}
	return admit.Decision{Verdict: v, Name: name}, nil
}

// sameSpec reports whether two specs are the same DestinationRule spec,
// decoded whole through jsonpb.
func sameSpec(a, b []byte) (bool, error) {
	specA, err := decodeSpecJSONPB(a)
	if err != nil {
		return false, fmt.Errorf("decoding the old DestinationRule's spec: %w", err)
	}
	specB, err := decodeSpecJSONPB(b)
	if err != nil {
		return false, fmt.Errorf("decoding the DestinationRule's spec: %w", err)
	}
	return proto.Equal(specA, specB), nil
}

// admittedRule is the part of a DestinationRule the rule and the answer
// read: its name and its spec. The API server sends the whole object,
// managedFields included, and decoding metadata the rule never reads is a
// cost on every request. The spec is kept as sent, for the ratchet, and
// decoded as decodeAdmittedSpec explains.
type admittedRule struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		Name         string `json:"name,omitempty"`
		GenerateName string `json:"generateName,omitempty"`
	} `json:"metadata"`
	RawSpec json.RawMessage `json:"spec"`
	spec    *networking.DestinationRule
}

// decode reads a DestinationRule of the given networking.istio.io version.
func decode(raw []byte, version string) (*admittedRule, error) {
	dr, err := decodeStored(raw, version)
	if err != nil {
		return nil, err
	}
	spec, err := decodeAdmittedSpec(dr.RawSpec)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	dr.spec = spec
	return dr, nil
}

// decodeStored reads the stored DestinationRule of an UPDATE: its name and
// its spec as sent, which decide compares with the new one's; its spec is
// decoded (sameSpec) only when the comparison of the bytes cannot tell.
func decodeStored(raw []byte, version string) (*admittedRule, error) {
	if _, ok := versions[version]; !ok {
		return nil, fmt.Errorf("networking.istio.io has no DestinationRule version %q", version)
	}
	dr := &admittedRule{}
	if err := admit.DecodeInto(raw, GroupKind.WithVersion(version), dr); err != nil {
		return nil, err
	}
	if bytes.Equal(dr.RawSpec, []byte("null")) {
		dr.RawSpec = nil
	}
	return dr, nil
}

// Spec returns the spec of a DestinationRule of any version; all three
// client-go types embed the same istio.io/api message.
func Spec(obj client.Object) *networking.DestinationRule {
	switch dr := obj.(type) {
	case *networkingv1.DestinationRule:
		return &dr.Spec
	case *networkingv1beta1.DestinationRule:
		return &dr.Spec
	case *networkingv1alpha3.DestinationRule:
		return &dr.Spec
	}
	panic(fmt.Sprintf("not a DestinationRule: %T", obj))
}
