package check_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/pkg/check"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/report"
)

func options(paths ...string) check.Options {
	return check.Options{Paths: paths, Namespace: "default", Config: policy.Config{WaypointName: "waypoint"}, Format: report.Text}
}

const violating = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
  namespace: sample
spec:
  host: helloworld
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        failoverPriority: [topology.istio.io/cluster]
`

func namespace(name, m string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    failover-webhook.io/enforcement: %q\n", name, m)
}

func TestModes(t *testing.T) {
	tests := map[string]struct {
		input      string
		opts       func(*check.Options)
		wantDenied int
		wantLine   string // a phrase of the only finding; "" for none
	}{
		"a namespace without a Namespace object is enforced": {
			input: violating, wantDenied: 1, wantLine: "FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: locality failover",
		},
		"a Namespace object later in the input still sets the mode": {
			input:    violating + "---\n" + namespace("sample", "warn"),
			wantLine: "failoverPriority: warning: locality failover",
		},
		"--namespace-mode overrides the Namespace object": {
			input:      violating + "---\n" + namespace("sample", "warn"),
			opts:       func(o *check.Options) { o.NamespaceModes = map[string]mode.Mode{"sample": mode.Enforce} },
			wantDenied: 1, wantLine: "FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: locality failover",
		},
		"--default-mode applies where nothing sets a mode": {
			input:    violating,
			opts:     func(o *check.Options) { o.DefaultMode = mode.Audit },
			wantLine: "failoverPriority: audit: locality failover",
		},
		"--default-mode does not override a Namespace's label": {
			input:      violating + "---\n" + namespace("sample", "enforce"),
			opts:       func(o *check.Options) { o.DefaultMode = mode.Off },
			wantDenied: 1, wantLine: "FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: locality failover",
		},
		"off reports nothing": {
			input: violating, opts: func(o *check.Options) { o.DefaultMode = mode.Off },
		},
		"excluded namespaces are not judged": {
			input: violating, opts: func(o *check.Options) { o.ExcludedNamespaces = []string{"sample"} },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := options(check.Stdin)
			opts.Stdin = strings.NewReader(tc.input)
			if tc.opts != nil {
				tc.opts(&opts)
			}
			var out, errOut bytes.Buffer
			summary, err := check.Run(t.Context(), opts, &out, &errOut)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, errOut.String())
			}
			if summary.Denied != tc.wantDenied {
				t.Errorf("%d denied, want %d", summary.Denied, tc.wantDenied)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			switch {
			case tc.wantLine == "" && out.Len() > 0:
				t.Errorf("findings:\n%s\nwant none", out.String())
			case tc.wantLine != "" && (len(lines) != 1 || !strings.Contains(lines[0], tc.wantLine)):
				t.Errorf("findings:\n%s\nwant one containing %q", out.String(), tc.wantLine)
			}
		})
	}
}

func TestInputErrors(t *testing.T) {
	t.Run("a path that does not exist", func(t *testing.T) {
		_, err := check.Run(t.Context(), options("/nonexistent"), io.Discard, io.Discard)
		var input *check.InputError
		if !errors.As(err, &input) || input.Err == nil {
			t.Errorf("error %v, want an *InputError naming the path", err)
		}
	})
	t.Run("a syntax error still lets the rest be judged", func(t *testing.T) {
		opts := options(check.Stdin)
		opts.Stdin = strings.NewReader("a: b: c\n---\n" + violating)
		var out, errOut bytes.Buffer
		summary, err := check.Run(t.Context(), opts, &out, &errOut)
		var input *check.InputError
		if !errors.As(err, &input) || input.Invalid != 1 || err.Error() != "1 document could not be read" {
			t.Errorf("error %v, want an *InputError counting 1 document", err)
		}
		if summary.Denied != 1 || !strings.Contains(out.String(), "<stdin>:13:9 DestinationRule sample/helloworld") {
			t.Errorf("the document after the error was not judged: %+v\n%s", summary, out.String())
		}
		if !strings.HasPrefix(errOut.String(), "<stdin>:1: yaml: mapping values are not allowed in this context (document 1)\n") {
			t.Errorf("stderr %q, want the syntax error at <stdin>:1", errOut.String())
		}
	})
}

// generate writes documents to w until size bytes are written: Services
// that the webhook would mutate and DestinationRules it would deny, each
// carrying a note so that the stream is large without being slow to parse.
func generate(w io.Writer, size int) (docs int, err error) {
	note := strings.Repeat("n", 4000)
	written := 0
	for i := 0; written < size; i++ {
		doc := fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: ns-%d\n  labels: {failover: cluster}\n  annotations: {example.com/note: %s}\n---\n", i, i%100, note)
		if i%2 == 1 {
			doc = fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr-%d\n  namespace: ns-%d\n  annotations: {example.com/note: %s}\nspec:\n  host: svc-%d\n  trafficPolicy:\n    loadBalancer: {localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}}\n---\n", i, i%100, note, i)
		}
		n, err := io.WriteString(w, doc)
		written += n
		if err != nil {
			return docs, err
		}
		docs++
	}
	return docs, nil
}

// countingWriter counts what is written through it and keeps none of it.
type countingWriter struct{ bytes, lines int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.bytes += len(p)
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// peakHeap samples the live heap until stop is closed.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	peak := make(chan uint64, 1)
	go func() {
		var max uint64
		var m runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > max {
				max = m.HeapAlloc
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	return peak
}

// TestLargeInputStreamsInBoundedMemory pipes 50 MB of manifests into
// check's standard input, every document with findings, and holds the live
// heap well below the size of the input: documents are read, judged and
// reported one at a time.
func TestLargeInputStreamsInBoundedMemory(t *testing.T) {
	const size = 50 << 20
	// The heap may hold a few documents, the scheme, buffers and garbage
	// not yet collected; the input itself would not fit.
	const bound = 32 << 20

	r, w := io.Pipe()
	var docs int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		docs, err = generate(w, size)
		w.CloseWithError(err)
	}()

	runtime.GC()
	stop := make(chan struct{})
	peak := peakHeap(stop)
	start := time.Now()
	opts := options(check.Stdin)
	opts.Stdin = r
	var out, errOut countingWriter
	summary, err := check.Run(t.Context(), opts, &out, &errOut)
	elapsed := time.Since(start)
	close(stop)
	maxHeap := <-peak
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MiB, %d documents in %s; peak live heap %.1f MiB; %d report lines", size>>20, docs, elapsed.Round(time.Millisecond), float64(maxHeap)/(1<<20), out.lines)

	if summary.Documents != docs || summary.Services+summary.DestinationRules != docs {
		t.Errorf("summary %+v, want all %d documents judged", summary, docs)
	}
	if summary.Denied != docs/2 || summary.Mutated != (docs+1)/2 {
		t.Errorf("summary %+v, want %d denied and %d mutated", summary, docs/2, (docs+1)/2)
	}
	if want := docs/2 + 2*((docs+1)/2); out.lines != want {
		t.Errorf("%d report lines, want %d", out.lines, want)
	}
	if maxHeap > bound {
		t.Errorf("peak live heap %.1f MiB, want at most %d MiB for %d MiB of input", float64(maxHeap)/(1<<20), bound>>20, size>>20)
	}
}

// mergedInput is two DestinationRules for one host, each fine alone: the
// older one's top-level policy wins Istio's merge, so the newer one's
// subset with failover loses the outlier detection it inherits.
const mergedInput = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: pool
  namespace: sample
  creationTimestamp: "2026-01-01T00:00:00Z"
spec:
  host: helloworld
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 10}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: failover
  namespace: sample
  creationTimestamp: "2026-01-02T00:00:00Z"
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer:
        localityLbSetting:
          failoverPriority: [topology.istio.io/network]
`

func TestMergedRules(t *testing.T) {
	opts := options(check.Stdin)
	opts.Stdin = strings.NewReader(mergedInput)
	var out, errOut bytes.Buffer
	summary, err := check.Run(t.Context(), opts, &out, &errOut)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	if summary.Denied != 0 || summary.Merged != 1 {
		t.Errorf("%d denied and %d broken by the merge, want 0 and 1", summary.Denied, summary.Merged)
	}
	want := []string{
		"<stdin>:29:11 DestinationRule sample/failover: FW101 spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: after Istio merges the DestinationRules of host helloworld.sample.svc.cluster.local (sample/pool, sample/failover, in this order; the top-level trafficPolicy is sample/pool's)",
		"<stdin>:21:3 DestinationRule sample/failover: FW112 spec.trafficPolicy: warning: a waypoint in namespace sample ignores its top-level trafficPolicy for host helloworld.sample.svc.cluster.local, with the failover policy it declares: sample/pool applies instead",
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("findings:\n%s\nwant %d", out.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("finding %d:\n%s\nwant it to start with\n%s", i, lines[i], w)
		}
	}
}

// globalThroughWaypointInput has a waypoint made global through its
// Gateway (Istio copies the label onto the Service it generates), a
// Service using it by its own label and one by its namespace's, neither
// global nor opted in, and a global one, which is fine.
const globalThroughWaypointInput = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: shared
  namespace: waypoints
  labels:
    istio.io/global: "true"
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
---
apiVersion: v1
kind: Namespace
metadata:
  name: byns
  labels:
    istio.io/use-waypoint: shared
    istio.io/use-waypoint-namespace: waypoints
---
apiVersion: v1
kind: Service
metadata:
  name: local
  namespace: app
  labels:
    istio.io/use-waypoint: shared
    istio.io/use-waypoint-namespace: waypoints
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: local
  namespace: byns
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: global
  namespace: app
  labels:
    istio.io/global: "true"
    istio.io/use-waypoint: shared
    istio.io/use-waypoint-namespace: waypoints
spec:
  ports: [{name: http, port: 80}]
`

func TestGlobalThroughWaypoint(t *testing.T) {
	for name, tc := range map[string]struct {
		input string
		want  []string
	}{
		"a global waypoint": {
			input: globalThroughWaypointInput,
			want: []string{
				"<stdin>:26:3 Service app/local: FW413 metadata.labels[istio.io/global]: warning: uses the global waypoint waypoints/shared but is not global itself",
				"<stdin>:34:1 Service byns/local: FW413 metadata.labels[istio.io/global]: warning: uses the global waypoint waypoints/shared but is not global itself",
			},
		},
		"a waypoint that is not global": {
			input: strings.Replace(globalThroughWaypointInput, `istio.io/global: "true"`+"\nspec:\n  gatewayClassName", "{}\nspec:\n  gatewayClassName", 1),
		},
	} {
		t.Run(name, func(t *testing.T) {
			opts := options(check.Stdin)
			opts.Stdin = strings.NewReader(tc.input)
			var out, errOut bytes.Buffer
			if _, err := check.Run(t.Context(), opts, &out, &errOut); err != nil {
				t.Fatalf("Run: %v\n%s", err, errOut.String())
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if strings.Contains(l, "FW413") {
					got = append(got, l)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("FW413 findings:\n%s\nwant %d; all output:\n%s", strings.Join(got, "\n"), len(tc.want), out.String())
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("finding %d:\n%s\nwant it to start with\n%s", i, got[i], w)
				}
			}
		})
	}
}
