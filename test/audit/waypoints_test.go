package audit_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// waypointsFile holds the objects of TestAuditChecksWaypoints.
var waypointsFile = filepath.Join("..", "testdata", "audit", "waypoints.yaml")

func seedWaypoints(ctx context.Context, c *controlplane.Cluster) error {
	objs, err := readObjects(waypointsFile)
	if err != nil {
		return err
	}
	return create(ctx, c, objs)
}

// TestAuditChecksWaypoints: one cluster's audit reports what a waypoint
// lacks for the opted-in Services using it, a waypoint Gateway whose
// label never reaches its Service, and a Service that stays local behind
// a global waypoint, each with a command that repairs it.
func TestAuditChecksWaypoints(t *testing.T) {
	controlplane.SkipIfShort(t)
	code, stdout, stderr := webhook("audit", "--kubeconfig", cluster.KubeconfigPath, "-n", "waypoints")
	if code != app.ExitOK {
		t.Errorf("exit %d, want %d: these are warnings; stderr: %s", code, app.ExitOK, stderr)
	}
	patch := func(key, value string) string {
		return `    fix: kubectl patch gateways.gateway.networking.k8s.io waypoint -n waypoints --type=merge -p '{"spec":{"infrastructure":{"labels":{"` + key + `":"` + value + `"}}}}'`
	}
	want := []string{
		`Gateway waypoints/waypoint: FW412 metadata.labels[failover]: warning: failover=cluster on the Gateway never reaches its waypoint's Service: the Gateway sets spec.infrastructure.labels`,
		patch("failover", "cluster"),
		`Service waypoints/waypoint: FW405 metadata.labels[istio.io/global]: warning: the Service of waypoint "waypoint" (used by waypoints/app) has istio.io/global unset`,
		patch("istio.io/global", "true"),
		`Deployment waypoints/waypoint: FW406 status.readyReplicas: warning: waypoint "waypoint" (used by waypoints/app): 0 of 1 replicas ready`,
		`Service waypoints/local: FW413 metadata.labels[istio.io/global]: warning: uses the global waypoint waypoints/shared but is not global itself`,
		`    fix: kubectl label service local -n waypoints failover=cluster`,
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no line starts with %q:\n%s", w, stdout)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d lines, want %d:\n%s", len(lines), len(want), stdout)
	}

	t.Run("with --severity-threshold=warning they fail the run", func(t *testing.T) {
		code, _, stderr := webhook("audit", "--kubeconfig", cluster.KubeconfigPath, "-n", "waypoints", "--severity-threshold", "warning")
		if code != app.ExitFailure {
			t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
		}
	})
}
