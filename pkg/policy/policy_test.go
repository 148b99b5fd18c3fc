package policy_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

func destinationRule(t *testing.T, namespace, spec string) *networkingv1.DestinationRule {
	t.Helper()
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "dr"}}
	if err := yaml.Unmarshal([]byte(spec), &dr.Spec); err != nil {
		t.Fatal(err)
	}
	return dr
}

// Specs covering each kind of finding.
var specs = map[string]string{
	"no failover":  "host: a\n",
	"the guide's":  "host: a\ntrafficPolicy:\n  outlierDetection: {consecutive5xxErrors: 1}\n  loadBalancer: {localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}}\n",
	"no outlier":   "host: a\ntrafficPolicy:\n  loadBalancer: {localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}}\n",
	"never ejects": "host: a\ntrafficPolicy:\n  outlierDetection: {consecutive5xxErrors: 0}\n  loadBalancer: {localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}}\n",
	"disabled":     "host: a\ntrafficPolicy:\n  loadBalancer: {localityLbSetting: {enabled: false, failoverPriority: [x]}}\n",
	"two violations and a warning": "host: a\ntrafficPolicy:\n  outlierDetection: {consecutive5xxErrors: 0}\n  loadBalancer: {localityLbSetting: {failoverPriority: [x]}}\n" +
		"subsets:\n- name: v1\n  trafficPolicy:\n    portLevelSettings:\n    - port: {number: 80}\n      loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}]}}\n" +
		"- name: v2\n  trafficPolicy:\n    loadBalancer: {zoneAwareLbSetting: {failoverPriority: [x]}}\n    outlierDetection: null\n",
}

// modeLabels are namespaces in every mode, an unknown one included.
var modeLabels = map[string]map[string]string{
	"unlabeled": nil,
	"enforce":   {keys.Enforcement: "enforce"},
	"warn":      {keys.Enforcement: "warn"},
	"audit":     {keys.Enforcement: "audit"},
	"off":       {keys.Enforcement: "off"},
	"unknown":   {keys.Enforcement: "strict"},
}

// TestDestinationRuleFindingsMatchTheVerdict holds the findings to what
// the webhook sends for the same rule in the same namespace: denials,
// warning texts and audit annotation.
func TestDestinationRuleFindingsMatchTheVerdict(t *testing.T) {
	ev := policy.Evaluator{Namespaces: policy.Namespaces{Labels: modeLabels}}
	for specName, spec := range specs {
		for ns, labels := range modeLabels {
			t.Run(specName+" in a namespace "+ns, func(t *testing.T) {
				dr := destinationRule(t, ns, spec)
				out := ev.DestinationRule(dr)
				spec := validate.Spec(dr)
				v := validate.Admit(spec, validate.TargetOf(spec, ns, nil), labels, false)

				var denials, warnings, audits []string
				for _, f := range out.Findings {
					if f.Kind != policy.DestinationRuleKind || f.Namespace != ns || f.Name != "dr" {
						t.Errorf("finding %+v is not about DestinationRule %s/dr", f, ns)
					}
					// As the webhook renders an entry (verdict.Entry.String).
					text := f.Field + ": failover-webhook " + string(f.Rule) + ": " + f.Message
					switch f.Severity {
					case policy.Error:
						denials = append(denials, text)
					case policy.Warning:
						warnings = append(warnings, text)
					case policy.Audit:
						audits = append(audits, text)
					default:
						t.Errorf("finding %+v has severity %q", f, f.Severity)
					}
				}
				gotDenials := v.Denials()
				if len(gotDenials) != len(denials) {
					t.Errorf("errors %q, want one per denial %q", denials, gotDenials)
				} else {
					for i, d := range gotDenials {
						// The cause kubectl prints: the finding, with
						// "Forbidden:" and the opt-out hint around it.
						field, cause, _ := strings.Cut(denials[i], ": ")
						if d.Field != field || !strings.HasPrefix(d.Detail, cause+" (to warn instead of deny in this namespace") {
							t.Errorf("error %q, want the denial %q", denials[i], d.Error())
						}
					}
				}
				if out.Denied != !v.Allowed() {
					t.Errorf("Denied = %v, want %v", out.Denied, !v.Allowed())
				}
				if want := v.Warnings(); !slices.Equal(warnings, want) {
					t.Errorf("warnings %q, want the admission warnings %q", warnings, want)
				}
				if got, want := strings.Join(audits, "; "), v.AuditAnnotations()[keys.AuditViolations]; got != want {
					t.Errorf("audit findings %q, want the audit annotation %q", got, want)
				}
			})
		}
	}
}

func TestDestinationRuleOutcome(t *testing.T) {
	ev := policy.Evaluator{Namespaces: policy.Namespaces{Labels: modeLabels, Excluded: []string{"kube-system"}}}
	tests := map[string]struct {
		namespace, spec string
		want            []string // "severity field"
		wantDenied      bool
		wantExcluded    bool
	}{
		"a violation in an enforced namespace is an error": {
			namespace: "unlabeled", spec: specs["no outlier"], wantDenied: true,
			want: []string{"error spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
		},
		"a violation in warn mode is a warning": {
			namespace: "warn", spec: specs["no outlier"],
			want: []string{"warning spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
		},
		"a violation in audit mode is an audit finding": {
			namespace: "audit", spec: specs["no outlier"],
			want: []string{"audit spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
		},
		"audit mode drops advisory warnings, as the webhook does": {
			namespace: "audit", spec: specs["never ejects"],
		},
		"off mode reports nothing": {
			namespace: "off", spec: specs["no outlier"],
		},
		"an unknown mode enforces, with a warning on the namespace": {
			namespace: "unknown", spec: specs["no outlier"], wantDenied: true,
			want: []string{"error spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority", "warning metadata.namespace"},
		},
		"an excluded namespace is not judged": {
			namespace: "kube-system", spec: specs["no outlier"], wantExcluded: true,
		},
		"advisory warnings in enforce mode": {
			namespace: "enforce", spec: specs["never ejects"],
			want: []string{"warning spec.trafficPolicy.outlierDetection"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := ev.DestinationRule(destinationRule(t, tc.namespace, tc.spec))
			var got []string
			for _, f := range out.Findings {
				got = append(got, string(f.Severity)+" "+f.Field)
			}
			if !slices.Equal(got, tc.want) || out.Denied != tc.wantDenied || out.Excluded != tc.wantExcluded {
				t.Errorf("findings %q denied=%v excluded=%v, want %q denied=%v excluded=%v", got, out.Denied, out.Excluded, tc.want, tc.wantDenied, tc.wantExcluded)
			}
		})
	}
}

func service(namespace string, labels, annotations map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "svc", Labels: labels, Annotations: annotations}}
}

func TestServiceOutcome(t *testing.T) {
	labels := maps.Clone(modeLabels)
	labels["team"] = map[string]string{keys.UseWaypoint: "team-waypoint", keys.UseWaypointNamespace: "mesh"}
	ev := policy.Evaluator{Namespaces: policy.Namespaces{Labels: labels, Excluded: []string{"kube-system"}}, DefaultWaypoint: "waypoint"}
	optIn := map[string]string{keys.Trigger: keys.TriggerValue}
	tests := map[string]struct {
		svc          *corev1.Service
		want         []string // "severity field: message"
		wantMutated  bool
		wantExcluded bool
	}{
		"an opted-in Service would get both labels and the record": {
			svc: service("unlabeled", optIn, nil), wantMutated: true,
			want: []string{
				"mutation metadata.labels: would set istio.io/global=true, istio.io/use-waypoint=waypoint",
				"mutation metadata.annotations: would set failover-webhook.io/managed-labels=istio.io/global,istio.io/use-waypoint",
			},
		},
		"a Service with the labels already is clean": {
			svc: service("enforce", map[string]string{keys.Trigger: keys.TriggerValue, keys.Global: "true", keys.UseWaypoint: "waypoint"},
				map[string]string{keys.ManagedLabels: "istio.io/global,istio.io/use-waypoint"}),
		},
		"a changed value says what it was, and warns": {
			svc: service("warn", map[string]string{keys.Trigger: keys.TriggerValue, keys.Global: "yes", keys.UseWaypoint: "mine"}, nil), wantMutated: true,
			want: []string{
				`mutation metadata.labels: would set istio.io/global=true (was "yes")`,
				"mutation metadata.annotations: would set failover-webhook.io/managed-labels=istio.io/global",
				`warning metadata.labels: label istio.io/global="yes" changed to "true": Istio shares a Service's endpoints across clusters only when the value is exactly "true"`,
			},
		},
		"the namespace's waypoint is copied": {
			svc: service("team", optIn, nil), wantMutated: true,
			want: []string{
				"mutation metadata.labels: would set istio.io/global=true, istio.io/use-waypoint=team-waypoint, istio.io/use-waypoint-namespace=mesh",
				"mutation metadata.annotations: would set failover-webhook.io/managed-labels=istio.io/global,istio.io/use-waypoint,istio.io/use-waypoint-namespace",
			},
		},
		"a Service that opted out would lose the labels the webhook set": {
			svc: service("enforce", map[string]string{keys.Global: "true", keys.UseWaypoint: "waypoint", "app": "a"},
				map[string]string{keys.ManagedLabels: "istio.io/global,istio.io/use-waypoint"}), wantMutated: true,
			want: []string{
				"mutation metadata.labels: would remove istio.io/global, istio.io/use-waypoint",
				"mutation metadata.annotations: would remove failover-webhook.io/managed-labels",
			},
		},
		"off mode leaves it alone": {
			svc: service("off", optIn, nil),
		},
		"an unknown mode mutates, with a warning on the namespace": {
			svc: service("unknown", optIn, nil), wantMutated: true,
			want: []string{
				"mutation metadata.labels: would set istio.io/global=true, istio.io/use-waypoint=waypoint",
				"mutation metadata.annotations: would set failover-webhook.io/managed-labels=istio.io/global,istio.io/use-waypoint",
				`warning metadata.namespace: namespace label failover-webhook.io/enforcement="strict" is not a known mode (enforce, warn, audit, off); enforcing`,
			},
		},
		"an excluded namespace is not judged": {
			svc: service("kube-system", optIn, nil), wantExcluded: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := ev.Service(tc.svc)
			var got []string
			for _, f := range out.Findings {
				got = append(got, string(f.Severity)+" "+f.Field+": "+f.Message)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if (out.Mutated != nil) != tc.wantMutated || out.Excluded != tc.wantExcluded || out.Denied {
				t.Errorf("mutated=%v excluded=%v denied=%v, want mutated=%v excluded=%v and never denied", out.Mutated != nil, out.Excluded, out.Denied, tc.wantMutated, tc.wantExcluded)
			}
			if tc.wantExcluded {
				return
			}
			// The same answer as the mutating webhook's.
			adm := mutate.Admit(mutate.Input{Service: tc.svc, NamespaceLabels: labels[tc.svc.Namespace], DefaultWaypoint: "waypoint"})
			if adm.Changed != (out.Mutated != nil) || (out.Mutated != nil && (!maps.Equal(out.Mutated.Labels, adm.Service.Labels) || !maps.Equal(out.Mutated.Annotations, adm.Service.Annotations))) {
				t.Errorf("mutated Service %v, want mutate.Admit's %v", out.Mutated, adm.Service)
			}
		})
	}
}

func TestNamespacesLabelsOf(t *testing.T) {
	n := policy.Namespaces{
		Labels: map[string]map[string]string{
			"labeled":   {keys.Enforcement: "warn", "team": "a"},
			"unlabeled": {"team": "b"},
		},
		Modes:       map[string]mode.Mode{"overridden": mode.Audit, "labeled": mode.Off},
		DefaultMode: mode.Warn,
	}
	tests := map[string]map[string]string{
		"labeled":    {keys.Enforcement: "off", "team": "a"},
		"unlabeled":  {keys.Enforcement: "warn", "team": "b"},
		"overridden": {keys.Enforcement: "audit"},
		"unknown":    {keys.Enforcement: "warn"},
	}
	for ns, want := range tests {
		if got := n.LabelsOf(ns); !maps.Equal(got, want) {
			t.Errorf("LabelsOf(%q) = %v, want %v", ns, got, want)
		}
	}
	if n.Labels["labeled"][keys.Enforcement] != "warn" {
		t.Error("LabelsOf changed the namespace's own labels")
	}
	if got := (policy.Namespaces{}).LabelsOf("any"); got != nil {
		t.Errorf("without a default mode an unknown namespace has labels %v, want none (enforce)", got)
	}
}

func TestMarkFixed(t *testing.T) {
	f := policy.MarkFixed(policy.Finding{Severity: policy.Mutation, Message: "would set istio.io/global=true"})
	if !f.Fixed || f.Message != "set istio.io/global=true" {
		t.Errorf("MarkFixed = %+v, want Fixed and the message in the past", f)
	}
}
