package merged_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/merged"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rule(ns, name string, age int, spec *networking.DestinationRule) consolidate.Rule {
	return consolidate.Rule{Namespace: ns, Name: name, Created: t0.Add(time.Duration(age) * time.Second), Spec: spec}
}

func failoverLB() *networking.LoadBalancerSettings {
	return &networking.LoadBalancerSettings{LocalityLbSetting: &networking.LocalityLoadBalancerSetting{
		FailoverPriority: []string{"topology.istio.io/network"},
	}}
}

func outlier() *networking.OutlierDetection {
	return &networking.OutlierDetection{
		Consecutive_5XxErrors: wrapperspb.UInt32(1), Interval: durationpb.New(time.Second), BaseEjectionTime: durationpb.New(time.Minute),
	}
}

func poolOnly() *networking.TrafficPolicy {
	return &networking.TrafficPolicy{ConnectionPool: &networking.ConnectionPoolSettings{
		Tcp: &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: 10},
	}}
}

// service is the helloworld Service of namespace sample, with labels.
func service(labels map[string]string) func(types.NamespacedName) *corev1.Service {
	return func(key types.NamespacedName) *corev1.Service {
		if key != (types.NamespacedName{Namespace: "sample", Name: "helloworld"}) {
			return nil
		}
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: labels},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}},
		}
	}
}

// render gives a finding as "severity rule ns/name field".
func render(fs []policy.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s %s %s/%s %s", f.Severity, f.Rule, f.Namespace, f.Name, f.Field)
	}
	return out
}

func TestJudge(t *testing.T) {
	const host = "helloworld"
	tests := map[string]struct {
		rules      []consolidate.Rule
		svcLabels  map[string]string
		nsLabels   map[string]map[string]string
		want       []string
		wantInMsgs []string
	}{
		"an earlier rule's top-level policy silently drops the failover of a later one": {
			rules: []consolidate.Rule{
				rule("sample", "pool", 0, &networking.DestinationRule{Host: host, TrafficPolicy: poolOnly()}),
				rule("sample", "failover", 60, &networking.DestinationRule{Host: host, TrafficPolicy: &networking.TrafficPolicy{
					LoadBalancer: failoverLB(), OutlierDetection: outlier(),
				}}),
			},
			want:       []string{"warning FW112 sample/failover spec.trafficPolicy"},
			wantInMsgs: []string{"sample/pool applies instead", "with the failover policy it declares"},
		},
		"a subset fine alone loses the outlier detection it inherits once merged": {
			rules: []consolidate.Rule{
				rule("sample", "pool", 0, &networking.DestinationRule{Host: host, TrafficPolicy: poolOnly()}),
				rule("sample", "subsets", 60, &networking.DestinationRule{
					Host:          host,
					TrafficPolicy: &networking.TrafficPolicy{OutlierDetection: outlier()},
					Subsets: []*networking.Subset{
						{Name: "v1", Labels: map[string]string{"version": "v1"}},
						{Name: "v2", Labels: map[string]string{"version": "v2"}, TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: failoverLB()}},
					},
				}),
			},
			want: []string{
				"error FW101 sample/subsets spec.subsets[1].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				"warning FW112 sample/subsets spec.trafficPolicy",
			},
			wantInMsgs: []string{"sample/pool, sample/subsets, in this order", "sample/pool's", "spec.subsets[1].trafficPolicy.outlierDetection"},
		},
		"a rule that violates alone is not reported again for the merge": {
			rules: []consolidate.Rule{
				rule("sample", "first", 0, &networking.DestinationRule{Host: host, TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: failoverLB()}}),
				rule("sample", "second", 60, &networking.DestinationRule{Host: host, Subsets: []*networking.Subset{{Name: "v1"}}}),
			},
		},
		"one rule per host: nothing to say": {
			rules: []consolidate.Rule{
				rule("sample", "failover", 0, &networking.DestinationRule{Host: host, TrafficPolicy: &networking.TrafficPolicy{
					LoadBalancer: failoverLB(), OutlierDetection: outlier(),
				}}),
			},
		},
		"a rule in the waypoint's namespace takes precedence over the Service's": {
			svcLabels: map[string]string{keys.UseWaypoint: "waypoint", keys.UseWaypointNamespace: "mesh"},
			rules: []consolidate.Rule{
				rule("mesh", "near", 60, &networking.DestinationRule{Host: "helloworld.sample.svc.cluster.local", TrafficPolicy: poolOnly()}),
				rule("sample", "failover", 0, &networking.DestinationRule{Host: host, TrafficPolicy: &networking.TrafficPolicy{
					LoadBalancer: failoverLB(), OutlierDetection: outlier(),
				}}),
			},
			want:       []string{"warning FW112 sample/failover spec"},
			wantInMsgs: []string{"a waypoint in namespace mesh ignores the whole rule", "mesh/near applies instead"},
		},
		"in mode warn, the violation after the merge is a warning": {
			nsLabels: map[string]map[string]string{"sample": {keys.Enforcement: "warn"}},
			rules: []consolidate.Rule{
				rule("sample", "pool", 0, &networking.DestinationRule{Host: host, TrafficPolicy: poolOnly()}),
				rule("sample", "subsets", 60, &networking.DestinationRule{
					Host:          host,
					TrafficPolicy: &networking.TrafficPolicy{OutlierDetection: outlier()},
					Subsets:       []*networking.Subset{{Name: "v1", TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: failoverLB()}}},
				}),
			},
			want: []string{
				"warning FW101 sample/subsets spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				"warning FW112 sample/subsets spec.trafficPolicy",
			},
		},
		"a namespace in mode off gets no findings": {
			nsLabels: map[string]map[string]string{"sample": {keys.Enforcement: "off"}},
			rules: []consolidate.Rule{
				rule("sample", "pool", 0, &networking.DestinationRule{Host: host, TrafficPolicy: poolOnly()}),
				rule("sample", "failover", 60, &networking.DestinationRule{Host: host, TrafficPolicy: &networking.TrafficPolicy{
					LoadBalancer: failoverLB(), OutlierDetection: outlier(),
				}}),
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := merged.Judge(merged.Input{
				Rules:      tt.rules,
				Service:    service(tt.svcLabels),
				Namespaces: policy.Namespaces{Labels: tt.nsLabels},
			})
			if g, w := strings.Join(render(got), "\n"), strings.Join(tt.want, "\n"); g != w {
				t.Fatalf("findings:\n%s\nwant:\n%s\n%+v", g, w, got)
			}
			var msgs strings.Builder
			for _, f := range got {
				msgs.WriteString(f.Message + "\n")
			}
			for _, s := range tt.wantInMsgs {
				if !strings.Contains(msgs.String(), s) {
					t.Errorf("no message contains %q:\n%s", s, msgs.String())
				}
			}
		})
	}
}

// TestJudgeTwoViews is the decision table of a pair of rules for one host
// where one has a workloadSelector of the waypoint's pods: the waypoint
// builds its clusters, and their outlier detection, from the plain rule
// (buildWaypointInboundVIP) and takes its endpoints' failover priorities
// from the selector rule (NewEndpointBuilder).
func TestJudgeTwoViews(t *testing.T) {
	const host = "helloworld"
	byController := map[string]string{keys.GatewayManaged: keys.ManagedByWaypointController}
	byName := func(name string) map[string]string { return map[string]string{keys.GatewayName: name} }
	selectorRule := func(sel map[string]string, tp *networking.TrafficPolicy, subsets ...*networking.Subset) consolidate.Rule {
		return rule("sample", "selected", 0, &networking.DestinationRule{
			Host: host, TrafficPolicy: tp, Subsets: subsets,
			WorkloadSelector: &typev1beta1.WorkloadSelector{MatchLabels: sel},
		})
	}
	plainRule := func(tp *networking.TrafficPolicy, subsets ...*networking.Subset) consolidate.Rule {
		return rule("sample", "plain", 60, &networking.DestinationRule{Host: host, TrafficPolicy: tp, Subsets: subsets})
	}
	failoverOnly := &networking.TrafficPolicy{LoadBalancer: failoverLB()}
	failoverAndOutlier := &networking.TrafficPolicy{LoadBalancer: failoverLB(), OutlierDetection: outlier()}
	outlierOnly := &networking.TrafficPolicy{OutlierDetection: outlier()}
	tests := map[string]struct {
		rules []consolidate.Rule
		// selected: the endpoints read the selector rule; violates: the
		// two views leave a cluster with priorities but no outlier
		// detection; ownViolation: the selector rule alone violates, as
		// at admission.
		selected, violates, ownViolation bool
		want                             []string
		wantInMsgs                       []string
	}{
		"failover in the selector rule, outlier detection in the plain rule: protected": {
			rules:        []consolidate.Rule{selectorRule(byController, failoverOnly), plainRule(outlierOnly)},
			selected:     true,
			ownViolation: true,
		},
		"failover in a subset of the selector rule, the plain rule's subset of that name without outlier detection": {
			rules: []consolidate.Rule{
				selectorRule(byController, nil, &networking.Subset{Name: "v1", TrafficPolicy: failoverAndOutlier}),
				plainRule(poolOnly(), &networking.Subset{Name: "v1"}),
			},
			selected: true, violates: true,
			want:       []string{"error FW101 sample/selected spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			wantInMsgs: []string{"takes its endpoints' failover priorities from sample/selected", "builds its clusters, and their outlier detection, from sample/plain", `subset "v1"`},
		},
		"the reverse: outlier detection in the selector rule, failover in the plain rule: the failover never reaches the endpoints": {
			rules:    []consolidate.Rule{selectorRule(byController, outlierOnly), plainRule(failoverAndOutlier)},
			selected: true,
			want:     []string{"warning FW112 sample/plain spec.trafficPolicy.loadBalancer"},
			wantInMsgs: []string{
				"takes its endpoints' load balancing, and so their failover priorities, from sample/selected",
			},
		},
		"the reverse without outlier detection in the plain rule: the clusters have none, but no endpoint gets priorities": {
			rules:    []consolidate.Rule{selectorRule(byController, outlierOnly), plainRule(failoverOnly)},
			selected: true,
			want:     []string{"warning FW112 sample/plain spec.trafficPolicy.loadBalancer"},
		},
		"both in the selector rule, none in the plain rule: the clusters lack outlier detection": {
			rules:        []consolidate.Rule{selectorRule(byController, failoverAndOutlier), plainRule(poolOnly())},
			selected:     true,
			violates:     true,
			ownViolation: true,
		},
		"neither declares failover": {
			rules:    []consolidate.Rule{selectorRule(byController, poolOnly()), plainRule(outlierOnly)},
			selected: true,
		},
		"a selector of the waypoint's Gateway name selects its pods": {
			rules: []consolidate.Rule{
				selectorRule(byName("waypoint"), nil, &networking.Subset{Name: "v1", TrafficPolicy: failoverAndOutlier}),
				plainRule(poolOnly(), &networking.Subset{Name: "v1"}),
			},
			selected: true, violates: true,
			want: []string{"error FW101 sample/selected spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
		},
		"a selector of another Gateway's name does not: the waypoint ignores the rule": {
			rules: []consolidate.Rule{
				selectorRule(byName("ingress"), nil, &networking.Subset{Name: "v1", TrafficPolicy: failoverAndOutlier}),
				plainRule(poolOnly(), &networking.Subset{Name: "v1"}),
			},
			want:       []string{"warning FW112 sample/selected spec"},
			wantInMsgs: []string{"ignores the whole rule"},
		},
	}
	svcLabels := map[string]string{keys.UseWaypoint: "waypoint"}
	key := types.NamespacedName{Namespace: "sample", Name: host}
	waypoint := types.NamespacedName{Namespace: "sample", Name: "waypoint"}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			svc := service(svcLabels)(key)
			res := consolidate.ForWaypointPods("sample", consolidate.WaypointPodLabels("waypoint"), "sample", "helloworld.sample.svc.cluster.local", tt.rules)
			if res.Endpoints.Selected != tt.selected {
				t.Fatalf("endpoints read a selector rule: %v, want %v (%v)", res.Endpoints.Selected, tt.selected, res.Endpoints.From)
			}
			target := validate.Target{Namespace: "sample", Service: svc, ServiceKey: key, Waypoint: waypoint}
			if tt.selected {
				v := validate.EvaluateWaypoint(res.Spec, res.Endpoints.Spec, field.NewPath("spec"), target).Violations
				if got := len(v) > 0; got != tt.violates {
					t.Errorf("two views violate: %v, want %v: %v", got, tt.violates, v)
				}
			}
			sel := tt.rules[0]
			own := validate.EvaluateFor(sel.Spec, field.NewPath("spec"), validate.TargetOf(sel.Spec, sel.Namespace, service(svcLabels))).Violations
			if got := len(own) > 0; got != tt.ownViolation {
				t.Errorf("the selector rule alone violates: %v, want %v: %v", got, tt.ownViolation, own)
			}
			got := merged.Judge(merged.Input{Rules: tt.rules, Service: service(svcLabels)})
			if g, w := strings.Join(render(got), "\n"), strings.Join(tt.want, "\n"); g != w {
				t.Fatalf("findings:\n%s\nwant:\n%s\n%+v", g, w, got)
			}
			var msgs strings.Builder
			for _, f := range got {
				msgs.WriteString(f.Message + "\n")
			}
			for _, s := range tt.wantInMsgs {
				if !strings.Contains(msgs.String(), s) {
					t.Errorf("no message contains %q:\n%s", s, msgs.String())
				}
			}
		})
	}
}
