package integration_test

import (
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// webhookRequests returns how many admission requests the webhook has
// received on path, by controller-runtime's per-path counter.
func webhookRequests(t *testing.T, path string) float64 {
	t.Helper()
	n, err := controlplane.MetricSum("controller_runtime_webhook_requests_total", map[string]string{"webhook": path})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRequestsTheWebhookNeverSees shows the selectors and rules of the
// shipped configurations keep requests away from the webhook, not only its
// answers: by the webhook's own request counts, none of these requests
// reach it, while one opted-in Service and one DestinationRule, sent last,
// each arrive exactly once.
func TestRequestsTheWebhookNeverSees(t *testing.T) {
	controlplane.SkipIfShort(t)
	plainNS := newNamespace(t, nil)
	offNS := newNamespace(t, map[string]string{enforcement: "off"})
	const mutatePath, validatePath = "/mutate-service", "/validate-destinationrule"
	before := map[string]float64{mutatePath: webhookRequests(t, mutatePath), validatePath: webhookRequests(t, validatePath)}

	ctx := t.Context()
	plain := newService(plainNS, "plain", map[string]string{"app": "plain"})
	unseen := []struct {
		what string
		do   func() error
	}{
		{"creating a Service without failover=cluster", func() error { return cluster.Client.Create(ctx, plain) }},
		{"updating a Service without failover=cluster", func() error {
			plain.Labels["team"] = "payments"
			return cluster.Client.Update(ctx, plain)
		}},
		{"creating an opted-in Service in a namespace in mode off", func() error {
			return cluster.Client.Create(ctx, newService(offNS, "opted-in", map[string]string{trigger: "cluster"}))
		}},
		{"creating an opted-in Service in kube-system", func() error {
			svc := newService("kube-system", "", map[string]string{trigger: "cluster"})
			svc.GenerateName = "unseen-"
			if err := cluster.Client.Create(ctx, svc); err != nil {
				return err
			}
			return cluster.Client.Delete(ctx, svc)
		}},
		{"creating a DestinationRule in a namespace in mode off", func() error {
			return cluster.Client.Create(ctx, newDestinationRule(t, "v1", offNS, "helloworld", noOutlierSpec))
		}},
		{"deleting a DestinationRule", func() error {
			dr := newDestinationRule(t, "v1", offNS, "doomed", guideSpec)
			if err := cluster.Client.Create(ctx, dr); err != nil {
				return err
			}
			return cluster.Client.Delete(ctx, dr)
		}},
	}
	for _, r := range unseen {
		if err := r.do(); err != nil {
			t.Fatalf("%s: %v", r.what, err)
		}
	}
	assertLabels(t, "the Service without the trigger", plain.Labels, map[string]string{"app": "plain", "team": "payments"})

	// One request per path that must arrive shows the counts work.
	if err := cluster.Client.Create(ctx, newService(plainNS, "opted-in", map[string]string{trigger: "cluster"})); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.Create(ctx, newDestinationRule(t, "v1", plainNS, "helloworld", guideSpec), client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{mutatePath, validatePath} {
		// The count is taken after the response is written, so it may
		// trail the API server's answer by a moment.
		eventually(t, "the webhook counts the request to "+path, func() error {
			if n := webhookRequests(t, path) - before[path]; n < 1 {
				return fmt.Errorf("%v requests counted", n)
			}
			return nil
		})
		if n := webhookRequests(t, path) - before[path]; n != 1 {
			t.Errorf("%s received %v requests, want 1: only the last request belongs there", path, n)
		}
	}
}
