package validate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
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

// createInSample is the admission request creating a v1 DestinationRule
// with spec in namespace sample.
func createInSample(spec string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "1",
		Kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"},
		Resource:  metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
		Namespace: "sample",
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: []byte(drJSON("v1", spec))},
	}}
}

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
			resp := h.Handle(context.Background(), createInSample(portEntrySpec))
			if resp.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
		})
	}
}

// A rule every conservative scope passes needs no Service: the handler
// admits it without a read. A rule whose conservative scopes fail is read
// for; when the read fails, the denial says the Service could not be read
// rather than that it does not exist.
func TestHandlerReadsOnlyWhenTheServiceCanMatter(t *testing.T) {
	const compliantSpec = `{"host":"helloworld","trafficPolicy":{"outlierDetection":{"consecutive5xxErrors":1},` +
		`"loadBalancer":{"localityLbSetting":{"failoverPriority":["topology.istio.io/cluster"]}}}}`
	tests := map[string]struct {
		spec     string
		nsLabels map[string]string
		getErr   error
		gets     int
		allowed  bool
		contains string
	}{
		"a compliant rule is admitted without a read":              {spec: compliantSpec, allowed: true},
		"a rule with a hole on some port reads the Service":        {spec: portEntrySpec, gets: 1, contains: "(Service helloworld was not found,"},
		"a namespace in mode off judges nothing, so reads nothing": {spec: portEntrySpec, nsLabels: map[string]string{keys.Enforcement: "off"}, allowed: true},
		"a Service that cannot be read is said so":                 {spec: portEntrySpec, getErr: errors.New("connection refused"), gets: 1, contains: "(Service helloworld could not be read,"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gets := 0
			api := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					gets++
					if tc.getErr != nil {
						return tc.getErr
					}
					return c.Get(ctx, key, obj, opts...)
				},
			}).Build()
			h := validate.NewHandler(namespaces.Static{"sample": tc.nsLabels}).WithServices(services.NewReader(api))
			resp := h.Handle(context.Background(), createInSample(tc.spec))
			if resp.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			if gets != tc.gets {
				t.Errorf("Service reads = %d, want %d", gets, tc.gets)
			}
			if tc.contains != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.contains)) {
				t.Errorf("message does not contain %q: %+v", tc.contains, resp.Result)
			}
		})
	}
}
