package server

import (
	"context"
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

// edge wraps an admission handler with the shutdown rule: while draining,
// each response closes its connection, so clients reconnect to a replica
// that stays.
func (m *drainingManager) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.draining.Load() {
			w.Header().Set("Connection", "close")
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
	// Bounded in time too, by the body read deadline.
	_, _ = io.CopyN(io.Discard, r.Body, discardLimit)
	status := apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
		"the admission request body is %s; this webhook accepts less than %d bytes (7 MiB), more than the API server ever sends", got, MaxRequestBytes)).ErrStatus
	writeStatus(w, status, http.StatusRequestEntityTooLarge)
}
