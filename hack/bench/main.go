// Command bench (built as bin/webhook-bench by `make bench`) measures
// failover-webhook side by side with what it is compared against, in one run
// (docs/design.md §8, docs/benchmarks.md):
//
//   - load: the `webhook serve` binary over TLS with keep-alive at fixed
//     concurrencies, next to a bare TLS server that answers the same
//     AdmissionReview with a fixed body (the transport's limit) and
//     controller-runtime's webhook server allowing everything (the library's
//     floor);
//   - API server: creates and updates of Services and DestinationRules
//     through a real kube-apiserver with no admission policy, a do-nothing
//     webhook, controller-runtime allowing everything, failover-webhook, and
//     a CEL ValidatingAdmissionPolicy, in interleaved rounds;
//   - memory: the webhook's resident memory idle, after the load, and with
//     thousands of namespaces in its cache, next to the same executable
//     before it serves.
//
// It also reads the output of the Go benchmarks (-gobench), and writes
// everything to results.json and summary.md in -out, printing the summary.
// Its `serve` subcommand runs the reference servers, each in its own process.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = serveMain(os.Args[2:])
	} else {
		err = run(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the flags of a run.
type options struct {
	webhook     string
	goBench     string
	out         string
	phases      map[string]bool
	concurrency []int
	requests    int
	loadRounds  int
	warmup      int
	apiN        int
	apiRounds   int
	namespaces  int
	repeat      int
	gomemlimit  string
}

const (
	phaseLoad      = "load"
	phaseAPIServer = "apiserver"
	phaseMemory    = "memory"
)

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.webhook, "webhook", "bin/webhook", "the webhook binary to run (`go build -o bin/webhook ./cmd/webhook`)")
	fs.StringVar(&o.goBench, "gobench", "", "output of `go test -run=^$ -bench=. -benchmem ./pkg/...` to include")
	fs.StringVar(&o.out, "out", "bin/bench", "folder for results.json, summary.md and the webhook's log")
	phases := fs.String("phases", "load,apiserver,memory", "phases to run: load, apiserver, memory")
	concurrency := fs.String("concurrency", "1,8,64", "load: concurrent connections, comma-separated")
	fs.IntVar(&o.requests, "requests", 10000, "load: measured requests per run")
	fs.IntVar(&o.loadRounds, "load-rounds", 3, "load: runs per server, concurrency and path, alternating servers")
	fs.IntVar(&o.warmup, "warmup", 20, "load: unmeasured requests per connection before each run")
	fs.IntVar(&o.apiN, "n", 50, "API server: objects of each kind created and updated per round and configuration")
	fs.IntVar(&o.apiRounds, "rounds", 20, "API server: rounds, each through every configuration in turn")
	fs.IntVar(&o.namespaces, "namespaces", 10000, "memory: namespaces to create before the last sample")
	fs.IntVar(&o.repeat, "repeat", 1, "run the load and API-server phases this many times back to back; targets are judged on the median")
	fs.StringVar(&o.gomemlimit, "gomemlimit", shippedMemoryLimit, "GOMEMLIMIT of `webhook serve` (the shipped Deployment sets it from limits.memory); empty for none")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case phaseLoad, phaseAPIServer, phaseMemory:
			o.phases[p] = true
		default:
			return o, fmt.Errorf("unknown phase %q", p)
		}
	}
	if o.repeat < 1 {
		return o, fmt.Errorf("bad -repeat %d: at least 1", o.repeat)
	}
	for _, c := range strings.Split(*concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return o, fmt.Errorf("bad -concurrency %q", *concurrency)
		}
		o.concurrency = append(o.concurrency, n)
	}
	return o, nil
}

// env is the running system under test.
type env struct {
	cluster *controlplane.Cluster
	client  client.Client
	// pid is the webhook process.
	pid int
	// tlsConfig trusts the serving certificate the webhook and the
	// reference servers share.
	tlsConfig   *tls.Config
	webhookAddr string
	certDir     string
	log         io.Writer
}

func run(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every Go process of the run (this one, the webhook, the reference
	// servers) schedules goroutines on as many threads as this one, on the
	// same cores.
	if err := os.Setenv("GOMAXPROCS", strconv.Itoa(runtime.GOMAXPROCS(0))); err != nil {
		return err
	}

	res := &Results{Command: strings.Join(os.Args, " "), Started: time.Now().UTC(), Machine: describeMachine()}
	if o.goBench != "" {
		f, err := os.Open(o.goBench)
		if err != nil {
			return err
		}
		res.GoBenchmarks, err = ParseGoBench(f)
		f.Close()
		if err != nil {
			return err
		}
	}

	logFile, err := os.Create(filepath.Join(o.out, "webhook.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctrllog.SetLogger(zap.New(zap.WriteTo(logFile)))

	// The webhook runs from a copy written as an image layer is unpacked,
	// so that how the build wrote the file does not change how much of
	// it is resident (see copyExecutable).
	workDir, err := os.MkdirTemp("", "failover-webhook-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	webhookBinary := filepath.Join(workDir, "webhook")
	if err := copyExecutable(o.webhook, webhookBinary); err != nil {
		return err
	}

	progress("starting kube-apiserver, etcd and %s serve", o.webhook)
	var webhookEnv []string
	if o.gomemlimit != "" {
		webhookEnv = append(webhookEnv, "GOMEMLIMIT="+o.gomemlimit)
		res.GOMEMLIMIT = o.gomemlimit
	}
	e, err := startEnv(ctx, webhookBinary, webhookEnv, logFile)
	if err != nil {
		return err
	}
	defer func() {
		if err := e.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the control plane:", err)
		}
	}()

	if o.phases[phaseMemory] {
		progress("memory: webhook idle for 5s")
		time.Sleep(5 * time.Second)
		idle, err := readMemory(ctx, e.pid, e.cluster.WebhookMetricsAddress)
		if err != nil {
			return err
		}
		res.Memory = &MemoryResults{Idle: idle}
		progress("memory: the same executable before serving")
		if res.Memory.Initialized, err = initializedMemory(ctx, webhookBinary); err != nil {
			return err
		}
	}
	for i := range o.repeat {
		if o.repeat > 1 {
			progress("repetition %d/%d", i+1, o.repeat)
		}
		started, loadAvg := time.Now().UTC(), loadAverage()
		var load *LoadResults
		var api *APIResults
		if o.phases[phaseLoad] {
			if load, err = runLoadPhase(ctx, e, o); err != nil {
				return fmt.Errorf("load: %w", err)
			}
		}
		if o.phases[phaseAPIServer] {
			if api, err = runAPIServerPhase(ctx, e, o); err != nil {
				return fmt.Errorf("API server: %w", err)
			}
		}
		if i == 0 {
			res.Load, res.APIServer = load, api
		}
		rep := newRepeat(started, loadAvg, load, api)
		if o.repeat > 1 && o.phases[phaseMemory] {
			time.Sleep(5 * time.Second)
			m, err := readMemory(ctx, e.pid, e.cluster.WebhookMetricsAddress)
			if err != nil {
				return err
			}
			rep.Memory = &m
		}
		res.Repeats = append(res.Repeats, rep)
	}
	if o.phases[phaseMemory] {
		if err := runMemoryPhase(ctx, e, o, res.Memory); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}

	res.Machine.LoadAverageEnd = loadAverage()
	res.Finished = time.Now().UTC()
	res.Targets = evaluateTargets(res)
	return writeResults(res, o.out, os.Stdout)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// startEnv starts a control plane with the webhook binary serving it, as
// the integration tests do, and namespaces for the measurements.
// shippedMemoryLimit is limits.memory of manifests/manager/manager.yaml
// (128Mi), which the Deployment passes to the webhook as GOMEMLIMIT.
const shippedMemoryLimit = "134217728"

func startEnv(ctx context.Context, webhookBinary string, webhookEnv []string, log io.Writer) (*env, error) {
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := controlplane.Start(startCtx, controlplane.Options{Name: "bench", WebhookBinary: webhookBinary, WebhookEnv: webhookEnv, WebhookLog: log})
	if err != nil {
		return nil, err
	}
	e := &env{cluster: c, log: log, certDir: c.Webhook.LocalServingCertDir}
	e.webhookAddr = fmt.Sprintf("%s:%d", c.Webhook.LocalServingHost, c.Webhook.LocalServingPort)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.Webhook.LocalServingCAData)
	e.tlsConfig = &tls.Config{RootCAs: roots, ServerName: c.Webhook.LocalServingHost, MinVersion: tls.VersionTLS12}

	// The harness client is rate limited as any client-go client is; the
	// measurements send one request at a time and must never wait on it.
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0
	if e.client, err = client.New(cfg, client.Options{Scheme: c.Scheme}); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	if e.pid, err = childPID(webhookBinary); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	for _, ns := range []string{seed.Namespace, apiNamespace} {
		if err := e.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}
	return e, nil
}

// apiNamespace holds the objects of the API-server comparison.
const apiNamespace = "bench-api"

// loadPaths are the webhook paths the load runs drive, with the review each
// sends: the seed's Service and DestinationRule, created in namespace
// sample.
func loadPaths() (map[string][]byte, error) {
	svc, err := serviceReview(seed.Namespace)
	if err != nil {
		return nil, err
	}
	dr, err := destinationRuleReview(seed.Namespace)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{mutate.Path: svc, validate.Path: dr}, nil
}

func runLoadPhase(ctx context.Context, e *env, o options) (*LoadResults, error) {
	reviews, err := loadPaths()
	if err != nil {
		return nil, err
	}
	// The bare server answers each path with the webhook's own answer, so
	// both send the same bytes.
	dir, err := os.MkdirTemp("", "failover-webhook-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	serverArgs := []string{"-mode", modeFixed, "-cert-dir", e.certDir}
	for _, path := range sortedKeys(reviews) {
		answer, err := checkedAnswer(ctx, e, path, reviews[path])
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, strings.Trim(path, "/")+".json")
		if err := os.WriteFile(file, answer, 0o600); err != nil {
			return nil, err
		}
		serverArgs = append(serverArgs, "-response", path+"="+file)
	}
	bare, bareAddr, err := startServer(ctx, serverBare, e.tlsConfig, e.log, serverArgs...)
	if err != nil {
		return nil, err
	}
	defer bare.stop()
	floor, floorAddr, err := startServer(ctx, serverFloor, e.tlsConfig, e.log, "-mode", modeAllow, "-cert-dir", e.certDir)
	if err != nil {
		return nil, err
	}
	defer floor.stop()

	out := &LoadResults{Requests: o.requests, Rounds: o.loadRounds, WarmupPerConnection: o.warmup}
	servers := []struct {
		name, addr string
		pid        int
	}{
		{serverBare, bareAddr, bare.cmd.Process.Pid},
		{serverFloor, floorAddr, floor.cmd.Process.Pid},
		{serverWebhook, e.webhookAddr, e.pid},
	}
	for _, path := range sortedKeys(reviews) {
		for _, conc := range o.concurrency {
			runs := map[string][]loadRun{}
			for round := range o.loadRounds {
				// Rotate which server goes first.
				for k := range servers {
					s := servers[(round+k)%len(servers)]
					progress("load: %s %s, %d connections, round %d/%d", s.name, path, conc, round+1, o.loadRounds)
					r, err := runLoad(ctx, "https://"+s.addr+path, reviews[path], e.tlsConfig, conc, o.requests, o.warmup, s.pid)
					if err != nil {
						return nil, fmt.Errorf("%s %s: %w", s.name, path, err)
					}
					runs[s.name] = append(runs[s.name], r)
				}
			}
			out.add(path, conc, runs)
		}
	}
	return out, nil
}

// checkedAnswer sends review to the webhook once and returns its answer,
// after checking it is the admission the load runs mean to measure: an
// allowed Service with a patch, an allowed DestinationRule.
func checkedAnswer(ctx context.Context, e *env, path string, review []byte) ([]byte, error) {
	answer, err := postOnce(ctx, "https://"+e.webhookAddr+path, review, e.tlsConfig)
	if err != nil {
		return nil, err
	}
	var got admissionv1.AdmissionReview
	if err := json.Unmarshal(answer, &got); err != nil || got.Response == nil {
		return nil, fmt.Errorf("%s answered %s: %v", path, answer, err)
	}
	if !got.Response.Allowed || (path == mutate.Path) != (len(got.Response.Patch) > 0) {
		return nil, fmt.Errorf("%s answered %s, want allowed (with a patch for a Service)", path, answer)
	}
	return answer, nil
}

func runAPIServerPhase(ctx context.Context, e *env, o options) (*APIResults, error) {
	noop, noopAddr, err := startServer(ctx, variantNoop, e.tlsConfig, e.log, "-mode", modeNoop, "-cert-dir", e.certDir)
	if err != nil {
		return nil, err
	}
	defer noop.stop()
	floor, floorAddr, err := startServer(ctx, variantFloor, e.tlsConfig, e.log, "-mode", modeAllow, "-cert-dir", e.certDir)
	if err != nil {
		return nil, err
	}
	defer floor.stop()
	refs := map[string]string{variantNoop: noopAddr, variantFloor: floorAddr}
	setup, err := newAdmissionSetup(e.client, e.cluster.Webhook.MutatingWebhooks, e.cluster.Webhook.ValidatingWebhooks, refs, e.tlsConfig, apiNamespace, e.cluster.WebhookMetricsAddress)
	if err != nil {
		return nil, err
	}
	// End as the harness started: with failover-webhook installed.
	defer func() { _ = setup.use(context.WithoutCancel(ctx), variantWebhook) }()

	samples := newAPISamples()
	warmup := max(1, o.apiN/10)
	for _, v := range variants {
		progress("API server: warming up %s", v)
		if err := setup.use(ctx, v); err != nil {
			return nil, err
		}
		if err := measureRound(ctx, e.client, apiNamespace, warmup, func(string, string, time.Duration) {}); err != nil {
			return nil, fmt.Errorf("%s: %w", v, err)
		}
	}
	callsBefore, err := webhookCallTotals(ctx, e.cluster.Config)
	if err != nil {
		return nil, err
	}
	for round := range o.apiRounds {
		// Rotate the order so no configuration always follows another.
		for k := range variants {
			v := variants[(round+k)%len(variants)]
			progress("API server: round %d/%d, %s, %d Services and %d DestinationRules", round+1, o.apiRounds, v, o.apiN, o.apiN)
			if err := setup.use(ctx, v); err != nil {
				return nil, err
			}
			err := measureRound(ctx, e.client, apiNamespace, o.apiN, func(kind, op string, d time.Duration) {
				samples.add(apiKey{v, kind, op}, round, d)
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v, err)
			}
		}
	}
	callsAfter, err := webhookCallTotals(ctx, e.cluster.Config)
	if err != nil {
		return nil, err
	}
	res := samples.results(o.apiN, o.apiRounds)
	res.WebhookCalls = webhookCalls(callsBefore, callsAfter)
	return res, nil
}

func runMemoryPhase(ctx context.Context, e *env, o options, mem *MemoryResults) error {
	progress("memory: webhook idle for 5s after the load")
	time.Sleep(5 * time.Second)
	var err error
	if mem.AfterLoad, err = readMemory(ctx, e.pid, e.cluster.WebhookMetricsAddress); err != nil {
		return err
	}
	progress("memory: creating %d namespaces", o.namespaces)
	start := time.Now()
	if err := createNamespaces(ctx, e.client, "bench-ns", o.namespaces, 16); err != nil {
		return err
	}
	mem.Namespaces = o.namespaces
	mem.NamespaceCreateSeconds = time.Since(start).Seconds()
	progress("memory: waiting for the webhook's memory to settle")
	if err := waitForSteadyRSS(ctx, e.pid, 2*time.Minute); err != nil {
		return err
	}
	mem.AfterNamespaces, err = readMemory(ctx, e.pid, e.cluster.WebhookMetricsAddress)
	return err
}

// describeMachine records what the numbers were measured on.
func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), LoadAverageStart: loadAverage()}
	if cpuinfo, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(cpuinfo), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if meminfo, err := readMeminfo(); err == nil {
		m.MemoryMiB = meminfo / 1024
	}
	if release, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(release))
	}
	return m
}

func readMeminfo() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
