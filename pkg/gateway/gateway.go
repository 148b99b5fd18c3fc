// Package gateway reads what of a waypoint's Gateway
// (gateways.gateway.networking.k8s.io) decides the labels Istio puts on
// the waypoint's Service, and says how to label it.
package gateway

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// GVK is the Gateway API's Gateway.
var GVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}

// WaypointClass is the GatewayClass of Istio's waypoints
// (constants.WaypointGatewayClassName).
const WaypointClass = "istio-waypoint"

// Gateway is what decides the labels of the Service Istio generates for a
// Gateway.
type Gateway struct {
	// Class is spec.gatewayClassName.
	Class string
	// Labels are the Gateway's own labels.
	Labels map[string]string
	// InfrastructureLabels are spec.infrastructure.labels, and
	// SetsInfrastructureLabels says whether that field is set at all.
	// Istio copies the Gateway's own labels onto the Service it generates
	// only when spec.infrastructure.labels is unset; once set, even to
	// {}, it copies those instead (extractInfrastructureMetadata in
	// pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go).
	InfrastructureLabels     map[string]string
	SetsInfrastructureLabels bool
}

// Of reads gw, a Gateway as unstructured content.
func Of(gw *unstructured.Unstructured) *Gateway {
	class, _, _ := unstructured.NestedString(gw.Object, "spec", "gatewayClassName")
	out := &Gateway{Class: class, Labels: gw.GetLabels()}
	if infra, found, err := unstructured.NestedStringMap(gw.Object, "spec", "infrastructure", "labels"); found && err == nil {
		out.SetsInfrastructureLabels = true
		out.InfrastructureLabels = infra
	}
	return out
}

// LabelsReachingService are the labels of the Gateway that Istio copies
// onto the waypoint's Service.
func (g *Gateway) LabelsReachingService() map[string]string {
	if g.SetsInfrastructureLabels {
		return g.InfrastructureLabels
	}
	return g.Labels
}

// LabelCommand is the kubectl command (with kubectl's cluster
// flags, such as "--context cluster2", or none) that makes Istio put
// key=value on the Service of the waypoint whose Gateway is
// namespace/name: a label on the Gateway, or, when gw is known to set
// spec.infrastructure.labels, a patch adding it there, where it is the
// only place Istio reads.
func LabelCommand(kubectl string, gateway types.NamespacedName, gw *Gateway, key, value string) string {
	flags := ""
	if kubectl != "" {
		flags = " " + kubectl
	}
	if gw != nil && gw.SetsInfrastructureLabels {
		return fmt.Sprintf(`kubectl%s patch gateways.gateway.networking.k8s.io %s -n %s --type=merge -p '{"spec":{"infrastructure":{"labels":{%q:%q}}}}'`,
			flags, gateway.Name, gateway.Namespace, key, value)
	}
	return fmt.Sprintf("kubectl%s label gateways.gateway.networking.k8s.io %s -n %s %s=%s --overwrite", flags, gateway.Name, gateway.Namespace, key, value)
}
