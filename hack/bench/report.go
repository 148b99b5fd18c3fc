package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results is everything one run measured; results.json holds it.
type Results struct {
	Command      string         `json:"command"`
	Started      time.Time      `json:"started"`
	Finished     time.Time      `json:"finished"`
	Machine      Machine        `json:"machine"`
	GoBenchmarks []GoBenchmark  `json:"go_benchmarks,omitempty"`
	Load         *LoadResults   `json:"load,omitempty"`
	APIServer    *APIResults    `json:"api_server,omitempty"`
	Memory       *MemoryResults `json:"memory,omitempty"`
	// Repeats are the load and API-server phases of every repetition
	// (-repeat), reduced to their ratios; Load and APIServer are the
	// first one in full.
	Repeats []Repeat `json:"repeats,omitempty"`
	// GOMEMLIMIT is the webhook's, as the shipped Deployment sets it.
	GOMEMLIMIT string   `json:"webhook_gomemlimit,omitempty"`
	Targets    []Target `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUModel         string `json:"cpu_model"`
	CPUs             int    `json:"cpus"`
	GOMAXPROCS       int    `json:"gomaxprocs"`
	MemoryMiB        int64  `json:"memory_mib"`
	Kernel           string `json:"kernel"`
	GoVersion        string `json:"go_version"`
	LoadAverageStart string `json:"load_average_start"`
	LoadAverageEnd   string `json:"load_average_end"`
}

// Number is a float that encodes an undefined value (NaN) as null.
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// The servers of the load runs.
const (
	serverBare    = "bare TLS server"
	serverFloor   = "controller-runtime, allowing all"
	serverWebhook = "webhook serve"
)

// LoadResults are the load runs.
type LoadResults struct {
	Requests            int         `json:"requests_per_run"`
	Rounds              int         `json:"rounds"`
	WarmupPerConnection int         `json:"warmup_per_connection"`
	Rows                []LoadRow   `json:"rows"`
	Ratios              []LoadRatio `json:"ratios"`
}

// LoadRow is one server at one path and concurrency, over all rounds.
type LoadRow struct {
	Path        string  `json:"path"`
	Concurrency int     `json:"concurrency"`
	Server      string  `json:"server"`
	Requests    int     `json:"requests"`
	Seconds     float64 `json:"seconds"`
	// Throughput is requests per second over all rounds.
	Throughput float64 `json:"requests_per_second"`
	Latency    Latency `json:"latency"`
	// ServerCPU and ClientCPU are the CPU time per request of the server
	// process and of the load generator, in microseconds.
	ServerCPU float64 `json:"server_cpu_us_per_request"`
	ClientCPU float64 `json:"client_cpu_us_per_request"`
}

// LoadRatio compares the webhook with the bare server.
type LoadRatio struct {
	Path        string `json:"path"`
	Concurrency int    `json:"concurrency"`
	// Throughput is the webhook's throughput over the bare server's.
	Throughput Number `json:"throughput_webhook_over_bare"`
	// ThroughputByRound is the spread of the same ratio round by round.
	ThroughputByRound Spread `json:"throughput_ratio_by_round"`
	P50               Number `json:"p50_webhook_over_bare"`
	P99               Number `json:"p99_webhook_over_bare"`
	// FloorThroughput is the throughput of controller-runtime's server
	// with a handler that allows all, over the bare server's: what the
	// webhook's library alone leaves of the transport's limit.
	FloorThroughput Number `json:"throughput_controller_runtime_over_bare"`
	// OverFloor is the webhook's throughput over controller-runtime's
	// server allowing all: what the webhook's own work leaves of its
	// library's floor. OverFloorByRound is its spread round by round.
	OverFloor        Number `json:"throughput_webhook_over_controller_runtime"`
	OverFloorByRound Spread `json:"throughput_webhook_over_controller_runtime_by_round"`
}

func (l *LoadResults) add(path string, concurrency int, runs map[string][]loadRun) {
	rows := map[string]LoadRow{}
	for _, server := range []string{serverBare, serverFloor, serverWebhook} {
		var all []time.Duration
		var elapsed, serverCPU, clientCPU time.Duration
		for _, r := range runs[server] {
			all = append(all, r.latencies...)
			elapsed += r.elapsed
			serverCPU += r.serverCPU
			clientCPU += r.clientCPU
		}
		row := LoadRow{Path: path, Concurrency: concurrency, Server: server, Requests: len(all), Seconds: elapsed.Seconds(), Latency: Summarize(all)}
		row.Throughput = float64(row.Requests) / row.Seconds
		row.ServerCPU = micros(serverCPU) / float64(row.Requests)
		row.ClientCPU = micros(clientCPU) / float64(row.Requests)
		rows[server] = row
		l.Rows = append(l.Rows, row)
	}
	throughput := func(r loadRun) float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }
	var byRound, overFloorByRound []float64
	for i := range min(len(runs[serverBare]), len(runs[serverWebhook]), len(runs[serverFloor])) {
		w := throughput(runs[serverWebhook][i])
		byRound = append(byRound, Ratio(w, throughput(runs[serverBare][i])))
		overFloorByRound = append(overFloorByRound, Ratio(w, throughput(runs[serverFloor][i])))
	}
	bare, floor, hook := rows[serverBare], rows[serverFloor], rows[serverWebhook]
	l.Ratios = append(l.Ratios, LoadRatio{
		Path: path, Concurrency: concurrency,
		Throughput:        Number(Ratio(hook.Throughput, bare.Throughput)),
		ThroughputByRound: SpreadOf(byRound),
		P50:               Number(Ratio(hook.Latency.P50, bare.Latency.P50)),
		P99:               Number(Ratio(hook.Latency.P99, bare.Latency.P99)),
		FloorThroughput:   Number(Ratio(floor.Throughput, bare.Throughput)),
		OverFloor:         Number(Ratio(hook.Throughput, floor.Throughput)),
		OverFloorByRound:  SpreadOf(overFloorByRound),
	})
}

// APIResults are the requests through the API server.
type APIResults struct {
	ObjectsPerRound int        `json:"objects_per_round"`
	Rounds          int        `json:"rounds"`
	Rows            []APIRow   `json:"rows"`
	Ratios          []APIRatio `json:"ratios"`
	// WebhookCalls are the webhook calls of the measured rounds as the
	// API server timed them.
	WebhookCalls []WebhookCalls `json:"webhook_calls"`
}

// APIRow is one kind of request under one configuration, over all rounds.
type APIRow struct {
	Kind      string  `json:"kind"`
	Operation string  `json:"operation"`
	Variant   string  `json:"configuration"`
	Latency   Latency `json:"latency"`
	// Added is the latency over the same request with no admission
	// policy; absent for that baseline.
	Added *Added `json:"added,omitempty"`
}

// APIRatio compares failover-webhook with the do-nothing webhook for one
// kind of request.
type APIRatio struct {
	Kind      string `json:"kind"`
	Operation string `json:"operation"`
	// WebhookOverNoop is failover-webhook's added p50 over the do-nothing
	// webhook's, pooled over rounds; ByRound is its spread round by round.
	WebhookOverNoop Number `json:"added_p50_webhook_over_noop"`
	ByRound         Spread `json:"added_p50_ratio_by_round"`
	// FloorOverNoop is the same ratio for controller-runtime's webhook
	// server allowing all: what the library adds before any policy.
	FloorOverNoop Number `json:"added_p50_controller_runtime_over_noop"`
	// NativeOverWebhook is the native policies' added p50 over
	// failover-webhook's, in the same run: the target is at most
	// NativeTarget for creates.
	NativeOverWebhook Number `json:"added_p50_native_over_webhook"`
}

// NativeTarget is the most the native policies may add per create, as a
// share of what failover-webhook adds.
const NativeTarget = 0.25

func newAPISamples() *apiSamples {
	return &apiSamples{pooled: map[apiKey][]time.Duration{}, byRound: map[apiKey][][]time.Duration{}}
}

func (s *apiSamples) add(k apiKey, round int, d time.Duration) {
	s.pooled[k] = append(s.pooled[k], d)
	for len(s.byRound[k]) <= round {
		s.byRound[k] = append(s.byRound[k], nil)
	}
	s.byRound[k][round] = append(s.byRound[k][round], d)
}

func (s *apiSamples) results(n, rounds int) *APIResults {
	out := &APIResults{ObjectsPerRound: n, Rounds: rounds}
	for _, kind := range []string{kindService, kindDestinationRule} {
		for _, op := range []string{opCreate, opUpdate} {
			summary := map[string]Latency{}
			for _, v := range variants {
				summary[v] = Summarize(s.pooled[apiKey{v, kind, op}])
			}
			base := summary[variantNone]
			for _, v := range variants {
				row := APIRow{Kind: kind, Operation: op, Variant: v, Latency: summary[v]}
				if v != variantNone {
					added := summary[v].AddedOver(base)
					row.Added = &added
				}
				out.Rows = append(out.Rows, row)
			}
			ratio := APIRatio{Kind: kind, Operation: op,
				WebhookOverNoop:   Number(Ratio(summary[variantWebhook].AddedOver(base).P50, summary[variantNoop].AddedOver(base).P50)),
				ByRound:           SpreadOf(s.roundRatios(kind, op, rounds)),
				FloorOverNoop:     Number(Ratio(summary[variantFloor].AddedOver(base).P50, summary[variantNoop].AddedOver(base).P50)),
				NativeOverWebhook: Number(Ratio(summary[variantNative].AddedOver(base).P50, summary[variantWebhook].AddedOver(base).P50)),
			}
			out.Ratios = append(out.Ratios, ratio)
		}
	}
	return out
}

// roundRatios is the added-p50 ratio of failover-webhook over the
// do-nothing webhook computed within each round.
func (s *apiSamples) roundRatios(kind, op string, rounds int) []float64 {
	var out []float64
	for r := range rounds {
		p50 := map[string]float64{}
		for _, v := range []string{variantNone, variantNoop, variantWebhook} {
			samples := s.byRound[apiKey{v, kind, op}]
			if r >= len(samples) {
				return out
			}
			p50[v] = Summarize(slices.Clone(samples[r])).P50
		}
		out = append(out, Ratio(p50[variantWebhook]-p50[variantNone], p50[variantNoop]-p50[variantNone]))
	}
	return out
}

// MemoryResults are the webhook's memory samples.
type MemoryResults struct {
	// Initialized is the same executable once its packages are
	// initialized, before it does anything (`webhook check -f -` waiting
	// for input): what linking its dependencies costs by itself.
	Initialized            MemorySample `json:"initialized_not_serving"`
	Idle                   MemorySample `json:"idle"`
	AfterLoad              MemorySample `json:"after_load"`
	Namespaces             int          `json:"namespaces"`
	NamespaceCreateSeconds float64      `json:"namespace_create_seconds"`
	AfterNamespaces        MemorySample `json:"after_namespaces"`
}

// Target is one target of the performance issue, met or not.
type Target struct {
	Name     string `json:"name"`
	Want     string `json:"want"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Targets.
const (
	maxDecision       = 10 * time.Microsecond
	maxHandler        = 50 * time.Microsecond
	minOverFloor      = 0.80
	targetConcurrency = 64
	maxAddedP50Ratio  = 1.25
	maxIdleRSSMiB     = 55
	// maxGrowthMiB is how much the webhook's anonymous memory may differ
	// between the first repetition (the warm-up) and the last: the GC's
	// heap goal moves by about that much from one sample to the next.
	maxGrowthMiB = 2
)

func evaluateTargets(r *Results) []Target {
	var out []Target
	slowest := func(match func(GoBenchmark) bool) (GoBenchmark, bool) {
		var worst GoBenchmark
		found := false
		for _, b := range r.GoBenchmarks {
			if match(b) && (!found || b.NsPerOp > worst.NsPerOp) {
				worst, found = b, true
			}
		}
		return worst, found
	}
	isSeed := func(b GoBenchmark) bool { return strings.Contains(b.Name, "seed") }
	if b, ok := slowest(func(b GoBenchmark) bool {
		return isSeed(b) && (strings.HasPrefix(b.Name, "Decide/") || strings.HasPrefix(b.Name, "Decision/"))
	}); ok {
		out = append(out, Target{Name: "decision functions on the seed objects (slowest)", Want: "< " + maxDecision.String(),
			Measured: fmt.Sprintf("%s (%s %s)", nanos(b.NsPerOp), b.Package, b.Name), Met: b.NsPerOp < float64(maxDecision)})
	}
	if b, ok := slowest(func(b GoBenchmark) bool { return isSeed(b) && strings.HasPrefix(b.Name, "Handler/") }); ok {
		out = append(out, Target{Name: "full handler call on the seed objects (slowest)", Want: "< " + maxHandler.String(),
			Measured: fmt.Sprintf("%s (%s %s)", nanos(b.NsPerOp), b.Package, b.Name), Met: b.NsPerOp < float64(maxHandler)})
	}
	reps := r.Repeats
	if len(reps) == 0 {
		reps = []Repeat{newRepeat(r.Started, r.Machine.LoadAverageStart, r.Load, r.APIServer)}
	}
	if r.Load != nil {
		for _, path := range []string{"/mutate-service", "/validate-destinationrule"} {
			m := loadMedian(reps, path, targetConcurrency, overFloor)
			if m.Runs == 0 {
				continue
			}
			out = append(out, Target{Name: fmt.Sprintf("throughput of %s at %d connections, webhook / controller-runtime allowing all", path, targetConcurrency),
				Want: fmt.Sprintf("≥ %.2f", minOverFloor), Measured: m.String(), Met: float64(m.Median) >= minOverFloor})
		}
	}
	if r.APIServer != nil {
		for _, kind := range []string{kindService, kindDestinationRule} {
			m := apiMedian(reps, kind, opCreate, webhookOverNoop)
			out = append(out, Target{Name: fmt.Sprintf("added p50 per %s %s, failover-webhook / do-nothing webhook", kind, opCreate),
				Want: fmt.Sprintf("≤ %.2f", maxAddedP50Ratio), Measured: m.String(), Met: float64(m.Median) <= maxAddedP50Ratio})
			c := callMedian(reps, kind, opCreate)
			out = append(out, Target{Name: fmt.Sprintf("the API server's mean webhook call per %s %s, failover-webhook / do-nothing webhook", kind, opCreate),
				Want: fmt.Sprintf("≤ %.2f", maxAddedP50Ratio), Measured: c.String(), Met: float64(c.Median) <= maxAddedP50Ratio})
			n := apiMedian(reps, kind, opCreate, func(a APIRatio) Number { return a.NativeOverWebhook })
			out = append(out, Target{Name: fmt.Sprintf("added p50 per %s %s, native policies / failover-webhook", kind, opCreate),
				Want: fmt.Sprintf("≤ %.2f", NativeTarget), Measured: n.String(), Met: float64(n.Median) <= NativeTarget})
		}
	}
	if r.Memory != nil {
		rss := MiB(r.Memory.Idle.RSSKiB)
		out = append(out, Target{Name: "idle RSS of webhook serve", Want: fmt.Sprintf("≤ %d MiB", maxIdleRSSMiB),
			Measured: fmt.Sprintf("%.1f MiB (%.1f anonymous, %.1f executable pages)", rss, MiB(r.Memory.Idle.AnonKiB), MiB(r.Memory.Idle.FileKiB)),
			Met:      rss <= maxIdleRSSMiB})
	}
	if kib, requests, ok := memoryGrowth(r.Repeats); ok {
		out = append(out, Target{Name: "memory kept per request after warm-up (anonymous memory after the last repetition − after the first)",
			Want:     fmt.Sprintf("within ±%d MiB", maxGrowthMiB),
			Measured: fmt.Sprintf("%+.1f MiB over %d webhook requests (%+.2f B per request)", MiB(kib), requests, float64(kib)*1024/float64(max(requests, 1))),
			Met:      math.Abs(MiB(kib)) <= maxGrowthMiB})
	}
	return out
}

// writeResults writes results.json and summary.md into dir and the summary
// to w.
func writeResults(r *Results, dir string, w io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var sb strings.Builder
	writeSummary(&sb, r)
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	_, err = io.WriteString(w, sb.String())
	return err
}

func writeSummary(w io.Writer, r *Results) {
	m := r.Machine
	fmt.Fprintf(w, "# failover-webhook benchmarks\n\n")
	fmt.Fprintf(w, "%s, %d CPUs (GOMAXPROCS %d in every process), %d MiB, Linux %s, %s.  \n", m.CPUModel, m.CPUs, m.GOMAXPROCS, m.MemoryMiB, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "Load average %s at the start of this run, %s at its end.  \n", m.LoadAverageStart, m.LoadAverageEnd)
	fmt.Fprintf(w, "`%s`, %s to %s.\n", r.Command, r.Started.Format(time.RFC3339), r.Finished.Format("15:04:05Z"))
	if r.GOMEMLIMIT != "" {
		fmt.Fprintf(w, "`webhook serve` ran with GOMEMLIMIT=%s, as the shipped Deployment sets it from its memory limit.\n", r.GOMEMLIMIT)
	}

	if len(r.GoBenchmarks) > 0 {
		fmt.Fprintf(w, "\n## Go benchmarks\n\n| package | benchmark | time/op | B/op | allocs/op |\n|---|---|--:|--:|--:|\n")
		for _, b := range r.GoBenchmarks {
			fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f |\n", b.Package, strings.ReplaceAll(b.Name, "_", " "), nanos(b.NsPerOp), b.BytesPerOp, b.AllocsPerOp)
		}
	}

	if l := r.Load; l != nil {
		fmt.Fprintf(w, "\n## Load: `webhook serve` next to a bare TLS server\n\n%d requests per run, %d runs per row alternating servers, %d unmeasured requests per connection first. Latency in µs.\n\n",
			l.Requests, l.Rounds, l.WarmupPerConnection)
		fmt.Fprintf(w, "Throughput in requests per second; latency p50 / p90 / p99 in µs; CPU: µs of CPU per request used by the server process.\n")
		fmt.Fprintf(w, "The controller-runtime row is the webhook's library serving a handler that allows all without reading the object.\n\n")
		fmt.Fprintf(w, "| path | connections | server | req/s | / bare | / controller-runtime | latency | server CPU | generator CPU |\n|---|--:|---|--:|--:|--:|--:|--:|--:|\n")
		for _, ratio := range l.Ratios {
			for _, row := range l.Rows {
				if row.Path != ratio.Path || row.Concurrency != ratio.Concurrency {
					continue
				}
				rel, relFloor := "1", ""
				switch row.Server {
				case serverFloor:
					rel, relFloor = ratioString(ratio.FloorThroughput), "1"
				case serverWebhook:
					rel = fmt.Sprintf("%s (rounds %s)", ratioString(ratio.Throughput), spreadString(ratio.ThroughputByRound))
					relFloor = fmt.Sprintf("**%s** (rounds %s)", ratioString(ratio.OverFloor), spreadString(ratio.OverFloorByRound))
				}
				fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s | %s | %s | %.0f | %.0f |\n", row.Path, row.Concurrency, row.Server, row.Throughput, rel, relFloor,
					percentiles(row.Latency), row.ServerCPU, row.ClientCPU)
			}
		}
	}

	if a := r.APIServer; a != nil {
		fmt.Fprintf(w, "\n## Through the API server\n\n%d objects of each kind created then updated per round and configuration, %d interleaved rounds, one request at a time.\n", a.ObjectsPerRound, a.Rounds)
		fmt.Fprintf(w, "Baseline p50 / p99 with no admission policy; the others: latency added over it at p50 / p99. µs.\n\n")
		fmt.Fprintf(w, "| request | none | do-nothing webhook | controller-runtime, allowing all | failover-webhook | native policies (manifests/native) | failover-webhook / do-nothing, added p50 (by round) | controller-runtime / do-nothing | native / failover-webhook, added p50 (creates: target ≤ %.2f) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n", NativeTarget)
		for _, ratio := range a.Ratios {
			cells := map[string]string{}
			for _, row := range a.Rows {
				if row.Kind != ratio.Kind || row.Operation != ratio.Operation {
					continue
				}
				if row.Added == nil {
					cells[row.Variant] = fmt.Sprintf("%.0f / %.0f", row.Latency.P50, row.Latency.P99)
				} else {
					cells[row.Variant] = fmt.Sprintf("%+.0f / %+.0f", row.Added.P50, row.Added.P99)
				}
			}
			native := ratioString(ratio.NativeOverWebhook)
			if ratio.Operation == opCreate {
				verdict := "missed"
				if float64(ratio.NativeOverWebhook) <= NativeTarget {
					verdict = "met"
				}
				native = fmt.Sprintf("**%s** (%s)", native, verdict)
			}
			fmt.Fprintf(w, "| %s %s | %s | %s | %s | %s | %s | **%s** (%s) | %s | %s |\n", ratio.Kind, ratio.Operation,
				cells[variantNone], cells[variantNoop], cells[variantFloor], cells[variantWebhook], cells[variantNative],
				ratioString(ratio.WebhookOverNoop), spreadString(ratio.ByRound), ratioString(ratio.FloorOverNoop), native)
		}
	}

	if a := r.APIServer; a != nil && len(a.WebhookCalls) > 0 {
		fmt.Fprintf(w, "\nWebhook calls as the API server timed them (apiserver_admission_webhook_admission_duration_seconds), mean µs:\n\n| webhook | operation | calls | mean |\n|---|---|--:|--:|\n")
		for _, c := range a.WebhookCalls {
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f |\n", c.Webhook, c.Operation, c.Calls, c.MeanUs)
		}
		fmt.Fprintf(w, "\nfailover-webhook's mean call over the do-nothing webhook's:")
		for _, c := range callRatios(a.WebhookCalls) {
			fmt.Fprintf(w, " %s %s %s;", c.Kind, c.Operation, ratioString(c.WebhookOverNoop))
		}
		fmt.Fprintln(w)
	}

	if mem := r.Memory; mem != nil {
		fmt.Fprintf(w, "\n## Memory of `webhook serve`\n\n| moment | VmRSS | anonymous | executable pages | Go heap in use |\n|---|--:|--:|--:|--:|\n")
		for _, s := range []struct {
			name string
			m    MemorySample
		}{
			{"the same executable before serving (`webhook check -f -` waiting for input)", mem.Initialized},
			{"`webhook serve` idle, after start", mem.Idle},
			{"`webhook serve` idle, after the load and API-server runs", mem.AfterLoad},
			{fmt.Sprintf("`webhook serve` with %d more namespaces in its cache", mem.Namespaces), mem.AfterNamespaces},
		} {
			if s.m.RSSKiB == 0 {
				continue
			}
			heap := "–"
			if s.m.HeapInuseBytes > 0 {
				heap = fmt.Sprintf("%.1f MiB", s.m.HeapInuseBytes/(1<<20))
			}
			fmt.Fprintf(w, "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %s |\n", s.name, MiB(s.m.RSSKiB), MiB(s.m.AnonKiB), MiB(s.m.FileKiB), heap)
		}
	}

	writeRepeats(w, r)

	fmt.Fprintf(w, "\n## Targets\n\n| target | want | measured | met |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		met := "yes"
		if !t.Met {
			met = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Measured, met)
	}
}

func nanos(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func percentiles(l Latency) string {
	return fmt.Sprintf("%.0f / %.0f / %.0f", l.P50, l.P90, l.P99)
}

func ratioString(n Number) string {
	if math.IsNaN(float64(n)) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(n))
}

func spreadString(s Spread) string {
	if math.IsNaN(float64(s.Min)) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f–%.2f", float64(s.Min), float64(s.Max))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
