package mutate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/kinds"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
)

// fuzzNamespaces gives the fuzzed requests a namespace waypoint, so every
// waypoint rule is reachable.
var fuzzNamespaces = namespaces.Static{testNS: {"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "istio-waypoints"}}

// FuzzMutateHandler feeds arbitrary objects, and arbitrary whole review
// bodies, to the mutating webhook. It must never panic, must turn every
// object that is not a Service into a 400 error, and every patch it returns
// must apply to the object, set exactly the labels and annotations Decide
// computes, leave everything else as it was, and need no further patch when
// admitted again.
func FuzzMutateHandler(f *testing.F) {
	optedOut := serviceJSON(`{"name":"helloworld","labels":{"app":"helloworld","istio.io/global":"true","istio.io/use-waypoint":"shared"},` +
		`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`)
	storedOptedIn := serviceJSON(`{"name":"helloworld","labels":{"app":"helloworld","failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"shared"},` +
		`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`)
	for _, seed := range []struct {
		object, oldObject string
		update            bool
	}{
		{object: helloworldService},
		{object: waypointService},
		{object: eastWestService},
		{object: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"false","istio.io/use-waypoint":"none"}}`)},
		{object: serviceJSON(`{"name":"helloworld"}`)},
		{object: optedOut, oldObject: storedOptedIn, update: true},
		{object: storedOptedIn, oldObject: storedOptedIn, update: true},
		{object: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"failover":"cluster"}}}`},
		{object: `not a Service`},
	} {
		op := "CREATE"
		if seed.update {
			op = "UPDATE"
		}
		body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE"}}`)
		if json.Valid([]byte(seed.object)) {
			body = review{operation: op, object: seed.object, oldObject: seed.oldObject}.body(f)
		}
		f.Add([]byte(seed.object), []byte(seed.oldObject), seed.update, body)
	}

	scheme, err := kinds.Scheme()
	if err != nil {
		f.Fatal(err)
	}
	recoverPanic := false
	wh := &webhook.Admission{Handler: mutate.NewHandler(fuzzNamespaces, defaultWaypoint), RecoverPanic: &recoverPanic}
	decoder := admission.NewDecoder(scheme)

	f.Fuzz(func(t *testing.T, object, oldObject []byte, update bool, body []byte) {
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID:       requestUID,
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Service"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "services"},
			Name:      "helloworld",
			Namespace: testNS,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: object},
		}}
		svc, decodable := serviceFrom(decoder, object)
		var old *corev1.Service
		if update {
			req.Operation = admissionv1.Update
			req.OldObject = runtime.RawExtension{Raw: oldObject}
			var ok bool
			old, ok = serviceFrom(decoder, oldObject)
			decodable = decodable && ok
		}
		resp := wh.Handle(context.Background(), req)
		checkResponse(t, &resp.AdmissionResponse)

		if !decodable {
			if resp.Allowed || resp.Result.Code != http.StatusBadRequest {
				t.Fatalf("an undecodable Service was answered allowed=%v code=%d, want a 400 error", resp.Allowed, resp.Result.Code)
			}
		} else {
			if !resp.Allowed {
				t.Fatalf("a Service was refused: %d %s", resp.Result.Code, resp.Result.Message)
			}
			want := mutate.Decide(mutate.Input{Service: svc, OldService: old, NamespaceLabels: fuzzNamespaces[testNS], DefaultWaypoint: defaultWaypoint})
			switch {
			case len(resp.Patches) > 0:
				checkPatch(t, wh, decoder, req, resp, want)
			case want.Changed:
				t.Fatalf("allowed without a patch, want the Service Decide computes: %v %v", want.Service.Labels, want.Service.Annotations)
			}
		}

		checkBody(t, wh, body)
	})
}

// serviceFrom decodes raw as the API server would send a Service: JSON
// declaring apiVersion v1 and kind Service, with fields of the right types.
func serviceFrom(decoder admission.Decoder, raw []byte) (*corev1.Service, bool) {
	var typeMeta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if json.Unmarshal(raw, &typeMeta) != nil || typeMeta.APIVersion != "v1" || typeMeta.Kind != "Service" {
		return nil, false
	}
	svc := &corev1.Service{}
	if decoder.DecodeRaw(runtime.RawExtension{Raw: raw}, svc) != nil {
		return nil, false
	}
	return svc, true
}

// checkResponse checks what every answer must satisfy.
func checkResponse(t *testing.T, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	if resp.UID != requestUID {
		t.Fatalf("response uid %q, want the request's", resp.UID)
	}
	if resp.Allowed {
		return
	}
	if resp.Result == nil || resp.Result.Code < 400 || resp.Result.Message == "" {
		t.Fatalf("a refusal without an error code and message: %+v", resp.Result)
	}
	if len(resp.Patch) > 0 {
		t.Fatalf("a refusal carries a patch: %s", resp.Patch)
	}
}

// checkPatch applies the patch of resp to the request's object: the result
// must carry the labels and annotations Decide computes and be otherwise
// the object as sent, and admitting it again must change nothing more.
func checkPatch(t *testing.T, wh *webhook.Admission, decoder admission.Decoder, req admission.Request, resp admission.Response, want mutate.Result) {
	t.Helper()
	if !want.Changed {
		t.Fatalf("the handler patched %s where Decide changes nothing", resp.Patch)
	}
	patched := applyPatch(t, string(req.Object.Raw), &resp.AdmissionResponse)
	got, ok := serviceFrom(decoder, []byte(patched))
	if !ok {
		t.Fatalf("the patch %s turns the object into something that is no Service:\n%s", resp.Patch, patched)
	}
	if !maps.Equal(got.Labels, want.Service.Labels) || !maps.Equal(got.Annotations, want.Service.Annotations) {
		t.Fatalf("after the patch %s: labels %v annotations %v, want labels %v annotations %v",
			resp.Patch, got.Labels, got.Annotations, want.Service.Labels, want.Service.Annotations)
	}
	if before, after := withoutLabels(t, req.Object.Raw), withoutLabels(t, []byte(patched)); !reflect.DeepEqual(before, after) {
		t.Fatalf("the patch %s changes more than labels and annotations:\n%v\n%v", resp.Patch, before, after)
	}

	req.Object = runtime.RawExtension{Raw: []byte(patched)}
	again := wh.Handle(context.Background(), req)
	if !again.Allowed || len(again.Patches) > 0 {
		t.Fatalf("admitting the patched object again: allowed %v, patch %v; want allowed without a patch", again.Allowed, again.Patches)
	}
}

// withoutLabels returns the JSON document raw without metadata.labels and
// metadata.annotations.
func withoutLabels(t *testing.T, raw []byte) any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	if meta, ok := doc["metadata"].(map[string]any); ok {
		delete(meta, "labels")
		delete(meta, "annotations")
	}
	return doc
}

// anyReview decodes AdmissionReviews of both versions, as controller-runtime
// does: its type is registered nowhere, so the decoder fills it whatever
// version the body names.
type anyReview struct {
	admissionv1.AdmissionReview
}

var reviewDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	if err := admissionv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := admissionv1beta1.AddToScheme(s); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(s).UniversalDeserializer()
}()

// checkBody posts body as it is and checks the answer is an AdmissionReview
// whose patch, if any, applies to the object the body carried.
func checkBody(t *testing.T, wh http.Handler, body []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	httpReq := httptest.NewRequest(http.MethodPost, mutate.Path, bytes.NewReader(body))
	httpReq.Header.Set("Content-Type", "application/json")
	wh.ServeHTTP(rec, httpReq)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP status %d, want 200", rec.Code)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("the answer is not an AdmissionReview with a response (%v): %s", err, rec.Body.Bytes())
	}
	resp := out.Response
	if resp.Allowed != (resp.Result == nil || resp.Result.Code < 400) {
		t.Fatalf("allowed=%v with status %+v", resp.Allowed, resp.Result)
	}
	if !resp.Allowed {
		if resp.Result.Message == "" || len(resp.Patch) > 0 {
			t.Fatalf("a refusal without a message or with a patch: %+v", resp)
		}
		return
	}
	if len(resp.Patch) == 0 {
		return
	}
	in := anyReview{}
	in.Request = &admissionv1.AdmissionRequest{}
	in.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	if _, _, err := reviewDecoder.Decode(body, nil, &in); err != nil {
		t.Fatalf("the webhook patched a body that does not decode: %v", err)
	}
	applyPatch(t, string(in.Request.Object.Raw), resp)
}
