package validate_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/test/admissiontest"
)

const (
	requestUID = "b3c3e6a2-3b36-4a3b-9a4e-6f0d6c1f2a77"
	testNS     = "sample"

	failoverPriorityField = "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"
)

// drJSON is a DestinationRule of the given networking.istio.io version as
// the API server sends it in an admission review.
func drJSON(version, spec string) string {
	return `{"apiVersion":"networking.istio.io/` + version + `","kind":"DestinationRule",` +
		`"metadata":{"name":"helloworld","namespace":"sample","uid":"2a5f3c9e-8d0b-4e53-b2a1-0c6f7e9d1b44","generation":1},` +
		`"spec":` + spec + `}`
}

// Specs, also the seeds of FuzzValidateHandler.
const (
	// guideSpec is the DestinationRule of Istio's multicluster ambient
	// failover guide.
	guideSpec = `{"host":"helloworld.sample.svc.cluster.local","trafficPolicy":{` +
		`"outlierDetection":{"consecutive5xxErrors":1,"interval":"1s","baseEjectionTime":"1m"},` +
		`"loadBalancer":{"simple":"ROUND_ROBIN","localityLbSetting":{"enabled":true,"failoverPriority":["topology.istio.io/cluster"]}}}}`
	// noOutlierSpec is the guide's rule without its outlier detection.
	noOutlierSpec = `{"host":"helloworld.sample.svc.cluster.local","trafficPolicy":{` +
		`"loadBalancer":{"simple":"ROUND_ROBIN","localityLbSetting":{"enabled":true,"failoverPriority":["topology.istio.io/cluster"]}}}}`
	snakeCaseSpec = `{"host":"helloworld.sample.svc.cluster.local","traffic_policy":{` +
		`"load_balancer":{"locality_lb_setting":{"enabled":true,"failover_priority":["topology.istio.io/cluster"]}}}}`
	snakeCaseGuideSpec = `{"host":"helloworld.sample.svc.cluster.local","traffic_policy":{` +
		`"outlier_detection":{"consecutive_5xx_errors":1,"interval":"1s","base_ejection_time":"1m"},` +
		`"load_balancer":{"locality_lb_setting":{"enabled":true,"failover_priority":["topology.istio.io/cluster"]}}}}`
	// subsetsSpec has subsets and ports: v1 inherits everything, v2 sets
	// its own failover and inherits the outlier detection, and port 9080
	// of v2 replaces the whole policy without outlier detection.
	subsetsSpec = `{"host":"reviews.sample.svc.cluster.local","trafficPolicy":{` +
		`"outlierDetection":{"consecutive5xxErrors":1,"interval":"1s","baseEjectionTime":"1m"},` +
		`"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/network","topology.istio.io/cluster"]}}},` +
		`"subsets":[{"name":"v1","labels":{"version":"v1"}},` +
		`{"name":"v2","labels":{"version":"v2"},"trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failover":[{"from":"us-east","to":"us-west"}]}},` +
		`"portLevelSettings":[{"port":{"number":9080},"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.kubernetes.io/zone"]}}}]}}]}`
	subsetsFixedSpec = `{"host":"reviews.sample.svc.cluster.local","trafficPolicy":{` +
		`"outlierDetection":{"consecutive5xxErrors":1,"interval":"1s","baseEjectionTime":"1m"},` +
		`"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/network","topology.istio.io/cluster"]}}},` +
		`"subsets":[{"name":"v1","labels":{"version":"v1"}},` +
		`{"name":"v2","labels":{"version":"v2"},"trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failover":[{"from":"us-east","to":"us-west"}]}},` +
		`"portLevelSettings":[{"port":{"number":9080},"outlierDetection":{"consecutive5xxErrors":2},"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.kubernetes.io/zone"]}}}]}}]}`
)

// review is an AdmissionReview request, written out as the raw JSON the API
// server sends so the tests decode it exactly as production does.
type review struct {
	apiVersion string // admission.k8s.io/v1 when empty
	group      string // networking.istio.io when empty, "core" for the core group
	version    string // v1 when empty
	resource   string // destinationrules when empty
	kind       string // DestinationRule when empty
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
	group := or(r.group, "networking.istio.io")
	if group == "core" {
		group = ""
	}
	return admissiontest.Request{
		APIVersion: r.apiVersion, UID: requestUID,
		Group: group, Version: or(r.version, "v1"), Resource: or(r.resource, "destinationrules"), Kind: or(r.kind, "DestinationRule"),
		Name: "helloworld", Namespace: or(r.namespace, testNS), Operation: or(r.operation, "CREATE"),
		Object: r.object, OldObject: r.oldObject, DryRun: r.dryRun,
	}.Body(t)
}

// newServer serves the validating webhook as `webhook serve` registers it.
func newServer(t testing.TB, ns namespaces.LabelGetter) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(&webhook.Admission{Handler: validate.NewHandler(ns)})
	t.Cleanup(srv.Close)
	return srv
}

// post sends body to the webhook and decodes the AdmissionReview it answers.
func post(t testing.TB, srv *httptest.Server, contentType string, body []byte) admissionv1.AdmissionReview {
	t.Helper()
	return admissiontest.Post(t, srv, validate.Path, contentType, body)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
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

// checkDenial checks a rejection: 422 Invalid naming the DestinationRule,
// one cause per violating field, and each field path in the message.
func checkDenial(t testing.TB, resp *admissionv1.AdmissionResponse, wantFields, wantMessage []string) {
	t.Helper()
	if resp.Allowed {
		t.Fatalf("allowed, want denied at %q", wantFields)
	}
	st := resp.Result
	if st == nil {
		t.Fatal("denied without a status")
	}
	if st.Code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid || st.Status != metav1.StatusFailure {
		t.Errorf("status %d %s %s, want 422 Invalid Failure", st.Code, st.Reason, st.Status)
	}
	for _, f := range wantFields {
		if !strings.Contains(st.Message, f) {
			t.Errorf("message %q does not name the field %s", st.Message, f)
		}
	}
	if !containsAll(st.Message, wantMessage) {
		t.Errorf("message %q, want it to contain each of %q", st.Message, wantMessage)
	}
	if st.Details == nil {
		t.Fatal("denied without details")
	}
	if st.Details.Group != "networking.istio.io" || st.Details.Kind != "DestinationRule" || st.Details.Name != "helloworld" {
		t.Errorf("details name %s %s %q, want networking.istio.io DestinationRule \"helloworld\"", st.Details.Group, st.Details.Kind, st.Details.Name)
	}
	var fields []string
	for _, c := range st.Details.Causes {
		fields = append(fields, c.Field)
		// kubectl prints the causes and drops the line naming the
		// webhook, so each cause names it, with the rule and the opt-out.
		if c.Type != metav1.CauseType(field.ErrorTypeForbidden) || !strings.HasPrefix(c.Message, "Forbidden: failover-webhook FW1") ||
			!strings.HasSuffix(c.Message, "failover-webhook.io/enforcement=warn --overwrite)") {
			t.Errorf("cause %+v, want a FieldValueForbidden cause naming failover-webhook and its rule first and ending with the opt-out", c)
		}
	}
	if !slices.Equal(fields, wantFields) {
		t.Errorf("cause fields = %q, want %q", fields, wantFields)
	}
}

func TestValidateHandler(t *testing.T) {
	tests := map[string]struct {
		namespaceLabels map[string]string
		version         string
		operation       string
		object          string
		oldObject       string

		wantDenied   []string // fields of the causes, in order; empty: allowed
		wantMessage  []string // substrings of the denial message
		wantWarnings []string // substrings, one per warning, in order
		wantAudit    string   // substring of auditAnnotations["violations"]
	}{
		"the guide's rule is allowed": {
			object: drJSON("v1", guideSpec),
		},
		"failoverPriority without outlierDetection is denied in networking.istio.io/v1": {
			object:     drJSON("v1", noOutlierSpec),
			wantDenied: []string{failoverPriorityField},
			wantMessage: []string{failoverPriorityField + ": Forbidden: failover-webhook FW101: locality failover needs outlierDetection", "spec.trafficPolicy.outlierDetection", "consecutive5xxErrors: 1",
				"kubectl label namespace sample failover-webhook.io/enforcement=warn --overwrite"},
		},
		"failoverPriority without outlierDetection is denied in networking.istio.io/v1beta1": {
			version:    "v1beta1",
			object:     drJSON("v1beta1", noOutlierSpec),
			wantDenied: []string{failoverPriorityField},
		},
		"failoverPriority without outlierDetection is denied in networking.istio.io/v1alpha3": {
			version:    "v1alpha3",
			object:     drJSON("v1alpha3", noOutlierSpec),
			wantDenied: []string{failoverPriorityField},
		},
		"the guide's rule is allowed in networking.istio.io/v1alpha3": {
			version: "v1alpha3",
			object:  drJSON("v1alpha3", guideSpec),
		},
		"failover from/to without outlierDetection is denied": {
			object:     drJSON("v1", `{"host":"a","trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failover":[{"from":"us-east","to":"us-west"}]}}}}`),
			wantDenied: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.failover"},
		},
		"snake_case fields are understood and denied at the camelCase path": {
			object:     drJSON("v1", snakeCaseSpec),
			wantDenied: []string{failoverPriorityField},
		},
		"snake_case outlier_detection is understood": {
			object: drJSON("v1", snakeCaseGuideSpec),
		},
		"unknown spec fields are ignored": {
			object: drJSON("v1", `{"host":"a","futureField":{"x":1},"trafficPolicy":{"futureTLS":true,`+
				`"outlierDetection":{"consecutive5xxErrors":1,"futureKnob":3},"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}`),
		},
		"unknown spec fields do not hide a violation": {
			object:     drJSON("v1", `{"host":"a","futureField":{"x":1},"trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}`),
			wantDenied: []string{failoverPriorityField},
		},
		"empty outlierDetection counts as present": {
			object: drJSON("v1", `{"host":"a","trafficPolicy":{"outlierDetection":{},"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}`),
		},
		"a rule without failover needs no outlier detection": {
			object: drJSON("v1", `{"host":"a","trafficPolicy":{"loadBalancer":{"simple":"LEAST_REQUEST"}}}`),
		},
		"a rule with an empty spec is allowed": {
			object: drJSON("v1", `{}`),
		},
		"failover next to enabled: false is allowed with a warning": {
			object:       drJSON("v1", `{"host":"a","trafficPolicy":{"loadBalancer":{"localityLbSetting":{"enabled":false,"failoverPriority":["topology.istio.io/cluster"]}}}}`),
			wantWarnings: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.enabled: failover-webhook FW103: locality load balancing is disabled"},
		},
		"outlier detection that never ejects is allowed with a warning": {
			object:       drJSON("v1", `{"host":"a","trafficPolicy":{"outlierDetection":{"consecutive5xxErrors":0},"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}`),
			wantWarnings: []string{"spec.trafficPolicy.outlierDetection: failover-webhook FW104: this outlier detection can never eject"},
		},
		"subsets inherit outlier detection, and a port-level entry without it is denied at its field": {
			object:      drJSON("v1", subsetsSpec),
			wantDenied:  []string{"spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority"},
			wantMessage: []string{`subset "v2" port 9080`, "port-level settings do not inherit spec.trafficPolicy.outlierDetection"},
		},
		"subsets and ports with outlier detection everywhere are allowed": {
			object: drJSON("v1", subsetsFixedSpec),
		},
		"a rule named by generateName is denied under that name": {
			object:     `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"generateName":"helloworld","namespace":"sample"},"spec":` + noOutlierSpec + `}`,
			wantDenied: []string{failoverPriorityField},
		},
		"warn mode allows with the violation as a warning": {
			namespaceLabels: map[string]string{keys.Enforcement: "warn"},
			object:          drJSON("v1", noOutlierSpec),
			wantWarnings:    []string{failoverPriorityField + ": failover-webhook FW101: locality failover needs outlierDetection"},
		},
		"audit mode allows silently and records the violation for the audit log": {
			namespaceLabels: map[string]string{keys.Enforcement: "audit"},
			object:          drJSON("v1", noOutlierSpec),
			wantAudit:       failoverPriorityField + ": failover-webhook FW101: locality failover needs outlierDetection",
		},
		"off mode allows silently": {
			namespaceLabels: map[string]string{keys.Enforcement: "off"},
			object:          drJSON("v1", noOutlierSpec),
		},
		"an unknown mode enforces and warns about the namespace label": {
			namespaceLabels: map[string]string{keys.Enforcement: "Audit"},
			object:          drJSON("v1", noOutlierSpec),
			wantDenied:      []string{failoverPriorityField},
			wantWarnings:    []string{`failover-webhook.io/enforcement="Audit" is not a known mode`},
		},
		"an update that leaves a violating spec unchanged is allowed with a warning": {
			operation: "UPDATE",
			oldObject: drJSON("v1", noOutlierSpec),
			object: `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"helloworld","namespace":"sample",` +
				`"labels":{"team":"hello"},"finalizers":["example.com/cleanup"],"generation":1},"spec":` + noOutlierSpec + `}`,
			wantWarnings: []string{"e.g. {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m} (allowed because this update does not change the spec)"},
		},
		"an update that writes the same violating spec in other words is allowed with a warning": {
			operation:    "UPDATE",
			oldObject:    drJSON("v1", noOutlierSpec),
			object:       drJSON("v1", `{"trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"],"enabled":true},"simple":"ROUND_ROBIN"}},"host":"helloworld.sample.svc.cluster.local","exportTo":[]}`),
			wantWarnings: []string{"(allowed because this update does not change the spec)"},
		},
		"an update that changes a violating spec is denied": {
			operation:  "UPDATE",
			oldObject:  drJSON("v1", noOutlierSpec),
			object:     drJSON("v1", strings.Replace(noOutlierSpec, "ROUND_ROBIN", "LEAST_REQUEST", 1)),
			wantDenied: []string{failoverPriorityField},
		},
		"an update that fixes a violating spec is allowed": {
			operation: "UPDATE",
			oldObject: drJSON("v1", noOutlierSpec),
			object:    drJSON("v1", guideSpec),
		},
		"an update that breaks a valid spec is denied": {
			operation:  "UPDATE",
			oldObject:  drJSON("v1", guideSpec),
			object:     drJSON("v1", noOutlierSpec),
			wantDenied: []string{failoverPriorityField},
		},
		"DELETE is allowed": {
			operation: "DELETE",
			oldObject: drJSON("v1", noOutlierSpec),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, namespaces.Static{testNS: tc.namespaceLabels})
			r := review{version: tc.version, operation: tc.operation, object: tc.object, oldObject: tc.oldObject}
			got := post(t, srv, "application/json", r.body(t))
			resp := got.Response

			if got.APIVersion != "admission.k8s.io/v1" || got.Kind != "AdmissionReview" {
				t.Errorf("answered with %s %s, want admission.k8s.io/v1 AdmissionReview", got.APIVersion, got.Kind)
			}
			if resp.UID != requestUID {
				t.Errorf("response uid = %q, want the request's %q", resp.UID, requestUID)
			}
			if len(resp.Patch) > 0 || resp.PatchType != nil {
				t.Errorf("a validating webhook answered with a patch: %s", resp.Patch)
			}
			if len(tc.wantDenied) > 0 {
				checkDenial(t, resp, tc.wantDenied, tc.wantMessage)
			} else if !resp.Allowed {
				t.Fatalf("denied, want allowed: %+v", resp.Result)
			}
			if !warningsMatch(resp.Warnings, tc.wantWarnings) {
				t.Errorf("warnings = %q, want one containing each of %q", resp.Warnings, tc.wantWarnings)
			}
			violations, audited := resp.AuditAnnotations[keys.AuditViolations]
			switch {
			case tc.wantAudit == "" && len(resp.AuditAnnotations) > 0:
				t.Errorf("audit annotations = %v, want none", resp.AuditAnnotations)
			case tc.wantAudit != "" && (!audited || !strings.Contains(violations, tc.wantAudit)):
				t.Errorf("audit annotations = %v, want %q containing %q", resp.AuditAnnotations, keys.AuditViolations, tc.wantAudit)
			}
		})
	}
}

func TestValidateHandlerAnswersV1beta1Reviews(t *testing.T) {
	srv := newServer(t, namespaces.Static{})
	tests := map[string]struct {
		spec        string
		wantAllowed bool
	}{
		"the guide's rule is allowed":                       {spec: guideSpec, wantAllowed: true},
		"failover without outlier detection is denied":      {spec: noOutlierSpec},
		"snake_case failover without outlier_detection too": {spec: snakeCaseSpec},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := post(t, srv, "application/json", review{apiVersion: "admission.k8s.io/v1beta1", object: drJSON("v1", tc.spec)}.body(t))
			if got.APIVersion != "admission.k8s.io/v1beta1" || got.Kind != "AdmissionReview" {
				t.Errorf("answered with %s %s, want admission.k8s.io/v1beta1 AdmissionReview", got.APIVersion, got.Kind)
			}
			if got.Response.UID != requestUID {
				t.Errorf("response uid = %q, want %q", got.Response.UID, requestUID)
			}
			if tc.wantAllowed {
				if !got.Response.Allowed {
					t.Errorf("denied, want allowed: %+v", got.Response.Result)
				}
				return
			}
			checkDenial(t, got.Response, []string{failoverPriorityField}, nil)
		})
	}
}

// TestValidateHandlerRejectsBadDestinationRules holds the
// DestinationRule-specific decoding errors; pkg/admit's
// TestHandlersRejectBadRequests sends both webhooks the malformed requests
// they share.
func TestValidateHandlerRejectsBadDestinationRules(t *testing.T) {
	tests := map[string]struct {
		review      review
		wantMessage string
	}{
		"a Service sent as a DestinationRule": {
			review:      review{object: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"helloworld"},"spec":{"ports":[{"port":80}]}}`},
			wantMessage: "the object is a v1 Service, want networking.istio.io/v1 DestinationRule",
		},
		"a review for virtualservices": {
			review:      review{resource: "virtualservices", kind: "VirtualService", object: `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"x"},"spec":{}}`},
			wantMessage: "not virtualservices.networking.istio.io/v1",
		},
		"a review for an unserved version": {
			review:      review{version: "v2", object: drJSON("v2", guideSpec)},
			wantMessage: "not destinationrules.networking.istio.io/v2",
		},
		"an object of another version than the request names": {
			review:      review{version: "v1", object: drJSON("v1beta1", noOutlierSpec)},
			wantMessage: "v1beta1",
		},
		"a spec field of the wrong type": {
			review:      review{object: drJSON("v1", `{"host":5}`)},
			wantMessage: "decoding the DestinationRule",
		},
		"a spec that is not an object": {
			review:      review{object: drJSON("v1", `["host"]`)},
			wantMessage: "decoding the DestinationRule",
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

func TestValidateHandlerCountsDecisions(t *testing.T) {
	srv := newServer(t, namespaces.Static{
		"lenient": {keys.Enforcement: "warn"},
		"watched": {keys.Enforcement: "audit"},
	})
	tests := map[string]struct {
		review   review
		decision metrics.Decision
		mode     string
		dryRun   string
	}{
		"a denial counts as denied": {
			review: review{object: drJSON("v1", noOutlierSpec)}, decision: metrics.Denied, mode: "enforce", dryRun: "false",
		},
		"a dry run is counted apart": {
			review: review{object: drJSON("v1", noOutlierSpec), dryRun: true}, decision: metrics.Denied, mode: "enforce", dryRun: "true",
		},
		"a clean rule counts as allowed": {
			review: review{object: drJSON("v1", guideSpec)}, decision: metrics.Allowed, mode: "enforce", dryRun: "false",
		},
		"a violation in warn mode counts as warned": {
			review: review{namespace: "lenient", object: drJSON("v1", noOutlierSpec)}, decision: metrics.Warned, mode: "warn", dryRun: "false",
		},
		"a violation in audit mode counts as audited": {
			review: review{namespace: "watched", object: drJSON("v1", noOutlierSpec)}, decision: metrics.Audited, mode: "audit", dryRun: "false",
		},
		"an undecodable rule counts as errored in an unknown mode": {
			review: review{object: drJSON("v1", `{"host":5}`)}, decision: metrics.Errored, mode: "unknown", dryRun: "false",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			counter := metrics.Decisions().WithLabelValues(metrics.WebhookValidate, string(tc.decision), tc.mode, tc.dryRun)
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

// The stored object of an UPDATE is read for its spec's bytes only: the
// rule judges the new spec, and the stored one is decoded only to tell an
// unchanged spec written differently from a changed one when the new spec
// is denied. A stored spec the decoder cannot read (the API server stored
// it under another schema) therefore neither blocks a compliant update nor
// lets a violating one through.
func TestValidateHandlerReadsTheStoredSpecOnlyForTheRatchet(t *testing.T) {
	unreadable := drJSON("v1", `{"host":5}`)
	tests := map[string]struct {
		object      string
		wantAllowed bool
		wantCode    int32
		wantMessage string
	}{
		"a compliant update is judged on its own spec": {object: drJSON("v1", guideSpec), wantAllowed: true},
		"a violating update cannot be compared with the stored spec: an error, not an admission": {
			object: drJSON("v1", noOutlierSpec), wantCode: http.StatusInternalServerError, wantMessage: "decoding the old DestinationRule's spec",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, namespaces.Static{})
			resp := post(t, srv, "application/json", review{operation: "UPDATE", object: tc.object, oldObject: unreadable}.body(t)).Response
			if tc.wantAllowed {
				if !resp.Allowed {
					t.Fatalf("denied: %+v", resp.Result)
				}
				return
			}
			admissiontest.CheckError(t, resp, tc.wantCode, tc.wantMessage)
		})
	}
}
