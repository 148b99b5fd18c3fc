package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// compareClusters runs `webhook audit` across both clusters, as an admin
// would after the guide: first as the guide left them, where it must find
// nothing, then after cluster2 lost the DestinationRule, where it must
// name the missing step. It returns the number of unmet expectations.
func compareClusters(ctx context.Context, out io.Writer, clusters []*controlplane.Cluster, kubectl func(*controlplane.Cluster) seed.Kubectl) (int, error) {
	fmt.Fprintf(out, "\n== Compare the clusters: every step missed in one of them\n")
	fmt.Fprintln(out, `Istio is not running here, so the waypoint's Deployment is created as istiod runs it, with one
ready replica. Then one command audits both clusters and compares them.`)
	for _, c := range clusters {
		if err := createReadyWaypoint(ctx, c); err != nil {
			return 0, err
		}
	}
	dir, err := os.MkdirTemp("", "failover-webhook-demo-kubeconfig-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "config")
	if err := controlplane.MergeKubeconfigs(kubeconfig, clusters); err != nil {
		return 0, err
	}
	args := []string{"audit"}
	for _, c := range clusters {
		args = append(args, "--context", c.Name)
	}
	audit := func() (code int, stdout string) {
		fmt.Fprintf(out, "$ webhook %s\n", strings.Join(args, " "))
		var stdoutBuf, stderrBuf strings.Builder
		code = app.Main(append(args, "--kubeconfig", kubeconfig), &stdoutBuf, &stderrBuf, nil)
		for line := range strings.Lines(stdoutBuf.String() + stderrBuf.String()) {
			fmt.Fprint(out, "  "+line)
		}
		fmt.Fprintf(out, "  (exit status %d)\n", code)
		return code, stdoutBuf.String()
	}

	failed := 0
	if code, stdout := audit(); code != 0 || stdout != "" {
		fmt.Fprintln(out, "  FAIL: the clusters hold the same configuration; want no finding and exit status 0")
		failed++
	}

	last := clusters[len(clusters)-1]
	fmt.Fprintf(out, "\nSuppose %s missed the guide's last step:\n", last.Name)
	deleteArgs := []string{"delete", "destinationrule", seed.DestinationRule, "-n", seed.Namespace}
	fmt.Fprintf(out, "%s$ kubectl %s\n", last.Name, strings.Join(deleteArgs, " "))
	lines, code, err := kubectl(last).Exec(ctx, "", deleteArgs...)
	if err != nil {
		return failed, err
	}
	for _, line := range lines {
		fmt.Fprintln(out, "  "+line)
	}
	if code != 0 {
		return failed, fmt.Errorf("kubectl delete in %s: exit status %d", last.Name, code)
	}
	want := fmt.Sprintf("DestinationRule %s/%s: %s spec.host: drift: ", seed.Namespace, seed.DestinationRule, rules.RuleMissingInCluster)
	if code, stdout := audit(); code != 1 || !strings.Contains(stdout, want) {
		fmt.Fprintf(out, "  FAIL: want the missing DestinationRule reported (%q) and exit status 1\n", want)
		failed++
	}
	return failed, nil
}

// createReadyWaypoint creates the waypoint's Deployment in c and reports
// one ready replica, as the Deployment controller would once the pod runs.
func createReadyWaypoint(ctx context.Context, c *controlplane.Cluster) error {
	d := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(seed.WaypointDeployment), &d.Object); err != nil {
		return err
	}
	if err := c.Client.Create(ctx, d); err != nil {
		return fmt.Errorf("%s: creating the waypoint's Deployment: %w", c.Name, err)
	}
	if err := seed.ReportReady(ctx, c.Client, d); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	return nil
}
