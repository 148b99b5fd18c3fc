// Package audit_test runs `webhook audit` and `webhook check` against a
// real kube-apiserver whose objects were created before the webhook was
// registered, as in a cluster that predates it, and proves the webhook,
// check and audit give the same answers on one corpus.
package audit_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// cluster is the control plane every test of the package shares. The
// objects of seeds are created in it before the webhook is registered.
var cluster *controlplane.Cluster

// seeds create objects while the webhook is not registered, each for one
// test.
var seeds = []func(context.Context, *controlplane.Cluster) error{
	seedAudit,
	seedAgreement,
	seedMerged,
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if controlplane.Short() {
		// Every test skips itself; nothing to start.
		return m.Run()
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := controlplane.Start(ctx, controlplane.Options{Name: "audit", NoWebhook: true, AuditLog: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	for _, seed := range seeds {
		if err := seed(ctx, c); err != nil {
			fmt.Fprintf(os.Stderr, "creating objects before the webhook is registered: %v\n", err)
			return 1
		}
	}
	// The cluster now holds what a cluster that predates the webhook
	// holds; install it, as an admin would before cleaning up.
	if err := c.InstallWebhook(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
