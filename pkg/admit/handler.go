package admit

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Policy is what one webhook adds to the steps every admission takes: the
// kind it admits, how to decode it, and how to decide. T is the decoded
// object, usually only the part of it the rules read.
type Policy[T any] struct {
	// Webhook labels the decisions metric (metrics.WebhookMutate or
	// metrics.WebhookValidate).
	Webhook string
	// Configuration names the webhook configuration kind ("mutating" or
	// "validating") in the error for a request of another resource.
	Configuration string
	// Kind is the admitted kind; Resources are its resources in every
	// served version.
	Kind      schema.GroupKind
	Resources []schema.GroupVersionResource
	// Decode reads an object of the request's resource version; raw is
	// never empty.
	Decode func(raw []byte, version string) (T, error)
	// DecodeOld reads the stored object of an UPDATE; nil uses Decode. A
	// policy that reads less of the stored object than of the new one
	// saves decoding the rest on every update.
	DecodeOld func(raw []byte, version string) (T, error)
	// Decide judges the object in a namespace with nsLabels. old is the
	// stored object of an UPDATE and nil on CREATE.
	Decide func(ctx context.Context, req admission.Request, object, old T, nsLabels map[string]string) (Decision, error)
}

// Decision is a policy's answer: the verdict, and for a mutation the two
// documents the JSON patch is the diff of.
type Decision struct {
	Verdict verdict.Verdict
	// Name is the object's name (or generateName) for a denial's details.
	Name string
	// Original and Mutated are diffed into the patch (controller-runtime's
	// PatchResponseFromRaw); both nil when the object is not changed.
	Original, Mutated []byte
}

// Handler is the admission skeleton both webhooks share: the decisions
// metric, the resource check, the operation filter, decoding the new and
// old objects, the namespace's labels, and rendering the verdict into a
// response. Only decoding and deciding differ between the webhooks.
type Handler[T any] struct {
	namespaces namespaces.LabelGetter
	policy     Policy[T]
}

var _ admission.Handler = &Handler[struct{}]{}

// NewHandler returns the skeleton for policy, reading namespace labels
// from ns.
func NewHandler[T any](ns namespaces.LabelGetter, policy Policy[T]) Handler[T] {
	return Handler[T]{namespaces: ns, policy: policy}
}

// Handle implements admission.Handler.
func (h *Handler[T]) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	nsMode := ""
	defer func() {
		metrics.RecordDecision(h.policy.Webhook, Outcome(resp), nsMode, IsDryRun(req))
	}()

	if bad := CheckResource(req, h.policy.Configuration, h.policy.Resources...); bad != nil {
		return *bad
	}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed(fmt.Sprintf("operation %s is not admitted by this webhook", req.Operation))
	}
	object, err := h.decode(h.policy.Decode, req.Object.Raw, req.Resource.Version, "")
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var old T
	if req.Operation == admissionv1.Update {
		decodeOld := h.policy.DecodeOld
		if decodeOld == nil {
			decodeOld = h.policy.Decode
		}
		if old, err = h.decode(decodeOld, req.OldObject.Raw, req.Resource.Version, "old "); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	nsLabels, err := h.namespaces.NamespaceLabels(ctx, req.Namespace)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	d, err := h.policy.Decide(ctx, req, object, old, nsLabels)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	v := d.Verdict
	nsMode = string(v.Mode)
	switch {
	case v.Mode == mode.Off:
		return admission.Allowed("namespace mode is off")
	case !v.Allowed():
		denials := v.Denials()
		log.FromContext(ctx).V(1).Info("denying "+h.policy.Kind.Kind, "namespace", req.Namespace, "name", d.Name, "violations", len(denials))
		status := apierrors.NewInvalid(h.policy.Kind, d.Name, denials).ErrStatus
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
			Allowed:  false,
			Result:   &status,
			Warnings: v.Warnings(),
		}}
	case d.Original != nil:
		log.FromContext(ctx).V(1).Info("mutating "+h.policy.Kind.Kind, "namespace", req.Namespace, "name", d.Name, "operation", req.Operation)
		resp = admission.PatchResponseFromRaw(d.Original, d.Mutated)
	default:
		resp = admission.Allowed("")
	}
	resp = resp.WithWarnings(v.Warnings()...)
	resp.AuditAnnotations = v.AuditAnnotations()
	return resp
}

// decode reads one object of the request with decode; which is "" for the
// object and "old " for the stored one of an UPDATE.
func (h *Handler[T]) decode(decode func([]byte, string) (T, error), raw []byte, version, which string) (T, error) {
	var zero T
	var err error
	obj := zero
	if len(raw) == 0 {
		err = fmt.Errorf("the request has no object")
	} else {
		obj, err = decode(raw, version)
	}
	if err != nil {
		return zero, fmt.Errorf("decoding the %s%s in the admission request: %w", which, h.policy.Kind.Kind, err)
	}
	return obj, nil
}
