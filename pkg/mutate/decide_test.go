package mutate

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
)

func service(labels, annotations map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: "sample", Labels: labels, Annotations: annotations},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}},
	}
}

// m builds a label or annotation map from key, value pairs.
func m(kv ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

const (
	trigger = keys.Trigger
	cluster = keys.TriggerValue
	global  = keys.Global
	useWP   = keys.UseWaypoint
	useWPNS = keys.UseWaypointNamespace
	record  = keys.ManagedLabels
	managed = keys.GatewayManaged
)

func TestDecide(t *testing.T) {
	tests := map[string]struct {
		labels, annotations       map[string]string
		oldLabels, oldAnnotations map[string]string // set for UPDATE
		update                    bool
		nsLabels                  map[string]string

		wantChanged     bool
		wantLabels      map[string]string
		wantAnnotations map[string]string
		wantWarnings    []string // substrings, one per warning
	}{
		"an opted-in Service gets global, the default waypoint and the record": {
			labels:          m(trigger, cluster, "app", "helloworld"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, "app", "helloworld", global, "true", useWP, "waypoint"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"opting in again keeps a recorded use-waypoint-namespace that a person changed since": {
			labels:          m(trigger, cluster, global, "true", useWPNS, "mine"),
			annotations:     m(record, useWPNS),
			oldLabels:       m(global, "true", useWPNS, "mine"),
			oldAnnotations:  m(record, useWPNS),
			update:          true,
			nsLabels:        m(useWP, "ns-waypoint", useWPNS, "other"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "ns-waypoint", useWPNS, "mine"),
			wantAnnotations: m(record, useWP+","+useWPNS),
		},
		"a Service without the trigger label is left alone": {
			labels:     m("app", "helloworld"),
			wantLabels: m("app", "helloworld"),
		},
		"a trigger value other than cluster does not opt in": {
			labels:     m(trigger, "region"),
			wantLabels: m(trigger, "region"),
		},
		"a Service with no labels map at all is left alone": {
			labels:     nil,
			wantLabels: nil,
		},
		"an explicit waypoint is kept and not recorded": {
			labels:          m(trigger, cluster, useWP, "my-waypoint"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, useWP, "my-waypoint", global, "true"),
			wantAnnotations: m(record, global),
		},
		"use-waypoint none is kept, with a warning that failover is not enforced": {
			labels:          m(trigger, cluster, useWP, "none"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, useWP, "none", global, "true"),
			wantAnnotations: m(record, global),
			wantWarnings:    []string{"istio.io/use-waypoint=none on the Service: no waypoint serves this Service"},
		},
		"the namespace's waypoint is copied onto the Service": {
			labels:          m(trigger, cluster),
			nsLabels:        m(useWP, "ns-waypoint"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "ns-waypoint"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"the namespace's waypoint and waypoint namespace are both copied": {
			labels:          m(trigger, cluster),
			nsLabels:        m(useWP, "shared", useWPNS, "istio-waypoints"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "shared", useWPNS, "istio-waypoints"),
			wantAnnotations: m(record, global+","+useWP+","+useWPNS),
		},
		"a Service's own waypoint namespace is kept when the namespace's waypoint is copied, with a warning naming both waypoints": {
			labels:          m(trigger, cluster, useWPNS, "mine"),
			nsLabels:        m(useWP, "shared", useWPNS, "istio-waypoints"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "shared", useWPNS, "mine"),
			wantAnnotations: m(record, global+","+useWP),
			wantWarnings:    []string{"bound to waypoint mine/shared, where the namespace's labels alone would have given istio-waypoints/shared"},
		},
		"a Service's own waypoint namespace takes effect with the default waypoint, with a warning": {
			labels:          m(trigger, cluster, useWPNS, "mine"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "waypoint", useWPNS, "mine"),
			wantAnnotations: m(record, global+","+useWP),
			wantWarnings:    []string{"bound to waypoint mine/waypoint, where the namespace's labels alone would have given no waypoint"},
		},
		"a Service's own waypoint namespace equal to what the namespace gives is not warned": {
			labels:          m(trigger, cluster, useWPNS, "istio-waypoints"),
			nsLabels:        m(useWP, "shared", useWPNS, "istio-waypoints"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "shared", useWPNS, "istio-waypoints"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"an empty use-waypoint is kept, with a warning that Istio does not fall back to the namespace": {
			labels:          m(trigger, cluster, useWP, ""),
			nsLabels:        m(useWP, "shared"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, ""),
			wantAnnotations: m(record, global),
			wantWarnings:    []string{"istio.io/use-waypoint is empty on the Service"},
		},
		"the namespace's waypoint namespace is not copied when the Service names its own waypoint": {
			labels:          m(trigger, cluster, useWP, "mine"),
			nsLabels:        m(useWP, "shared", useWPNS, "istio-waypoints"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "mine"),
			wantAnnotations: m(record, global),
		},
		"a namespace opting out of waypoints is copied, with a warning": {
			labels:          m(trigger, cluster),
			nsLabels:        m(useWP, "none"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "none"),
			wantAnnotations: m(record, global+","+useWP),
			wantWarnings:    []string{"on its namespace"},
		},
		"global with another value is forced to true, with a warning": {
			labels:          m(trigger, cluster, global, "false", useWP, "waypoint"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "waypoint"),
			wantAnnotations: m(record, global),
			wantWarnings:    []string{`label istio.io/global="false" changed to "true"`},
		},
		"global True with a capital is not Istio's value and is forced": {
			labels:          m(trigger, cluster, global, "True", useWP, "waypoint"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "waypoint"),
			wantAnnotations: m(record, global),
			wantWarnings:    []string{`"True" changed to "true"`},
		},
		"a Service a person labeled completely needs nothing and gets no record": {
			labels:     m(trigger, cluster, global, "true", useWP, "waypoint"),
			wantLabels: m(trigger, cluster, global, "true", useWP, "waypoint"),
		},
		"the webhook's own output is admitted again without a change": {
			labels:          m(trigger, cluster, global, "true", useWP, "waypoint"),
			annotations:     m(record, global+","+useWP),
			wantLabels:      m(trigger, cluster, global, "true", useWP, "waypoint"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"a waypoint's own Service gets only global": {
			labels:          m(trigger, cluster, managed, keys.ManagedByWaypointController, "gateway.networking.k8s.io/gateway-name", "waypoint"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, managed, keys.ManagedByWaypointController, "gateway.networking.k8s.io/gateway-name", "waypoint", global, "true"),
			wantAnnotations: m(record, global),
		},
		"a waypoint's own Service ignores the namespace's waypoint": {
			labels:          m(trigger, cluster, managed, keys.ManagedByWaypointController),
			nsLabels:        m(useWP, "waypoint"),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, managed, keys.ManagedByWaypointController, global, "true"),
			wantAnnotations: m(record, global),
		},
		"an east-west gateway Service is left alone, with a warning": {
			labels:       m(trigger, cluster, managed, keys.ManagedByEastWestController),
			wantLabels:   m(trigger, cluster, managed, keys.ManagedByEastWestController),
			wantWarnings: []string{"east-west gateway"},
		},
		"an update keeping the trigger and the labels changes nothing": {
			update:          true,
			oldLabels:       m(trigger, cluster, global, "true", useWP, "waypoint"),
			oldAnnotations:  m(record, global+","+useWP),
			labels:          m(trigger, cluster, global, "true", useWP, "waypoint", "tier", "web"),
			annotations:     m(record, global+","+useWP),
			wantLabels:      m(trigger, cluster, global, "true", useWP, "waypoint", "tier", "web"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"an update that removes a managed label gets it back": {
			update:          true,
			oldLabels:       m(trigger, cluster, global, "true", useWP, "waypoint"),
			oldAnnotations:  m(record, global+","+useWP),
			labels:          m(trigger, cluster, useWP, "waypoint"),
			annotations:     m(record, global+","+useWP),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "waypoint"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"a person changing the webhook's waypoint takes it over": {
			update:          true,
			oldLabels:       m(trigger, cluster, global, "true", useWP, "waypoint"),
			oldAnnotations:  m(record, global+","+useWP),
			labels:          m(trigger, cluster, global, "true", useWP, "other"),
			annotations:     m(record, global+","+useWP),
			wantChanged:     true,
			wantLabels:      m(trigger, cluster, global, "true", useWP, "other"),
			wantAnnotations: m(record, global),
		},
		"an update that adds the trigger opts the Service in": {
			update:          true,
			oldLabels:       m("app", "helloworld"),
			labels:          m("app", "helloworld", trigger, cluster),
			wantChanged:     true,
			wantLabels:      m("app", "helloworld", trigger, cluster, global, "true", useWP, "waypoint"),
			wantAnnotations: m(record, global+","+useWP),
		},
		"removing the trigger removes the webhook's labels and the record": {
			update:          true,
			oldLabels:       m(trigger, cluster, "app", "helloworld", global, "true", useWP, "waypoint"),
			oldAnnotations:  m(record, global+","+useWP, "other", "kept"),
			labels:          m("app", "helloworld", global, "true", useWP, "waypoint"),
			annotations:     m(record, global+","+useWP, "other", "kept"),
			wantChanged:     true,
			wantLabels:      m("app", "helloworld"),
			wantAnnotations: m("other", "kept"),
		},
		"removing the trigger keeps labels a person set": {
			update:          true,
			oldLabels:       m(trigger, cluster, global, "true", useWP, "mine"),
			oldAnnotations:  m(record, global),
			labels:          m(global, "true", useWP, "mine"),
			annotations:     m(record, global),
			wantChanged:     true,
			wantLabels:      m(useWP, "mine"),
			wantAnnotations: nil,
		},
		"removing the trigger keeps a recorded label a person changed in the same update": {
			update:          true,
			oldLabels:       m(trigger, cluster, global, "true", useWP, "waypoint"),
			oldAnnotations:  m(record, global+","+useWP),
			labels:          m(global, "true", useWP, "east"),
			annotations:     m(record, global+","+useWP),
			wantChanged:     true,
			wantLabels:      m(useWP, "east"),
			wantAnnotations: nil,
		},
		"removing the trigger removes a waypoint copied from a namespace label that changed since": {
			update:          true,
			nsLabels:        m(useWP, "new-waypoint"),
			oldLabels:       m(trigger, cluster, global, "true", useWP, "old-waypoint"),
			oldAnnotations:  m(record, global+","+useWP),
			labels:          m(global, "true", useWP, "old-waypoint"),
			annotations:     m(record, global+","+useWP),
			wantChanged:     true,
			wantLabels:      nil,
			wantAnnotations: nil,
		},
		"removing the trigger and the record together still removes the webhook's labels": {
			update:         true,
			oldLabels:      m(trigger, cluster, global, "true", useWP, "waypoint"),
			oldAnnotations: m(record, global+","+useWP),
			labels:         m(global, "true", useWP, "waypoint"),
			wantChanged:    true,
			wantLabels:     nil,
		},
		"a record naming a key the webhook never sets removes nothing but the record": {
			update:          true,
			oldLabels:       m(trigger, cluster, "team", "a"),
			oldAnnotations:  m(record, "team"),
			labels:          m("team", "a"),
			annotations:     m(record, "team"),
			wantChanged:     true,
			wantLabels:      m("team", "a"),
			wantAnnotations: nil,
		},
		"a record with spaces and empty items is understood": {
			update:          true,
			oldLabels:       m(trigger, cluster, global, "true"),
			oldAnnotations:  m(record, " istio.io/global ,,"),
			labels:          m(global, "true"),
			annotations:     m(record, " istio.io/global ,,"),
			wantChanged:     true,
			wantLabels:      nil,
			wantAnnotations: nil,
		},
		"a Service that never opted in is not touched on update": {
			update:     true,
			oldLabels:  m(global, "true"),
			labels:     m(global, "true", "x", "y"),
			wantLabels: m(global, "true", "x", "y"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := Input{Service: service(tc.labels, tc.annotations), NamespaceLabels: tc.nsLabels, DefaultWaypoint: "waypoint"}
			if tc.update {
				in.OldService = service(tc.oldLabels, tc.oldAnnotations)
			}
			before := in.Service.DeepCopy()

			got := Decide(in)

			if got.Changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", got.Changed, tc.wantChanged)
			}
			if !maps.Equal(got.Service.Labels, tc.wantLabels) {
				t.Errorf("labels = %v, want %v", got.Service.Labels, tc.wantLabels)
			}
			if !maps.Equal(got.Service.Annotations, tc.wantAnnotations) {
				t.Errorf("annotations = %v, want %v", got.Service.Annotations, tc.wantAnnotations)
			}
			if len(got.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings = %q, want %d matching %q", got.Warnings, len(tc.wantWarnings), tc.wantWarnings)
			}
			for i, w := range tc.wantWarnings {
				if !strings.Contains(got.Warnings[i].String(), w) {
					t.Errorf("warning %q lacks %q", got.Warnings[i].String(), w)
				}
			}
			if !maps.Equal(in.Service.Labels, before.Labels) || !maps.Equal(in.Service.Annotations, before.Annotations) {
				t.Errorf("Decide modified its input")
			}

			// Admitting the output again must change nothing: the API server
			// may reinvoke the webhook (reinvocationPolicy: IfNeeded).
			again := in
			again.Service = got.Service
			if second := Decide(again); second.Changed {
				t.Errorf("not idempotent: second pass changed labels to %v, annotations to %v", second.Service.Labels, second.Service.Annotations)
			}
		})
	}
}
