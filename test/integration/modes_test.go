package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// TestNamespaceModes covers the modes a namespace picks with
// failover-webhook.io/enforcement, for both webhooks.
func TestNamespaceModes(t *testing.T) {
	controlplane.SkipIfShort(t)
	tests := map[string]struct {
		namespaceLabels map[string]string
		wantDenied      bool
		// wantWarnings are phrases the DestinationRule's warnings hold;
		// nil means none.
		wantWarnings []string
		// wantAudited means the violation is in the API server's audit log.
		wantAudited        bool
		wantMutated        bool
		wantServiceWarning []string
	}{
		"a namespace without the mode label is enforced": {
			wantDenied:  true,
			wantMutated: true,
		},
		"enforce denies a violating DestinationRule and mutates Services": {
			namespaceLabels: map[string]string{enforcement: "enforce"},
			wantDenied:      true,
			wantMutated:     true,
		},
		"warn admits a violating DestinationRule with the violation as a warning": {
			namespaceLabels: map[string]string{enforcement: "warn"},
			wantWarnings:    []string{topLevelFailoverPriority + ": failover-webhook FW101: locality failover needs outlierDetection"},
			wantMutated:     true,
		},
		"audit admits a violating DestinationRule without a warning and records the violation in the audit log": {
			namespaceLabels: map[string]string{enforcement: "audit"},
			wantAudited:     true,
			wantMutated:     true,
		},
		"off admits a violating DestinationRule silently and leaves Services alone": {
			namespaceLabels: map[string]string{enforcement: "off"},
		},
		"an unknown mode is enforced, with a warning naming it": {
			namespaceLabels:    map[string]string{enforcement: "strict"},
			wantDenied:         true,
			wantWarnings:       []string{`failover-webhook.io/enforcement="strict" is not a known mode`},
			wantMutated:        true,
			wantServiceWarning: []string{`failover-webhook.io/enforcement="strict" is not a known mode`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, tc.namespaceLabels)

			ctx, warnings := withWarnings(t)
			dr := newDestinationRule(t, "v1", ns, "helloworld", noOutlierSpec)
			err := cluster.Client.Create(ctx, dr)
			if tc.wantDenied {
				assertDenied(t, err, topLevelFailoverPriority)
			} else if err != nil {
				t.Errorf("want the DestinationRule admitted: %v", err)
			}
			assertWarnings(t, warnings.List(), tc.wantWarnings...)
			if tc.wantAudited {
				eventually(t, "the audit log records the violation", func() error {
					return auditedViolation(ns, topLevelFailoverPriority)
				})
			}

			ctx, warnings = withWarnings(t)
			svc := newService(ns, "helloworld", map[string]string{trigger: "cluster"})
			if err := cluster.Client.Create(ctx, svc); err != nil {
				t.Fatalf("creating the Service: %v", err)
			}
			want := map[string]string{trigger: "cluster"}
			if tc.wantMutated {
				want = map[string]string{trigger: "cluster", global: "true", useWaypoint: defaultWaypoint}
			}
			assertLabels(t, "the Service", svc.Labels, want)
			assertWarnings(t, warnings.List(), tc.wantServiceWarning...)
		})
	}
}

// auditEvent is the part of an audit.k8s.io/v1 Event the tests read.
type auditEvent struct {
	Verb      string `json:"verb"`
	Stage     string `json:"stage"`
	ObjectRef struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
	} `json:"objectRef"`
	Annotations map[string]string `json:"annotations"`
}

// auditedViolation returns nil when the audit log has a DestinationRule
// CREATE in namespace whose validating-webhook violations annotation
// contains phrase.
func auditedViolation(namespace, phrase string) error {
	f, err := os.Open(cluster.AuditLogPath)
	if err != nil {
		return err
	}
	defer f.Close()
	key := validatingWebhook + "/violations"
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var e auditEvent
		if json.Unmarshal(s.Bytes(), &e) != nil || e.ObjectRef.Namespace != namespace || e.ObjectRef.Resource != "destinationrules" || e.Verb != "create" {
			continue
		}
		if strings.Contains(e.Annotations[key], phrase) {
			return nil
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	return fmt.Errorf("no create of a DestinationRule in namespace %s has the audit annotation %s containing %q", namespace, key, phrase)
}

// TestRatcheting shows objects admitted under a lenient mode are not stuck
// once their namespace is enforced: an update that leaves the spec alone is
// admitted with the violation as a warning, one that changes the spec is
// judged like a create, and DELETE is never intercepted.
func TestRatcheting(t *testing.T) {
	controlplane.SkipIfShort(t)
	ns := newNamespace(t, map[string]string{enforcement: "warn"})
	ctx, warnings := withWarnings(t)
	dr := newDestinationRule(t, "v1", ns, "helloworld", noOutlierSpec).(*networkingv1.DestinationRule)
	legacy := newDestinationRule(t, "v1", ns, "legacy", noOutlierSpec)
	for _, obj := range []client.Object{dr, legacy} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatalf("creating DestinationRule %s in warn mode: %v", obj.GetName(), err)
		}
	}
	assertWarnings(t, warnings.List(), topLevelFailoverPriority)

	namespace := &corev1.Namespace{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
		t.Fatal(err)
	}
	namespace.Labels[enforcement] = "enforce"
	if err := cluster.Client.Update(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the webhook enforces the namespace", func() error {
		probe := newDestinationRule(t, "v1", ns, "probe", noOutlierSpec)
		if err := cluster.Client.Create(ctx, probe, client.DryRunAll); err == nil {
			return fmt.Errorf("a violating DestinationRule is still admitted")
		}
		return nil
	})

	t.Run("an update that only changes labels is admitted with the violation as a warning", func(t *testing.T) {
		ctx, warnings := withWarnings(t)
		dr.Labels = map[string]string{"team": "payments"}
		if err := cluster.Client.Update(ctx, dr); err != nil {
			t.Fatalf("want the label update admitted: %v", err)
		}
		assertWarnings(t, warnings.List(), topLevelFailoverPriority, "(allowed because this update does not change the spec)")
	})
	t.Run("an update that changes the spec and still violates is denied", func(t *testing.T) {
		changed := dr.DeepCopy()
		changed.Spec.Host = "helloworld.other.svc.cluster.local"
		assertDenied(t, cluster.Client.Update(t.Context(), changed), topLevelFailoverPriority)
	})
	t.Run("an update that adds outlierDetection is admitted", func(t *testing.T) {
		fixed := newDestinationRule(t, "v1", ns, "helloworld", guideSpec)
		fixed.SetResourceVersion(dr.ResourceVersion)
		if err := cluster.Client.Update(t.Context(), fixed); err != nil {
			t.Fatalf("want the fix admitted: %v", err)
		}
	})
	t.Run("a violating DestinationRule can be deleted", func(t *testing.T) {
		if err := cluster.Client.Delete(t.Context(), legacy); err != nil {
			t.Fatalf("want the delete admitted: %v", err)
		}
		assertNotFound(t, legacy)
	})
}

// TestExcludedNamespaces shows the webhooks never see kube-system or the
// webhook's own namespace, whatever they hold.
func TestExcludedNamespaces(t *testing.T) {
	controlplane.SkipIfShort(t)
	for _, ns := range []string{"kube-system", "failover-webhook-system"} {
		t.Run("a violating DestinationRule and an opted-in Service in "+ns+" are admitted unchanged", func(t *testing.T) {
			err := cluster.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			ctx, warnings := withWarnings(t)

			dr := newDestinationRule(t, "v1", ns, "", noOutlierSpec)
			dr.SetGenerateName("excluded-")
			if err := cluster.Client.Create(ctx, dr); err != nil {
				t.Errorf("want the DestinationRule admitted: %v", err)
			} else {
				t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), dr) })
			}

			svc := newService(ns, "", map[string]string{trigger: "cluster"})
			svc.GenerateName = "excluded-"
			if err := cluster.Client.Create(ctx, svc); err != nil {
				t.Fatalf("creating the Service: %v", err)
			}
			t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), svc) })
			assertLabels(t, "the Service", svc.Labels, map[string]string{trigger: "cluster"})
			assertManagedLabels(t, "the Service", svc, "")
			assertWarnings(t, warnings.List())
		})
	}
}
