package native_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// unprotectedSpec is a rule with subsets subsets and ports top-level port
// entries, every one of them declaring failover without outlier detection:
// every (subset, port) scope violates, the most work a rule of that size
// gives the policy.
func unprotectedSpec(subsets, ports int) map[string]any {
	failover := map[string]any{"localityLbSetting": map[string]any{"failoverPriority": []any{"topology.istio.io/cluster"}}}
	var entries, subs []any
	for p := range ports {
		entries = append(entries, map[string]any{"port": map[string]any{"number": int64(8000 + p)}, "loadBalancer": failover})
	}
	for s := range subsets {
		subs = append(subs, map[string]any{"name": fmt.Sprintf("v%d", s), "labels": map[string]any{"version": fmt.Sprintf("v%d", s)},
			"trafficPolicy": map[string]any{"loadBalancer": failover}})
	}
	return map[string]any{"host": "helloworld", "trafficPolicy": map[string]any{"loadBalancer": failover, "portLevelSettings": entries}, "subsets": subs}
}

func TestSizeGuard(t *testing.T) {
	needsControlPlanes(t)
	namespacePair(t, "size-guard", nil)
	tests := map[string]struct {
		subsets, ports int
		// want is a phrase of the native policy's denial.
		want string
	}{
		"the largest rule the guard lets through is evaluated within the CEL cost budget": {
			subsets: 19, ports: 24, want: "locality failover needs outlierDetection",
		},
		"a rule as large with most scopes in ports is evaluated too": {
			subsets: 9, ports: 49, want: "locality failover needs outlierDetection",
		},
		"a rule one subset over the guard is denied with a message saying so": {
			subsets: 20, ports: 24, want: "more than the native policy evaluates within the API server CEL cost budget",
		},
		"a rule with more port entries than the guard allows is denied with a message saying so": {
			subsets: 0, ports: 201, want: "which has no such limit",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := destinationRule("v1", "size-guard", "big", unprotectedSpec(tc.subsets, tc.ports))
			start := time.Now()
			err := native.Client.Create(t.Context(), obj, client.DryRunAll)
			t.Logf("%d subsets × %d ports (%d scopes): native answered in %v", tc.subsets, tc.ports, (tc.subsets+1)*(tc.ports+1), time.Since(start))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a denial saying %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "cost") && !strings.Contains(err.Error(), "CEL cost budget") {
				t.Errorf("denied with a bare cost error: %v", err)
			}
			if werr := webhook.Client.Create(t.Context(), obj.DeepCopy(), client.DryRunAll); werr == nil {
				t.Errorf("the webhook allows what the native policy denies")
			}
		})
	}
}

// TestRatchetAgrees creates violating rules while their namespace is off,
// turns enforcement on, and checks that both control planes allow an update
// that keeps the spec and deny one that changes it.
func TestRatchetAgrees(t *testing.T) {
	needsControlPlanes(t)
	const ns = "ratchet"
	namespacePair(t, ns, map[string]string{"failover-webhook.io/enforcement": "off"})
	violating := unprotectedSpec(1, 1)
	ctx := t.Context()
	stored := map[*controlplane.Cluster]client.Object{}
	for _, c := range []*controlplane.Cluster{webhook, native} {
		obj := destinationRule("v1beta1", ns, "old", violating)
		if err := c.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		stored[c] = obj
		n := &corev1.Namespace{}
		if err := c.Client.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
			t.Fatal(err)
		}
		n.Labels["failover-webhook.io/enforcement"] = "enforce"
		if err := c.Client.Update(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*controlplane.Cluster{webhook, native} {
		// Both read namespaces from an informer: wait until a new violating rule is denied.
		deadline := time.Now().Add(30 * time.Second)
		for c.Client.Create(ctx, destinationRule("v1beta1", ns, "probe", violating), client.DryRunAll) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s: namespace %s is not enforced after 30s", c.Name, ns)
			}
			time.Sleep(200 * time.Millisecond)
		}
		metadataOnly := stored[c].DeepCopyObject().(client.Object)
		metadataOnly.SetLabels(map[string]string{"touched": "yes"})
		if err := c.Client.Update(ctx, metadataOnly, client.DryRunAll); err != nil {
			t.Errorf("%s: an update that keeps the spec is denied: %v", c.Name, err)
		}
		specChange := stored[c].DeepCopyObject().(client.Object)
		specChange.(interface{ UnstructuredContent() map[string]any }).UnstructuredContent()["spec"] = unprotectedSpec(2, 1)
		if err := c.Client.Update(ctx, specChange, client.DryRunAll); err == nil {
			t.Errorf("%s: an update that changes the spec of a violating rule is allowed", c.Name)
		}
	}
}
