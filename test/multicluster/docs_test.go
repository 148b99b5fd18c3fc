package multicluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// TestDocumentedExample plays the example of docs/policy-as-code.md
// ("Keeping clusters consistent"): the guide in both clusters, except that
// cluster2's DestinationRule has no outlier detection and its Service was
// never labeled global. The report must be the one the page shows.
func TestDocumentedExample(t *testing.T) {
	needClusters(t)
	const command = "$ webhook audit --context cluster1 --context cluster2\n"
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "policy-as-code.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, example, found := strings.Cut(string(doc), command)
	example, _, closed := strings.Cut(example, "```")
	if !found || !closed {
		t.Fatalf("docs/policy-as-code.md has no example after %q", command)
	}

	// The page's clusters hold namespace sample only; here it is the
	// namespace of this test, and -n leaves the others' objects out.
	setups := []*setup{guide(t, seed.Namespace), guide(t, seed.Namespace)}
	removeLabels(setups[1].service, global)
	setups[1].rule = object(t, seed.NoOutlierDestinationRule)
	setups[1].rule.SetNamespace(seed.Namespace)
	createIn(t, setups)

	r := webhook("audit", "--context", "cluster1", "--context", "cluster2", "-n", seed.Namespace)
	if r.code != app.ExitFailure {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, app.ExitFailure, r.stderr)
	}
	if r.stdout != example {
		t.Errorf("the report differs from the page's example.\ngot:\n%s\nthe page:\n%s", r.stdout, example)
	}
}
