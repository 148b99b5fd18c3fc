package controlplane

import (
	"flag"
	"testing"
)

// SkipIfShort skips a test that starts a control plane or runs the built
// webhook when `go test -short` (`make test-unit`) asks for the fast tier.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: starts a control plane or runs the built webhook")
	}
}

// Short reports whether `go test -short` asked for the fast tier; a TestMain
// calls it before starting the control plane its tests share, which then
// skip themselves with SkipIfShort.
func Short() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}
