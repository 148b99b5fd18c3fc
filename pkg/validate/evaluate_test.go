package validate

import (
	"slices"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
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
		"zone-aware failoverPriority without outlier detection is denied like locality failover": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    zoneAwareLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			violations: []violation{{
				field:    "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.failoverPriority",
				contains: []string{"zone-aware failover needs outlierDetection"},
			}},
		},
		"zone-aware failover with outlier detection is allowed": {
			spec: `
host: a
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  loadBalancer:
    zoneAwareLbSetting: {failover: [{from: us-east, to: us-west}]}
`,
		},
		"zone-aware enabled false has no effect: allowed with a warning": {
			spec: `
host: a
trafficPolicy:
  loadBalancer:
    zoneAwareLbSetting: {enabled: false, failover: [{from: us-east, to: us-west}]}
`,
			warnings: []string{"spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.enabled"},
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
				if v.Type != field.ErrorTypeForbidden {
					t.Errorf("violation type %s, want Forbidden", v.Type)
				}
				msg := v.Error()
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

			var warned []string
			for _, w := range got.Warnings {
				warned = append(warned, w.Field)
			}
			if !slices.Equal(warned, tc.warnings) {
				t.Errorf("warnings on %q, want %q\n%v", warned, tc.warnings, got.WarningStrings())
			}
		})
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
	want := `spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority: Forbidden: ` +
		`locality failover needs outlierDetection, and none applies to subset "v2" port 5000 ` +
		`(port-level settings do not inherit spec.trafficPolicy.outlierDetection); ` +
		`add outlierDetection next to it (spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection), ` +
		`e.g. {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}`
	if msg := got.Violations[0].Error(); msg != want {
		t.Errorf("message\n got: %s\nwant: %s", msg, want)
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
