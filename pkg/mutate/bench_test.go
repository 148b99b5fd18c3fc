package mutate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/test/admissionbench"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// The benchmarks run on the objects of Istio's failover guide as the seed
// scenario applies them (test/seed), labeled failover=cluster as the
// scenario labels them, and on a large Service. docs/benchmarks.md
// publishes their results; `make bench` runs them.

// seedService decodes one of the seed's Service manifests into the object
// the API server sends in an admission review: in namespace sample,
// labeled failover=cluster, with the fields the API server defaults.
func seedService(b *testing.B, manifest string) *corev1.Service {
	b.Helper()
	svc := &corev1.Service{}
	if err := yaml.UnmarshalStrict([]byte(manifest), svc); err != nil {
		b.Fatalf("decoding the seed manifest: %v", err)
	}
	svc.Namespace = seed.Namespace
	svc.UID = "0f6a4b1e-1d2c-4c55-9f64-3b1a2a8d7e10"
	svc.ResourceVersion = "1234"
	if svc.Labels == nil {
		svc.Labels = map[string]string{}
	}
	svc.Labels[keys.Trigger] = keys.TriggerValue
	apiServerDefaults(svc)
	return svc
}

// apiServerDefaults fills in what the API server sets on a ClusterIP
// Service before admission.
func apiServerDefaults(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	spec.ClusterIP = "10.96.12.34"
	spec.ClusterIPs = []string{spec.ClusterIP}
	spec.SessionAffinity = corev1.ServiceAffinityNone
	spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	if spec.IPFamilyPolicy == nil {
		single := corev1.IPFamilyPolicySingleStack
		spec.IPFamilyPolicy = &single
	}
	cluster := corev1.ServiceInternalTrafficPolicyCluster
	spec.InternalTrafficPolicy = &cluster
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
}

// largeService is a Service with many ports, labels and annotations, as a
// generated multi-port Service can be.
func largeService(b *testing.B) *corev1.Service {
	svc := seedService(b, seed.HelloworldService)
	svc.Name = "large"
	svc.Annotations = map[string]string{}
	for i := range 64 {
		svc.Labels[fmt.Sprintf("example.com/label-%02d", i)] = fmt.Sprintf("value-%02d", i)
		svc.Annotations[fmt.Sprintf("example.com/annotation-%02d", i)] = fmt.Sprintf("a longer annotation value number %02d, as tools write them", i)
	}
	svc.Spec.Ports = nil
	for i := range 100 {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("port-%03d", i), Port: int32(8000 + i)})
	}
	apiServerDefaults(svc)
	return svc
}

// kubectlApplied returns svc as `kubectl apply` and then `kubectl label
// ... failover=cluster` leave it, and the API server sends it: with the
// last-applied-configuration annotation and the managedFields of both, as
// read from a real API server.
func kubectlApplied(b *testing.B, svc *corev1.Service) (labeled, old *corev1.Service) {
	b.Helper()
	labeled = svc.DeepCopy()
	labeled.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"helloworld","service":"helloworld"},"name":"helloworld","namespace":"sample"},"spec":{"ports":[{"name":"http","port":5000}],"selector":{"app":"helloworld"}}}` + "\n"}
	const managedFields = `[
	  {"apiVersion":"v1","fieldsType":"FieldsV1","manager":"kubectl-client-side-apply","operation":"Update","time":"2026-11-26T00:42:47Z",
	   "fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{},"f:service":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\"port\":5000,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}},
	  {"apiVersion":"v1","fieldsType":"FieldsV1","manager":"kubectl-label","operation":"Update","time":"2026-11-26T00:42:48Z",
	   "fieldsV1":{"f:metadata":{"f:labels":{"f:failover":{}}}}}
	]`
	if err := json.Unmarshal([]byte(managedFields), &labeled.ManagedFields); err != nil {
		b.Fatal(err)
	}
	old = labeled.DeepCopy()
	delete(old.Labels, keys.Trigger)
	old.ManagedFields = old.ManagedFields[:1]
	return labeled, old
}

// admitted returns svc as the webhook admits it: the input of a
// reinvocation, or of an UPDATE that changes nothing the webhook owns.
func admitted(svc *corev1.Service) *corev1.Service {
	return mutate.Decide(mutate.Input{Service: svc, DefaultWaypoint: defaultWaypoint}).Service
}

func BenchmarkDecide(b *testing.B) {
	helloworld := seedService(b, seed.HelloworldService)
	for _, bc := range []struct {
		name     string
		svc, old *corev1.Service
	}{
		{"seed helloworld Service create, labels added", helloworld, nil},
		{"seed helloworld Service update, nothing to add", admitted(helloworld), admitted(helloworld)},
		{"seed waypoint Service create, global label added", seedService(b, seed.WaypointService), nil},
		{"Service with 100 ports and 65 labels create, labels added", largeService(b), nil},
	} {
		in := mutate.Input{Service: bc.svc, OldService: bc.old, DefaultWaypoint: defaultWaypoint}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mutate.Decide(in)
			}
		})
	}
}

// benchReview is the AdmissionReview the API server sends for svc.
func benchReview(b *testing.B, operation string, svc, old *corev1.Service) []byte {
	b.Helper()
	encode := func(s *corev1.Service) string {
		s = s.DeepCopy()
		s.APIVersion, s.Kind = "v1", "Service"
		raw, err := json.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		return string(raw)
	}
	r := review{operation: operation, namespace: svc.Namespace, object: encode(svc)}
	if old != nil {
		r.oldObject = encode(old)
	}
	return r.body(b)
}

// BenchmarkHandler measures a full admission: the AdmissionReview body
// decoded by controller-runtime, the Service decoded, the namespace looked
// up, the rules applied, the patch computed and the response encoded.
func BenchmarkHandler(b *testing.B) {
	admissionbench.UseProductionLogger()
	ns := namespaces.Static{seed.Namespace: {"kubernetes.io/metadata.name": seed.Namespace}}
	mutating := server.NewAdmission(mutate.NewHandler(ns, defaultWaypoint))
	// The floor of the transport: controller-runtime decoding the review
	// and encoding an answer, with a handler that reads nothing.
	allowAll := server.NewAdmission(admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	}))
	helloworld := seedService(b, seed.HelloworldService)
	labeled, unlabeled := kubectlApplied(b, helloworld)
	for _, bc := range []struct {
		name      string
		handler   http.Handler
		body      []byte
		wantPatch bool
	}{
		{"controller-runtime alone, allowing without reading the Service", allowAll, benchReview(b, "CREATE", helloworld, nil), false},
		{"seed helloworld Service create, patched", mutating, benchReview(b, "CREATE", helloworld, nil), true},
		{"seed helloworld Service labeled after kubectl apply (managedFields, last-applied annotation), update, patched", mutating, benchReview(b, "UPDATE", labeled, unlabeled), true},
		{"seed helloworld Service update, allowed unchanged", mutating, benchReview(b, "UPDATE", admitted(helloworld), admitted(helloworld)), false},
		{"seed waypoint Service create, patched", mutating, benchReview(b, "CREATE", seedService(b, seed.WaypointService), nil), true},
		{"Service with 100 ports and 65 labels create, patched", mutating, benchReview(b, "CREATE", largeService(b), nil), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			resp := admissionbench.Answer(b, bc.handler, mutate.Path, bc.body)
			if !resp.Allowed || (len(resp.Patch) > 0) != bc.wantPatch {
				b.Fatalf("allowed %v with patch %s, want allowed and a patch: %v", resp.Allowed, resp.Patch, bc.wantPatch)
			}
			admissionbench.Run(b, bc.handler, mutate.Path, bc.body)
		})
	}
}
