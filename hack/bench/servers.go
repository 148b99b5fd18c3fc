package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// The reference servers run as child processes of this program (`bench
// serve`), like the webhook, so that each side of a comparison is one Go
// process with its own runtime on the same cores. Both serve TLS like the
// webhook's server: the same certificate, TLS 1.2 or later, HTTP/1.1 only,
// keep-alive.
const (
	// modeFixed answers every POST with a fixed body, after reading the
	// request body without decoding it: the cost of the transport alone.
	modeFixed = "fixed"
	// modeNoop decodes the AdmissionReview only for its uid and allows it:
	// the least any webhook does.
	modeNoop = "noop"
	// modeAllow serves controller-runtime's webhook server, as `webhook
	// serve` does, with a handler that allows every request without
	// reading its object: the cost of the library alone.
	modeAllow = "controller-runtime"
)

// requestsPath answers GET with the number of admission requests each path
// received, as JSON; the API-server comparison uses it to see that the API
// server calls the do-nothing webhook.
const requestsPath = "/requests"

// serveMain runs `bench serve`.
func serveMain(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", modeNoop, "fixed, noop or controller-runtime")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	certDir := fs.String("cert-dir", "", "folder holding tls.crt and tls.key")
	var responses responseFlag
	fs.Var(&responses, "response", "PATH=FILE: in fixed mode, answer POSTs to PATH with the contents of FILE (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *mode == modeAllow {
		return serveControllerRuntime(ctx, *addr, *certDir)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*certDir, "tls.crt"), filepath.Join(*certDir, "tls.key"))
	if err != nil {
		return err
	}
	var handler http.Handler
	switch *mode {
	case modeFixed:
		fixed := map[string][]byte{}
		for path, file := range responses {
			if fixed[path], err = os.ReadFile(file); err != nil {
				return err
			}
		}
		handler = fixedHandler(fixed)
	case modeNoop:
		handler = newNoopHandler()
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
		ReadHeaderTimeout: 32 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    1 << 20,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
			Certificates: []tls.Certificate{cert},
		},
		// No HTTP/2, as the webhook.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveControllerRuntime serves a handler that allows all on both webhook
// paths from controller-runtime's webhook server, configured as pkg/server
// configures it, until ctx ends. It counts requests as the do-nothing
// webhook does.
func serveControllerRuntime(ctx context.Context, addr, certDir string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	portNumber, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	srv := webhook.NewServer(webhook.Options{
		Host:    host,
		Port:    portNumber,
		CertDir: certDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.NextProtos = []string{"http/1.1"}
			c.MinVersion = tls.VersionTLS12
		}},
	})
	// Logged and wrapped as `webhook serve` does.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	counter := newRequestCounter()
	for _, path := range []string{mutate.Path, validate.Path} {
		allow := server.NewAdmission(admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
			counter.add(path)
			return admission.Allowed("")
		}))
		srv.Register(path, allow)
	}
	srv.Register(requestsPath, counter)
	// controller-runtime's own metrics, as webhook serve exposes them, so
	// that its handler time (controller_runtime_webhook_latency_seconds)
	// can be read next to the webhook's.
	srv.Register("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
	return srv.Start(ctx)
}

// fixedHandler answers a POST to a known path with its fixed body. It reads
// the request body, as any server must to keep the connection, but never
// decodes it.
func fixedHandler(fixed map[string][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := fixed[r.URL.Path]
		if !ok || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// requestCounter counts admission requests per path and serves the counts
// as JSON on requestsPath.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

func newRequestCounter() *requestCounter {
	return &requestCounter{counts: map[string]*atomic.Int64{}}
}

func (c *requestCounter) add(path string) {
	c.mu.Lock()
	n, ok := c.counts[path]
	if !ok {
		n = &atomic.Int64{}
		c.counts[path] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

func (c *requestCounter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	counts := make(map[string]int64, len(c.counts))
	for path, n := range c.counts {
		counts[path] = n.Load()
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(counts)
}

// noopHandler allows every AdmissionReview, echoing its uid, and counts
// requests per path.
type noopHandler struct {
	counter *requestCounter
}

func newNoopHandler() *noopHandler {
	return &noopHandler{counter: newRequestCounter()}
}

func (h *noopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == requestsPath {
		h.counter.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var review struct {
		Request struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 7<<20)).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.counter.add(r.URL.Path)
	uid, _ := json.Marshal(review.Request.UID)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%s,"allowed":true}}`, uid)
}

// responseFlag collects PATH=FILE pairs.
type responseFlag map[string]string

func (f *responseFlag) String() string { return fmt.Sprint(map[string]string(*f)) }

func (f *responseFlag) Set(v string) error {
	path, file, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want PATH=FILE, got %q", v)
	}
	if *f == nil {
		*f = responseFlag{}
	}
	(*f)[path] = file
	return nil
}

// child is a process this program started.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// startServer runs `bench serve` with args in a child process listening on
// a free loopback port, and returns once it completes TLS handshakes.
func startServer(ctx context.Context, name string, tlsConfig *tls.Config, log io.Writer, args ...string) (*child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	addr, err := controlplane.FreeAddress()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, append([]string{"serve", "-addr", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	c := &child{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	if err := waitForTLS(ctx, addr, tlsConfig, c.done); err != nil {
		c.stop()
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return c, addr, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	// The exit status after SIGTERM or SIGKILL says nothing the benchmark uses.
	var exitErr error
	select {
	case exitErr = <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		exitErr = <-c.done
	}
	_ = exitErr
}

// waitForTLS returns once a TLS handshake with addr succeeds, or fails when
// done reports the server exited.
func waitForTLS(ctx context.Context, addr string, tlsConfig *tls.Config, done chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dialer := &net.Dialer{Timeout: time.Second}
	for {
		conn, err := tls.DialWithDialer(dialer, "tcp", addr, tlsConfig)
		if err == nil {
			return conn.Close()
		}
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("exited before serving TLS on %s: %v", addr, err)
		case <-ctx.Done():
			return fmt.Errorf("no TLS on %s: %w (last attempt: %v)", addr, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
