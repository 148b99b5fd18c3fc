package ops_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// TestCheckStopsOnASignalWhileWaitingForInput runs `webhook check` on a
// named pipe and on standard input that never close, and stops it with
// SIGINT or SIGTERM: it must exit 2 promptly, say what it was reading and
// why it stopped, and leave no spooled input behind.
func TestCheckStopsOnASignalWhileWaitingForInput(t *testing.T) {
	controlplane.SkipIfShort(t)
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		input  string // "fifo": -f a named pipe; "stdin": -f - on a pipe
		writer bool   // the pipe has a writer that sent part of a document and stays open
		signal syscall.Signal
		want   string
	}{
		"a named pipe nobody writes to, SIGINT": {
			input: "fifo", signal: syscall.SIGINT,
			want: "error: reading in.yaml: interrupt signal received\n",
		},
		"a named pipe whose writer never closes it, SIGTERM": {
			input: "fifo", writer: true, signal: syscall.SIGTERM,
			want: "error: reading in.yaml: terminated signal received\n",
		},
		"standard input that never closes, SIGINT": {
			input: "stdin", writer: true, signal: syscall.SIGINT,
			want: "error: reading <stdin>: interrupt signal received\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir, tmp := t.TempDir(), t.TempDir()
			cmd := exec.Command(bin, "check", "-f", "-")
			var stderr bytes.Buffer
			cmd.Dir, cmd.Stderr = dir, &stderr
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var writer *os.File
			switch tc.input {
			case "fifo":
				if err := syscall.Mkfifo(filepath.Join(dir, "in.yaml"), 0o600); err != nil {
					t.Fatal(err)
				}
				cmd.Args[3] = "in.yaml"
			case "stdin":
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				cmd.Stdin, writer = r, w
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			finished := false
			defer func() {
				if !finished {
					_ = cmd.Process.Kill()
					t.Logf("killed: %v", <-exited)
				}
			}()
			if tc.writer && tc.input == "fifo" {
				// Opening the writing end waits for the command to
				// open the reading end.
				if writer, err = os.OpenFile(filepath.Join(dir, "in.yaml"), os.O_WRONLY, 0); err != nil {
					t.Fatal(err)
				}
			}
			if writer != nil {
				defer writer.Close()
				if _, err := writer.WriteString("apiVersion: v1\nkind: Service\n"); err != nil {
					t.Fatal(err)
				}
			}
			// Signal once the command is waiting: it has created the
			// file it spools the stream into by then. Signal anyway
			// after a while, so a command that spools nowhere is tested
			// too.
			deadline := time.Now().Add(5 * time.Second)
			for !holdsFileIn(cmd.Process.Pid, tmp) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			signalled := time.Now()
			if err := cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				finished = true
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Errorf("exit %v, want status 2; stderr: %s", err, stderr.String())
				}
				t.Logf("exited %v after the signal", time.Since(signalled).Round(time.Millisecond))
			case <-time.After(3 * time.Second):
				t.Fatalf("still running 3 s after %v; stderr: %s", tc.signal, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.want)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left %d files in its temporary folder, want none", len(left))
			}
		})
	}
}

// holdsFileIn reports whether the process has a file under dir open.
func holdsFileIn(pid int, dir string) bool {
	fds, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fd", "*"))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
