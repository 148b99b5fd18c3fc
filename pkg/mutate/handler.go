package mutate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/admit"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
)

// Path is where the API server sends Service admission reviews.
const Path = "/mutate-service"

var serviceResource = corev1.SchemeGroupVersion.WithResource("services")

// Handler is the mutating webhook: the shared admission skeleton with
// Service decoding and Admit.
type Handler struct {
	admit.Handler[*corev1.Service]
	defaultWaypoint string
}

// NewHandler returns a Handler reading namespace labels from ns and using
// defaultWaypoint when neither a Service nor its namespace names one.
func NewHandler(ns namespaces.LabelGetter, defaultWaypoint string) *Handler {
	h := &Handler{defaultWaypoint: defaultWaypoint}
	h.Handler = admit.NewHandler(ns, admit.Policy[*corev1.Service]{
		Webhook:       metrics.WebhookMutate,
		Configuration: "mutating",
		Kind:          serviceKind.GroupKind(),
		Resources:     []schema.GroupVersionResource{serviceResource},
		Decode:        decode,
		Decide:        h.decide,
	})
	return h
}

func (h *Handler) decide(_ context.Context, req admission.Request, svc, old *corev1.Service, nsLabels map[string]string) (admit.Decision, error) {
	if svc.Namespace == "" {
		// The API server sends the namespace beside the object when the
		// client left it out.
		svc.Namespace = req.Namespace
	}
	res := Admit(Input{Service: svc, OldService: old, NamespaceLabels: nsLabels, DefaultWaypoint: h.defaultWaypoint})
	d := admit.Decision{Verdict: res.Verdict, Name: svc.Name}
	if !res.Changed {
		return d, nil
	}
	var err error
	if d.Original, d.Mutated, err = patchDocuments(svc, res.Service); err != nil {
		return d, fmt.Errorf("encoding the Service's labels: %w", err)
	}
	return d, nil
}

// patchDocuments returns the two documents PatchResponseFromRaw diffs into
// the patch. Only metadata.labels and metadata.annotations ever change, so
// the documents hold only those, and within them only the keys whose values
// differ: {"metadata":{"labels":{...},"annotations":{...}}}. The diff of these
// is the diff of the whole objects (nothing else differs, and unchanged keys
// produce no operation), for a fraction of the cost of encoding and parsing
// every key, and the patch never touches other fields, such as those this
// build's k8s.io/api does not know (a newer API server's). An empty map is
// absent, as in WithMetadata: a map that appears is added whole, one that
// disappears is removed.
func patchDocuments(before, after *corev1.Service) (original, mutated []byte, err error) {
	var o, m patchDocument
	changedKeys(&o.Metadata.Labels, &m.Metadata.Labels, before.Labels, after.Labels)
	changedKeys(&o.Metadata.Annotations, &m.Metadata.Annotations, before.Annotations, after.Annotations)
	if original, err = json.Marshal(&o); err != nil {
		return nil, nil, err
	}
	mutated, err = json.Marshal(&m)
	return original, mutated, err
}

// patchDocument is {"metadata":{"labels":{...},"annotations":{...}}}, a
// field absent when nil and an object (even empty) otherwise.
type patchDocument struct {
	Metadata struct {
		Labels      *map[string]string `json:"labels,omitempty"`
		Annotations *map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
}

// changedKeys sets a field of both documents as the diff needs it: absent
// from both when empty in both, the whole map when it appears, an empty
// object about to disappear when it does, and otherwise the keys whose
// values differ on each side.
func changedKeys(original, mutated **map[string]string, before, after map[string]string) {
	switch {
	case len(before) == 0 && len(after) == 0:
	case len(before) == 0:
		*mutated = &after
	case len(after) == 0:
		*original = &map[string]string{}
	default:
		o, m := differing(before, after), differing(after, before)
		*original, *mutated = &o, &m
	}
}

// differing returns the entries of values that other lacks or holds
// another value for.
func differing(values, other map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range values {
		if o, ok := other[k]; !ok || o != v {
			out[k] = v
		}
	}
	return out
}

var serviceKind = corev1.SchemeGroupVersion.WithKind("Service")

// serviceMetadata is the part of a Service the rules and the patch read.
// The handler decodes only this: the API server sends the whole object,
// managedFields included, and decoding and copying the spec and the
// managedFields the rules never read cost more than the rules themselves
// (docs/benchmarks.md has the measurement).
type serviceMetadata struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		Name         string            `json:"name,omitempty"`
		GenerateName string            `json:"generateName,omitempty"`
		Namespace    string            `json:"namespace,omitempty"`
		Labels       map[string]string `json:"labels,omitempty"`
		Annotations  map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
}

// decode returns the Service of an admission request, with only the
// metadata the rules read. Services have one version.
func decode(raw []byte, _ string) (*corev1.Service, error) {
	var in serviceMetadata
	if err := admit.DecodeInto(raw, serviceKind, &in); err != nil {
		return nil, err
	}
	m := in.Metadata
	return &corev1.Service{TypeMeta: in.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, GenerateName: m.GenerateName, Namespace: m.Namespace, Labels: m.Labels, Annotations: m.Annotations,
	}}, nil
}

// WithMetadata returns raw with its labels and annotations replaced. The
// patch is computed against this rather than the re-encoded typed Service,
// so fields this build's k8s.io/api does not know (a newer API server's)
// are never removed by the patch.
func WithMetadata(raw []byte, labels, annotations map[string]string) ([]byte, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep integers exact
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	for key, value := range map[string]map[string]string{"labels": labels, "annotations": annotations} {
		if len(value) == 0 {
			delete(meta, key)
		} else {
			meta[key] = value
		}
	}
	return json.Marshal(obj)
}
