package server

import (
	"slices"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// NewAdmission wraps an admission handler in controller-runtime's webhook
// the way the webhook server serves it.
func NewAdmission(h admission.Handler) *webhook.Admission {
	return &webhook.Admission{Handler: h, LogConstructor: requestLogger}
}

// requestLogger gives each admission request a logger carrying the
// request's object, user and uid, as controller-runtime's default does, but
// adds them to the log sink only when a message is logged. The default adds
// them at once, twice per request; with zap that alone costs a third of
// what controller-runtime spends on a request, and at the default level
// nothing is logged per request.
func requestLogger(base logr.Logger, req *admission.Request) logr.Logger {
	if req == nil || base.GetSink() == nil {
		return admission.DefaultLogConstructor(base, req)
	}
	return admission.DefaultLogConstructor(base.WithSink(&lazyValues{sink: base.GetSink()}), req)
}

// lazyValues is a log sink that keeps the values it is given and hands
// them to its underlying sink only when it logs.
type lazyValues struct {
	sink   logr.LogSink
	values []any
}

var (
	_ logr.LogSink          = &lazyValues{}
	_ logr.CallDepthLogSink = &lazyValues{}
)

func (l *lazyValues) Init(info logr.RuntimeInfo) { l.sink.Init(info) }

func (l *lazyValues) Enabled(level int) bool { return l.sink.Enabled(level) }

func (l *lazyValues) Info(level int, msg string, keysAndValues ...any) {
	l.withValues().Info(level, msg, keysAndValues...)
}

func (l *lazyValues) Error(err error, msg string, keysAndValues ...any) {
	l.withValues().Error(err, msg, keysAndValues...)
}

func (l *lazyValues) WithValues(keysAndValues ...any) logr.LogSink {
	return &lazyValues{sink: l.sink, values: append(slices.Clip(l.values), keysAndValues...)}
}

func (l *lazyValues) WithName(name string) logr.LogSink {
	return &lazyValues{sink: l.sink.WithName(name), values: l.values}
}

// WithCallDepth keeps the caller the underlying sink reports the one that
// logged, one frame above this sink.
func (l *lazyValues) WithCallDepth(depth int) logr.LogSink {
	sink, ok := l.sink.(logr.CallDepthLogSink)
	if !ok {
		return l
	}
	return &lazyValues{sink: sink.WithCallDepth(depth), values: l.values}
}

func (l *lazyValues) withValues() logr.LogSink {
	sink := l.sink
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	if len(l.values) == 0 {
		return sink
	}
	return sink.WithValues(l.values...)
}
