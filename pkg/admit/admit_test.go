package admit_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/admit"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
)

var (
	services = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	drV1     = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	drV1beta = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "destinationrules"}
)

func requestFor(r metav1.GroupVersionResource) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Resource: r}}
}

func TestCheckResource(t *testing.T) {
	tests := map[string]struct {
		resource metav1.GroupVersionResource
		want     []schema.GroupVersionResource
		kind     string

		wantMessage string // empty: the request passes
	}{
		"a Service request passes the mutating check": {
			resource: metav1.GroupVersionResource{Version: "v1", Resource: "services"},
			want:     []schema.GroupVersionResource{services}, kind: "mutating",
		},
		"any of several wanted versions passes": {
			resource: metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "destinationrules"},
			want:     []schema.GroupVersionResource{drV1, drV1beta}, kind: "validating",
		},
		"another core resource fails, naming both and the webhook configuration to fix": {
			resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			want:     []schema.GroupVersionResource{services}, kind: "mutating",
			wantMessage: "this webhook admits v1/services, not v1/configmaps; check the rules of the mutating webhook configuration",
		},
		"a grouped resource is named resource.group/version, wanted ones joined with or": {
			resource: metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
			want:     []schema.GroupVersionResource{drV1, drV1beta}, kind: "validating",
			wantMessage: "this webhook admits destinationrules.networking.istio.io/v1 or destinationrules.networking.istio.io/v1beta1, " +
				"not virtualservices.networking.istio.io/v1; check the rules of the validating webhook configuration",
		},
		"an unwanted version of the right resource fails": {
			resource: metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "destinationrules"},
			want:     []schema.GroupVersionResource{drV1}, kind: "validating",
			wantMessage: "not destinationrules.networking.istio.io/v1alpha3",
		},
		"the same resource in another group fails": {
			resource: metav1.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"},
			want:     []schema.GroupVersionResource{services}, kind: "mutating",
			wantMessage: "not services.serving.knative.dev/v1",
		},
		"a request without a resource fails and says so": {
			want: []schema.GroupVersionResource{services}, kind: "mutating",
			wantMessage: "this webhook admits v1/services, not a request without a resource",
		},
		"a resource differing only in case fails": {
			resource: metav1.GroupVersionResource{Version: "v1", Resource: "Services"},
			want:     []schema.GroupVersionResource{services}, kind: "mutating",
			wantMessage: "not v1/Services",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := admit.CheckResource(requestFor(tc.resource), tc.kind, tc.want...)
			if tc.wantMessage == "" {
				if got != nil {
					t.Fatalf("got %+v, want the request to pass", got.Result)
				}
				return
			}
			if got == nil {
				t.Fatalf("the request passed, want an error containing %q", tc.wantMessage)
			}
			if got.Allowed {
				t.Error("the error response is allowed")
			}
			if got.Result == nil || got.Result.Code != http.StatusBadRequest {
				t.Fatalf("result %+v, want code 400", got.Result)
			}
			if !strings.Contains(got.Result.Message, tc.wantMessage) {
				t.Errorf("message %q, want it to contain %q", got.Result.Message, tc.wantMessage)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: "networking.istio.io", Kind: "DestinationRule"}, "helloworld",
		field.ErrorList{field.Forbidden(field.NewPath("spec"), "needs outlierDetection")}).ErrStatus
	withAudit := admission.Allowed("")
	withAudit.AuditAnnotations = map[string]string{"violations": "spec: Forbidden"}
	patchedWithWarning := admission.PatchResponseFromRaw([]byte(`{"a":1}`), []byte(`{"a":2}`)).WithWarnings("changed")
	patchedWithWarning.AuditAnnotations = map[string]string{"x": "y"}

	tests := map[string]struct {
		resp admission.Response
		want metrics.Decision
	}{
		"allowed with nothing more is allowed": {
			resp: admission.Allowed(""), want: metrics.Allowed,
		},
		"allowed with an empty patch is allowed": {
			resp: admission.PatchResponseFromRaw([]byte(`{"a":1}`), []byte(`{"a":1}`)), want: metrics.Allowed,
		},
		"allowed with a patch is mutated": {
			resp: admission.PatchResponseFromRaw([]byte(`{"a":1}`), []byte(`{"a":2}`)), want: metrics.Mutated,
		},
		"a patch outranks warnings and audit annotations": {
			resp: patchedWithWarning, want: metrics.Mutated,
		},
		"allowed with audit annotations is audited": {
			resp: withAudit, want: metrics.Audited,
		},
		"allowed with warnings is warned": {
			resp: admission.Allowed("").WithWarnings("failover has no effect"), want: metrics.Warned,
		},
		"refused as Invalid is denied": {
			resp: admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Result: &invalid}}, want: metrics.Denied,
		},
		"refused as Invalid with warnings is still denied": {
			resp: admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Result: &invalid, Warnings: []string{"w"}}}, want: metrics.Denied,
		},
		"a 400 error is errored": {
			resp: admission.Errored(http.StatusBadRequest, errors.New("decoding")), want: metrics.Errored,
		},
		"a 500 error is errored": {
			resp: admission.Errored(http.StatusInternalServerError, errors.New("namespace lookup")), want: metrics.Errored,
		},
		"a refusal without a status is errored": {
			resp: admission.Response{}, want: metrics.Errored,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := admit.Outcome(tc.resp); got != tc.want {
				t.Errorf("Outcome = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestIsDryRun(t *testing.T) {
	yes, no := true, false
	tests := map[string]struct {
		dryRun *bool
		want   bool
	}{
		"unset is not a dry run": {dryRun: nil, want: false},
		"false is not a dry run": {dryRun: &no, want: false},
		"true is a dry run":      {dryRun: &yes, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{DryRun: tc.dryRun}}
			if got := admit.IsDryRun(req); got != tc.want {
				t.Errorf("IsDryRun = %v, want %v", got, tc.want)
			}
		})
	}
}
