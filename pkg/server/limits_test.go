package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// review is a minimal AdmissionReview controller-runtime decodes.
var review = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"version":"v1","kind":"Service"},"resource":{"version":"v1","resource":"services"},"object":{}}}`)

// limitedServer serves controller-runtime's admission webhook behind the
// limits; handle runs for each admission. The limiter is returned so that a
// test can see which requests it holds.
func limitedServer(t *testing.T, limits Limits, handle func(ctx context.Context)) (string, *limiter) {
	t.Helper()
	l := newLimiter(limits)
	h := l.wrap(NewAdmission(admission.HandlerFunc(func(ctx context.Context, _ admission.Request) admission.Response {
		handle(ctx)
		if ctx.Err() != nil {
			return admission.Errored(http.StatusServiceUnavailable, ctx.Err())
		}
		return admission.Allowed("")
	})))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, l
}

// post sends body (chunked when size is -1) and returns the status code and
// the answer: an HTTP error code, or the code of the admission result.
func post(url string, body io.Reader, size int64) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return 0, "", err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(data), nil
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &r); err != nil || r.Response == nil {
		return 0, string(data), err
	}
	if r.Response.Result != nil && r.Response.Result.Code != 0 {
		return int(r.Response.Result.Code), r.Response.Result.Message, nil
	}
	return http.StatusOK, "", nil
}

func TestLimitsOnBodySize(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxRequestBytes)
	tests := map[string]struct {
		body    []byte
		chunked bool

		wantCode    int
		wantMessage string
	}{
		"a small body is admitted": {body: review, wantCode: http.StatusOK},
		"a small chunked body is admitted": {
			body: review, chunked: true, wantCode: http.StatusOK,
		},
		"a body of exactly 7 MiB is refused with a Status naming the limit": {
			body: big, wantCode: http.StatusRequestEntityTooLarge,
			wantMessage: "the admission request body is 7340032 bytes; this webhook accepts less than 7340032 bytes (7 MiB)",
		},
		"a chunked body of 7 MiB is refused with the same Status": {
			body: big, chunked: true, wantCode: http.StatusRequestEntityTooLarge,
			wantMessage: "the admission request body is at least 7 MiB",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reached := false
			url, _ := limitedServer(t, DefaultLimits(), func(context.Context) { reached = true })
			var body io.Reader = bytes.NewReader(tc.body)
			size := int64(len(tc.body))
			if tc.chunked {
				body, size = io.MultiReader(body), -1
			}
			code, msg, err := post(url, body, size)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Fatalf("answer %d %s, want %d", code, msg, tc.wantCode)
			}
			if code == http.StatusOK {
				return
			}
			if reached {
				t.Error("the handler was called")
			}
			var status metav1.Status
			if err := json.Unmarshal([]byte(msg), &status); err != nil {
				t.Fatalf("the body is not a Status: %v: %s", err, msg)
			}
			if status.Kind != "Status" || status.Reason != metav1.StatusReasonRequestEntityTooLarge || !strings.Contains(status.Message, tc.wantMessage) {
				t.Errorf("status %+v, want RequestEntityTooLarge saying %q", status, tc.wantMessage)
			}
		})
	}
}

// slowBody sends size bytes but the last one only when released.
func slowBody(size int) (io.Reader, func()) {
	pr, pw := io.Pipe()
	release := make(chan struct{})
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte(" "), size-1))
		<-release
		_, _ = pw.Write([]byte(" "))
		_ = pw.Close()
	}()
	var once sync.Once
	return pr, func() { once.Do(func() { close(release) }) }
}

func TestLimitsUnderHostileClients(t *testing.T) {
	const large = 6 << 20
	tests := map[string]struct {
		limits Limits
		// hold are body sizes sent first and held open (never finished);
		// 0 sends a whole review.
		hold []int
		// blockHandler keeps each admission in its handler until the
		// test ends.
		blockHandler bool
		// then is the body sent next, whose answer is checked.
		then        []byte
		thenSize    int
		wantCode    int
		wantWithin  time.Duration
		wantMessage string
	}{
		"a large body beyond the large-body budget is refused at once": {
			limits: Limits{BodyBytes: 24 << 20, LargeBodyBytes: 8 << 20, InFlight: 64, BodyReadTimeout: 10 * time.Second, HandlerTimeout: 10 * time.Second},
			hold:   []int{large}, thenSize: large,
			wantCode: http.StatusTooManyRequests, wantWithin: time.Second, wantMessage: "too many request bodies",
		},
		"a small body is admitted while large bodies fill their budget": {
			limits: Limits{BodyBytes: 24 << 20, LargeBodyBytes: 16 << 20, InFlight: 64, BodyReadTimeout: 10 * time.Second, HandlerTimeout: 10 * time.Second},
			hold:   []int{large, large}, then: review,
			wantCode: http.StatusOK, wantWithin: time.Second,
		},
		"admissions beyond the in-flight cap are refused at once": {
			limits:       Limits{BodyBytes: 24 << 20, LargeBodyBytes: 16 << 20, InFlight: 2, BodyReadTimeout: 10 * time.Second, HandlerTimeout: 10 * time.Second},
			blockHandler: true, hold: []int{0, 0}, then: review,
			wantCode: http.StatusTooManyRequests, wantWithin: time.Second, wantMessage: "too many admissions",
		},
		"a body not sent within the read timeout is given up": {
			limits:   Limits{BodyBytes: 24 << 20, LargeBodyBytes: 16 << 20, InFlight: 64, BodyReadTimeout: 300 * time.Millisecond, HandlerTimeout: 10 * time.Second},
			thenSize: 1000,
			wantCode: http.StatusBadRequest, wantWithin: 2 * time.Second, wantMessage: "timeout",
		},
		"a handler still running at the handler timeout sees its context end": {
			limits:       Limits{BodyBytes: 24 << 20, LargeBodyBytes: 16 << 20, InFlight: 64, BodyReadTimeout: 10 * time.Second, HandlerTimeout: 300 * time.Millisecond},
			blockHandler: true, then: review,
			wantCode: http.StatusServiceUnavailable, wantWithin: 2 * time.Second,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			defer close(done)
			url, l := limitedServer(t, tc.limits, func(ctx context.Context) {
				if tc.blockHandler {
					select {
					case <-ctx.Done():
					case <-done:
					}
				}
			})
			var held sync.WaitGroup
			for _, n := range tc.hold {
				body, size := io.Reader(bytes.NewReader(review)), int64(len(review))
				if n > 0 {
					var release func()
					body, release = slowBody(n)
					defer release()
					size = int64(n)
				}
				held.Go(func() { _, _, _ = post(url, body, size) })
			}
			// The held requests are in: each has its budget and counts
			// as in flight, however slowly the machine schedules them.
			if err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
				return l.inFlight.Load() >= int64(len(tc.hold)), nil
			}); err != nil {
				t.Fatalf("%d of %d held requests in flight after 10 s: %v", l.inFlight.Load(), len(tc.hold), err)
			}
			var body io.Reader = bytes.NewReader(tc.then)
			size := int64(len(tc.then))
			if tc.then == nil {
				var release func()
				body, release = slowBody(tc.thenSize)
				defer release()
				size = int64(tc.thenSize)
			}
			start := time.Now()
			code, msg, err := post(url, body, size)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(msg, tc.wantMessage) {
				t.Errorf("answer %d %q, want %d saying %q", code, msg, tc.wantCode, tc.wantMessage)
			}
			if took > tc.wantWithin {
				t.Errorf("answered after %s, want within %s", took, tc.wantWithin)
			}
		})
	}
}
