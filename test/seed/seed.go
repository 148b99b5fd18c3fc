// Package seed is Istio's guide "Configure failover behavior in multicluster
// ambient installation" played on clusters running failover-webhook: the
// guide's objects, and its steps as kubectl commands with what each must
// leave behind. The seed test and the demo (`make demo`) both play it, on
// two local control planes named like the guide's clusters.
//
// Where the guide labels Services by hand in every cluster, the scenario
// labels them failover=cluster once and expects the webhook to leave exactly
// the labels the guide's commands would; where the guide applies its
// DestinationRule, the scenario also applies it without outlierDetection and
// expects the webhook to deny it.
package seed

// ClusterNames are the guide's two clusters.
var ClusterNames = []string{"cluster1", "cluster2"}

// The names the guide uses.
const (
	Namespace       = "sample"
	Service         = "helloworld"
	Waypoint        = "waypoint"
	DestinationRule = "helloworld"
)

// Keys and names of the webhook's contract (docs/design.md §2), spelled out
// rather than taken from pkg/keys so that a renamed constant fails here.
const (
	trigger           = "failover"
	triggerValue      = "cluster"
	global            = "istio.io/global"
	useWaypoint       = "istio.io/use-waypoint"
	managedLabels     = "failover-webhook.io/managed-labels"
	validatingWebhook = "vdestinationrule.failover-webhook.io"
	// nativeValidatingPolicy is manifests/native's counterpart of
	// validatingWebhook.
	nativeValidatingPolicy = "failover-webhook-destinationrule"
)

// HelloworldService is the Service of Istio's samples/helloworld, which the
// guide builds on.
const HelloworldService = `apiVersion: v1
kind: Service
metadata:
  name: helloworld
  labels:
    app: helloworld
    service: helloworld
spec:
  ports:
  - port: 5000
    name: http
  selector:
    app: helloworld
`

// WaypointService is the Service istiod generates (from the waypoint
// template of istio-discovery) for the Gateway of
// `istioctl waypoint apply --name waypoint --for service -n sample`, once
// that Gateway is labeled failover=cluster: Istio copies the Gateway's
// labels onto it, adds the gateway name and class, and marks it managed by
// the mesh controller. Its ports are the status port and the HBONE (mesh)
// listener. Left out: the owner reference to the Gateway (there is no
// Gateway API here), and the topology.istio.io/network label istiod adds
// when the mesh has a network configured, which the webhook does not read.
const WaypointService = `apiVersion: v1
kind: Service
metadata:
  name: waypoint
  namespace: sample
  labels:
    failover: cluster
    gateway.istio.io/managed: istio.io-mesh-controller
    gateway.networking.k8s.io/gateway-class-name: istio-waypoint
    gateway.networking.k8s.io/gateway-name: waypoint
    istio.io/waypoint-for: service
  annotations:
    networking.istio.io/traffic-distribution: PreferClose
spec:
  type: ClusterIP
  ipFamilyPolicy: PreferDualStack
  selector:
    gateway.networking.k8s.io/gateway-name: waypoint
  ports:
  - name: status-port
    port: 15021
    protocol: TCP
    appProtocol: tcp
  - name: mesh
    port: 15008
    protocol: TCP
    appProtocol: hbone
`

// GuideDestinationRule is the guide's DestinationRule, as it applies it.
const GuideDestinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 1m
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failoverPriority:
          - topology.istio.io/cluster
`

// NoOutlierDestinationRule is the guide's DestinationRule without
// outlierDetection: Istio accepts it with a warning, and its failover then
// silently does nothing.
const NoOutlierDestinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failoverPriority:
          - topology.istio.io/cluster
`

// Steps returns the guide's steps in order. Each runs in every cluster.
func Steps() []Step {
	return []Step{
		{
			Title:   "Create the sample namespace",
			Args:    []string{"create", "namespace", Namespace},
			observe: object{kind: namespaceKind, name: Namespace},
			want:    outcome{stored: true},
		},
		{
			Title: "Deploy the HelloWorld Service of Istio's samples/helloworld, not opted in yet",
			Note: "The webhook is not called: its configuration selects only Services labeled " +
				trigger + "=" + triggerValue + ".",
			File:     "helloworld.yaml",
			Manifest: HelloworldService,
			Args:     []string{"apply", "-n", Namespace, "-f", "-"},
			observe:  object{kind: serviceKind, name: Service},
			want: outcome{stored: true, labels: map[string]string{
				"app":     "helloworld",
				"service": "helloworld",
			}},
		},
		{
			Title: "Opt the HelloWorld Service in: label it " + trigger + "=" + triggerValue,
			Replaces: []string{
				"kubectl label svc helloworld -n sample istio.io/use-waypoint=waypoint",
				"kubectl label svc helloworld -n sample istio.io/global=true   # from the multicluster install guide",
			},
			Args:      []string{"label", "svc", Service, "-n", Namespace, trigger + "=" + triggerValue},
			setLabels: map[string]string{trigger: triggerValue},
			observe:   object{kind: serviceKind, name: Service},
			// The guide's labels, plus the trigger.
			want: outcome{stored: true, managed: "istio.io/global,istio.io/use-waypoint", labels: map[string]string{
				"app":       "helloworld",
				"service":   "helloworld",
				trigger:     triggerValue,
				useWaypoint: Waypoint,
				global:      "true",
			}},
		},
		{
			Title: "Deploy the waypoint, its Gateway labeled " + trigger + "=" + triggerValue,
			Note: "Istio is not running here, so after\n" +
				"  istioctl waypoint apply --name waypoint --for service -n sample --wait\n" +
				"  kubectl label gateway waypoint -n sample failover=cluster\n" +
				"the Service istiod generates for that Gateway is applied the way istiod applies it:\n" +
				"server-side, with istiod's field manager.",
			Replaces: []string{"kubectl label svc waypoint -n sample istio.io/global=true"},
			File:     "waypoint-service.yaml",
			Manifest: WaypointService,
			Args: []string{"apply", "--server-side", "--force-conflicts", "--field-manager=istio.io/gateway-controller",
				"-n", Namespace, "-f", "-"},
			observe: object{kind: serviceKind, name: Waypoint},
			// What Istio generated, plus the guide's label; never
			// istio.io/use-waypoint, which a waypoint's own Service must
			// not carry.
			want: outcome{stored: true, managed: "istio.io/global", labels: map[string]string{
				trigger:                    triggerValue,
				"gateway.istio.io/managed": "istio.io-mesh-controller",
				"gateway.networking.k8s.io/gateway-class-name": "istio-waypoint",
				"gateway.networking.k8s.io/gateway-name":       Waypoint,
				"istio.io/waypoint-for":                        "service",
				global:                                         "true",
			}},
		},
		{
			Title:    "Apply the guide's DestinationRule without outlierDetection: denied",
			Note:     "Istio itself only warns about this rule; its failover would silently do nothing.",
			File:     "helloworld-destinationrule-no-outlier.yaml",
			Manifest: NoOutlierDestinationRule,
			Args:     []string{"apply", "-n", Namespace, "-f", "-"},
			observe:  object{kind: destinationRuleKind, name: DestinationRule},
			want: outcome{denial: &denial{
				webhook: validatingWebhook,
				field:   "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
				fix:     []string{"add outlierDetection next to it (spec.trafficPolicy.outlierDetection)", "consecutive5xxErrors"},
			}},
		},
		{
			Title:    "Apply the guide's DestinationRule: admitted",
			File:     "helloworld-destinationrule.yaml",
			Manifest: GuideDestinationRule,
			Args:     []string{"apply", "-n", Namespace, "-f", "-"},
			observe:  object{kind: destinationRuleKind, name: DestinationRule},
			want:     outcome{stored: true},
		},
	}
}
