package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Admission request bodies must be smaller than MaxRequestBytes, which is
// controller-runtime's own limit (maxRequestSize in
// sigs.k8s.io/controller-runtime/pkg/webhook/admission/http.go). The API
// server never sends one this large: it refuses objects over 3 MiB.
const MaxRequestBytes = 7 << 20

// drainingManager runs a manager with the shutdown sequence of NewManager.
type drainingManager struct {
	manager.Manager
	delay    time.Duration
	draining atomic.Bool
}

// Start runs the manager until ctx ends, then drains: readiness fails at
// once, responses carry Connection: close so that clients reconnect
// elsewhere, and after the delay the manager stops, which closes the
// listener and waits for in-flight requests.
func (m *drainingManager) Start(ctx context.Context) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-runCtx.Done(): // the manager ended on its own
			return
		case <-ctx.Done():
		}
		m.draining.Store(true)
		log.FromContext(ctx).Info("shutting down: not ready, serving until the delay ends, then finishing in-flight requests", "delay", m.delay.String())
		timer := time.NewTimer(m.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-runCtx.Done():
		}
		stop()
	}()
	return m.Manager.Start(runCtx)
}

// notDraining is the readiness check of the shutdown sequence.
func (m *drainingManager) notDraining(*http.Request) error {
	if m.draining.Load() {
		return errors.New("shutting down: the webhook serves in-flight and late requests until its shutdown delay ends")
	}
	return nil
}

// edge wraps an admission handler with the transport rules of this
// webhook: while draining, each response closes its connection; a body of
// MaxRequestBytes or more is refused with 413 and a Kubernetes Status
// saying so, before it is read.
func (m *drainingManager) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		switch {
		case r.ContentLength >= MaxRequestBytes:
			tooLarge(w, r)
			return
		case r.ContentLength < 0:
			// No declared length (chunked): read up to the limit to know.
			body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes))
			if err != nil {
				http.Error(w, fmt.Sprintf("reading the request body: %v", err), http.StatusBadRequest)
				return
			}
			if len(body) >= MaxRequestBytes {
				tooLarge(w, r)
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

// discardLimit bounds how much of a refused body is read and thrown away:
// a client still sending when the connection closes gets a reset instead
// of the answer, so the rest of a body up to this size is read first.
const discardLimit = 2 * MaxRequestBytes

// tooLarge answers 413 with a Status a Kubernetes client decodes, and
// closes the connection.
func tooLarge(w http.ResponseWriter, r *http.Request) {
	got := "at least 7 MiB"
	if r.ContentLength >= 0 {
		got = fmt.Sprintf("%d bytes", r.ContentLength)
	}
	_, _ = io.CopyN(io.Discard, r.Body, discardLimit)
	w.Header().Set("Connection", "close")
	status := apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
		"the admission request body is %s; this webhook accepts less than %d bytes (7 MiB), more than the API server ever sends", got, MaxRequestBytes)).ErrStatus
	status.APIVersion, status.Kind = "v1", "Status"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_ = json.NewEncoder(w).Encode(status)
}
