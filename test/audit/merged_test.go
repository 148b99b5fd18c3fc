package audit_test

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// mergedFile holds two DestinationRules for one host that Istio merges:
// fine alone, broken together.
var mergedFile = filepath.Join("..", "testdata", "merged", "merged.yaml")

func seedMerged(ctx context.Context, c *controlplane.Cluster) error {
	objs, err := readObjects(mergedFile)
	if err != nil {
		return err
	}
	return create(ctx, c, objs)
}

// position is the FILE:LINE:COL a finding of `webhook check` starts with.
var position = regexp.MustCompile(`^\S+:\d+:\d+ `)

// TestAuditJudgesDestinationRulesMerged audits two DestinationRules for
// one host stored in a real API server, with their real creation times,
// and checks the same objects from their manifests: both report the
// subset left without outlier detection by Istio's merge as an error and
// the ignored top-level policy as a warning, and fail.
func TestAuditJudgesDestinationRulesMerged(t *testing.T) {
	controlplane.SkipIfShort(t)
	want := []string{
		"DestinationRule merged/b-failover: FW101 spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: after Istio merges the DestinationRules of host helloworld.merged.svc.cluster.local (merged/a-pool, merged/b-failover, in this order; the top-level trafficPolicy is merged/a-pool's): locality failover needs outlierDetection, and none applies to subset \"v1\" port 5000",
		"DestinationRule merged/b-failover: FW112 spec.trafficPolicy: warning: a waypoint in namespace merged ignores its top-level trafficPolicy for host helloworld.merged.svc.cluster.local, with the failover policy it declares: merged/a-pool applies instead",
	}
	code, audited, stderr := webhook("audit", "--kubeconfig", cluster.KubeconfigPath, "-n", "merged")
	if code != app.ExitFailure {
		t.Errorf("audit: exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
	}
	if !strings.Contains(stderr, "1 failover setting without outlier detection once Istio merges the DestinationRules of their host") {
		t.Errorf("audit: stderr does not say why it fails:\n%s", stderr)
	}
	code, checked, stderr := webhook("check", "-f", mergedFile)
	if code != app.ExitFailure {
		t.Errorf("check: exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
	}
	var fromCheck []string
	for _, l := range strings.Split(strings.TrimSpace(checked), "\n") {
		fromCheck = append(fromCheck, position.ReplaceAllString(l, ""))
	}
	fromAudit := strings.Split(strings.TrimSpace(audited), "\n")
	if !slices.Equal(fromAudit, fromCheck) {
		t.Errorf("audit and check disagree:\naudit:\n%s\ncheck:\n%s", audited, checked)
	}
	if len(fromAudit) != len(want) {
		t.Fatalf("audit: %d findings, want %d:\n%s", len(fromAudit), len(want), audited)
	}
	for i, w := range want {
		if !strings.HasPrefix(fromAudit[i], w) {
			t.Errorf("audit finding %d:\n%s\nwant it to start with\n%s", i, fromAudit[i], w)
		}
	}
}
