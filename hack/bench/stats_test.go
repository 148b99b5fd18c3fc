package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func ms(values ...int) []time.Duration {
	out := make([]time.Duration, len(values))
	for i, v := range values {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := map[string]struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		"no samples give zero":                            {nil, 50, 0},
		"one sample is every percentile":                  {ms(7), 99, 7 * time.Millisecond},
		"the median of an odd count is the middle":        {ms(1, 2, 3), 50, 2 * time.Millisecond},
		"the median of an even count is the lower middle": {ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		"p99 of 1..100 ms is 99 ms":                       {hundred, 99, 99 * time.Millisecond},
		"p90 of 1..100 ms is 90 ms":                       {hundred, 90, 90 * time.Millisecond},
		"p100 is the largest":                             {hundred, 100, 100 * time.Millisecond},
		"p99 of 10 samples is the largest, never beyond":  {ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		"a tiny percentile is the smallest":               {ms(5, 6), 0.001, 5 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeSortsAndReportsMicroseconds(t *testing.T) {
	got := Summarize(ms(3, 1, 2, 4))
	want := Latency{N: 4, Min: 1000, P50: 2000, P90: 4000, P99: 4000, Max: 4000, Mean: 2500}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Latency{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", Summarize(nil))
	}
}

func TestAddedAndRatio(t *testing.T) {
	base := Latency{P50: 2000, P90: 2500, P99: 4000}
	noop := Latency{P50: 3000, P90: 3800, P99: 6000}
	hook := Latency{P50: 3200, P90: 4000, P99: 5500}
	addedNoop, addedHook := noop.AddedOver(base), hook.AddedOver(base)
	if want := (Added{P50: 1000, P90: 1300, P99: 2000}); addedNoop != want {
		t.Errorf("added by the do-nothing webhook = %+v, want %+v", addedNoop, want)
	}
	if got := Ratio(addedHook.P50, addedNoop.P50); math.Abs(got-1.2) > 1e-9 {
		t.Errorf("ratio of added p50 = %v, want 1.2", got)
	}
	tests := map[string]struct{ a, b float64 }{
		"over a zero baseline":     {1, 0},
		"over a negative baseline": {1, -0.5},
	}
	for name, tc := range tests {
		t.Run(name+" the ratio is undefined", func(t *testing.T) {
			if got := Ratio(tc.a, tc.b); !math.IsNaN(got) {
				t.Errorf("Ratio(%v, %v) = %v, want NaN", tc.a, tc.b, got)
			}
		})
	}
}

func TestSpreadIgnoresUndefinedValues(t *testing.T) {
	got := SpreadOf([]float64{1.1, math.NaN(), 0.9, 1.3})
	if got.Min != 0.9 || got.Max != 1.3 {
		t.Errorf("SpreadOf = %+v, want 0.9..1.3", got)
	}
	if s := SpreadOf(nil); !math.IsNaN(float64(s.Min)) || !math.IsNaN(float64(s.Max)) {
		t.Errorf("SpreadOf(nil) = %+v, want NaN..NaN", s)
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/failover-webhook/failover-webhook/pkg/mutate
cpu: AMD EPYC
BenchmarkDecide/seed_helloworld_Service_create,_labels_added-2         	  720000	      1642 ns/op	    1872 B/op	      14 allocs/op
BenchmarkHandler/seed_helloworld_Service_create,_patched-2             	   12087	     84920 ns/op	   5.59 MB/s	   39165 B/op	     691 allocs/op
PASS
ok  	github.com/failover-webhook/failover-webhook/pkg/mutate	2.572s
pkg: github.com/failover-webhook/failover-webhook/pkg/validate
BenchmarkDecision/seed_guide_DestinationRule,_allowed-2   98280	      3355 ns/op	    2768 B/op	      46 allocs/op
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []GoBenchmark{
		{Package: "pkg/mutate", Name: "Decide/seed_helloworld_Service_create,_labels_added", Procs: 2, Iterations: 720000, NsPerOp: 1642, BytesPerOp: 1872, AllocsPerOp: 14},
		{Package: "pkg/mutate", Name: "Handler/seed_helloworld_Service_create,_patched", Procs: 2, Iterations: 12087, NsPerOp: 84920, MBPerS: 5.59, BytesPerOp: 39165, AllocsPerOp: 691},
		{Package: "pkg/validate", Name: "Decision/seed_guide_DestinationRule,_allowed", Procs: 2, Iterations: 98280, NsPerOp: 3355, BytesPerOp: 2768, AllocsPerOp: 46},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d benchmarks, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("benchmark %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAPIResultsRatioOfAddedMedians(t *testing.T) {
	s := newAPISamples()
	// Per round, in ms: no policy 2, do-nothing 3, failover-webhook 3.5,
	// so failover-webhook adds 1.5 where the do-nothing webhook adds 1.
	for round := range 3 {
		for _, d := range []struct {
			variant string
			ms      []int
		}{
			{variantNone, []int{2, 2, 2}},
			{variantNoop, []int{3, 3, 3}},
			{variantFloor, []int{3, 3, 3}},
			{variantWebhook, []int{3, 4, 4}},
			{variantNative, []int{2, 3, 3}},
		} {
			for i, v := range ms(d.ms...) {
				if d.variant == variantWebhook && i == 0 {
					v = 3500 * time.Microsecond
				}
				s.add(apiKey{d.variant, kindDestinationRule, opCreate}, round, v)
			}
		}
	}
	res := s.results(3, 3)
	var ratio *APIRatio
	for i := range res.Ratios {
		if res.Ratios[i].Kind == kindDestinationRule && res.Ratios[i].Operation == opCreate {
			ratio = &res.Ratios[i]
		}
	}
	if ratio == nil {
		t.Fatalf("no DestinationRule create ratio in %+v", res.Ratios)
	}
	// Sorted per round: 3.5, 4, 4 ms; p50 (nearest rank) is 4 ms.
	if got := float64(ratio.WebhookOverNoop); math.Abs(got-2) > 1e-9 {
		t.Errorf("added p50 ratio = %v, want (4-2)/(3-2) = 2", got)
	}
	if ratio.ByRound.Min != 2 || ratio.ByRound.Max != 2 {
		t.Errorf("ratio by round = %+v, want 2..2", ratio.ByRound)
	}
	if got := float64(ratio.NativeOverWebhook); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("native over webhook = %v, want (3-2)/(4-2) = 0.5", got)
	}
	for _, row := range res.Rows {
		if row.Kind == kindDestinationRule && row.Operation == opCreate && row.Variant == variantNone && row.Added != nil {
			t.Errorf("the baseline has an added latency: %+v", row.Added)
		}
	}
}

func TestNumberEncodesUndefinedAsNull(t *testing.T) {
	got, err := json.Marshal(struct{ A, B Number }{Number(1.25), Number(math.NaN())})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"A":1.25,"B":null}`; string(got) != want {
		t.Errorf("encoded %s, want %s", got, want)
	}
}
