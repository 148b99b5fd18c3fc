//go:build linux

// Package parentwatch makes a long-running local tool stop when the process
// that started it dies. `make run` and `make demo KEEP=1` run such a tool as
// make's child: Ctrl-C in the terminal reaches both, and GNU make forwards
// SIGTERM to its recipe, but a make that is killed (SIGKILL, a crash, its
// terminal closed) forwards nothing and would leave the tool — and the
// kube-apiserver, etcd and webhook it started — running with nobody to stop
// them.
package parentwatch

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// SignalOnParentExit asks the kernel to send SIGTERM to this process when its
// parent exits, which the tool's usual SIGTERM handling turns into a clean
// stop. If the parent is already gone, it signals at once.
func SignalOnParentExit() error {
	parent := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		return err
	}
	// The parent may have died before the call above took effect.
	if os.Getppid() != parent {
		return syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
	return nil
}
