package integration_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// TestIstioFidelity runs the rules that follow Istio's own config
// generation through the API server: zone-aware settings a waypoint
// ignores, the object-alone warnings, and the host Service's ports as the
// scopes.
func TestIstioFidelity(t *testing.T) {
	controlplane.SkipIfShort(t)
	// portEntrySpec fails over with outlier detection at the top level and
	// without it in a port entry for 9999, which only matters if the
	// Service has that port.
	const portEntrySpec = `
host: helloworld
trafficPolicy:
  outlierDetection: {}
  loadBalancer:
    localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
  portLevelSettings:
  - port: {number: 9999}
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`
	tests := map[string]struct {
		spec         string
		withService  bool
		wantDenial   []string // nil: admitted
		wantWarnings []string
	}{
		"zone-aware failover without outlier detection is admitted with a warning pointing at failoverPriority": {
			spec: `
host: helloworld
trafficPolicy:
  loadBalancer:
    zoneAwareLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`,
			wantWarnings: []string{"spec.trafficPolicy.loadBalancer.zoneAwareLbSetting: failover-webhook FW106: waypoints ignore zoneAwareLbSetting", "localityLbSetting.failoverPriority"},
		},
		"distribute with failoverPriority is admitted with a warning": {
			spec: `
host: helloworld
trafficPolicy:
  loadBalancer:
    localityLbSetting:
      distribute: [{from: "r1/*", to: {"r1/*": 100}}]
      failoverPriority: [topology.istio.io/cluster]
`,
			wantWarnings: []string{"distribute wins"},
		},
		"exportTo hiding the rule from its namespace, a subset named http and a two-label host are warned": {
			spec: `
host: helloworld.sample
exportTo: [elsewhere]
trafficPolicy:
  outlierDetection: {}
subsets:
- name: http
  labels: {version: v1}
`,
			wantWarnings: []string{"spec.exportTo", "spec.subsets[0].name", "spec.host"},
		},
		"a port entry for a port the Service lacks is admitted when the Service exists": {
			spec:        portEntrySpec,
			withService: true,
		},
		"the same rule is denied while the Service does not exist, and the message says why": {
			spec:       portEntrySpec,
			wantDenial: []string{"port 9999", "Service", "was not found"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			if tc.withService {
				if err := cluster.Client.Create(t.Context(), newService(ns, "helloworld", nil)); err != nil {
					t.Fatalf("creating the Service: %v", err)
				}
			}
			dr := newDestinationRule(t, "v1", ns, "helloworld", tc.spec)
			ctx, warnings := withWarnings(t)
			err := cluster.Client.Create(ctx, dr)
			if tc.wantDenial != nil {
				assertDenied(t, err, tc.wantDenial...)
				assertNotFound(t, dr)
				return
			}
			if err != nil {
				t.Fatalf("creating the DestinationRule: %v", err)
			}
			assertWarnings(t, warnings.List(), tc.wantWarnings...)
		})
	}
}

// TestServiceOwnWaypointNamespace shows the warning for a Service whose
// own use-waypoint-namespace takes effect once the webhook adds
// use-waypoint.
func TestServiceOwnWaypointNamespace(t *testing.T) {
	controlplane.SkipIfShort(t)
	ns := newNamespace(t, nil)
	svc := newService(ns, "helloworld", map[string]string{"failover": "cluster", "istio.io/use-waypoint-namespace": "elsewhere"})
	ctx, warnings := withWarnings(t)
	if err := cluster.Client.Create(ctx, svc); err != nil {
		t.Fatalf("creating the Service: %v", err)
	}
	assertWarnings(t, warnings.List(), "bound to waypoint elsewhere/waypoint")
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
		t.Fatal(err)
	}
	assertLabels(t, "the Service", svc.Labels, map[string]string{"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint-namespace": "elsewhere", "istio.io/use-waypoint": "waypoint"})
}
