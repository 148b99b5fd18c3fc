package validate_test

import (
	"context"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/services"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// A rule whose top level fails over with outlier detection, and whose
// port entry for port 9999 fails over without: only a Service with port
// 9999 makes that a hole.
const portEntrySpec = `{"host":"helloworld","trafficPolicy":{"outlierDetection":{},` +
	`"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}},` +
	`"portLevelSettings":[{"port":{"number":9999},"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}]}}`

func TestHandlerReadsTheServiceOfTheHost(t *testing.T) {
	service := func(port int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: "sample"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}},
		}
	}
	tests := map[string]struct {
		services []*corev1.Service
		read     bool
		allowed  bool
	}{
		"a Service without the port allows the rule: Istio builds no cluster for port 9999": {services: []*corev1.Service{service(5000)}, read: true, allowed: true},
		"a Service with the port denies it":                                                 {services: []*corev1.Service{service(9999)}, read: true},
		"no Service judges every named port and any other port: denied":                     {read: true},
		"a handler that reads no Services judges conservatively: denied":                    {services: []*corev1.Service{service(5000)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := validate.NewHandler(namespaces.Static{})
			if tc.read {
				b := fake.NewClientBuilder()
				for _, s := range tc.services {
					b = b.WithObjects(s)
				}
				h = h.WithServices(services.NewReader(b.Build()))
			}
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID:       "1",
				Kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"},
				Resource:  metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
				Namespace: "sample",
				Operation: admissionv1.Create,
				Object:    runtime.RawExtension{Raw: []byte(drJSON("v1", portEntrySpec))},
			}}
			resp := h.Handle(context.Background(), req)
			if resp.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
		})
	}
}
