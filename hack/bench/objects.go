package main

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"
	istionetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// The objects measured are those of Istio's failover guide as the seed
// scenario applies them: its helloworld Service labeled failover=cluster,
// and its DestinationRule (with outlier detection, so every configuration
// admits it).

// helloworldService returns the seed's helloworld Service named name in
// namespace, labeled failover=cluster.
func helloworldService(namespace, name string) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := yaml.UnmarshalStrict([]byte(seed.HelloworldService), svc); err != nil {
		return nil, fmt.Errorf("decoding the seed Service: %w", err)
	}
	svc.Namespace, svc.Name = namespace, name
	svc.Labels[keys.Trigger] = keys.TriggerValue
	return svc, nil
}

// guideDestinationRule returns the seed's guide DestinationRule named name
// in namespace.
func guideDestinationRule(namespace, name string) (*networkingv1.DestinationRule, error) {
	return seedDestinationRule(seed.GuideDestinationRule, namespace, name)
}

// noOutlierDestinationRule returns the guide's rule without outlier
// detection, which the webhook and the policy deny.
func noOutlierDestinationRule(namespace, name string) (*networkingv1.DestinationRule, error) {
	return seedDestinationRule(seed.NoOutlierDestinationRule, namespace, name)
}

func seedDestinationRule(manifest, namespace, name string) (*networkingv1.DestinationRule, error) {
	dr := &networkingv1.DestinationRule{}
	if err := yaml.Unmarshal([]byte(manifest), dr); err != nil {
		return nil, fmt.Errorf("decoding the seed DestinationRule: %w", err)
	}
	dr.Namespace, dr.Name = namespace, name
	dr.Spec.Host = name + "." + namespace + ".svc.cluster.local"
	return dr, nil
}

// setConsecutive5xxErrors changes the outlier detection of a guide rule: a
// spec change, so an update is evaluated in full.
func setConsecutive5xxErrors(dr *networkingv1.DestinationRule, n uint32) {
	if dr.Spec.TrafficPolicy.OutlierDetection == nil {
		dr.Spec.TrafficPolicy.OutlierDetection = &istionetworking.OutlierDetection{}
	}
	dr.Spec.TrafficPolicy.OutlierDetection.Consecutive_5XxErrors = wrapperspb.UInt32(n)
}

// createReview is the AdmissionReview the API server sends for creating
// obj (with the fields the API server sets before admission) through
// resource, as the load runs send it.
func createReview(obj runtime.Object, kind metav1.GroupVersionKind, resource metav1.GroupVersionResource, namespace, name string) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	dryRun := false
	options, _ := json.Marshal(metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}})
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID("705ab4f5-6393-11e8-b7cc-42010a800002"),
			Kind:            kind,
			Resource:        resource,
			RequestKind:     &kind,
			RequestResource: &resource,
			Name:            name,
			Namespace:       namespace,
			Operation:       admissionv1.Create,
			UserInfo:        authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}},
			Object:          runtime.RawExtension{Raw: raw},
			DryRun:          &dryRun,
			Options:         runtime.RawExtension{Raw: options},
		},
	})
}

// serviceReview is the review of creating the seed's helloworld Service.
func serviceReview(namespace string) ([]byte, error) {
	svc, err := helloworldService(namespace, seed.Service)
	if err != nil {
		return nil, err
	}
	svc.APIVersion, svc.Kind = "v1", "Service"
	svc.UID = "0f6a4b1e-1d2c-4c55-9f64-3b1a2a8d7e10"
	svc.CreationTimestamp = metav1.Now()
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	svc.Spec.ClusterIP = "10.0.0.34"
	svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	for i := range svc.Spec.Ports {
		svc.Spec.Ports[i].Protocol = corev1.ProtocolTCP
	}
	return createReview(svc,
		metav1.GroupVersionKind{Version: "v1", Kind: "Service"},
		metav1.GroupVersionResource{Version: "v1", Resource: "services"},
		namespace, svc.Name)
}

// destinationRuleReview is the review of creating the seed's guide
// DestinationRule.
func destinationRuleReview(namespace string) ([]byte, error) {
	dr, err := guideDestinationRule(namespace, seed.DestinationRule)
	if err != nil {
		return nil, err
	}
	dr.Spec.Host = seed.Service + "." + namespace + ".svc.cluster.local"
	dr.APIVersion, dr.Kind = networkingv1.SchemeGroupVersion.String(), "DestinationRule"
	dr.UID = "2a5f3c9e-8d0b-4e53-b2a1-0c6f7e9d1b44"
	dr.CreationTimestamp = metav1.Now()
	dr.Generation = 1
	gv := networkingv1.SchemeGroupVersion
	return createReview(dr,
		metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: "DestinationRule"},
		metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: "destinationrules"},
		namespace, dr.Name)
}
