package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Repeat is what one repetition of the load and API-server phases
// measured, reduced to the ratios the targets judge. A run repeats the
// phases (-repeat) so that each target is judged on the median of several
// runs, with their spread, rather than on one.
type Repeat struct {
	Started     time.Time `json:"started"`
	LoadAverage string    `json:"load_average_start"`
	// Load are the load ratios of this repetition, every path and
	// concurrency.
	Load []LoadRatio `json:"load,omitempty"`
	// API are the added-latency ratios through the API server.
	API []APIRatio `json:"api,omitempty"`
	// Calls are the API server's own timing of the webhook calls,
	// failover-webhook over the do-nothing webhook.
	Calls []CallRatio `json:"calls,omitempty"`
	// Memory is the webhook 5 s after this repetition ended: growth from
	// one repetition to the next is memory kept per request.
	Memory *MemorySample `json:"memory_after,omitempty"`
	// WebhookRequests counts the requests failover-webhook answered in
	// this repetition's load runs.
	WebhookRequests int `json:"webhook_load_requests"`
}

// CallRatio is failover-webhook's mean webhook call over the do-nothing
// webhook's, as the API server timed them
// (apiserver_admission_webhook_admission_duration_seconds).
type CallRatio struct {
	Kind            string `json:"kind"`
	Operation       string `json:"operation"`
	WebhookOverNoop Number `json:"mean_call_webhook_over_noop"`
}

// The webhooks of manifests/webhook, by kind; the reference servers'
// copies carry their configuration's name as a prefix (see
// newAdmissionSetup).
var webhookOfKind = map[string]string{
	kindService:         "mservice.failover-webhook.io",
	kindDestinationRule: "vdestinationrule.failover-webhook.io",
}

// callRatios compares the API server's mean call of failover-webhook with
// the do-nothing webhook's, per kind and operation.
func callRatios(calls []WebhookCalls) []CallRatio {
	mean := map[[2]string]float64{}
	for _, c := range calls {
		mean[[2]string{c.Webhook, c.Operation}] = c.MeanUs
	}
	noopPrefix := strings.ReplaceAll(variantNoop, " ", "-") + "-"
	var out []CallRatio
	for _, kind := range []string{kindService, kindDestinationRule} {
		for _, op := range []string{opCreate, opUpdate} {
			hook, noop := mean[[2]string{webhookOfKind[kind], strings.ToUpper(op)}], mean[[2]string{noopPrefix + webhookOfKind[kind], strings.ToUpper(op)}]
			r := math.NaN()
			if hook > 0 && noop > 0 {
				r = hook / noop
			}
			out = append(out, CallRatio{Kind: kind, Operation: op, WebhookOverNoop: Number(r)})
		}
	}
	return out
}

// newRepeat reduces one repetition's results.
func newRepeat(started time.Time, loadAverage string, load *LoadResults, api *APIResults) Repeat {
	r := Repeat{Started: started, LoadAverage: loadAverage}
	if load != nil {
		r.Load = load.Ratios
		for _, row := range load.Rows {
			if row.Server == serverWebhook {
				r.WebhookRequests += row.Requests
			}
		}
	}
	if api != nil {
		r.API, r.Calls = api.Ratios, callRatios(api.WebhookCalls)
	}
	return r
}

// Median is the median of the values measured in each repetition, with
// their spread.
type Median struct {
	Median Number `json:"median"`
	Spread Spread `json:"spread"`
	Runs   int    `json:"runs"`
}

func medianOf(values []float64) Median {
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	m := Median{Median: Number(math.NaN()), Spread: SpreadOf(v), Runs: len(v)}
	if len(v) == 0 {
		return m
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		m.Median = Number(v[len(v)/2])
	} else {
		m.Median = Number((v[len(v)/2-1] + v[len(v)/2]) / 2)
	}
	return m
}

func (m Median) String() string {
	if m.Runs <= 1 {
		return ratioString(m.Median)
	}
	return fmt.Sprintf("%s (%d runs: %s)", ratioString(m.Median), m.Runs, spreadString(m.Spread))
}

// medianOver is the median over repetitions of value, taken from the
// items of each repetition that match.
func medianOver[T any](reps []Repeat, items func(Repeat) []T, match func(T) bool, value func(T) Number) Median {
	var v []float64
	for _, r := range reps {
		for _, item := range items(r) {
			if match(item) {
				v = append(v, float64(value(item)))
			}
		}
	}
	return medianOf(v)
}

// loadMedian is the median over repetitions of one load ratio.
func loadMedian(reps []Repeat, path string, concurrency int, value func(LoadRatio) Number) Median {
	return medianOver(reps, func(r Repeat) []LoadRatio { return r.Load },
		func(l LoadRatio) bool { return l.Path == path && l.Concurrency == concurrency }, value)
}

// apiMedian is the median over repetitions of one API-server ratio.
func apiMedian(reps []Repeat, kind, op string, value func(APIRatio) Number) Median {
	return medianOver(reps, func(r Repeat) []APIRatio { return r.API },
		func(a APIRatio) bool { return a.Kind == kind && a.Operation == op }, value)
}

// callMedian is the median over repetitions of the API server's call
// ratio.
func callMedian(reps []Repeat, kind, op string) Median {
	return medianOver(reps, func(r Repeat) []CallRatio { return r.Calls },
		func(c CallRatio) bool { return c.Kind == kind && c.Operation == op },
		func(c CallRatio) Number { return c.WebhookOverNoop })
}

// memoryGrowth is the webhook's anonymous memory after the last
// repetition minus after the first (the warm-up), and the requests
// answered in between.
func memoryGrowth(reps []Repeat) (kib int64, requests int, ok bool) {
	var first, last *MemorySample
	for i, r := range reps {
		if r.Memory == nil {
			continue
		}
		if first == nil {
			first = r.Memory
		} else {
			last = r.Memory
			if i > 0 {
				requests += r.WebhookRequests
			}
		}
	}
	if first == nil || last == nil {
		return 0, 0, false
	}
	return last.AnonKiB - first.AnonKiB, requests, true
}

// writeRepeats writes one row per repetition and the medians.
func writeRepeats(w io.Writer, r *Results) {
	if len(r.Repeats) < 2 {
		return
	}
	paths := []string{"/mutate-service", "/validate-destinationrule"}
	fmt.Fprintf(w, "\n## Repetitions\n\nThe load and API-server phases ran %d times back to back; the tables above are the first run. Per run: throughput at %d connections, webhook / controller-runtime allowing all (Services, DestinationRules); added p50 per create, failover-webhook / do-nothing (Services, DestinationRules); the API server's mean call, failover-webhook / do-nothing, per create (Services, DestinationRules); anonymous memory of the webhook 5 s after the run.\n\n",
		len(r.Repeats), targetConcurrency)
	fmt.Fprintf(w, "| run (UTC) | load average | tput / c-r: Services | DestinationRules | added p50 / do-nothing: Service create | DestinationRule create | call / do-nothing: Service create | DestinationRule create | anonymous memory |\n|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, rep := range r.Repeats {
		one := []Repeat{rep}
		mem := "–"
		if rep.Memory != nil {
			mem = fmt.Sprintf("%.1f MiB", MiB(rep.Memory.AnonKiB))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rep.Started.Format("15:04:05"), rep.LoadAverage,
			loadMedian(one, paths[0], targetConcurrency, overFloor), loadMedian(one, paths[1], targetConcurrency, overFloor),
			apiMedian(one, kindService, opCreate, webhookOverNoop), apiMedian(one, kindDestinationRule, opCreate, webhookOverNoop),
			callMedian(one, kindService, opCreate), callMedian(one, kindDestinationRule, opCreate), mem)
	}
	med := func(m Median) string { return ratioString(m.Median) }
	fmt.Fprintf(w, "| **median** | | %s | %s | %s | %s | %s | %s | |\n",
		med(loadMedian(r.Repeats, paths[0], targetConcurrency, overFloor)), med(loadMedian(r.Repeats, paths[1], targetConcurrency, overFloor)),
		med(apiMedian(r.Repeats, kindService, opCreate, webhookOverNoop)), med(apiMedian(r.Repeats, kindDestinationRule, opCreate, webhookOverNoop)),
		med(callMedian(r.Repeats, kindService, opCreate)), med(callMedian(r.Repeats, kindDestinationRule, opCreate)))
}

func overFloor(l LoadRatio) Number      { return l.OverFloor }
func webhookOverNoop(a APIRatio) Number { return a.WebhookOverNoop }
