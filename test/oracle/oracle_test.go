package oracle

import (
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// webhookVerdict is the webhook's verdict on a case: whether it denies the
// rule, and its messages for the report of a disagreement. The rule is
// judged as the webhook judges it in namespace default, where the
// Kubernetes Service its host names has the case's ports.
func webhookVerdict(t *testing.T, c istioCase) (bool, string) {
	t.Helper()
	var dr networkingv1.DestinationRule
	if err := yaml.Unmarshal([]byte(c.rules[0]), &dr); err != nil {
		t.Fatalf("decoding %q: %v", c.rules[0], err)
	}
	svc := kubernetesService(c.ports)
	lookup := func(key types.NamespacedName) *corev1.Service {
		if key.Namespace == svc.Namespace && key.Name == svc.Name {
			return svc
		}
		return nil
	}
	f := validate.EvaluateFor(&dr.Spec, field.NewPath("spec"), validate.TargetOf(&dr.Spec, "default", lookup))
	if len(f.Violations) == 0 {
		return false, "no violation"
	}
	var msgs []string
	for _, v := range f.Violations {
		msgs = append(msgs, v.String())
	}
	return true, strings.Join(msgs, "; ")
}

// kubernetesService is the host as the webhook reads it: the Kubernetes
// Service app in namespace default with the case's ports, whose names
// give Istio the protocols serviceYAML declares.
func kubernetesService(ports []servicePort) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.name, Port: p.port})
	}
	return svc
}

// TestWebhookAgreesWithIstio judges every rule of the corpus twice: by the
// webhook, and by what Istio's generator gives a waypoint.
func TestWebhookAgreesWithIstio(t *testing.T) {
	table, err := decisionTableCases()
	if err != nil {
		t.Fatal(err)
	}
	corpus := append(table, generateCorpus(generatedCases)...)
	disagreements := 0
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("Service ports %v, rules:\n%s", c.ports, strings.Join(c.rules, "---\n"))
				}
			})
			istio := askIstio(t, c.istioCase)
			denied, msg := webhookVerdict(t, c.istioCase)
			if denied != istio.violates() {
				disagreements++
				t.Errorf("webhook denies: %v (%s); Istio's waypoint clusters without outlier detection whose endpoints get failover priorities: %v (of %d)",
					denied, msg, istio.unprotected, istio.clusters)
			}
		})
	}
	t.Logf("corpus: %d cases (%d from the decision tables, %d generated), %d disagreements", len(corpus), len(table), len(corpus)-len(table), disagreements)
}
