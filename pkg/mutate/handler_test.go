package mutate_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/test/admissiontest"
)

const (
	requestUID = "705ab4f5-6393-11e8-b7cc-42010a800002"
	testNS     = "sample"
	// defaultWaypoint is the --waypoint-name the handlers under test use.
	defaultWaypoint = "waypoint"
	record          = keys.ManagedLabels
	bothManaged     = "istio.io/global,istio.io/use-waypoint"
)

// serviceJSON is a Service as the API server sends it in an admission
// review: defaulted spec and an empty status, with the given metadata.
func serviceJSON(metadata string) string {
	return `{"apiVersion":"v1","kind":"Service","metadata":` + metadata + `,` +
		`"spec":{"ports":[{"name":"http","protocol":"TCP","port":5000,"targetPort":5000}],` +
		`"selector":{"app":"helloworld"},"clusterIP":"10.96.12.34","clusterIPs":["10.96.12.34"],"type":"ClusterIP",` +
		`"sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},` +
		`"status":{"loadBalancer":{}}}`
}

// Realistic objects, also the seeds of FuzzMutateHandler.
var (
	helloworldService = serviceJSON(`{"name":"helloworld","namespace":"sample","uid":"0f6a4b1e-1d2c-4c55-9f64-3b1a2a8d7e10",` +
		`"labels":{"app":"helloworld","failover":"cluster","service":"helloworld"}}`)
	waypointService = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"waypoint","namespace":"sample",` +
		`"labels":{"failover":"cluster","gateway.istio.io/managed":"istio.io-mesh-controller","gateway.networking.k8s.io/gateway-name":"waypoint","istio.io/waypoint-for":"service"},` +
		`"annotations":{"gateway.istio.io/controller-version":"5"},` +
		`"ownerReferences":[{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","name":"waypoint","uid":"6c1e4a43-8d8e-4b8e-a7a4-2f0c7f1b9d01"}]},` +
		`"spec":{"ports":[{"name":"status-port","protocol":"TCP","port":15021,"targetPort":15021},{"name":"mesh","protocol":"TCP","port":15008,"targetPort":15008}],` +
		`"selector":{"gateway.networking.k8s.io/gateway-name":"waypoint"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}`
	eastWestService = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"istio-eastwestgateway","namespace":"istio-system",` +
		`"labels":{"failover":"cluster","gateway.istio.io/managed":"istio.io-eastwest-controller","topology.istio.io/network":"network1"}},` +
		`"spec":{"ports":[{"name":"tls-hbone","port":15008,"targetPort":15008}],"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"172.18.0.10"}]}}}`
)

// review is an AdmissionReview request, written out as the raw JSON the API
// server sends so the tests decode it exactly as production does.
type review struct {
	apiVersion string // admission.k8s.io/v1 when empty
	group      string
	version    string // v1 when empty
	resource   string // services when empty
	kind       string // Service when empty
	operation  string // CREATE when empty
	namespace  string // testNS when empty
	object     string // raw JSON; absent when empty
	oldObject  string // raw JSON; absent when empty
	dryRun     bool
}

func (r review) body(t testing.TB) []byte {
	t.Helper()
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return admissiontest.Request{
		APIVersion: r.apiVersion, UID: requestUID,
		Group: r.group, Version: or(r.version, "v1"), Resource: or(r.resource, "services"), Kind: or(r.kind, "Service"),
		Name: "helloworld", Namespace: or(r.namespace, testNS), Operation: or(r.operation, "CREATE"),
		Object: r.object, OldObject: r.oldObject, DryRun: r.dryRun,
	}.Body(t)
}

// newServer serves the mutating webhook as `webhook serve` registers it.
func newServer(t testing.TB, ns namespaces.LabelGetter) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(&webhook.Admission{Handler: mutate.NewHandler(ns, defaultWaypoint)})
	t.Cleanup(srv.Close)
	return srv
}

// post sends body to the webhook and decodes the AdmissionReview it answers.
func post(t testing.TB, srv *httptest.Server, contentType string, body []byte) admissionv1.AdmissionReview {
	t.Helper()
	return admissiontest.Post(t, srv, mutate.Path, contentType, body)
}

// applyPatch applies the response's JSONPatch to the original object.
func applyPatch(t testing.TB, original string, resp *admissionv1.AdmissionResponse) string {
	t.Helper()
	if len(resp.Patch) == 0 {
		return original
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patchType = %v, want JSONPatch", resp.PatchType)
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("the patch is not a JSONPatch: %v\n%s", err, resp.Patch)
	}
	patched, err := patch.Apply([]byte(original))
	if err != nil {
		t.Fatalf("the patch does not apply to the object: %v\npatch: %s\nobject: %s", err, resp.Patch, original)
	}
	return string(patched)
}

func decodeService(t testing.TB, raw string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{}
	if err := json.Unmarshal([]byte(raw), svc); err != nil {
		t.Fatalf("the patched object is not a Service: %v\n%s", err, raw)
	}
	return svc
}

// checkPatchPaths checks that every operation touches one label or
// annotation, or adds a labels or annotations map, with '/' in keys escaped
// as '~1'.
func checkPatchPaths(t testing.TB, patch []byte) {
	t.Helper()
	if len(patch) == 0 {
		return
	}
	var ops []struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("the patch is not a list of operations: %v", err)
	}
	for _, op := range ops {
		parts := strings.Split(op.Path, "/")
		switch {
		// The maps come and go as a whole when the first key is added or
		// the last one removed.
		case op.Path == "/metadata/annotations" || op.Path == "/metadata/labels":
		case len(parts) == 4 && parts[1] == "metadata" && (parts[2] == "labels" || parts[2] == "annotations"):
			// Every key the webhook writes has a '/': unescaped, it would
			// split the path into more segments and land here no more.
		default:
			t.Errorf("patch operation %s %s touches more than the webhook's labels and record", op.Op, op.Path)
		}
	}
}

func warningsMatch(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			return false
		}
	}
	return true
}

func TestMutateHandler(t *testing.T) {
	tests := map[string]struct {
		namespaceLabels map[string]string
		operation       string
		object          string
		oldObject       string

		wantPatch       bool
		wantLabels      map[string]string
		wantAnnotations map[string]string
		wantWarnings    []string // substrings, one per warning, in order
	}{
		"an opted-in Service gets istio.io/global=true, the default waypoint and the record, with the annotations map added": {
			object:          helloworldService,
			wantPatch:       true,
			wantLabels:      map[string]string{"app": "helloworld", "service": "helloworld", "failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{record: bothManaged},
		},
		"an opted-in Service keeps its other annotations": {
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster"},"annotations":{"team":"hello"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{"team": "hello", record: bothManaged},
		},
		"a Service without metadata.labels is not opted in and gets no patch": {
			object: serviceJSON(`{"name":"helloworld"}`),
		},
		"a Service with an empty labels map gets no patch": {
			object:     serviceJSON(`{"name":"helloworld","labels":{}}`),
			wantLabels: map[string]string{},
		},
		"failover with a value other than cluster does not opt in": {
			object:     serviceJSON(`{"name":"helloworld","labels":{"failover":"true"}}`),
			wantLabels: map[string]string{"failover": "true"},
		},
		"istio.io/global=false is set to true with a warning, and recorded": {
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"false"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{record: bothManaged},
			wantWarnings:    []string{`istio.io/global="false" changed to "true"`},
		},
		"istio.io/global=true already set by a person is kept and not recorded": {
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{record: "istio.io/use-waypoint"},
		},
		"the Service's own waypoint is kept and not recorded": {
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/use-waypoint":"reviews-waypoint"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "reviews-waypoint"},
			wantAnnotations: map[string]string{record: "istio.io/global"},
		},
		"use-waypoint none on the Service is kept with a warning that failover is not enforced": {
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/use-waypoint":"none"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "none"},
			wantAnnotations: map[string]string{record: "istio.io/global"},
			wantWarnings:    []string{"istio.io/use-waypoint=none on the Service: no waypoint serves this Service"},
		},
		"the namespace's waypoint and waypoint namespace are copied onto the Service": {
			namespaceLabels: map[string]string{"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "istio-waypoints"},
			object:          helloworldService,
			wantPatch:       true,
			wantLabels: map[string]string{"app": "helloworld", "service": "helloworld", "failover": "cluster", "istio.io/global": "true",
				"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "istio-waypoints"},
			wantAnnotations: map[string]string{record: "istio.io/global,istio.io/use-waypoint,istio.io/use-waypoint-namespace"},
		},
		"a namespace's use-waypoint none is copied with a warning": {
			namespaceLabels: map[string]string{"istio.io/use-waypoint": "none"},
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "none"},
			wantAnnotations: map[string]string{record: bothManaged},
			wantWarnings:    []string{"istio.io/use-waypoint=none on its namespace"},
		},
		"a waypoint's own Service gets only istio.io/global": {
			object:    waypointService,
			wantPatch: true,
			wantLabels: map[string]string{"failover": "cluster", "gateway.istio.io/managed": "istio.io-mesh-controller",
				"gateway.networking.k8s.io/gateway-name": "waypoint", "istio.io/waypoint-for": "service", "istio.io/global": "true"},
			wantAnnotations: map[string]string{"gateway.istio.io/controller-version": "5", record: "istio.io/global"},
		},
		"an east-west gateway Service is left alone with a warning": {
			object:       eastWestService,
			wantLabels:   map[string]string{"failover": "cluster", "gateway.istio.io/managed": "istio.io-eastwest-controller", "topology.istio.io/network": "network1"},
			wantWarnings: []string{"east-west gateway Services are left alone"},
		},
		"namespace mode off disables mutation": {
			namespaceLabels: map[string]string{keys.Enforcement: "off"},
			object:          helloworldService,
			wantLabels:      map[string]string{"app": "helloworld", "service": "helloworld", "failover": "cluster"},
		},
		"namespace mode warn still mutates": {
			namespaceLabels: map[string]string{keys.Enforcement: "warn"},
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{record: bothManaged},
		},
		"namespace mode audit still mutates": {
			namespaceLabels: map[string]string{keys.Enforcement: "audit"},
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{record: bothManaged},
		},
		"an unknown namespace mode mutates and warns about the namespace label": {
			namespaceLabels: map[string]string{keys.Enforcement: "enforcing"},
			object:          serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
			wantAnnotations: map[string]string{record: bothManaged},
			wantWarnings:    []string{`failover-webhook.io/enforcement="enforcing" is not a known mode`},
		},
		"an update that removes failover=cluster removes exactly the managed labels and the record": {
			operation: "UPDATE",
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"app":"helloworld","failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"team":"hello","failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"app":"helloworld","istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"team":"hello","failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"app": "helloworld"},
			wantAnnotations: map[string]string{"team": "hello"},
		},
		"an update that removes the trigger keeps a managed label a person changed": {
			operation: "UPDATE",
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"istio.io/global":"true","istio.io/use-waypoint":"mine"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"istio.io/use-waypoint": "mine"},
			wantAnnotations: map[string]string{},
		},
		"an update that removes the trigger keeps labels the record does not list": {
			operation: "UPDATE",
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/use-waypoint"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/use-waypoint"}}`),
			wantPatch:       true,
			wantLabels:      map[string]string{"istio.io/global": "true"},
			wantAnnotations: map[string]string{},
		},
		"an update that removes the trigger and the record together uses the stored record": {
			operation: "UPDATE",
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			object:     serviceJSON(`{"name":"helloworld","labels":{"istio.io/global":"true","istio.io/use-waypoint":"waypoint"}}`),
			wantPatch:  true,
			wantLabels: map[string]string{},
		},
		"an update of an opted-in Service whose namespace waypoint changed keeps its recorded waypoint": {
			namespaceLabels: map[string]string{"istio.io/use-waypoint": "new-waypoint"},
			operation:       "UPDATE",
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"old-waypoint"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"old-waypoint","version":"v2"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			wantLabels:      map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "old-waypoint", "version": "v2"},
			wantAnnotations: map[string]string{record: bothManaged},
		},
		"DELETE is not mutated": {
			operation:  "DELETE",
			oldObject:  helloworldService,
			wantLabels: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, namespaces.Static{testNS: tc.namespaceLabels})
			r := review{operation: tc.operation, object: tc.object, oldObject: tc.oldObject}
			got := post(t, srv, "application/json", r.body(t))
			resp := got.Response

			if got.APIVersion != "admission.k8s.io/v1" || got.Kind != "AdmissionReview" {
				t.Errorf("answered with %s %s, want admission.k8s.io/v1 AdmissionReview", got.APIVersion, got.Kind)
			}
			if resp.UID != requestUID {
				t.Errorf("response uid = %q, want the request's %q", resp.UID, requestUID)
			}
			if !resp.Allowed {
				t.Fatalf("not allowed: %+v", resp.Result)
			}
			if !warningsMatch(resp.Warnings, tc.wantWarnings) {
				t.Errorf("warnings = %q, want one containing each of %q", resp.Warnings, tc.wantWarnings)
			}
			if gotPatch := len(resp.Patch) > 0; gotPatch != tc.wantPatch {
				t.Fatalf("patch = %s, want a patch: %v", resp.Patch, tc.wantPatch)
			}
			if tc.object == "" {
				return
			}
			checkPatchPaths(t, resp.Patch)
			patched := applyPatch(t, tc.object, resp)
			svc := decodeService(t, patched)
			if !maps.Equal(svc.Labels, tc.wantLabels) {
				t.Errorf("labels after the patch = %v, want %v", svc.Labels, tc.wantLabels)
			}
			if !maps.Equal(svc.Annotations, tc.wantAnnotations) {
				t.Errorf("annotations after the patch = %v, want %v", svc.Annotations, tc.wantAnnotations)
			}

			// The API server may call the webhook again on its own output
			// (reinvocationPolicy IfNeeded): that must change nothing more.
			again := post(t, srv, "application/json", review{operation: tc.operation, object: patched, oldObject: tc.oldObject}.body(t)).Response
			if !again.Allowed || len(again.Patch) > 0 {
				t.Errorf("admitting the patched object again: allowed %v, patch %s; want allowed without a patch", again.Allowed, again.Patch)
			}
		})
	}
}

// TestMutateHandlerKeepsFieldsItDoesNotKnow sends a Service with fields
// that a newer API server may know and this webhook's k8s.io/api does not:
// the patch must add the webhook's labels and leave those fields alone.
func TestMutateHandlerKeepsFieldsItDoesNotKnow(t *testing.T) {
	object := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"helloworld","labels":{"failover":"cluster"}},` +
		`"spec":{"ports":[{"port":5000,"targetPort":5000}],"selector":{"app":"helloworld"},"trafficDistribution":"PreferClose","futureField":{"enabled":true}},` +
		`"status":{"loadBalancer":{}}}`
	srv := newServer(t, namespaces.Static{})
	resp := post(t, srv, "application/json", review{object: object}.body(t)).Response
	checkPatchPaths(t, resp.Patch)
	var patched struct {
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal([]byte(applyPatch(t, object, resp)), &patched); err != nil {
		t.Fatal(err)
	}
	if _, ok := patched.Spec["futureField"]; !ok {
		t.Errorf("spec.futureField was removed by the patch %s", resp.Patch)
	}
}

// TestMutateHandlerIsIdempotentWhenTheRecordIsEdited covers updates where a
// person edits the record annotation: whatever the webhook makes of them,
// admitting its own output again with the same stored object must change
// nothing more.
func TestMutateHandlerIsIdempotentWhenTheRecordIsEdited(t *testing.T) {
	tests := map[string]struct {
		object    string
		oldObject string
	}{
		"an update that blanks the record of an opted-in Service": {
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"mine"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"mine"},` +
				`"annotations":{"failover-webhook.io/managed-labels":""}}`),
		},
		"an update that removes the trigger and rewrites the record": {
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"mine"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"istio.io/global":"true","istio.io/use-waypoint":"mine"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/use-waypoint"}}`),
		},
		"an update that adds a key to the record of an opted-in Service": {
			oldObject: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"waypoint"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"istio.io/global,istio.io/use-waypoint"}}`),
			object: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster","istio.io/global":"true","istio.io/use-waypoint":"waypoint","app":"x"},` +
				`"annotations":{"failover-webhook.io/managed-labels":"app, istio.io/global,,istio.io/use-waypoint"}}`),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, namespaces.Static{})
			first := post(t, srv, "application/json", review{operation: "UPDATE", object: tc.object, oldObject: tc.oldObject}.body(t)).Response
			if !first.Allowed {
				t.Fatalf("not allowed: %+v", first.Result)
			}
			patched := applyPatch(t, tc.object, first)
			again := post(t, srv, "application/json", review{operation: "UPDATE", object: patched, oldObject: tc.oldObject}.body(t)).Response
			if !again.Allowed || len(again.Patch) > 0 {
				t.Errorf("admitting the webhook's own output %s again: allowed %v, patch %s; want allowed without a patch", first.Patch, again.Allowed, again.Patch)
			}
		})
	}
}

func TestMutateHandlerPatchEscapesSlashInKeys(t *testing.T) {
	srv := newServer(t, namespaces.Static{})
	resp := post(t, srv, "application/json", review{object: serviceJSON(`{"name":"helloworld","labels":{"failover":"cluster"}}`)}.body(t)).Response
	var ops []map[string]any
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, op := range ops {
		paths = append(paths, fmt.Sprint(op["path"]))
	}
	for _, want := range []string{"/metadata/labels/istio.io~1global", "/metadata/labels/istio.io~1use-waypoint", "/metadata/annotations"} {
		if !strings.Contains(strings.Join(paths, " "), want) {
			t.Errorf("patch paths %q have no %q", paths, want)
		}
	}
}

func TestMutateHandlerAnswersV1beta1Reviews(t *testing.T) {
	srv := newServer(t, namespaces.Static{})
	got := post(t, srv, "application/json", review{apiVersion: "admission.k8s.io/v1beta1", object: helloworldService}.body(t))
	if got.APIVersion != "admission.k8s.io/v1beta1" || got.Kind != "AdmissionReview" {
		t.Errorf("answered with %s %s, want admission.k8s.io/v1beta1 AdmissionReview", got.APIVersion, got.Kind)
	}
	resp := got.Response
	if !resp.Allowed || resp.UID != requestUID {
		t.Fatalf("allowed %v, uid %q; want allowed with uid %q", resp.Allowed, resp.UID, requestUID)
	}
	svc := decodeService(t, applyPatch(t, helloworldService, resp))
	if svc.Labels[keys.Global] != "true" || svc.Labels[keys.UseWaypoint] != defaultWaypoint {
		t.Errorf("labels after the patch = %v, want the global and waypoint labels", svc.Labels)
	}
}

// TestMutateHandlerRejectsBadServices holds the Service-specific decoding
// errors; pkg/admit's TestHandlersRejectBadRequests sends both webhooks the
// malformed requests they share.
func TestMutateHandlerRejectsBadServices(t *testing.T) {
	tests := map[string]struct {
		review      review
		wantMessage string
	}{
		"a Pod sent as a Service": {
			review:      review{object: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"helloworld","labels":{"failover":"cluster"}},"spec":{"containers":[{"name":"c","image":"i"}]}}`},
			wantMessage: "the object is a v1 Pod, want v1 Service",
		},
		"a review for services of another API group": {
			review:      review{group: "serving.knative.dev", object: helloworldService},
			wantMessage: "not services.serving.knative.dev/v1",
		},
		"a label of the wrong type": {
			review:      review{object: serviceJSON(`{"name":"helloworld","labels":{"failover":true}}`)},
			wantMessage: "decoding the Service",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, namespaces.Static{})
			resp := post(t, srv, "application/json", tc.review.body(t)).Response
			admissiontest.CheckError(t, resp, http.StatusBadRequest, tc.wantMessage)
		})
	}
}

func TestMutateHandlerCountsDecisions(t *testing.T) {
	srv := newServer(t, namespaces.Static{"quiet": {keys.Enforcement: "off"}})
	tests := map[string]struct {
		review   review
		decision metrics.Decision
		mode     string
		dryRun   string
	}{
		"a patched Service counts as mutated": {
			review: review{object: helloworldService}, decision: metrics.Mutated, mode: "enforce", dryRun: "false",
		},
		"a dry run is counted apart": {
			review: review{object: helloworldService, dryRun: true}, decision: metrics.Mutated, mode: "enforce", dryRun: "true",
		},
		"a warning without a patch counts as warned": {
			review: review{object: eastWestService}, decision: metrics.Warned, mode: "enforce", dryRun: "false",
		},
		"a Service in an off namespace counts as allowed in mode off": {
			review: review{namespace: "quiet", object: helloworldService}, decision: metrics.Allowed, mode: "off", dryRun: "false",
		},
		"a request that fails before the namespace is read counts as errored in an unknown mode": {
			review: review{resource: "pods", object: helloworldService}, decision: metrics.Errored, mode: "unknown", dryRun: "false",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			counter := metrics.Decisions().WithLabelValues(metrics.WebhookMutate, string(tc.decision), tc.mode, tc.dryRun)
			before := counterValue(t, counter)
			post(t, srv, "application/json", tc.review.body(t))
			if got := counterValue(t, counter) - before; got != 1 {
				t.Errorf("decisions{decision=%s, mode=%s, dry_run=%s} grew by %v, want 1", tc.decision, tc.mode, tc.dryRun, got)
			}
		})
	}
}

func counterValue(t testing.TB, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
