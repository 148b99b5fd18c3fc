package controlplane

import (
	"context"
	"slices"
	"sync"

	"k8s.io/client-go/rest"
)

// Warnings holds the warnings the API server returned to the requests made
// with one context.
type Warnings struct {
	mu    sync.Mutex
	texts []string
}

// List returns the warnings in the order they arrived.
func (w *Warnings) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.texts)
}

func (w *Warnings) add(text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.texts = append(w.texts, text)
}

type warningsKey struct{}

// CollectWarnings returns a context that makes Cluster.Client (or any client
// whose config uses ContextWarningHandler) record the API server's warnings
// into the returned Warnings, so one client serves tests that each read
// only their own warnings.
func CollectWarnings(ctx context.Context) (context.Context, *Warnings) {
	w := &Warnings{}
	return context.WithValue(ctx, warningsKey{}, w), w
}

// ContextWarningHandler records each warning into the Warnings of the
// request's context, and drops warnings of requests made without one.
type ContextWarningHandler struct{}

var _ rest.WarningHandlerWithContext = ContextWarningHandler{}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (ContextWarningHandler) HandleWarningHeaderWithContext(ctx context.Context, _ int, _ string, text string) {
	if w, ok := ctx.Value(warningsKey{}).(*Warnings); ok {
		w.add(text)
	}
}
