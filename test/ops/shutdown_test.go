package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// The shutdown timings of TestSIGTERMDuringLoad. The clients stand in for
// a Service: they send only to a webhook that is ready, or that stopped
// being ready less than endpointLag ago (endpoints take a moment to drop a
// pod). endpointLag is well under shutdownDelay, as it must be in a cluster.
const (
	shutdownDelay = 3 * time.Second
	endpointLag   = time.Second
	probeInterval = 100 * time.Millisecond
	// slowUpload is how long one request takes to send its body; it starts
	// after SIGTERM and is still being read when the listener closes.
	slowUpload = 4 * time.Second
)

// TestSIGTERMDuringLoad runs the built `webhook serve` and sends it
// admissions continuously, then SIGTERM: the webhook must report not ready
// at once, answer every request sent to it until the endpoints would have
// dropped it, finish a request still uploading when its listener closes,
// and exit 0.
func TestSIGTERMDuringLoad(t *testing.T) {
	controlplane.SkipIfShort(t)
	w := startBinary(t, nil, "--shutdown-delay="+shutdownDelay.String(), "--graceful-shutdown-timeout=20s")
	cmd, exited, roots, probes, base, out := w.cmd, w.exited, w.roots, w.probes, w.base, w.out

	t.Run("a request body of 7 MiB or more gets 413 with a Status saying so", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), server.MaxRequestBytes+1)
		for name, body := range map[string]io.Reader{
			"with Content-Length": bytes.NewReader(big),
			"chunked":             io.MultiReader(bytes.NewReader(big)), // no length known to the client
		} {
			req, err := http.NewRequest(http.MethodPost, base+mutate.Path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := tlsClient(roots, false).Do(req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var status metav1.Status
			_ = json.Unmarshal(data, &status)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || status.Reason != metav1.StatusReasonRequestEntityTooLarge ||
				!strings.Contains(status.Message, "this webhook accepts less than 7340032 bytes (7 MiB)") {
				t.Errorf("%s: HTTP %d %s, want 413 and a Status naming the limit", name, resp.StatusCode, data)
			}
		}
	})

	// The clients' view of the endpoints, from /readyz.
	var notReadySince atomic.Int64 // unix nanoseconds; 0 while ready
	probeCtx, stopProbing := context.WithCancel(context.Background())
	defer stopProbing()
	go func() {
		for probeCtx.Err() == nil {
			if ready(probes) == nil {
				notReadySince.Store(0)
			} else if notReadySince.Load() == 0 {
				notReadySince.Store(time.Now().UnixNano())
			}
			time.Sleep(probeInterval)
		}
	}()
	routable := func() bool {
		since := notReadySince.Load()
		return since == 0 || time.Since(time.Unix(0, since)) < endpointLag
	}

	var sigterm atomic.Int64
	var afterSIGTERM atomic.Int64
	client := tlsClient(roots, true)
	l := startLoad(workers, func(ctx context.Context, _, i int) error {
		for !routable() {
			if ctx.Err() != nil {
				return errSkipped
			}
			time.Sleep(10 * time.Millisecond)
		}
		if sigterm.Load() != 0 {
			afterSIGTERM.Add(1)
		}
		return postReview(ctx, client, base, i)
	})
	time.Sleep(time.Second)

	sent := time.Now()
	sigterm.Store(sent.UnixNano())
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// One request starts uploading now, slowly enough to be in flight when
	// the delay ends and the listener closes.
	slow := make(chan error, 1)
	go func() {
		_, uid, body := admissionReview(0)
		pr, pw := io.Pipe()
		go func() {
			chunk := len(body)/10 + 1
			for off := 0; off < len(body); off += chunk {
				time.Sleep(slowUpload / 10)
				_, _ = pw.Write(body[off:min(off+chunk, len(body))])
			}
			_ = pw.Close()
		}()
		slow <- postBody(context.Background(), tlsClient(roots, false), base+mutate.Path, uid, true, pr, int64(len(body)))
	}()

	waitFor(t, "readiness fails after SIGTERM", func() error {
		if notReadySince.Load() == 0 {
			return fmt.Errorf("still ready")
		}
		return nil
	})
	notReadyAfter := time.Unix(0, notReadySince.Load()).Sub(sent)
	t.Logf("not ready %s after SIGTERM (probing every %s)", notReadyAfter.Round(time.Millisecond), probeInterval)

	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(shutdownDelay + slowUpload + waitTimeout):
		t.Fatal("the webhook did not exit")
	}
	exitedAfter := time.Since(sent)
	l.Stop(t, fmt.Sprintf("SIGTERM during load (%d of them sent after SIGTERM)", afterSIGTERM.Load()))
	if exitErr != nil {
		t.Errorf("the webhook exited with %v, want 0", exitErr)
	}
	if err := <-slow; err != nil {
		t.Errorf("the request uploading while the listener closed failed: %v", err)
	}
	t.Logf("exited %s after SIGTERM (delay %s, then the %s upload finished)", exitedAfter.Round(time.Millisecond), shutdownDelay, slowUpload)
	if exitedAfter < shutdownDelay {
		t.Errorf("exited %s after SIGTERM, before the shutdown delay %s", exitedAfter, shutdownDelay)
	}
	if afterSIGTERM.Load() == 0 {
		t.Error("no request was sent between SIGTERM and the endpoints dropping the webhook")
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("the webhook did not log its shutdown; output:\n%s", out.String())
	}
}
