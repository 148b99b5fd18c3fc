// Package ops_test checks what keeps admissions working while the webhook is
// operated: a certificate rotated in files mode, a serving certificate
// renewed and a CA rotated in self-managed mode, and SIGTERM, each under a
// continuous load on loopback, counting every request sent and failed.
package ops_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/certs/pki"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// cluster is the control plane the tests share; no webhook is installed
// until a test installs its own.
var cluster *controlplane.Cluster

// workers is how many clients send admissions at once: enough to keep
// requests in flight during every change, modest on a shared 2-core machine.
const workers = 4

// waitTimeout bounds every wait for a state the test expects.
const waitTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if controlplane.Short() {
		// Every test skips itself; nothing to start.
		return m.Run()
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(&logs)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := controlplane.Start(ctx, controlplane.Options{Name: "ops", NoWebhook: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	defer func() {
		if binDir != "" {
			_ = os.RemoveAll(binDir)
		}
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	return m.Run()
}

// logs collects controller-runtime's log lines; a failing test prints them.
var logs controlplane.SyncBuffer

// captureLogs empties the log buffer and prints what the test logged if it
// fails.
func captureLogs(t *testing.T) {
	logs.Take()
	t.Cleanup(func() {
		if out := logs.Take(); t.Failed() {
			t.Logf("logs:\n%s", out)
		}
	})
}

// load sends requests from several workers until stopped, counting them.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	errs         []string
	stop         context.CancelFunc
	done         sync.WaitGroup
}

// errSkipped is what send returns when the load stopped before it sent
// anything; it is not counted.
var errSkipped = errors.New("not sent")

// startLoad runs send in n goroutines, each calling it in a loop until
// Stop. send returns an error when the request failed.
func startLoad(n int, send func(ctx context.Context, worker, i int) error) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	for w := range n {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := send(ctx, w, i); !errors.Is(err, errSkipped) {
					l.record(err)
				}
			}
		}()
	}
	return l
}

func (l *load) record(err error) {
	l.sent.Add(1)
	if err == nil {
		return
	}
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
	}
}

// Stop stops the workers, waits for the requests in flight, and checks
// that none failed.
func (l *load) Stop(t *testing.T, what string) {
	t.Helper()
	l.stop()
	l.done.Wait()
	sent, failed := l.sent.Load(), l.failed.Load()
	t.Logf("%s: %d admissions sent, %d failed", what, sent, failed)
	if failed > 0 {
		t.Errorf("%d of %d admissions failed; first errors:\n%v", failed, sent, l.errs)
	}
	if sent == 0 {
		t.Error("no admission was sent")
	}
}

// admissionReview returns an AdmissionReview body for one of the two
// webhooks, alternating with i, with a fresh UID, and the path to post it.
// The DestinationRule sets failover without outlier detection, so the
// validating webhook denies it: a denial is an answer, not a failure.
func admissionReview(i int) (path string, uid types.UID, body []byte) {
	uid = uuid.NewUUID()
	req := &admissionv1.AdmissionRequest{UID: uid, Operation: admissionv1.Create, Namespace: metav1.NamespaceDefault, Name: "reviews"}
	if i%2 == 0 {
		path = mutate.Path
		req.Kind = metav1.GroupVersionKind{Version: "v1", Kind: "Service"}
		req.Resource = metav1.GroupVersionResource{Version: "v1", Resource: "services"}
		req.Object = runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"reviews","namespace":"default","labels":{"failover":"cluster"}},"spec":{"ports":[{"port":9080}]}}`)}
	} else {
		path = validate.Path
		req.Kind = metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
		req.Resource = metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
		req.Object = runtime.RawExtension{Raw: []byte(`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}}`)}
	}
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req}
	body, err := json.Marshal(review)
	if err != nil {
		panic(err)
	}
	return path, uid, body
}

// postReview sends review i to the webhook at base and checks the answer
// is an AdmissionReview for it: mutated Services, denied DestinationRules.
func postReview(ctx context.Context, c *http.Client, base string, i int) error {
	path, uid, body := admissionReview(i)
	return postBody(ctx, c, base+path, uid, path == mutate.Path, bytes.NewReader(body), int64(len(body)))
}

// postBody posts an AdmissionReview of size bytes read from body (-1:
// unknown, sent chunked) and checks the answer as postReview does.
func postBody(ctx context.Context, c *http.Client, url string, uid types.UID, mutating bool, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // stopped by the test, not by the webhook
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &review); err != nil || review.Response == nil {
		return fmt.Errorf("not an AdmissionReview response (%v): %s", err, data)
	}
	r := review.Response
	switch {
	case r.UID != uid:
		return fmt.Errorf("response UID %q, want %q", r.UID, uid)
	case mutating && (!r.Allowed || len(r.Patch) == 0):
		return fmt.Errorf("the Service was not mutated: %+v", r)
	case !mutating && (r.Allowed || r.Result == nil || r.Result.Code != http.StatusUnprocessableEntity):
		return fmt.Errorf("the DestinationRule was not denied: %+v", r)
	}
	return nil
}

// tlsClient trusts roots and keeps connections alive unless told not to,
// so that some requests reuse a handshake and others make a new one.
func tlsClient(roots *x509.CertPool, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: workers,
		},
	}
}

// servedLeaf returns the certificate the server at address presents.
func servedLeaf(address string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", address, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // compared, not trusted
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitFor polls check every 50 ms until it returns nil, for at most
// waitTimeout, and returns how long it took.
func waitFor(t *testing.T, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < waitTimeout {
		if err = check(); err == nil {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, waitTimeout, err)
	return 0
}

// freeAddress returns a loopback address with a port free right now.
func freeAddress(t *testing.T) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port
}

// getStatus returns the HTTP status of GET url.
func getStatus(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// secretVolume writes files into dir as the kubelet projects a Secret
// volume: into a new timestamped folder, then an atomic rename of the
// ..data symlink to it, then removal of the previous folder. The files
// themselves are symlinks through ..data, created once.
func secretVolume(t *testing.T, dir string, generation int, files map[string][]byte) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_11_25_00_00_00."+strconv.Itoa(generation))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ts, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	previous, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if previous != "" {
		if err := os.RemoveAll(filepath.Join(dir, previous)); err != nil {
			t.Fatal(err)
		}
	}
}

// parsePEM parses the first certificate of a PEM bundle.
func parsePEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startManager runs the webhook as `webhook serve` sets it up, in this
// process, until the test ends.
func startManager(t *testing.T, cfg *rest.Config, opts server.Options) {
	t.Helper()
	mgr, err := server.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the webhook manager: %v", err)
		}
	})
}

// ready returns nil when GET /readyz on the probe address answers 200.
func ready(probes string) error {
	code, err := getStatus("http://" + probes + "/readyz")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return errors.New(http.StatusText(code))
	}
	return nil
}

// buildOnce builds the `webhook` command once for every test that runs it.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "failover-webhook-ops-")
	if err != nil {
		return "", err
	}
	binDir = dir
	return controlplane.BuildWebhook(dir)
})

// binDir holds the built binary; TestMain removes it.
var binDir string

// servingBinary is a `webhook serve` process the test started.
type servingBinary struct {
	cmd    *exec.Cmd
	exited chan error
	out    *controlplane.SyncBuffer // its output
	roots  *x509.CertPool
	probes string
	base   string // https://address
}

// startBinary builds and starts `webhook serve` with a certificate for
// 127.0.0.1, env added to its environment and args after the usual flags,
// and waits until it is ready. It is killed when the test ends.
func startBinary(t *testing.T, env []string, args ...string) *servingBinary {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1"}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	if err := bundle.WriteDir(certDir, true); err != nil {
		t.Fatal(err)
	}
	w := &servingBinary{exited: make(chan error, 1), out: &controlplane.SyncBuffer{}, roots: x509.NewCertPool()}
	w.roots.AppendCertsFromPEM(bundle.CACert)
	address, port := freeAddress(t)
	w.probes, _ = freeAddress(t)
	w.base = "https://" + address
	w.cmd = exec.Command(bin, append([]string{"serve",
		"--kubeconfig=" + cluster.KubeconfigPath,
		"--cert-dir=" + certDir,
		"--port=" + strconv.Itoa(port),
		"--health-probe-bind-address=" + w.probes,
		"--metrics-bind-address=0",
	}, args...)...)
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("webhook output:\n%s", w.out.String())
		}
	})
	waitFor(t, "the webhook is ready", func() error { return ready(w.probes) })
	return w
}
