package oracle

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// webhookVerdict is the webhook's verdict on a case: whether it denies the
// rule, and its messages for the report of a disagreement. The rule is
// judged as the webhook judges it in namespace default, where the
// Kubernetes Service its host names has the case's ports.
func webhookVerdict(t *testing.T, c istioCase) (bool, string) {
	t.Helper()
	svc := kubernetesService(c.ports)
	lookup := func(key types.NamespacedName) *corev1.Service {
		if key.Namespace == svc.Namespace && key.Name == svc.Name {
			return svc
		}
		return nil
	}
	rules := decodeRules(t, c.rules)
	if len(rules) == 1 {
		// One rule: judged as it is admitted.
		spec := rules[0].Spec
		return verdictOf(validate.EvaluateFor(spec, field.NewPath("spec"), validate.TargetOf(spec, "default", lookup)), "the rule")
	}
	// Several rules: judged as pkg/consolidate merges them for the world's
	// waypoint (default/waypoint, whose pods carry the labels Istio gives
	// a waypoint's), in the two views a waypoint reads when a selector
	// rule selects its pods.
	res := consolidate.ForWaypointPods("default", consolidate.WaypointPodLabels("waypoint"), "default", appHost, rules)
	target := validate.Target{Namespace: "default", Service: svc, ServiceKey: types.NamespacedName{Namespace: "default", Name: "app"}, Waypoint: types.NamespacedName{Namespace: "default", Name: "waypoint"}}
	if res.Endpoints.Selected {
		judged := fmt.Sprintf("clusters from the merge of %v, endpoints from the merge of %v", res.From, res.Endpoints.From)
		return verdictOf(validate.EvaluateWaypoint(res.Spec, res.Endpoints.Spec, field.NewPath("spec"), target), judged)
	}
	judged := fmt.Sprintf("the merge of %v", res.From)
	if res.Spec == nil {
		return false, "no rule applies to the waypoint (" + judged + ")"
	}
	return verdictOf(validate.EvaluateFor(res.Spec, field.NewPath("spec"), target), judged)
}

// verdictOf is whether findings deny, with their messages.
func verdictOf(f validate.Findings, judged string) (bool, string) {
	if len(f.Violations) == 0 {
		return false, "no violation of " + judged
	}
	var msgs []string
	for _, v := range f.Violations {
		msgs = append(msgs, v.String())
	}
	return true, judged + ": " + strings.Join(msgs, "; ")
}

// decodeRules decodes the rules of a case.
func decodeRules(t *testing.T, rules []string) []consolidate.Rule {
	t.Helper()
	var all []consolidate.Rule
	for _, r := range rules {
		var dr networkingv1.DestinationRule
		if err := yaml.Unmarshal([]byte(r), &dr); err != nil {
			t.Fatalf("decoding %q: %v", r, err)
		}
		all = append(all, consolidate.Rule{Namespace: dr.Namespace, Name: dr.Name, Created: dr.CreationTimestamp.Time, Spec: &dr.Spec})
	}
	return all
}

// kubernetesService is the host as the webhook reads it: the Kubernetes
// Service app in namespace default with the case's ports, whose names
// give Istio the protocols serviceYAML declares, bound to the world's
// waypoint.
func kubernetesService(ports []servicePort) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default", Labels: map[string]string{
		// As the world's ServiceEntry: the Service uses waypoint
		// default/waypoint, which the webhook reads from this label.
		"istio.io/use-waypoint": "waypoint",
	}}}
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
	validateTables, err := validateTableCases()
	if err != nil {
		t.Fatal(err)
	}
	generated, pairs := generateCorpus(generatedCases), generatePairs(generatedPairs)
	corpus := slices.Concat(table, validateTables, generated, pairs)
	var refused, selectorPairs, gatewayByName atomic.Int32
	disagreements := 0
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("Service ports %v, rules:\n%s", c.ports, strings.Join(c.rules, "---\n"))
				}
			})
			if err := istioRefuses(c.rules); err != nil {
				// Istio's validation rejects the rule (a row about a
				// field combination Istio refuses): no waypoint gets it.
				refused.Add(1)
				t.Skipf("Istio refuses the rule: %v", err)
			}
			if len(c.rules) > 1 && selectsWaypointPods(t, c.rules) {
				selectorPairs.Add(1)
			}
			if selectsGatewayByNameOnly(t, c.rules) {
				gatewayByName.Add(1)
			}
			istio := askIstio(t, c.istioCase)
			denied, msg := webhookVerdict(t, c.istioCase)
			if denied != istio.violates() {
				disagreements++
				t.Errorf("webhook denies: %v (%s); Istio's waypoint clusters without outlier detection whose endpoints get failover priorities: %v (of %d)",
					denied, msg, istio.unprotected, istio.clusters)
			}
		})
	}
	t.Logf("corpus: %d cases (%d of the agreement corpus, %d of pkg/validate's decision tables of which Istio refuses %d, %d generated rules, %d generated pairs), %d disagreements; among them %d pairs with a rule selecting the waypoint's pods (judged in two views) and %d cases with a rule selecting the waypoint's Gateway by name only",
		len(corpus), len(table), len(validateTables), refused.Load(), len(generated), len(pairs), disagreements, selectorPairs.Load(), gatewayByName.Load())
}

// selectsWaypointPods reports whether one of rules has a workloadSelector
// of the waypoint's pods.
func selectsWaypointPods(t *testing.T, rules []string) bool {
	t.Helper()
	for _, r := range rules {
		var dr networkingv1.DestinationRule
		if err := yaml.Unmarshal([]byte(r), &dr); err != nil {
			t.Fatalf("decoding %q: %v", r, err)
		}
		m := dr.Spec.GetWorkloadSelector().GetMatchLabels()
		if m["gateway.istio.io/managed"] == "istio.io-mesh-controller" || m["gateway.networking.k8s.io/gateway-name"] == "waypoint" {
			return true
		}
	}
	return false
}

// istioRefuses returns the error of Istio's validation of rules, nil when
// it accepts them all.
func istioRefuses(rules []string) error {
	_, _, err := crd.ParseInputs(strings.Join(rules, "\n---\n"))
	return err
}

// selectsGatewayByNameOnly reports whether one of rules selects pods by
// nothing but a Gateway's name, which is the world's waypoint's.
func selectsGatewayByNameOnly(t *testing.T, rules []string) bool {
	t.Helper()
	for _, r := range rules {
		var dr networkingv1.DestinationRule
		if err := yaml.Unmarshal([]byte(r), &dr); err != nil {
			t.Fatalf("decoding %q: %v", r, err)
		}
		m := dr.Spec.GetWorkloadSelector().GetMatchLabels()
		if _, ok := m["gateway.networking.k8s.io/gateway-name"]; ok && len(m) == 1 {
			return true
		}
	}
	return false
}
