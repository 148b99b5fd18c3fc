// Package admissionbench drives an admission webhook's HTTP handler with raw
// AdmissionReview bodies, as the API server sends them, for the handler
// benchmarks of pkg/mutate and pkg/validate.
package admissionbench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// UseProductionLogger makes controller-runtime log as `webhook serve` does
// by default (zap, JSON, info level), into nothing: building loggers for a
// request is part of the cost of an admission, writing logs is not.
func UseProductionLogger() {
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
}

// Answer posts body to handler at path once and returns the response of the
// AdmissionReview it answers, failing tb unless it answers one with HTTP 200.
func Answer(tb testing.TB, handler http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || rec.Code != http.StatusOK || review.Response == nil {
		tb.Fatalf("HTTP %d, %v: %s", rec.Code, err, rec.Body)
	}
	return review.Response
}

// Run is the timed loop of a handler benchmark: body posted to handler at
// path, b.N times, with the bytes and allocations reported.
func Run(b *testing.B, handler http.Handler, path string, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Header.Set("Content-Type", "application/json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
}
