package integration_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// TestServiceCreate covers docs/design.md §3 rules 1-4 on CREATE: the labels
// a Service is stored with, the record of what the webhook added, and the
// warnings the client sees.
func TestServiceCreate(t *testing.T) {
	controlplane.SkipIfShort(t)
	tests := map[string]struct {
		namespaceLabels map[string]string
		labels          map[string]string
		wantLabels      map[string]string
		wantManaged     string // "" means no record annotation
		wantWarnings    []string
	}{
		"an opted-in Service gets istio.io/global=true and the default waypoint": {
			labels:      map[string]string{trigger: "cluster", "app": "helloworld"},
			wantLabels:  map[string]string{trigger: "cluster", "app": "helloworld", global: "true", useWaypoint: defaultWaypoint},
			wantManaged: "istio.io/global,istio.io/use-waypoint",
		},
		"an opted-in Service gets the waypoint its namespace names": {
			namespaceLabels: map[string]string{useWaypoint: "ns-waypoint"},
			labels:          map[string]string{trigger: "cluster"},
			wantLabels:      map[string]string{trigger: "cluster", global: "true", useWaypoint: "ns-waypoint"},
			wantManaged:     "istio.io/global,istio.io/use-waypoint",
		},
		"an opted-in Service gets the waypoint and waypoint namespace its namespace names": {
			namespaceLabels: map[string]string{useWaypoint: "shared-waypoint", useWaypointNamespace: "istio-waypoints"},
			labels:          map[string]string{trigger: "cluster"},
			wantLabels:      map[string]string{trigger: "cluster", global: "true", useWaypoint: "shared-waypoint", useWaypointNamespace: "istio-waypoints"},
			wantManaged:     "istio.io/global,istio.io/use-waypoint,istio.io/use-waypoint-namespace",
		},
		"an opted-in Service keeps the waypoint it names, over its namespace's": {
			namespaceLabels: map[string]string{useWaypoint: "ns-waypoint"},
			labels:          map[string]string{trigger: "cluster", useWaypoint: "own-waypoint"},
			wantLabels:      map[string]string{trigger: "cluster", global: "true", useWaypoint: "own-waypoint"},
			wantManaged:     "istio.io/global",
		},
		"an opted-in Service with use-waypoint none keeps it and is warned that failover is not enforced": {
			labels:       map[string]string{trigger: "cluster", useWaypoint: "none"},
			wantLabels:   map[string]string{trigger: "cluster", global: "true", useWaypoint: "none"},
			wantManaged:  "istio.io/global",
			wantWarnings: []string{"istio.io/use-waypoint=none on the Service", "locality failover of its DestinationRule is not enforced"},
		},
		"an opted-in Service with istio.io/global=false gets true and a warning saying so": {
			labels:       map[string]string{trigger: "cluster", global: "false"},
			wantLabels:   map[string]string{trigger: "cluster", global: "true", useWaypoint: defaultWaypoint},
			wantManaged:  "istio.io/global,istio.io/use-waypoint",
			wantWarnings: []string{`label istio.io/global="false" changed to "true"`},
		},
		"a waypoint's own Service gets only istio.io/global": {
			labels:      map[string]string{trigger: "cluster", gatewayManaged: "istio.io-mesh-controller"},
			wantLabels:  map[string]string{trigger: "cluster", gatewayManaged: "istio.io-mesh-controller", global: "true"},
			wantManaged: "istio.io/global",
		},
		"an east-west gateway Service is left alone, with a warning": {
			labels:       map[string]string{trigger: "cluster", gatewayManaged: "istio.io-eastwest-controller"},
			wantLabels:   map[string]string{trigger: "cluster", gatewayManaged: "istio.io-eastwest-controller"},
			wantWarnings: []string{"east-west gateway Services are left alone", "remove the failover=cluster label"},
		},
		"a Service whose failover label is not exactly cluster is not opted in": {
			labels:     map[string]string{trigger: "Cluster"},
			wantLabels: map[string]string{trigger: "Cluster"},
		},
		"a Service without labels is admitted unchanged": {
			wantLabels: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, tc.namespaceLabels)
			ctx, warnings := withWarnings(t)
			svc := newService(ns, "helloworld", tc.labels)
			if err := cluster.Client.Create(ctx, svc); err != nil {
				t.Fatalf("creating the Service: %v", err)
			}
			assertLabels(t, "the created Service", svc.Labels, tc.wantLabels)
			assertManagedLabels(t, "the created Service", svc, tc.wantManaged)
			assertWarnings(t, warnings.List(), tc.wantWarnings...)

			stored := &corev1.Service{}
			if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(svc), stored); err != nil {
				t.Fatal(err)
			}
			assertLabels(t, "the stored Service", stored.Labels, tc.wantLabels)
			assertManagedLabels(t, "the stored Service", stored, tc.wantManaged)
		})
	}
}

// labelEdit is one change a person makes to a Service's labels.
type labelEdit struct {
	set    map[string]string
	remove []string
}

// TestServiceUpdate covers docs/design.md §3 rules 5 and 6: a Service opting
// in or out by UPDATE, labels a person set or changed, and updates of the
// webhook's own output.
func TestServiceUpdate(t *testing.T) {
	controlplane.SkipIfShort(t)
	tests := map[string]struct {
		labels      map[string]string
		edits       []labelEdit
		wantLabels  map[string]string
		wantManaged string
	}{
		"removing failover=cluster removes exactly the webhook's labels and the record": {
			labels:     map[string]string{trigger: "cluster", "app": "helloworld"},
			edits:      []labelEdit{{remove: []string{trigger}}},
			wantLabels: map[string]string{"app": "helloworld"},
		},
		"removing failover=cluster keeps the waypoint a person named": {
			labels:     map[string]string{trigger: "cluster", useWaypoint: "own-waypoint"},
			edits:      []labelEdit{{remove: []string{trigger}}},
			wantLabels: map[string]string{useWaypoint: "own-waypoint"},
		},
		"removing failover=cluster keeps a label a person changed after the webhook set it": {
			labels: map[string]string{trigger: "cluster"},
			edits: []labelEdit{
				{set: map[string]string{useWaypoint: "other-waypoint"}},
				{remove: []string{trigger}},
			},
			wantLabels: map[string]string{useWaypoint: "other-waypoint"},
		},
		"setting failover to another value opts the Service out too": {
			labels:     map[string]string{trigger: "cluster"},
			edits:      []labelEdit{{set: map[string]string{trigger: "none"}}},
			wantLabels: map[string]string{trigger: "none"},
		},
		"labeling an existing Service failover=cluster opts it in": {
			labels:      map[string]string{"app": "helloworld"},
			edits:       []labelEdit{{set: map[string]string{trigger: "cluster"}}},
			wantLabels:  map[string]string{"app": "helloworld", trigger: "cluster", global: "true", useWaypoint: defaultWaypoint},
			wantManaged: "istio.io/global,istio.io/use-waypoint",
		},
		"an unrelated update of an opted-in Service keeps the webhook's labels and record as they are": {
			labels:      map[string]string{trigger: "cluster"},
			edits:       []labelEdit{{set: map[string]string{"team": "payments"}}},
			wantLabels:  map[string]string{trigger: "cluster", "team": "payments", global: "true", useWaypoint: defaultWaypoint},
			wantManaged: "istio.io/global,istio.io/use-waypoint",
		},
		"opting out and in again gives the same labels and record as the first time": {
			labels:      map[string]string{trigger: "cluster"},
			edits:       []labelEdit{{remove: []string{trigger}}, {set: map[string]string{trigger: "cluster"}}},
			wantLabels:  map[string]string{trigger: "cluster", global: "true", useWaypoint: defaultWaypoint},
			wantManaged: "istio.io/global,istio.io/use-waypoint",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, nil)
			ctx, warnings := withWarnings(t)
			svc := newService(ns, "helloworld", tc.labels)
			if err := cluster.Client.Create(ctx, svc); err != nil {
				t.Fatalf("creating the Service: %v", err)
			}
			for _, edit := range tc.edits {
				if svc.Labels == nil {
					svc.Labels = map[string]string{}
				}
				for k, v := range edit.set {
					svc.Labels[k] = v
				}
				for _, k := range edit.remove {
					delete(svc.Labels, k)
				}
				if err := cluster.Client.Update(ctx, svc); err != nil {
					t.Fatalf("updating the Service with %+v: %v", edit, err)
				}
			}
			assertLabels(t, "the updated Service", svc.Labels, tc.wantLabels)
			assertManagedLabels(t, "the updated Service", svc, tc.wantManaged)
			assertWarnings(t, warnings.List())
		})
	}
}

// TestServiceDryRun shows a server-side dry run returns the mutated Service
// and stores nothing.
func TestServiceDryRun(t *testing.T) {
	controlplane.SkipIfShort(t)
	ns := newNamespace(t, nil)
	svc := newService(ns, "helloworld", map[string]string{trigger: "cluster"})
	if err := cluster.Client.Create(t.Context(), svc, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	assertLabels(t, "the dry-run Service", svc.Labels, map[string]string{trigger: "cluster", global: "true", useWaypoint: defaultWaypoint})
	assertManagedLabels(t, "the dry-run Service", svc, "istio.io/global,istio.io/use-waypoint")
	assertNotFound(t, svc)
}

// TestServiceServerSideApply shows the webhook works with server-side apply
// (kubectl apply --server-side), which owns labels by field manager:
// re-applying a configuration stores nothing new, and applying it without
// failover=cluster takes back the webhook's labels.
func TestServiceServerSideApply(t *testing.T) {
	controlplane.SkipIfShort(t)
	ns := newNamespace(t, nil)
	apply := func(labels map[string]string) *corev1.Service {
		t.Helper()
		cfg := corev1ac.Service("helloworld", ns).
			WithLabels(labels).
			WithSpec(corev1ac.ServiceSpec().WithPorts(corev1ac.ServicePort().WithName("http").WithPort(5000)))
		if err := cluster.Client.Apply(t.Context(), cfg, client.FieldOwner("integration-test")); err != nil {
			t.Fatalf("applying the Service with labels %v: %v", labels, err)
		}
		stored := &corev1.Service{}
		if err := cluster.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "helloworld"}, stored); err != nil {
			t.Fatal(err)
		}
		return stored
	}

	first := apply(map[string]string{trigger: "cluster", "app": "helloworld"})
	assertLabels(t, "the applied Service", first.Labels, map[string]string{trigger: "cluster", "app": "helloworld", global: "true", useWaypoint: defaultWaypoint})
	assertManagedLabels(t, "the applied Service", first, "istio.io/global,istio.io/use-waypoint")

	again := apply(map[string]string{trigger: "cluster", "app": "helloworld"})
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("re-applying the same configuration stored a new version (%s, then %s); labels now %v", first.ResourceVersion, again.ResourceVersion, again.Labels)
	}

	optedOut := apply(map[string]string{"app": "helloworld"})
	assertLabels(t, "the Service applied without failover=cluster", optedOut.Labels, map[string]string{"app": "helloworld"})
	assertManagedLabels(t, "the Service applied without failover=cluster", optedOut, "")
}
