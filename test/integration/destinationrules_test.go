package integration_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// TestDestinationRuleVersions shows each served version of DestinationRule
// reaches the validating webhook: the rule of Istio's guide is denied
// without outlierDetection and admitted with it.
func TestDestinationRuleVersions(t *testing.T) {
	controlplane.SkipIfShort(t)
	for _, version := range []string{"v1alpha3", "v1beta1", "v1"} {
		t.Run("a "+version+" DestinationRule with failoverPriority is denied without outlierDetection and admitted with it", func(t *testing.T) {
			ns := newNamespace(t, nil)

			denied := newDestinationRule(t, version, ns, "helloworld", noOutlierSpec)
			err := cluster.Client.Create(t.Context(), denied)
			assertDenied(t, err, topLevelFailoverPriority, "outlierDetection", "traffic without a subset")
			assertNotFound(t, denied)

			admitted := newDestinationRule(t, version, ns, "helloworld", guideSpec)
			ctx, warnings := withWarnings(t)
			if err := cluster.Client.Create(ctx, admitted); err != nil {
				t.Fatalf("creating the guide's DestinationRule: %v", err)
			}
			assertWarnings(t, warnings.List())
			if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(admitted), admitted); err != nil {
				t.Errorf("reading the admitted DestinationRule: %v", err)
			}
		})
	}
}

// TestDestinationRuleMerge runs docs/design.md §4's subset and port merge
// through the API server: what is denied names the declaring field and the
// scope left without outlier detection.
func TestDestinationRuleMerge(t *testing.T) {
	controlplane.SkipIfShort(t)
	tests := map[string]struct {
		spec       string
		wantDenial []string // nil: admitted
	}{
		"a subset port-level entry with failover and no outlierDetection is denied, naming the subset and port": {
			spec: `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}
subsets:
- name: v1
  labels: {version: v1}
- name: v2
  labels: {version: v2}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 5000}
      loadBalancer:
        localityLbSetting:
          failoverPriority: [topology.istio.io/cluster]
`,
			wantDenial: []string{
				"spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority",
				`subset "v2" port 5000`,
				"port-level settings do not inherit spec.trafficPolicy.outlierDetection",
			},
		},
		"a subset that sets only failover inherits the top-level outlierDetection and is admitted": {
			spec: `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}
subsets:
- name: v2
  labels: {version: v2}
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        failoverPriority: [topology.istio.io/cluster]
`,
		},
		"a top-level port entry replaces the policy for its port, so failover there without outlierDetection is denied": {
			spec: `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}
  portLevelSettings:
  - port: {number: 5000}
    loadBalancer:
      localityLbSetting:
        failover:
        - {from: us-east, to: us-west}
`,
			wantDenial: []string{
				"spec.trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failover",
				"port 5000",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			dr := newDestinationRule(t, "v1", ns, "helloworld", tc.spec)
			err := cluster.Client.Create(t.Context(), dr)
			if tc.wantDenial == nil {
				if err != nil {
					t.Fatalf("want the DestinationRule admitted: %v", err)
				}
				return
			}
			assertDenied(t, err, append(tc.wantDenial, "outlierDetection")...)
			assertNotFound(t, dr)
		})
	}
}

// TestDestinationRuleWarnings shows advisory findings reach the client as
// warnings on an admitted DestinationRule.
func TestDestinationRuleWarnings(t *testing.T) {
	controlplane.SkipIfShort(t)
	tests := map[string]struct {
		spec         string
		wantWarnings []string
	}{
		"failover next to enabled false is admitted with a warning that it has no effect": {
			spec: `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      enabled: false
      failoverPriority: [topology.istio.io/cluster]
`,
			wantWarnings: []string{"spec.trafficPolicy.loadBalancer.localityLbSetting.enabled", "failoverPriority has no effect"},
		},
		"outlier detection that can never eject is admitted with a warning": {
			spec: `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 0}
  loadBalancer:
    localityLbSetting:
      failoverPriority: [topology.istio.io/cluster]
`,
			wantWarnings: []string{"spec.trafficPolicy.outlierDetection", "can never eject an endpoint"},
		},
		"a port entry that drops the top-level failover is admitted with a warning": {
			spec: `
host: helloworld.sample.svc.cluster.local
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 1}
  loadBalancer:
    localityLbSetting:
      failoverPriority: [topology.istio.io/cluster]
  portLevelSettings:
  - port: {number: 9080}
    outlierDetection: {consecutive5xxErrors: 1}
`,
			wantWarnings: []string{"spec.trafficPolicy.portLevelSettings[0]", "port 9080 does not inherit the failover"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			ctx, warnings := withWarnings(t)
			if err := cluster.Client.Create(ctx, newDestinationRule(t, "v1", ns, "helloworld", tc.spec)); err != nil {
				t.Fatalf("want the DestinationRule admitted: %v", err)
			}
			assertWarnings(t, warnings.List(), tc.wantWarnings...)
		})
	}
}

// TestDestinationRuleDryRun shows a dry run is judged like a real request.
func TestDestinationRuleDryRun(t *testing.T) {
	controlplane.SkipIfShort(t)
	ns := newNamespace(t, nil)
	dr := newDestinationRule(t, "v1", ns, "helloworld", noOutlierSpec)
	assertDenied(t, cluster.Client.Create(t.Context(), dr, client.DryRunAll), topLevelFailoverPriority)
}
