package validate

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Target is what the rule knows of where a DestinationRule applies.
type Target struct {
	// Namespace is the rule's namespace; "" when unknown.
	Namespace string
	// Service is the Kubernetes Service the rule's host names, read by
	// the caller; nil when the host names none or it was not read.
	Service *corev1.Service
	// ServiceKey names the Service the host names; zero when it names
	// none (a ServiceEntry host, a wildcard).
	ServiceKey types.NamespacedName
}

// ServiceOf returns the Kubernetes Service host names from a rule in
// namespace: a short name (no dot) is a Service of that namespace, as
// Istio's ResolveShortnameToFQDN reads it, and NAME.NAMESPACE.svc.DOMAIN
// is NAME in NAMESPACE. Any other host names no Service the webhook can
// read.
func ServiceOf(host, namespace string) (types.NamespacedName, bool) {
	if host == "" || strings.Contains(host, "*") {
		return types.NamespacedName{}, false
	}
	labels := strings.Split(host, ".")
	switch {
	case len(labels) == 1 && namespace != "":
		return types.NamespacedName{Namespace: namespace, Name: host}, true
	case len(labels) >= 4 && labels[2] == "svc":
		return types.NamespacedName{Namespace: labels[1], Name: labels[0]}, true
	}
	return types.NamespacedName{}, false
}

// TargetOf builds the Target of spec in namespace, reading the Service its
// host names through lookup (nil when Services cannot be read; it returns
// nil for a Service it does not have) only when spec declares failover:
// only then do the ports matter.
func TargetOf(spec *networking.DestinationRule, namespace string, lookup func(types.NamespacedName) *corev1.Service) Target {
	t := Target{Namespace: namespace}
	if !DeclaresFailoverPolicy(spec) {
		return t
	}
	key, ok := ServiceOf(spec.GetHost(), namespace)
	if !ok || lookup == nil {
		return t
	}
	t.ServiceKey, t.Service = key, lookup(key)
	return t
}
