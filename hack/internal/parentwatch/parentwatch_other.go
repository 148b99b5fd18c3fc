//go:build !linux

package parentwatch

// SignalOnParentExit does nothing where the kernel offers no parent-death
// signal; stop the tool with Ctrl-C or SIGTERM to its own process there.
func SignalOnParentExit() error { return nil }
