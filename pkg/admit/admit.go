// Package admit holds the request checks and bookkeeping both admission
// handlers share, so policy packages only hold policy.
package admit

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/failover-webhook/failover-webhook/pkg/metrics"
)

// CheckResource returns an error response when the request is for none of
// want: a misconfigured webhook rule must fail loudly, never allow silently.
func CheckResource(req admission.Request, webhookKind string, want ...schema.GroupVersionResource) *admission.Response {
	got := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
	if slices.Contains(want, got) {
		return nil
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = describe(w)
	}
	resp := admission.Errored(http.StatusBadRequest, fmt.Errorf(
		"this webhook admits %s, not %s; check the rules of the %s webhook configuration",
		strings.Join(names, " or "), describe(got), webhookKind))
	return &resp
}

func describe(r schema.GroupVersionResource) string {
	if r.Resource == "" {
		return "a request without a resource"
	}
	if r.Group == "" {
		return r.Version + "/" + r.Resource
	}
	return r.Resource + "." + r.Group + "/" + r.Version
}

// Outcome classifies a response for the decisions metric.
func Outcome(resp admission.Response) metrics.Decision {
	switch {
	case resp.Allowed && len(resp.Patches) > 0:
		return metrics.Mutated
	case resp.Allowed && len(resp.AuditAnnotations) > 0:
		return metrics.Audited
	case resp.Allowed && len(resp.Warnings) > 0:
		return metrics.Warned
	case resp.Allowed:
		return metrics.Allowed
	case resp.Result != nil && resp.Result.Reason == metav1.StatusReasonInvalid:
		return metrics.Denied
	}
	return metrics.Errored
}

// IsDryRun reports whether the request will not be persisted.
func IsDryRun(req admission.Request) bool {
	return req.DryRun != nil && *req.DryRun
}

// CheckTypeMeta returns an error unless raw declares exactly the apiVersion
// and kind want. The API server always sends both; an object without them
// would otherwise decode silently as whatever type it is decoded into.
// Keys are matched case-sensitively, as the API machinery decodes objects.
func CheckTypeMeta(raw []byte, want schema.GroupVersionKind) error {
	var tm metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &tm); err != nil {
		return fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	return checkDeclared(tm.GroupVersionKind(), want)
}

// checkDeclared returns an error unless got, the apiVersion and kind an
// object declares, is want.
func checkDeclared(got, want schema.GroupVersionKind) error {
	switch {
	case got.Kind == "":
		return fmt.Errorf("the object has no kind; want kind %s, apiVersion %s", want.Kind, want.GroupVersion())
	case got.Version == "":
		return fmt.Errorf("the object has no apiVersion; want apiVersion %s", want.GroupVersion())
	case got != want:
		return fmt.Errorf("the object is a %s %s, want %s %s", got.GroupVersion(), got.Kind, want.GroupVersion(), want.Kind)
	}
	return nil
}

// Typed is an object that records its apiVersion and kind: any type with
// an inline metav1.TypeMeta.
type Typed interface {
	GetObjectKind() schema.ObjectKind
}

// DecodeInto checks that raw, an object of an admission request, declares
// want, and decodes it into the typed object into: what controller-runtime's
// decoder does for a registered type (the same case-sensitive JSON decoding
// as the API machinery), reading raw once. The typed decode fills in the
// object's apiVersion and kind, so they are checked after it; only when it
// fails is raw read again, so that a wrong kind is reported before the
// type errors it causes.
func DecodeInto(raw []byte, want schema.GroupVersionKind, into Typed) error {
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, into); err != nil {
		if typeErr := CheckTypeMeta(raw, want); typeErr != nil {
			return typeErr
		}
		return err
	}
	return checkDeclared(into.GetObjectKind().GroupVersionKind(), want)
}
