// Package localrun tests `make run` as a person uses it: the instructions it
// prints, where its logs go, and that stopping make stops everything it
// started.
package localrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

func TestMakeRunStopsEverythingWhenMakeIsStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane through make")
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := controlplane.AssetsDir(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		signal syscall.Signal
	}{
		// GNU make forwards SIGTERM to the recipe it runs.
		"SIGTERM to make": {signal: syscall.SIGTERM},
		// make dies at once and forwards nothing; the tool stops because
		// its parent died (PR_SET_PDEATHSIG).
		"SIGKILL to make": {signal: syscall.SIGKILL},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			binDir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "run", "BIN_DIR="+binDir)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "KUBEBUILDER_ASSETS="+assets)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

			printed, kubeconfig := readUntilExport(t, stdout, 4*time.Minute)
			if kubeconfig == "" {
				t.Fatalf("make run printed no export KUBECONFIG= line:\n%s\nstderr:\n%s", printed, stderr.String())
			}
			if n := strings.Count(printed, "--kubeconfig"); n != 0 {
				t.Errorf("the instructions repeat --kubeconfig %d times instead of exporting KUBECONFIG once:\n%s", n, printed)
			}
			if strings.Contains(printed, `"level"`) || strings.Contains(printed, `"msg"`) {
				t.Errorf("log lines are mixed into the instructions:\n%s", printed)
			}
			out, err := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), "--kubeconfig", kubeconfig, "get", "namespace", "default", "-o", "name").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "namespace/default" {
				t.Fatalf("kubectl with the printed kubeconfig: %v: %s", err, out)
			}
			started := descendants(cmd.Process.Pid)
			if len(started) < 3 {
				t.Fatalf("expected make's tool, kube-apiserver, etcd and the webhook below make, found pids %v", started)
			}

			if err := syscall.Kill(cmd.Process.Pid, tc.signal); err != nil {
				t.Fatal(err)
			}
			waitErr := make(chan error, 1)
			go func() { waitErr <- cmd.Wait() }()
			// make's exit status after a signal is of no interest; that it exits is.
			select {
			case exitErr := <-waitErr:
				_ = exitErr
			case <-time.After(time.Minute):
				t.Fatal("make did not exit within a minute of the signal")
			}
			deadline := time.Now().Add(45 * time.Second)
			for {
				alive := aliveOf(started)
				if len(alive) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still running 45 s after make stopped: %v", alive)
				}
				time.Sleep(200 * time.Millisecond)
			}
			logs, err := os.ReadFile(filepath.Join(binDir, "run", "webhook.log"))
			if err != nil || len(logs) == 0 {
				t.Errorf("the webhook's log file is missing or empty: %v", err)
			}
		})
	}
}

// readUntilExport reads make's output up to the export line and returns
// what was printed and the kubeconfig path the line exports; "" when the
// line did not come within timeout.
func readUntilExport(t *testing.T, r io.Reader, timeout time.Duration) (printed, kubeconfig string) {
	t.Helper()
	var (
		mu    sync.Mutex
		b     strings.Builder
		found = make(chan string, 1)
	)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			b.WriteString(line + "\n")
			mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "export KUBECONFIG="); ok {
				path, _, _ := strings.Cut(rest, " ")
				found <- path
			}
		}
	}()
	select {
	case kubeconfig = <-found:
		// Let the rest of the instructions arrive.
		time.Sleep(200 * time.Millisecond)
	case <-time.After(timeout):
	}
	mu.Lock()
	defer mu.Unlock()
	return b.String(), kubeconfig
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads a process's parent pid; ok is false once it is gone.
func parentOf(pid int) (int, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// aliveOf returns the pids still running (zombies count as gone: they hold
// no resources and wait only for their parent to reap them).
func aliveOf(pids []int) []string {
	var alive []string
	for _, p := range pids {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if errors.Is(err, os.ErrNotExist) || err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 0 && fields[0] == "Z" {
			continue
		}
		comm := string(stat[bytes.IndexByte(stat, '(')+1 : i])
		alive = append(alive, strconv.Itoa(p)+" "+comm)
	}
	return alive
}
