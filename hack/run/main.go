// Command run starts one local control plane (kube-apiserver and etcd) with
// the Istio CRDs and failover-webhook installed as the integration tests
// install it, prints a kubeconfig and kubectl commands to try, and serves
// until interrupted (SIGINT or SIGTERM). `make run` builds and starts it.
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

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	waypoint := flag.String("waypoint-name", "waypoint", "the webhook's --waypoint-name: the waypoint opted-in Services get when neither they nor their namespace name one")
	binary := flag.String("webhook-binary", "", "run this `webhook` executable (webhook serve) instead of the webhook code linked into this program; its log goes to stderr")
	flag.Parse()
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	fmt.Fprintln(os.Stderr, "starting kube-apiserver, etcd and failover-webhook ...")
	c, err := controlplane.Start(startCtx, controlplane.Options{Name: "local", WaypointName: *waypoint, WebhookBinary: *binary, WebhookLog: os.Stderr})
	if err != nil {
		return err
	}
	printTryIt(os.Stdout, c)

	<-ctx.Done()
	stop()
	fmt.Fprintln(os.Stderr, "stopping ...")
	if err := c.Stop(); err != nil {
		return errors.Join(errors.New("stopping the control plane"), err)
	}
	fmt.Fprintln(os.Stderr, "stopped")
	return nil
}

// printTryIt prints the kubeconfig and commands that show both webhooks.
func printTryIt(w io.Writer, c *controlplane.Cluster) {
	kubectl := c.KubectlPath
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, kubectl); err == nil && !strings.HasPrefix(rel, "..") {
			kubectl = rel
		}
	}
	k := kubectl + " --kubeconfig " + c.KubeconfigPath
	fmt.Fprintf(w, `
A local control plane with failover-webhook is running.
  API server: %[2]s
  kubeconfig: %[3]s (admin)

Try it:

# A Service labeled failover=cluster gets istio.io/global=true and istio.io/use-waypoint.
%[1]s create namespace sample
%[1]s -n sample create service clusterip helloworld --tcp=5000:5000
%[1]s -n sample label service helloworld failover=cluster
%[1]s -n sample get service helloworld --show-labels

# A DestinationRule with locality failover but no outlierDetection is denied.
cat <<EOF | %[1]s -n sample apply -f -
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failoverPriority:
        - topology.istio.io/cluster
EOF

# In warn mode, applying it again is admitted, with the finding as a warning.
%[1]s label namespace sample failover-webhook.io/enforcement=warn

Press Ctrl-C to stop; everything is removed on exit.
`, k, c.Config.Host, c.KubeconfigPath)
}
