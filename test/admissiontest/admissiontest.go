// Package admissiontest writes AdmissionReview requests out as the raw JSON
// the API server sends, and posts them to a webhook over HTTP, for the
// handler tests of both webhooks: they decode requests exactly as
// production does.
package admissiontest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// Request is the request of an AdmissionReview.
type Request struct {
	APIVersion string // of the review; admission.k8s.io/v1 when empty
	UID        string
	Group      string
	Version    string
	Resource   string
	Kind       string
	Name       string
	Namespace  string
	Operation  string
	Object     string // raw JSON; absent when empty
	OldObject  string // raw JSON; absent when empty
	DryRun     bool
}

// Body returns the AdmissionReview holding r, as JSON.
func (r Request) Body(t testing.TB) []byte {
	t.Helper()
	request := map[string]any{
		"uid":         r.UID,
		"kind":        map[string]string{"group": r.Group, "version": r.Version, "kind": r.Kind},
		"resource":    map[string]string{"group": r.Group, "version": r.Version, "resource": r.Resource},
		"requestKind": map[string]string{"group": r.Group, "version": r.Version, "kind": r.Kind},
		"name":        r.Name,
		"namespace":   r.Namespace,
		"operation":   r.Operation,
		"userInfo":    map[string]any{"username": "kubernetes-admin", "groups": []string{"system:masters", "system:authenticated"}},
		"dryRun":      r.DryRun,
	}
	if r.Object != "" {
		request["object"] = json.RawMessage(r.Object)
	}
	if r.OldObject != "" {
		request["oldObject"] = json.RawMessage(r.OldObject)
	}
	apiVersion := r.APIVersion
	if apiVersion == "" {
		apiVersion = "admission.k8s.io/v1"
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": apiVersion,
		"kind":       "AdmissionReview",
		"request":    request,
	})
	if err != nil {
		t.Fatalf("building the review: %v", err)
	}
	return body
}

// Post sends body to the webhook at path of srv and decodes the
// AdmissionReview it answers, failing the test unless the answer is one
// with a response, under HTTP 200.
func Post(t testing.TB, srv *httptest.Server, path, contentType string, body []byte) admissionv1.AdmissionReview {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("posting the review: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d, want 200 with the outcome inside the review: %s", resp.StatusCode, raw)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("the answer is not an AdmissionReview: %v\n%s", err, raw)
	}
	if out.Response == nil {
		t.Fatalf("the answer has no response: %s", raw)
	}
	return out
}

// CheckError checks an error answer: never allowed, never a patch, and a
// status saying what was wrong.
func CheckError(t testing.TB, resp *admissionv1.AdmissionResponse, wantCode int32, wantMessage string) {
	t.Helper()
	if resp.Allowed {
		t.Errorf("allowed, want an error %d %q", wantCode, wantMessage)
	}
	if len(resp.Patch) > 0 {
		t.Errorf("an error carries a patch: %s", resp.Patch)
	}
	if resp.Result == nil {
		t.Fatalf("no status, want code %d", wantCode)
	}
	if resp.Result.Code != wantCode {
		t.Errorf("status code = %d, want %d (message %q)", resp.Result.Code, wantCode, resp.Result.Message)
	}
	if resp.Result.Message == "" || !strings.Contains(resp.Result.Message, wantMessage) {
		t.Errorf("message = %q, want it to contain %q", resp.Result.Message, wantMessage)
	}
}
