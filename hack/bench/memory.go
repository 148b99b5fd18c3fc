package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MemorySample is the memory of the webhook process at one moment.
type MemorySample struct {
	// RSS is VmRSS: everything resident, the number `ps` and `top` show.
	RSSKiB int64 `json:"vm_rss_kib"`
	// AnonKiB is the resident anonymous memory: heap, stacks, runtime
	// structures; what grows with work and cached objects.
	AnonKiB int64 `json:"rss_anon_kib"`
	// FileKiB is the resident part of the executable (code, read-only
	// data), mapped from the page cache and shared with other processes
	// running the same file; the kernel may reclaim it.
	FileKiB int64 `json:"rss_file_kib"`
	// HeapInuseBytes and GoSysBytes come from the webhook's /metrics
	// (go_memstats_heap_inuse_bytes, go_memstats_sys_bytes).
	HeapInuseBytes float64 `json:"heap_inuse_bytes"`
	GoSysBytes     float64 `json:"go_sys_bytes"`
}

// MiB converts KiB to MiB.
func MiB(kib int64) float64 { return float64(kib) / 1024 }

// readMemory samples the process pid and its metrics endpoint.
func readMemory(ctx context.Context, pid int, metricsAddr string) (MemorySample, error) {
	var m MemorySample
	status, err := readStatus(pid)
	if err != nil {
		return m, err
	}
	m.RSSKiB, m.AnonKiB, m.FileKiB = status["VmRSS"], status["RssAnon"], status["RssFile"]
	metrics, err := scrape(ctx, metricsAddr, "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes")
	if err != nil {
		return m, err
	}
	m.HeapInuseBytes, m.GoSysBytes = metrics["go_memstats_heap_inuse_bytes"], metrics["go_memstats_sys_bytes"]
	return m, nil
}

// readStatus returns the kB fields of /proc/<pid>/status.
func readStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), ":")
		fields := strings.Fields(value)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[key] = n
		}
	}
	return out, s.Err()
}

// scrape reads the named unlabelled series from a Prometheus text endpoint.
func scrape(ctx context.Context, addr string, names ...string) (map[string]float64, error) {
	body, err := get(ctx, http.DefaultClient, "http://"+addr+"/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range names {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					out[name] = f
				}
			}
		}
	}
	return out, nil
}

// get returns the body of a GET of url with hc, failing on any status but
// 200.
func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	return body, err
}

// childPID returns the pid of the child of this process running exe.
func childPID(exe string) (int, error) {
	want, err := filepath.Abs(exe)
	if err != nil {
		return 0, err
	}
	if resolved, err := filepath.EvalSymlinks(want); err == nil {
		want = resolved
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil || !strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(self)+"\n") {
			continue
		}
		if got, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && got == want {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process runs %s", want)
}

// createNamespaces creates count namespaces named prefix-NNNNN, workers at
// a time.
func createNamespaces(ctx context.Context, c client.Client, prefix string, count, workers int) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(count) {
					return
				}
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
					Name:   fmt.Sprintf("%s-%05d", prefix, i),
					Labels: map[string]string{"team": fmt.Sprintf("team-%03d", i%100)},
				}}
				if err := c.Create(ctx, ns); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// waitForSteadyRSS samples the RSS of pid every second until it changed by
// less than 1% over the last five samples, or timeout passes.
func waitForSteadyRSS(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last []int64
	for time.Now().Before(deadline) {
		status, err := readStatus(pid)
		if err != nil {
			return err
		}
		last = append(last, status["VmRSS"])
		if n := len(last); n >= 5 {
			window := last[n-5:]
			lo, hi := window[0], window[0]
			for _, v := range window {
				lo, hi = min(lo, v), max(hi, v)
			}
			if float64(hi-lo) < 0.01*float64(hi) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

// cpuTime returns the user and system CPU time process pid has used.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; fields follow it.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// utime and stime are fields 14 and 15 of stat(5), here 11 and 12.
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100

// copyExecutable copies the executable src to dst in 32 KiB writes, as a
// container runtime unpacks an image layer. The kernel maps file pages into
// a process in the units its page cache holds them; the Go linker writes
// its output through a memory mapping, which leaves larger units than
// ordinary writes do, and a freshly built binary then shows several MiB
// more resident than the same bytes written normally.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	// Plain Reader and Writer: no copy_file_range, which would share the
	// source's page cache.
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 32<<10)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// initializedMemory samples the resident memory of the webhook executable
// once its packages are initialized and before it does anything: `webhook
// check -f -` waiting for its standard input.
func initializedMemory(ctx context.Context, exe string) (MemorySample, error) {
	cmd := exec.CommandContext(ctx, exe, "check", "-f", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return MemorySample{}, err
	}
	if err := cmd.Start(); err != nil {
		return MemorySample{}, err
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	time.Sleep(3 * time.Second)
	status, err := readStatus(cmd.Process.Pid)
	if err != nil {
		return MemorySample{}, err
	}
	return MemorySample{RSSKiB: status["VmRSS"], AnonKiB: status["RssAnon"], FileKiB: status["RssFile"]}, nil
}
