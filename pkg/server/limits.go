package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Limits bound what clients can make the webhook hold. The webhook fails
// closed, so any pod able to reach its port could otherwise stop every
// admitted write in the cluster by exhausting its memory or its time.
type Limits struct {
	// BodyBytes is how many request body bytes may be held at once. A
	// request reserves its Content-Length (MaxRequestBytes when chunked)
	// before its body is read, and is answered 429 when that does not fit.
	BodyBytes int64
	// LargeBodyBytes is the share of BodyBytes that bodies of LargeBody
	// bytes or more may hold together, so large bodies never crowd out the
	// small ones the API server sends.
	LargeBodyBytes int64
	// InFlight caps the admissions served at once; more are answered 429.
	InFlight int64
	// BodyReadTimeout is how long a request may take, from its first
	// byte, to send its body.
	BodyReadTimeout time.Duration
	// HandlerTimeout is how long a request may take, from its first byte,
	// to be answered: its context ends then, and so does writing.
	HandlerTimeout time.Duration
}

// LargeBody is the size from which a body counts against LargeBodyBytes.
// Admission reviews of Services and DestinationRules are a few KiB.
const LargeBody = 1 << 20

// DefaultLimits fit the shipped 128Mi memory limit: reading a body holds up
// to three times its size while its buffer grows, and the resident baseline
// is 55-70 MiB, so one large body at a time (up to 7 MiB), and small ones
// besides. Measured with test/ops TestHostileClients. The API server gives
// up on a call after the webhook's timeoutSeconds (5), so neither timeout
// is worth exceeding.
func DefaultLimits() Limits {
	return Limits{
		BodyBytes:       16 << 20,
		LargeBodyBytes:  8 << 20,
		InFlight:        64,
		BodyReadTimeout: 5 * time.Second,
		HandlerTimeout:  5 * time.Second,
	}
}

// limiter enforces Limits on the webhook server's requests.
type limiter struct {
	limits   Limits
	body     *semaphore.Weighted
	large    *semaphore.Weighted
	inFlight atomic.Int64
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l, body: semaphore.NewWeighted(l.BodyBytes), large: semaphore.NewWeighted(l.LargeBodyBytes)}
}

// wrap applies the limits around next, which reads the body itself, once:
// deadlines first, then the body size, the memory it may hold, and the
// number of admissions in flight, each refused before a byte of the body
// is read.
func (l *limiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rc := http.NewResponseController(w)
		// A slow body would otherwise hold its connection and its memory
		// for as long as the client likes: only headers have a timeout.
		_ = rc.SetReadDeadline(start.Add(l.limits.BodyReadTimeout))
		_ = rc.SetWriteDeadline(start.Add(l.limits.HandlerTimeout + time.Second))
		ctx, cancel := context.WithDeadline(r.Context(), start.Add(l.limits.HandlerTimeout))
		defer cancel()

		if r.ContentLength >= MaxRequestBytes {
			tooLarge(w, r)
			return
		}
		reserve := r.ContentLength
		if reserve < 0 {
			reserve = MaxRequestBytes // chunked: the most it may be
		}
		release, ok := l.reserveBody(reserve)
		if !ok {
			tooMany(w, "request bodies")
			return
		}
		defer release()
		if n := l.inFlight.Add(1); n > l.limits.InFlight {
			l.inFlight.Add(-1)
			tooMany(w, "admissions")
			return
		}
		defer l.inFlight.Add(-1)

		body := &boundedBody{ReadCloser: http.MaxBytesReader(w, r.Body, MaxRequestBytes-1)}
		r = r.WithContext(ctx)
		r.Body = body
		next.ServeHTTP(&tooLargeWriter{ResponseWriter: w, r: r, body: body}, r)
	})
}

// reserveBody takes n bytes of the body budgets without waiting.
func (l *limiter) reserveBody(n int64) (release func(), ok bool) {
	if n >= LargeBody {
		if !l.large.TryAcquire(n) {
			return nil, false
		}
		if !l.body.TryAcquire(n) {
			l.large.Release(n)
			return nil, false
		}
		return func() { l.body.Release(n); l.large.Release(n) }, true
	}
	if !l.body.TryAcquire(n) {
		return nil, false
	}
	return func() { l.body.Release(n) }, true
}

// boundedBody records whether a chunked body ran past the limit, so the
// answer is the 413 of a body whose length was declared.
type boundedBody struct {
	io.ReadCloser
	exceeded bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		b.exceeded = true
	}
	return n, err
}

// tooLargeWriter replaces the answer of a handler whose body ran past the
// limit (controller-runtime answers a read error with 400) by 413.
type tooLargeWriter struct {
	http.ResponseWriter
	r        *http.Request
	body     *boundedBody
	replaced bool
}

func (w *tooLargeWriter) WriteHeader(code int) {
	if w.body.exceeded {
		w.replace()
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tooLargeWriter) Write(p []byte) (int, error) {
	if w.body.exceeded {
		w.replace()
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *tooLargeWriter) replace() {
	if !w.replaced {
		w.replaced = true
		tooLarge(w.ResponseWriter, w.r)
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *tooLargeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// retryAfterSeconds is what a refused client is told to wait: the API
// server does not retry a webhook call, but other clients may.
const retryAfterSeconds = 1

// tooMany answers 429 with a Status, without reading the body, and closes
// the connection so a body still being sent costs nothing more.
func tooMany(w http.ResponseWriter, what string) {
	status := apierrors.NewTooManyRequests(fmt.Sprintf("too many %s in flight at this webhook replica; retry", what), retryAfterSeconds).ErrStatus
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeStatus(w, status, http.StatusTooManyRequests)
}

// writeStatus writes a Kubernetes Status a client decodes, closing the
// connection.
func writeStatus(w http.ResponseWriter, status metav1.Status, code int) {
	status.APIVersion, status.Kind = "v1", "Status"
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(status)
}
