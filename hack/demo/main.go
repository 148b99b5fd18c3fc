// Command demo plays Istio's guide "Configure failover behavior in
// multicluster ambient installation" with kubectl on two local control
// planes, cluster1 running failover-webhook and cluster2 the native
// policies of manifests/native instead, and prints what each step applied
// and what the admission policy did. It is also a check: it exits 1 when
// either does not do what the guide needs. The clusters
// are stopped on exit, Ctrl-C included; with -keep they stay up, with the
// commands to try, until Ctrl-C. `make demo` (KEEP=1) builds and runs it.
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
	"slices"
	"strings"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/hack/internal/parentwatch"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// timeout bounds the whole demo, which takes about 15 seconds.
const timeout = 3 * time.Minute

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) (err error) {
	// The webhooks log through controller-runtime; only errors reach
	// stderr unless --zap-log-level says otherwise.
	flags := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), `Usage: %s [flags]

Plays Istio's multicluster ambient failover guide on two local control planes:
cluster1 runs failover-webhook, cluster2 the native admission policies of
manifests/native instead. KUBEBUILDER_ASSETS names the folder holding
kube-apiserver, etcd and kubectl (default: bin/k8s of the repository).

Flags (the webhooks' logging):
`, os.Args[0])
		flags.PrintDefaults()
	}
	keep := flags.Bool("keep", false, "leave both clusters running after the demo, print a kubeconfig with both contexts and commands to try, and stop on Ctrl-C")
	keepKubeconfig := flags.String("kubeconfig-out", "bin/demo/kubeconfig", "with -keep: write the kubeconfig with contexts cluster1 and cluster2 to this `file`")
	logOpts := zap.Options{}
	logOpts.BindFlags(flags)
	if err := flags.Set("zap-log-level", "error"); err != nil {
		return err
	}
	_ = flags.Parse(os.Args[1:]) // ExitOnError
	ctrllog.SetLogger(zap.New(zap.UseFlagOptions(&logOpts)))
	names := strings.Join(seed.ClusterNames, " and ")

	interrupted, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := parentwatch.SignalOnParentExit(); err != nil {
		return fmt.Errorf("asking to be stopped with the process that started this one: %w", err)
	}
	ctx, cancel := context.WithTimeout(interrupted, timeout)
	defer cancel()
	defer func() {
		if err != nil && interrupted.Err() != nil {
			err = errors.New("interrupted")
		}
	}()

	fmt.Fprintf(out, `Istio's guide "Configure failover behavior in multicluster ambient installation", played with
kubectl on two local control planes: %s runs failover-webhook, %s runs the native policies
instead (manifests/native: a MutatingAdmissionPolicy and ValidatingAdmissionPolicies, no webhook).
"cluster1$ kubectl ..." runs kubectl with cluster1's kubeconfig; below it are kubectl's output and
what the admission policy did.

`, seed.ClusterNames[0], seed.ClusterNames[1])

	started := time.Now()
	clusters, err := seed.StartWebhookAndNative(ctx, seed.ClusterNames[0], seed.ClusterNames[1])
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := seed.StopClusters(clusters); stopErr != nil {
			fmt.Fprintln(os.Stderr, "stopping the clusters:", stopErr)
		}
	}()
	startup := time.Since(started)
	fmt.Fprintf(out, "Started %s (kube-apiserver and etcd each; failover-webhook in %s, the native policies in %s) in %s.\n",
		names, seed.ClusterNames[0], seed.ClusterNames[1], startup.Round(100*time.Millisecond))

	cacheDir, err := os.MkdirTemp("", "failover-webhook-demo-kubectl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cacheDir)

	steps := seed.Steps()
	failed, replaced := 0, 0
	for i, step := range steps {
		printStep(out, i+1, len(steps), step)
		replaced += len(step.Replaces)
		var first *seed.Result
		for i, c := range clusters {
			r := step.Run(ctx, seed.Kubectl{Cluster: c, CacheDir: cacheDir, Native: i == 1})
			printResult(out, step, r, first)
			failed += len(r.Problems)
			if first == nil {
				first = &r
			}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}

	kubectl := func(c *controlplane.Cluster) seed.Kubectl { return seed.Kubectl{Cluster: c, CacheDir: cacheDir} }
	compareFailed, err := compareClusters(ctx, out, clusters, kubectl)
	if err != nil {
		return err
	}
	failed += compareFailed

	fmt.Fprintln(out)
	if failed > 0 {
		return fmt.Errorf("%d expectations not met; see the FAIL lines above", failed)
	}
	fmt.Fprintf(out, "OK: in %s the webhook (cluster1) and the native policies (cluster2) did the guide's %d manual kubectl label commands and denied the DestinationRule without outlierDetection, and `webhook audit` found the step missed in one cluster (%d steps, %s in all, %s of it starting the clusters).\n",
		names, replaced, len(steps),
		time.Since(started).Round(100*time.Millisecond), startup.Round(100*time.Millisecond))
	if *keep {
		return keepRunning(interrupted, out, clusters, *keepKubeconfig)
	}
	return nil
}

// keepRunning leaves the clusters up for the user to try commands on, until
// interrupted.
func keepRunning(ctx context.Context, out io.Writer, clusters []*controlplane.Cluster, kubeconfig string) error {
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	if err := controlplane.MergeKubeconfigs(kubeconfig, clusters); err != nil {
		return err
	}
	abs, err := filepath.Abs(kubeconfig)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
Both clusters stay up. In another shell, set this once:

export KUBECONFIG=%[1]s PATH=%[2]s:$PATH

Then try, for example:

kubectl --context cluster1 -n sample get services --show-labels
bin/webhook audit --context cluster1 --context cluster2
kubectl --context cluster2 -n sample label service helloworld failover-
bin/webhook audit --context cluster1 --context cluster2

Press Ctrl-C (or stop make) to stop both clusters.
`, abs, filepath.Dir(clusters[0].KubectlPath))
	<-ctx.Done()
	fmt.Fprintln(out, "stopping ...")
	return nil
}

// printStep prints what a step does, the guide's commands it replaces and
// the manifest it applies.
func printStep(out io.Writer, n, total int, step seed.Step) {
	fmt.Fprintf(out, "\n== %d/%d %s\n", n, total, step.Title)
	if step.Note != "" {
		fmt.Fprintln(out, step.Note)
	}
	if len(step.Replaces) > 0 {
		fmt.Fprintln(out, "Instead of the guide's")
		for _, cmd := range step.Replaces {
			fmt.Fprintln(out, "  "+cmd)
		}
	}
	if step.File != "" {
		fmt.Fprintf(out, "%s:\n", step.File)
		for line := range strings.Lines(step.Manifest) {
			fmt.Fprint(out, "  "+line)
		}
	}
}

// printResult prints kubectl's output and what the webhook did in one
// cluster, or only that it was the same as in the first cluster.
func printResult(out io.Writer, step seed.Step, r seed.Result, first *seed.Result) {
	fmt.Fprintf(out, "%s$ %s\n", r.Cluster, step.Command())
	if first != nil && slices.Equal(r.Output, first.Output) && slices.Equal(r.Report, first.Report) {
		fmt.Fprintf(out, "  (the same output, and the admission policy did the same, as in %s)\n", first.Cluster)
	} else {
		for _, line := range append(slices.Clip(r.Output), r.Report...) {
			fmt.Fprintln(out, "  "+line)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintln(out, "  FAIL: "+p)
	}
}
