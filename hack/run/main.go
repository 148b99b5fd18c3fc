// Command run starts one local control plane (kube-apiserver and etcd) with
// the Istio CRDs and failover-webhook installed as the integration tests
// install it, prints a kubeconfig and kubectl commands to try, and serves
// until interrupted (SIGINT or SIGTERM, to it or to the make that started
// it). Logs go to a file so they do not bury the instructions. `make run`
// builds and starts it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/hack/internal/parentwatch"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	waypoint := flag.String("waypoint-name", "waypoint", "the webhook's --waypoint-name: the waypoint opted-in Services get when neither they nor their namespace name one")
	binary := flag.String("webhook-binary", "", "run this `webhook` executable (webhook serve) instead of the webhook code linked into this program")
	logPath := flag.String("log-file", "local-control-plane.log", "write the webhook's and the control plane helpers' logs to this `file` (- for stderr)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := parentwatch.SignalOnParentExit(); err != nil {
		return fmt.Errorf("asking to be stopped with the process that started this one: %w", err)
	}
	logs := io.Writer(os.Stderr)
	if *logPath != "-" {
		if err := os.MkdirAll(filepath.Dir(*logPath), 0o755); err != nil {
			return err
		}
		f, err := os.Create(*logPath)
		if err != nil {
			return fmt.Errorf("opening the log file: %w", err)
		}
		defer f.Close()
		logs = f
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(logs)))
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	fmt.Fprintln(os.Stderr, "starting kube-apiserver, etcd and failover-webhook ...")
	c, err := controlplane.Start(startCtx, controlplane.Options{Name: "local", WaypointName: *waypoint, WebhookBinary: *binary, WebhookLog: logs})
	if err != nil {
		return err
	}
	printTryIt(os.Stdout, c, *logPath)

	<-ctx.Done()
	stop()
	fmt.Fprintln(os.Stderr, "stopping ...")
	if err := c.Stop(); err != nil {
		return errors.Join(errors.New("stopping the control plane"), err)
	}
	fmt.Fprintln(os.Stderr, "stopped")
	return nil
}

// printTryIt prints the environment to set once and commands that show
// both webhooks.
func printTryIt(w io.Writer, c *controlplane.Cluster, logPath string) {
	logs := "stderr"
	if logPath != "-" {
		logs = relative(logPath)
	}
	fmt.Fprintf(w, `
A local control plane with failover-webhook is running (API server %[1]s).
Logs: %[4]s

In another shell, set this once:

export KUBECONFIG=%[2]s PATH=%[3]s:$PATH

Then try:

# A Service labeled failover=cluster gets istio.io/global=true and istio.io/use-waypoint.
kubectl create namespace sample
kubectl -n sample create service clusterip helloworld --tcp=5000:5000
kubectl -n sample label service helloworld failover=cluster
kubectl -n sample get service helloworld --show-labels

# A DestinationRule with locality failover but no outlierDetection is denied.
cat <<EOF | kubectl -n sample apply -f -
%[5]sEOF

# In warn mode, applying it again is admitted, with the finding as a warning.
kubectl label namespace sample failover-webhook.io/enforcement=warn

# What the webhook would say about everything already in the cluster.
bin/webhook audit

Press Ctrl-C (or stop make) to stop; everything is removed on exit.
`, c.Config.Host, c.KubeconfigPath, filepath.Dir(c.KubectlPath), logs, seed.NoOutlierDestinationRule)
}

// relative shortens path to one relative to the working folder when it is
// below it.
func relative(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}
