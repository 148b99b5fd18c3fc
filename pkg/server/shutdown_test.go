package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

func TestEdge(t *testing.T) {
	small := []byte(`{"kind":"AdmissionReview"}`)
	big := bytes.Repeat([]byte("x"), MaxRequestBytes)
	tests := map[string]struct {
		body     []byte
		chunked  bool
		draining bool

		wantCode    int
		wantMessage string
		wantClose   bool
	}{
		"a small body reaches the handler": {
			body: small, wantCode: http.StatusOK,
		},
		"a small chunked body reaches the handler with its length": {
			body: small, chunked: true, wantCode: http.StatusOK,
		},
		"a body of exactly 7 MiB is refused without reaching the handler": {
			body: big, wantCode: http.StatusRequestEntityTooLarge, wantClose: true,
			wantMessage: "the admission request body is 7340032 bytes; this webhook accepts less than 7340032 bytes (7 MiB)",
		},
		"a chunked body of 7 MiB is refused": {
			body: big, chunked: true, wantCode: http.StatusRequestEntityTooLarge, wantClose: true,
			wantMessage: "the admission request body is at least 7 MiB",
		},
		"while draining, every response closes its connection": {
			body: small, draining: true, wantCode: http.StatusOK, wantClose: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := &drainingManager{}
			m.draining.Store(tc.draining)
			var got []byte
			reached := false
			h := m.edge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				got, _ = io.ReadAll(r.Body)
				if r.ContentLength != int64(len(got)) {
					t.Errorf("ContentLength %d for a body of %d bytes", r.ContentLength, len(got))
				}
			}))
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body)
			}
			req := httptest.NewRequest(http.MethodPost, "/validate-destinationrule", body)
			if tc.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tc.wantCode {
				t.Errorf("status %d, want %d", rec.Code, tc.wantCode)
			}
			if closes := rec.Header().Get("Connection") == "close"; closes != tc.wantClose {
				t.Errorf("Connection: close is %v, want %v", closes, tc.wantClose)
			}
			if tc.wantCode != http.StatusOK {
				if reached {
					t.Error("the handler was called")
				}
				var status metav1.Status
				if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil {
					t.Fatalf("the body is not a Status: %v: %s", err, rec.Body.String())
				}
				if status.Kind != "Status" || status.Code != http.StatusRequestEntityTooLarge || status.Reason != metav1.StatusReasonRequestEntityTooLarge ||
					!strings.Contains(status.Message, tc.wantMessage) {
					t.Errorf("status %+v, want 413 RequestEntityTooLarge saying %q", status, tc.wantMessage)
				}
				return
			}
			if !bytes.Equal(got, tc.body) {
				t.Errorf("the handler read %d bytes, want %d", len(got), len(tc.body))
			}
		})
	}
}

// fakeManager is the manager under a drainingManager: it runs until its
// context ends and records when that happened.
type fakeManager struct {
	manager.Manager
	stopped chan time.Time
}

func (f *fakeManager) Start(ctx context.Context) error {
	<-ctx.Done()
	f.stopped <- time.Now()
	return nil
}

func TestShutdownSequence(t *testing.T) {
	const delay = 300 * time.Millisecond
	inner := &fakeManager{stopped: make(chan time.Time, 1)}
	m := &drainingManager{Manager: inner, delay: delay}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()

	if err := m.notDraining(nil); err != nil {
		t.Fatalf("ready before SIGTERM: %v", err)
	}
	signalled := time.Now()
	sigterm()
	deadline := time.Now().Add(delay / 2)
	for m.notDraining(nil) == nil {
		if time.Now().After(deadline) {
			t.Fatal("still ready well after SIGTERM")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case stopped := <-inner.stopped:
		if waited := stopped.Sub(signalled); waited < delay {
			t.Errorf("the manager stopped %s after SIGTERM, before the delay of %s", waited, delay)
		}
	case <-time.After(10 * delay):
		t.Fatal("the manager was not stopped after the delay")
	}
	if err := <-done; err != nil {
		t.Errorf("Start returned %v", err)
	}
}
