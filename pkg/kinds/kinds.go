// Package kinds is the one runtime.Scheme of the webhook, of check and of
// audit: the kinds they decode. The commands that only read objects use it
// without importing the server.
package kinds

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Scheme returns a scheme knowing core Kubernetes kinds and the three
// networking.istio.io versions of DestinationRule.
func Scheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		networkingv1.AddToScheme,
		networkingv1beta1.AddToScheme,
		networkingv1alpha3.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}
