package admit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/test/admissiontest"
)

// webhookUnderTest is one of the two webhooks, as `webhook serve`
// registers it, with what a well-formed request for it holds.
type webhookUnderTest struct {
	handler                        func(namespaces.LabelGetter) admission.Handler
	path                           string
	group, version, resource, kind string
	// object returns a well-formed object whose metadata also holds
	// extraMetadata (`"key":value` pairs, or "").
	object func(extraMetadata string) string
}

var webhooksUnderTest = map[string]webhookUnderTest{
	"mutating": {
		handler: func(ns namespaces.LabelGetter) admission.Handler { return mutate.NewHandler(ns, "waypoint") },
		path:    mutate.Path, version: "v1", resource: "services", kind: "Service",
		object: func(extra string) string {
			return `{"apiVersion":"v1","kind":"Service","metadata":{"name":"helloworld","labels":{"failover":"cluster"}` + extra +
				`},"spec":{"ports":[{"port":5000}]}}`
		},
	},
	"validating": {
		handler: func(ns namespaces.LabelGetter) admission.Handler { return validate.NewHandler(ns) },
		path:    validate.Path, group: "networking.istio.io", version: "v1", resource: "destinationrules", kind: "DestinationRule",
		object: func(extra string) string {
			return `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"helloworld"` + extra +
				`},"spec":{"host":"helloworld","trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}}`
		},
	},
}

// failingNamespaces is a LabelGetter whose lookups always fail.
type failingNamespaces struct{}

func (failingNamespaces) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return nil, fmt.Errorf("reading labels of namespace %q: %w", name, errors.New("the cache is not synced"))
}

// TestHandlersRejectBadRequests sends both webhooks the same malformed
// requests: each must answer an error naming what was wrong, never an
// allow. The kind-specific decoding cases live beside each handler.
func TestHandlersRejectBadRequests(t *testing.T) {
	type request struct {
		contentType string // application/json when empty; "-" for none
		body        []byte // used when set
		// edit changes the well-formed request before it is written.
		edit func(w webhookUnderTest, r *admissiontest.Request)
	}
	tests := map[string]struct {
		namespaces namespaces.LabelGetter
		request    request

		wantCode    int32
		wantMessage string // {{kind}} is replaced by the webhook's kind
	}{
		"an empty body": {
			request:  request{body: []byte{}},
			wantCode: http.StatusBadRequest, wantMessage: "request body is empty",
		},
		"a text/plain content type": {
			request:  request{contentType: "text/plain"},
			wantCode: http.StatusBadRequest, wantMessage: "contentType=text/plain, expected application/json",
		},
		"no content type": {
			request:  request{contentType: "-"},
			wantCode: http.StatusBadRequest, wantMessage: "expected application/json",
		},
		"binary garbage": {
			request:  request{body: []byte("\x00\x01not json{")},
			wantCode: http.StatusBadRequest, wantMessage: "control characters are not allowed",
		},
		"truncated JSON": {
			request:  request{body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":`)},
			wantCode: http.StatusBadRequest, wantMessage: "unexpected end of JSON input",
		},
		"a review without a request": {
			request:  request{body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)},
			wantCode: http.StatusBadRequest, wantMessage: "not a request without a resource",
		},
		"a review for configmaps": {
			request: request{edit: func(_ webhookUnderTest, r *admissiontest.Request) {
				r.Group, r.Version, r.Resource, r.Kind = "", "v1", "configmaps", "ConfigMap"
				r.Object = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"helloworld"}}`
			}},
			wantCode: http.StatusBadRequest, wantMessage: "not v1/configmaps",
		},
		"a ConfigMap sent as the webhook's kind": {
			request: request{edit: func(_ webhookUnderTest, r *admissiontest.Request) {
				r.Object = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"helloworld"}}`
			}},
			wantCode: http.StatusBadRequest, wantMessage: "the object is a v1 ConfigMap",
		},
		"an object without kind": {
			request: request{edit: func(w webhookUnderTest, r *admissiontest.Request) {
				r.Object = strings.Replace(w.object(""), `"kind":"`+w.kind+`",`, "", 1)
			}},
			wantCode: http.StatusBadRequest, wantMessage: "the object has no kind",
		},
		"a create without an object": {
			request:  request{edit: func(_ webhookUnderTest, r *admissiontest.Request) { r.Object = "" }},
			wantCode: http.StatusBadRequest, wantMessage: "decoding the {{kind}} in the admission request: the request has no object",
		},
		"an object that is a JSON string": {
			request:  request{edit: func(_ webhookUnderTest, r *admissiontest.Request) { r.Object = `"an object"` }},
			wantCode: http.StatusBadRequest, wantMessage: "decoding the {{kind}}",
		},
		"an object that is null": {
			request:  request{edit: func(_ webhookUnderTest, r *admissiontest.Request) { r.Object = `null` }},
			wantCode: http.StatusBadRequest, wantMessage: "decoding the {{kind}}",
		},
		"an update without the old object": {
			request:  request{edit: func(_ webhookUnderTest, r *admissiontest.Request) { r.Operation = "UPDATE" }},
			wantCode: http.StatusBadRequest, wantMessage: "decoding the old {{kind}} in the admission request: the request has no object",
		},
		"a body over 7 MiB": {
			request: request{edit: func(w webhookUnderTest, r *admissiontest.Request) {
				r.Object = w.object(`,"annotations":{"padding":"` + strings.Repeat("x", 7*1024*1024) + `"}`)
			}},
			wantCode: http.StatusRequestEntityTooLarge, wantMessage: "request entity is too large",
		},
		"a namespace whose labels cannot be read": {
			namespaces: failingNamespaces{},
			wantCode:   http.StatusInternalServerError, wantMessage: `reading labels of namespace "sample": the cache is not synced`,
		},
	}
	for webhookName, w := range webhooksUnderTest {
		for name, tc := range tests {
			t.Run(webhookName+": "+name, func(t *testing.T) {
				ns := tc.namespaces
				if ns == nil {
					ns = namespaces.Static{}
				}
				srv := httptest.NewServer(&webhook.Admission{Handler: w.handler(ns)})
				t.Cleanup(srv.Close)

				body := tc.request.body
				if body == nil {
					r := admissiontest.Request{
						UID: "edge", Group: w.group, Version: w.version, Resource: w.resource, Kind: w.kind,
						Name: "helloworld", Namespace: "sample", Operation: "CREATE", Object: w.object(""),
					}
					if tc.request.edit != nil {
						tc.request.edit(w, &r)
					}
					body = r.Body(t)
				}
				contentType := tc.request.contentType
				switch contentType {
				case "":
					contentType = "application/json"
				case "-":
					contentType = ""
				}
				resp := admissiontest.Post(t, srv, w.path, contentType, body).Response
				admissiontest.CheckError(t, resp, tc.wantCode, strings.ReplaceAll(tc.wantMessage, "{{kind}}", w.kind))
			})
		}
	}
}
