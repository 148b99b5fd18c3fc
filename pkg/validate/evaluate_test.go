package validate

import (
	"slices"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// parseSpec decodes a DestinationRule spec written as YAML the way the
// webhook decodes it: through Istio's jsonpb unmarshaler.
func parseSpec(t testing.TB, src string) *networking.DestinationRule {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(src))
	if err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	spec := &networking.DestinationRule{}
	if err := spec.UnmarshalJSON(js); err != nil {
		t.Fatalf("bad test spec: %v", err)
	}
	return spec
}

const guideSpec = `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection:
    consecutive5xxErrors: 1
    interval: 1s
    baseEjectionTime: 1m
  loadBalancer:
    simple: ROUND_ROBIN
    localityLbSetting:
      enabled: true
      failoverPriority:
      - topology.istio.io/cluster
`

// violation is what a test expects of one violation: its field, scopes the
// message must name, and scopes it must not.
type violation struct {
	field    string
	scopes   []string
	notNamed []string
	contains []string
}

func TestEvaluate(t *testing.T) {
	tests := map[string]struct {
		spec       string
		violations []violation
		warnings   []string // fields warned about, in order
	}{
		"the guide's rule with outlier detection next to failoverPriority is allowed": {
			spec: guideSpec,
		},
		"a rule without any failover setting needs no outlier detection": {
			spec: `
host: a
trafficPolicy:
  loadBalancer: {simple: LEAST_REQUEST}
`,
		},
		"an empty failoverPriority list is no failover": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: []}
`,
		},
		"top-level failoverPriority without outlier detection is denied at its field": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      failoverPriority: [topology.istio.io/cluster]
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{"traffic without a subset"},
				contains: []string{"add outlierDetection next to it (spec.trafficPolicy.outlierDetection)", ExampleOutlierDetection},
			}},
		},
		"top-level failover regions without outlier detection are denied at their field": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      failover: [{from: us-east, to: us-west}]
`,
			violations: []violation{{field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failover"}},
		},
		"failover and failoverPriority together give one violation each": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      failover: [{from: us-east, to: us-west}]
      failoverPriority: [topology.istio.io/network]
`,
			violations: []violation{
				{field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failover"},
				{field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			},
		},
		"enabled true is still failover": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {enabled: true, failoverPriority: [topology.istio.io/cluster]}
`,
			violations: []violation{{field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"}},
		},
		"enabled false turns failover off: allowed, with a warning that it has no effect": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {enabled: false, failoverPriority: [topology.istio.io/cluster]}
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.enabled"},
		},
		"an empty outlierDetection counts as present (Envoy's defaults eject after 5 errors)": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"outlier detection that can never eject is allowed with a warning": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 0}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			warnings: []string{"spec.trafficPolicy.outlierDetection"},
		},
		"consecutive5xxErrors 0 with gateway errors set can eject: no warning": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 3}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"consecutive5xxErrors 0 with split local-origin errors can eject: no warning": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 0, splitExternalLocalOriginErrors: true}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"zero gateway errors with consecutive5xxErrors unset keeps Envoy's default of 5: no warning": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutiveGatewayErrors: 0}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"a subset setting only loadBalancer with failover inherits the top-level outlier detection": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"a subset's failover with no outlier detection anywhere is denied naming the subset": {
			spec: `
host: a
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			violations: []violation{{
				field:    "spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{`subset "v1"`},
				notNamed: []string{"traffic without a subset"},
				contains: []string{"(spec.subsets[0].trafficPolicy.outlierDetection)"},
			}},
		},
		"top-level failover is protected in a subset that sets its own outlier detection, and nowhere else": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 2}
- name: v2
  labels: {version: v2}
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{"traffic without a subset", `subset "v2"`},
				notNamed: []string{`subset "v1"`},
			}},
		},
		"a subset overriding loadBalancer without failover removes it for that subset only": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{"traffic without a subset"},
				notNamed: []string{`subset "v1"`},
			}},
		},
		"one violation per declaring field names every affected scope": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: v1
  labels: {version: v1}
- name: v2
  labels: {version: v2}
`,
			violations: []violation{{
				field:  "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes: []string{"traffic without a subset", `subset "v1"`, `subset "v2"`},
			}},
		},
		"a top-level port entry with failover does not inherit the top-level outlier detection": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  portLevelSettings:
  - port: {number: 5000}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: v1
  labels: {version: v1}
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{"traffic without a subset port 5000", `subset "v1" port 5000`},
				notNamed: []string{"any other port"},
				contains: []string{
					"(port-level settings do not inherit spec.trafficPolicy.outlierDetection)",
					"(spec.trafficPolicy.portLevelSettings[0].outlierDetection)",
				},
			}},
		},
		"a top-level port entry with failover and its own outlier detection is allowed": {
			spec: `
host: a
trafficPolicy:
  portLevelSettings:
  - port: {number: 5000}
    outlierDetection: {consecutive5xxErrors: 1}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"a port entry without loadBalancer drops top-level failover for its port: allowed with a warning": {
			spec: guideSpec + `
  portLevelSettings:
  - port: {number: 9080}
    connectionPool: {tcp: {maxConnections: 10}}
`,
			warnings: []string{"spec.trafficPolicy.portLevelSettings[0]"},
		},
		"a port entry repeating failover and outlier detection keeps failover: no warning": {
			spec: guideSpec + `
  portLevelSettings:
  - port: {number: 9080}
    outlierDetection: {consecutive5xxErrors: 1}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"the design's example: a subset port entry with failover does not inherit the top-level outlier detection": {
			spec: `
host: helloworld
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
subsets:
- name: v1
  labels: {version: v1}
- name: v2
  labels: {version: v2}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 5000}
      loadBalancer:
        localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			violations: []violation{{
				field:    "spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{`subset "v2" port 5000`},
				notNamed: []string{`subset "v1"`, "traffic without a subset", "any other port"},
			}},
		},
		"a subset port entry replaces all four fields, even the ones it leaves unset": {
			spec: guideSpec + `
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 5000}
      connectionPool: {tcp: {maxConnections: 10}}
`,
			warnings: []string{"spec.subsets[0].trafficPolicy.portLevelSettings[0]"},
		},
		"a subset port entry with failover does not inherit the subset's own outlier detection": {
			spec: `
host: a
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1}
    portLevelSettings:
    - port: {number: 5000}
      loadBalancer:
        localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			violations: []violation{{
				field:    "spec.subsets[0].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{`subset "v1" port 5000`},
				contains: []string{"(port-level settings do not inherit spec.subsets[0].trafficPolicy.outlierDetection)"},
			}},
		},
		"a subset's outlier detection protects the top-level port entry's failover for that subset only": {
			spec: `
host: a
trafficPolicy:
  portLevelSettings:
  - port: {number: 5000}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1}
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{"traffic without a subset port 5000"},
				notNamed: []string{`subset "v1"`},
			}},
		},
		"ports named only in one subset are scopes of every subset": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 9080}
      outlierDetection: {consecutive5xxErrors: 1}
      loadBalancer:
        localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
- name: v2
  labels: {version: v2}
`,
			violations: []violation{{
				field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes: []string{
					"traffic without a subset port 9080", "traffic without a subset on any other port",
					`subset "v1" on any other port`, `subset "v2" port 9080`, `subset "v2" on any other port`,
				},
				notNamed: []string{`subset "v1" port 9080`},
			}},
		},
		"only the first port entry for a port applies, as in Istio": {
			spec: `
host: a
trafficPolicy:
  portLevelSettings:
  - port: {number: 5000}
    outlierDetection: {consecutive5xxErrors: 1}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  - port: {number: 5000}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/network]}
`,
		},
		"a port entry without a port number applies to no port": {
			spec: `
host: a
trafficPolicy:
  portLevelSettings:
  - loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
		},
		"zone-aware failoverPriority without outlier detection is allowed with a warning: a waypoint ignores it": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    zoneAwareLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.zoneAwareLbSetting"},
		},
		"zone-aware failover with outlier detection is allowed, still with the warning": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  loadBalancer:
    zoneAwareLbSetting: {failover: [{from: us-east, to: us-west}]}
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.zoneAwareLbSetting"},
		},
		"zone-aware enabled false gets the same warning": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    zoneAwareLbSetting: {enabled: false, failover: [{from: us-east, to: us-west}]}
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.zoneAwareLbSetting"},
		},
		"zone-aware in a subset's port entry is warned at that entry": {
			spec: `
host: a
subsets:
- name: v1
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      loadBalancer:
        zoneAwareLbSetting: {}
`,
			warnings: []string{"spec.subsets[0].trafficPolicy.portLevelSettings[0].loadBalancer.zoneAwareLbSetting"},
		},
		"locality failover beside zone-aware is allowed: zone-aware takes precedence, and both are warned": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
    zoneAwareLbSetting: {}
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.zoneAwareLbSetting", "spec.trafficPolicy.loadBalancer.localityLbSetting"},
		},
		"distribute with failoverPriority is allowed with a warning: distribute wins": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      distribute: [{from: "r1/*", to: {"r1/*": 80, "r2/*": 20}}]
      failoverPriority: [topology.istio.io/cluster]
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.distribute"},
		},
		"failover in a rule with a workloadSelector is warned (and judged as usual)": {
			spec: `
host: a
workloadSelector: {matchLabels: {app: client}}
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			warnings: []string{"spec.workloadSelector"},
		},
		"a workloadSelector without failover is not warned": {
			spec: `
host: a
workloadSelector: {matchLabels: {app: client}}
trafficPolicy:
  outlierDetection: {}
`,
		},
		"subsets named http and tcp are warned": {
			spec: `
host: a
subsets:
- {name: http, labels: {v: a}}
- {name: v1, labels: {v: b}}
- {name: tcp, labels: {v: c}}
`,
			warnings: []string{"spec.subsets[0].name", "spec.subsets[2].name"},
		},
		"a subset named http takes over the load balancing of traffic without a subset: its failover needs the top level's outlier detection": {
			spec: `
host: a
subsets:
- name: http
  labels: {v: a}
  trafficPolicy:
    outlierDetection: {}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			violations: []violation{{
				field:  "spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes: []string{`traffic without a subset (whose "http" cluster takes its load balancing from subset "http")`},
			}},
			warnings: []string{"spec.subsets[0].name"},
		},
		"a subset named tcp that sets a load balancer without failover does not free traffic without a subset on an HTTP cluster": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
subsets:
- name: tcp
  labels: {v: a}
  trafficPolicy:
    outlierDetection: {}
    loadBalancer: {simple: ROUND_ROBIN}
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				scopes:   []string{"traffic without a subset"},
				notNamed: []string{"takes its load balancing"},
			}},
			warnings: []string{"spec.subsets[0].name"},
		},
		"a host of two labels is warned": {
			spec: `
host: reviews.prod
trafficPolicy:
  outlierDetection: {}
`,
			warnings: []string{"spec.host"},
		},
		"a wildcard or full host is not warned": {
			spec: `
host: "*.prod.svc.cluster.local"
trafficPolicy:
  outlierDetection: {}
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Evaluate(parseSpec(t, tc.spec), field.NewPath("spec"))

			var gotFields []string
			for _, v := range got.Violations {
				gotFields = append(gotFields, v.Field)
			}
			var wantFields []string
			for _, v := range tc.violations {
				wantFields = append(wantFields, v.field)
			}
			if !slices.Equal(gotFields, wantFields) {
				t.Fatalf("violations at %q, want %q\n%v", gotFields, wantFields, got.Violations)
			}
			for i, want := range tc.violations {
				v := got.Violations[i]
				if v.Kind != verdict.Violation || v.Rule != rules.FailoverWithoutOutlierDetection {
					t.Errorf("violation of kind %d under %s, want a violation of %s", v.Kind, v.Rule, rules.FailoverWithoutOutlierDetection)
				}
				msg := v.String()
				for _, s := range want.scopes {
					if !strings.Contains(msg, s) {
						t.Errorf("message does not name scope %q:\n%s", s, msg)
					}
				}
				for _, s := range want.notNamed {
					if strings.Contains(msg, s) {
						t.Errorf("message names %q, which is protected:\n%s", s, msg)
					}
				}
				for _, s := range want.contains {
					if !strings.Contains(msg, s) {
						t.Errorf("message lacks %q:\n%s", s, msg)
					}
				}
			}

			assertWarnedFields(t, got, tc.warnings)
		})
	}
}

// assertWarnedFields fails unless got warns on exactly the fields want,
// in order.
func assertWarnedFields(t *testing.T, got Findings, want []string) {
	t.Helper()
	var warned []string
	for _, w := range got.Warnings {
		warned = append(warned, w.Field)
	}
	if !slices.Equal(warned, want) {
		t.Errorf("warnings on %q, want %q\n%v", warned, want, got.Warnings)
	}
}

// The message format is part of what users see; pin it once, in full.
func TestEvaluateMessageOfTheDesignExample(t *testing.T) {
	spec := parseSpec(t, `
host: helloworld
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
subsets:
- name: v1
  labels: {version: v1}
- name: v2
  labels: {version: v2}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 5000}
      loadBalancer:
        localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`)
	got := Evaluate(spec, field.NewPath("spec"))
	if len(got.Violations) != 1 {
		t.Fatalf("got %d violations, want 1: %v", len(got.Violations), got.Violations)
	}
	want := `spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority: failover-webhook FW101: ` +
		`locality failover needs outlierDetection, and none applies to subset "v2" port 5000 ` +
		`(port-level settings do not inherit spec.trafficPolicy.outlierDetection); ` +
		`add outlierDetection next to it (spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection), ` +
		`e.g. {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}`
	if msg := got.Violations[0].String(); msg != want {
		t.Errorf("message\n got: %s\nwant: %s", msg, want)
	}
	if fix := got.Violations[0].Fix; fix != "spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection" {
		t.Errorf("fix at %q, want the outlierDetection next to the port entry's loadBalancer", fix)
	}
}

func TestEvaluateAcceptsSnakeCaseFields(t *testing.T) {
	spec := parseSpec(t, `
host: a
traffic_policy:
  load_balancer:
    locality_lb_setting:
      failover_priority: [topology.istio.io/cluster]
`)
	got := Evaluate(spec, field.NewPath("spec"))
	if len(got.Violations) != 1 || got.Violations[0].Field != "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority" {
		t.Fatalf("snake_case failover not recognised: %v", got.Violations)
	}
}

// Rows that depend on where the rule applies: its namespace and the
// Service its host names.
func TestEvaluateFor(t *testing.T) {
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "prod"}, Spec: corev1.ServiceSpec{Ports: ports}}
	}
	http80 := corev1.ServicePort{Name: "http", Port: 80}
	tcp90 := corev1.ServicePort{Name: "tcp-db", Port: 90}
	tests := map[string]struct {
		spec       string
		target     Target
		violations []string
		scopes     []string
		warnings   []string
	}{
		"a port entry for a port the Service does not have protects nothing and needs nothing": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  portLevelSettings:
  - port: {number: 9999}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target: Target{Namespace: "prod", Service: svc(http80), ServiceKey: types.NamespacedName{Namespace: "prod", Name: "a"}},
		},
		"without the Service the same rule is judged on every port named and any other port, and its message says so": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  portLevelSettings:
  - port: {number: 9999}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:     Target{Namespace: "prod", ServiceKey: types.NamespacedName{Namespace: "prod", Name: "a"}},
			violations: []string{"spec.trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority"},
			scopes:     []string{"port 9999", "Service a was not found, so every port named in portLevelSettings and any other port count"},
		},
		"a rule whose port entries protect every port of the Service is allowed, though no top-level outlier detection exists": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  portLevelSettings:
  - port: {number: 80}
    outlierDetection: {}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  - port: {number: 90}
    outlierDetection: {}
`,
			target:   Target{Namespace: "prod", Service: svc(http80, tcp90)},
			warnings: []string{"spec.trafficPolicy.portLevelSettings[1]"},
		},
		"a Service port the port entries miss is named": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  portLevelSettings:
  - port: {number: 80}
    outlierDetection: {}
`,
			target:     Target{Namespace: "prod", Service: svc(http80, tcp90)},
			violations: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			scopes:     []string{"traffic without a subset port 90"},
			warnings:   []string{"spec.trafficPolicy.portLevelSettings[0]"},
		},
		"a subset named tcp does not matter for a Service with HTTP ports only": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {}
subsets:
- name: tcp
  labels: {v: a}
  trafficPolicy:
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:     Target{Namespace: "prod", Service: svc(http80)},
			warnings:   []string{"spec.subsets[0].name"},
			violations: nil,
		},
		"a subset named tcp gives a TCP port's cluster without a subset its failover, without its outlier detection": {
			spec: `
host: a
subsets:
- name: tcp
  labels: {v: a}
  trafficPolicy:
    outlierDetection: {}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:     Target{Namespace: "prod", Service: svc(http80, tcp90)},
			violations: []string{"spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			scopes:     []string{`traffic without a subset port 90 (whose "tcp" cluster`},
			warnings:   []string{"spec.subsets[0].name"},
		},
		"a rule selecting a waypoint's pods violates with outlier detection: the waypoint takes its priorities but not its outlier detection": {
			spec: `
host: a
workloadSelector: {matchLabels: {gateway.istio.io/managed: istio.io-mesh-controller}}
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:     Target{Namespace: "prod", Service: svc(http80)},
			violations: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			scopes:     []string{"traffic without a subset port 80", "the workloadSelector selects a waypoint's pods"},
			warnings:   []string{"spec.workloadSelector"},
		},
		"a rule selecting a waypoint's pods with failover only in a subset is allowed: the waypoint builds no cluster for its subsets": {
			spec: `
host: a
workloadSelector: {matchLabels: {gateway.istio.io/managed: istio.io-mesh-controller}}
subsets:
- name: v1
  trafficPolicy:
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:   Target{Namespace: "prod", Service: svc(http80)},
			warnings: []string{"spec.workloadSelector"},
		},
		"a rule selecting a waypoint's pods violates through a subset named http, whose load balancer the waypoint's http cluster takes": {
			spec: `
host: a
workloadSelector: {matchLabels: {gateway.istio.io/managed: istio.io-mesh-controller}}
trafficPolicy:
  outlierDetection: {}
subsets:
- name: http
  trafficPolicy:
    outlierDetection: {}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:     Target{Namespace: "prod", Service: svc(http80, tcp90)},
			violations: []string{"spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			scopes:     []string{`"http" cluster takes its load balancing from subset "http"`},
			warnings:   []string{"spec.workloadSelector", "spec.subsets[0].name"},
		},
		"a rule selecting pods by a Gateway's name alone is judged as usual: it may select an ingress gateway": {
			spec: `
host: a
workloadSelector: {matchLabels: {gateway.networking.k8s.io/gateway-name: waypoint}}
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:   Target{Namespace: "prod", Service: svc(http80)},
			warnings: []string{"spec.workloadSelector"},
		},
		"a rule selecting the pods of the Service's waypoint by its Gateway's name violates: the waypoint builds its clusters without it": {
			spec: `
host: a
workloadSelector: {matchLabels: {gateway.networking.k8s.io/gateway-name: waypoint}}
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:     Target{Namespace: "prod", Service: svc(http80), Waypoint: types.NamespacedName{Namespace: "prod", Name: "waypoint"}},
			violations: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority"},
			warnings:   []string{"spec.workloadSelector"},
		},
		"a Gateway's name selects no waypoint of another namespace: a selector rule reaches proxies of its own only": {
			spec: `
host: a
workloadSelector: {matchLabels: {gateway.networking.k8s.io/gateway-name: waypoint}}
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			target:   Target{Namespace: "prod", Service: svc(http80), Waypoint: types.NamespacedName{Namespace: "mesh", Name: "waypoint"}},
			warnings: []string{"spec.workloadSelector"},
		},
		"exportTo that hides the rule from its own namespace is warned": {
			spec: `
host: a
exportTo: [other]
trafficPolicy:
  outlierDetection: {}
`,
			target:   Target{Namespace: "prod"},
			warnings: []string{"spec.exportTo"},
		},
		"exportTo naming its own namespace, the dot or the star is not warned": {
			spec: `
host: a
exportTo: [other, prod]
trafficPolicy:
  outlierDetection: {}
`,
			target: Target{Namespace: "prod"},
		},
		"exportTo hiding a rule without failover or outlier detection is not warned": {
			spec: `
host: a
exportTo: [other]
trafficPolicy:
  loadBalancer: {simple: ROUND_ROBIN}
`,
			target: Target{Namespace: "prod"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := EvaluateFor(parseSpec(t, tc.spec), field.NewPath("spec"), tc.target)
			var fields []string
			for _, v := range got.Violations {
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, tc.violations) {
				t.Fatalf("violations at %q, want %q\n%v", fields, tc.violations, got.Violations)
			}
			for _, s := range tc.scopes {
				if !strings.Contains(strings.Join(entryStrings(got.Violations), "\n"), s) {
					t.Errorf("violations do not name %q:\n%v", s, got.Violations)
				}
			}
			assertWarnedFields(t, got, tc.warnings)
		})
	}
}

func TestServiceOf(t *testing.T) {
	tests := map[string]struct {
		host, namespace string
		want            types.NamespacedName
		ok              bool
	}{
		"a short name is a Service of the rule's namespace":    {host: "a", namespace: "prod", want: types.NamespacedName{Namespace: "prod", Name: "a"}, ok: true},
		"a full Service name names its own namespace":          {host: "a.other.svc.cluster.local", namespace: "prod", want: types.NamespacedName{Namespace: "other", Name: "a"}, ok: true},
		"two labels name no Service (Istio reads a full name)": {host: "a.other", namespace: "prod"},
		"a wildcard names no one Service":                      {host: "*.prod.svc.cluster.local", namespace: "prod"},
		"a ServiceEntry host names no Service":                 {host: "api.example.com", namespace: "prod"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ServiceOf(tc.host, tc.namespace)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ServiceOf(%q, %q) = %v, %v; want %v, %v", tc.host, tc.namespace, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestServicePorts(t *testing.T) {
	appProtocol := func(s string) *string { return &s }
	tests := map[string]struct {
		port       corev1.ServicePort
		http, tcp  bool
		noClusters bool
	}{
		"a port named http is HTTP":                 {port: corev1.ServicePort{Name: "http-web", Port: 80}, http: true},
		"grpc-web is HTTP":                          {port: corev1.ServicePort{Name: "grpc-web-x", Port: 80}, http: true},
		"a port named tcp is TCP":                   {port: corev1.ServicePort{Name: "tcp", Port: 80}, tcp: true},
		"https is TCP to a waypoint":                {port: corev1.ServicePort{Name: "https", Port: 443}, tcp: true},
		"appProtocol wins over the name":            {port: corev1.ServicePort{Name: "http", Port: 80, AppProtocol: appProtocol("tcp")}, tcp: true},
		"kubernetes.io/h2c is HTTP":                 {port: corev1.ServicePort{Name: "x", Port: 80, AppProtocol: appProtocol("kubernetes.io/h2c")}, http: true},
		"an unnamed port is sniffed: both clusters": {port: corev1.ServicePort{Port: 8080}, http: true, tcp: true},
		"an unnamed MySQL port is TCP":              {port: corev1.ServicePort{Port: 3306}, tcp: true},
		"a UDP port gets no cluster":                {port: corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, noClusters: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ServicePorts(&corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tc.port}}})
			if tc.noClusters {
				if len(got) != 0 {
					t.Fatalf("got %+v, want no ports", got)
				}
				return
			}
			if len(got) != 1 || got[0].HTTP != tc.http || got[0].TCP != tc.tcp {
				t.Errorf("got %+v, want http %v tcp %v", got, tc.http, tc.tcp)
			}
		})
	}
}
