package mutate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/admit"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
)

// Path is where the API server sends Service admission reviews.
const Path = "/mutate-service"

var serviceResource = corev1.SchemeGroupVersion.WithResource("services")

// Handler adapts Decide to admission requests.
type Handler struct {
	namespaces      namespaces.LabelGetter
	defaultWaypoint string
}

var _ admission.Handler = &Handler{}

// NewHandler returns a Handler reading namespace labels from ns and using
// defaultWaypoint when neither a Service nor its namespace names one.
func NewHandler(ns namespaces.LabelGetter, defaultWaypoint string) *Handler {
	return &Handler{namespaces: ns, defaultWaypoint: defaultWaypoint}
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	nsMode := ""
	defer func() {
		metrics.RecordDecision(metrics.WebhookMutate, admit.Outcome(resp), nsMode, admit.IsDryRun(req))
	}()

	if bad := admit.CheckResource(req, "mutating", serviceResource); bad != nil {
		return *bad
	}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed(fmt.Sprintf("operation %s is not mutated", req.Operation))
	}

	svc, err := h.decode(req.Object)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the Service in the admission request: %w", err))
	}
	var old *corev1.Service
	if req.Operation == admissionv1.Update {
		if old, err = h.decode(req.OldObject); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old Service in the admission request: %w", err))
		}
	}

	nsLabels, err := h.namespaces.NamespaceLabels(ctx, req.Namespace)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	res := Admit(Input{Service: svc, OldService: old, NamespaceLabels: nsLabels, DefaultWaypoint: h.defaultWaypoint})
	nsMode = string(res.Mode)
	if res.Mode == mode.Off {
		return admission.Allowed("namespace mode is off")
	}
	warnings := res.AllWarnings()
	if !res.Changed {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	original, mutated := patchDocuments(svc, res.Service)
	log.FromContext(ctx).V(1).Info("mutating Service", "namespace", req.Namespace, "name", req.Name, "operation", req.Operation)
	return admission.PatchResponseFromRaw(original, mutated).WithWarnings(warnings...)
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
func patchDocuments(before, after *corev1.Service) (original, mutated []byte) {
	original = append(make([]byte, 0, 256), `{"metadata":{`...)
	mutated = append(make([]byte, 0, 256), `{"metadata":{`...)
	original, mutated = appendChangedKeys(original, mutated, "labels", before.Labels, after.Labels)
	original, mutated = appendChangedKeys(original, mutated, "annotations", before.Annotations, after.Annotations)
	return append(original, "}}"...), append(mutated, "}}"...)
}

// appendChangedKeys adds the field name to both documents as the diff
// needs it: absent from both when empty in both, the whole map when it
// appears, an empty object about to disappear when it does, and otherwise
// the keys whose values differ on each side.
func appendChangedKeys(original, mutated []byte, name string, before, after map[string]string) ([]byte, []byte) {
	switch {
	case len(before) == 0 && len(after) == 0:
		return original, mutated
	case len(before) == 0:
		return original, appendField(mutated, name, after, nil)
	case len(after) == 0:
		return appendField(original, name, nil, nil), mutated
	}
	return appendField(original, name, before, after), appendField(mutated, name, after, before)
}

// appendField appends "name":{...} with the entries of values that other,
// when not nil, lacks or holds another value for.
func appendField(doc []byte, name string, values, other map[string]string) []byte {
	if doc[len(doc)-1] != '{' {
		doc = append(doc, ',')
	}
	doc = appendString(doc, name)
	doc = append(doc, ":{"...)
	first := true
	for k, v := range values {
		if o, ok := other[k]; other != nil && ok && o == v {
			continue
		}
		if !first {
			doc = append(doc, ',')
		}
		first = false
		doc = append(appendString(doc, k), ':')
		doc = appendString(doc, v)
	}
	return append(doc, '}')
}

// appendString appends s as a JSON string: as it is when it is printable
// ASCII needing no escape (label keys and values always are), through
// encoding/json otherwise.
func appendString(doc []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(doc, quoted...)
		}
	}
	doc = append(doc, '"')
	doc = append(doc, s...)
	return append(doc, '"')
}

var serviceKind = corev1.SchemeGroupVersion.WithKind("Service")

func (h *Handler) decode(raw runtime.RawExtension) (*corev1.Service, error) {
	if len(raw.Raw) == 0 {
		return nil, fmt.Errorf("the admission request has no object to mutate")
	}
	svc := &corev1.Service{}
	if err := admit.DecodeInto(raw.Raw, serviceKind, svc); err != nil {
		return nil, err
	}
	return svc, nil
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
