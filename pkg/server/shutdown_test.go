package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

func TestEdgeWhileDraining(t *testing.T) {
	for name, draining := range map[string]bool{"while serving, connections stay open": false, "while draining, every response closes its connection": true} {
		t.Run(name, func(t *testing.T) {
			m := &drainingManager{}
			m.draining.Store(draining)
			rec := httptest.NewRecorder()
			m.edge(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
			if closes := rec.Header().Get("Connection") == "close"; closes != draining {
				t.Errorf("Connection: close is %v, want %v", closes, draining)
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
