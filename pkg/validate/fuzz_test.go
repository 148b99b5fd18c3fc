package validate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/kinds"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

var versions = []string{"v1", "v1beta1", "v1alpha3"}

// FuzzValidateHandler feeds arbitrary objects, and arbitrary whole review
// bodies, to the validating webhook. It must never panic, never patch, turn
// every object that does not decode as a DestinationRule into a 400 error,
// deny only with 422 Invalid and field causes under spec, and answer the same
// request the same way twice.
func FuzzValidateHandler(f *testing.F) {
	for _, seed := range []struct {
		spec      string
		oldSpec   string
		version   uint8
		update    bool
		rawObject string
	}{
		{spec: guideSpec},
		{spec: noOutlierSpec},
		{spec: noOutlierSpec, version: 1},
		{spec: noOutlierSpec, version: 2},
		{spec: snakeCaseSpec},
		{spec: snakeCaseGuideSpec, version: 2},
		{spec: subsetsSpec},
		{spec: subsetsFixedSpec, version: 1},
		{spec: noOutlierSpec, oldSpec: noOutlierSpec, update: true},
		{spec: noOutlierSpec, oldSpec: guideSpec, update: true},
		{spec: `{"host":"a","trafficPolicy":{"outlierDetection":{"consecutive5xxErrors":0},"loadBalancer":{"localityLbSetting":{"enabled":false,"failover":[{"from":"a","to":"b"}]},` +
			`"zoneAwareLbSetting":{"failoverPriority":["x"]}},"portLevelSettings":[{"port":{"number":80}},{"loadBalancer":{}}]}}`},
		{rawObject: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"helloworld"}}`},
		{rawObject: `not a DestinationRule`},
	} {
		version := versions[int(seed.version)%len(versions)]
		object, oldObject := seed.rawObject, ""
		if object == "" {
			object = drJSON(version, seed.spec)
		}
		op := "CREATE"
		if seed.update {
			op, oldObject = "UPDATE", drJSON(version, seed.oldSpec)
		}
		body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE"}}`)
		if json.Valid([]byte(object)) {
			body = review{version: version, operation: op, object: object, oldObject: oldObject}.body(f)
		}
		f.Add([]byte(object), []byte(oldObject), seed.version, seed.update, body)
	}

	scheme, err := kinds.Scheme()
	if err != nil {
		f.Fatal(err)
	}
	recoverPanic := false
	ns := namespaces.Static{}
	wh := &webhook.Admission{Handler: validate.NewHandler(ns), RecoverPanic: &recoverPanic}
	decoder := admission.NewDecoder(scheme)

	f.Fuzz(func(t *testing.T, object, oldObject []byte, versionIndex uint8, update bool, body []byte) {
		version := versions[int(versionIndex)%len(versions)]
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID:       requestUID,
			Kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: version, Kind: "DestinationRule"},
			Resource:  metav1.GroupVersionResource{Group: "networking.istio.io", Version: version, Resource: "destinationrules"},
			Name:      "helloworld",
			Namespace: testNS,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: object},
		}}
		decodable := decodesAs(decoder, object, version)
		if update {
			req.Operation = admissionv1.Update
			req.OldObject = runtime.RawExtension{Raw: oldObject}
			decodable = decodable && decodesAs(decoder, oldObject, version)
		}

		resp := wh.Handle(context.Background(), req)
		checkAnswer(t, &resp.AdmissionResponse)
		if resp.UID != requestUID {
			t.Fatalf("response uid %q, want the request's", resp.UID)
		}
		switch {
		case !decodable && (resp.Allowed || resp.Result.Code != http.StatusBadRequest):
			t.Fatalf("an undecodable DestinationRule was answered allowed=%v code=%d, want a 400 error", resp.Allowed, resp.Result.Code)
		case decodable && !resp.Allowed && resp.Result.Code != http.StatusUnprocessableEntity:
			t.Fatalf("a decodable DestinationRule was answered %d %s, want allowed or 422", resp.Result.Code, resp.Result.Message)
		}
		again := wh.Handle(context.Background(), req)
		if again.Allowed != resp.Allowed || !slices.Equal(again.Warnings, resp.Warnings) || again.Result.Message != resp.Result.Message {
			t.Fatalf("the same request answered differently:\n%+v\n%+v", resp.AdmissionResponse, again.AdmissionResponse)
		}

		rec := httptest.NewRecorder()
		httpReq := httptest.NewRequest(http.MethodPost, validate.Path, bytes.NewReader(body))
		httpReq.Header.Set("Content-Type", "application/json")
		wh.ServeHTTP(rec, httpReq)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP status %d, want 200", rec.Code)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("the answer is not an AdmissionReview with a response (%v): %s", err, rec.Body.Bytes())
		}
		checkAnswer(t, out.Response)
	})
}

// decodesAs reports whether raw decodes as the API server would send a
// DestinationRule of version: JSON declaring its apiVersion and kind, with
// fields of the right types.
func decodesAs(decoder admission.Decoder, raw []byte, version string) bool {
	var typeMeta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if json.Unmarshal(raw, &typeMeta) != nil || typeMeta.APIVersion != "networking.istio.io/"+version || typeMeta.Kind != "DestinationRule" {
		return false
	}
	var into runtime.Object
	switch version {
	case "v1":
		into = &networkingv1.DestinationRule{}
	case "v1beta1":
		into = &networkingv1beta1.DestinationRule{}
	default:
		into = &networkingv1alpha3.DestinationRule{}
	}
	return decoder.DecodeRaw(runtime.RawExtension{Raw: raw}, into) == nil
}

// checkAnswer checks what every answer of the validating webhook must
// satisfy: no patch; a refusal has an error code and message; a denial is
// 422 Invalid with a cause under spec for each violation.
func checkAnswer(t *testing.T, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	if len(resp.Patch) > 0 || resp.PatchType != nil {
		t.Fatalf("a validating answer carries a patch: %s", resp.Patch)
	}
	if resp.Allowed {
		if resp.Result != nil && resp.Result.Code >= 400 {
			t.Fatalf("allowed with an error status %+v", resp.Result)
		}
		return
	}
	if resp.Result == nil || resp.Result.Code < 400 || resp.Result.Message == "" {
		t.Fatalf("a refusal without an error code and message: %+v", resp.Result)
	}
	if resp.Result.Code != http.StatusUnprocessableEntity {
		return
	}
	if resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Details == nil || len(resp.Result.Details.Causes) == 0 {
		t.Fatalf("a denial without reason Invalid and causes: %+v", resp.Result)
	}
	for _, c := range resp.Result.Details.Causes {
		if !strings.HasPrefix(c.Field, "spec.") || c.Message == "" || !strings.Contains(resp.Result.Message, c.Field) {
			t.Fatalf("cause %+v is not a field under spec named in the message %q", c, resp.Result.Message)
		}
	}
}
