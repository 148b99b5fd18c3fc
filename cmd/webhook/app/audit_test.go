package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
)

// twoContexts is a kubeconfig with contexts c1 and c2 of an API server
// nobody listens on: the usage errors below come before any request.
const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: c1
  context: {cluster: a, user: u}
- name: c2
  context: {cluster: a, user: u}
current-context: c1
`

func TestAuditUsageErrors(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"--fix with several clusters": {
			[]string{"--kubeconfig", kubeconfig, "--context", "c1", "--context", "c2", "--fix"},
			"--fix changes one cluster at a time; audit several clusters without it",
		},
		"as many kubeconfigs as contexts, but not one or the same number": {
			[]string{"--kubeconfig", "a", "--kubeconfig", "b", "--context", "x", "--context", "y", "--context", "z"},
			"2 --kubeconfig and 3 --context flags: give one kubeconfig with several contexts, several kubeconfigs with at most one context, or as many of each (paired in order)",
		},
		"the same cluster twice": {
			[]string{"--kubeconfig", kubeconfig, "--context", "c1", "--context", "c1"},
			"cluster --kubeconfig " + kubeconfig + " --context c1 given twice",
		},
		"an empty context": {
			[]string{"--context", "c1", "--context="}, "--context: empty name",
		},
		"a context the kubeconfig does not have": {
			[]string{"--kubeconfig", kubeconfig, "--context", "c1", "--context", "c3"},
			`cluster --kubeconfig ` + kubeconfig + ` --context c3: loading the kubeconfig: context "c3" does not exist`,
		},
		"-o yaml, which only webhook check writes": {
			[]string{"--kubeconfig", kubeconfig, "-o", "yaml"}, "-o yaml writes the Services webhook check would change; to see what webhook audit would change, run webhook audit --fix --dry-run",
		},
		"--dry-run without --fix": {
			[]string{"--kubeconfig", kubeconfig, "--dry-run"}, "--dry-run only applies to --fix",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := webhookMain(t, "", append([]string{"audit"}, tc.args...)...)
			if code != app.ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, "error: "+tc.want) || !strings.Contains(stderr, "Run 'webhook audit --help' for usage.") {
				t.Errorf("stderr %q, want %q and the usage hint", stderr, "error: "+tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
