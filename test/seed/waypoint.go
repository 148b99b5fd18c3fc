package seed

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WaypointDeployment is the Deployment istiod runs the guide's waypoint
// in, reduced to what the API server requires; it is named after the
// waypoint's Gateway, like the waypoint's Service.
const WaypointDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: waypoint
  namespace: sample
  labels:
    gateway.networking.k8s.io/gateway-name: waypoint
spec:
  replicas: 1
  selector:
    matchLabels:
      gateway.networking.k8s.io/gateway-name: waypoint
  template:
    metadata:
      labels:
        gateway.networking.k8s.io/gateway-name: waypoint
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2:1.28.0
`

// ReportReady sets the status of the stored Deployment d to one ready
// replica, as the Deployment controller would once its pod runs; control
// planes without controllers never do it themselves.
func ReportReady(ctx context.Context, c client.Client, d *unstructured.Unstructured) error {
	// The API server requires readyReplicas <= replicas.
	for field, v := range map[string]int64{"replicas": 1, "readyReplicas": 1} {
		if err := unstructured.SetNestedField(d.Object, v, "status", field); err != nil {
			return err
		}
	}
	if err := c.Status().Update(ctx, d); err != nil {
		return fmt.Errorf("setting the status of Deployment %s/%s: %w", d.GetNamespace(), d.GetName(), err)
	}
	return nil
}
