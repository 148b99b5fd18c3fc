package validate

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	corev1 "k8s.io/api/core/v1"
)

// ServicePort is one port of the Service a DestinationRule's host names, as
// a waypoint builds clusters for it: one "http" cluster when Istio reads
// the port as HTTP, one "tcp" cluster when it reads it as TCP (or TLS), and
// both when it cannot tell.
type ServicePort struct {
	Number uint32
	HTTP   bool
	TCP    bool
}

// ServicePorts returns the ports a waypoint builds clusters for, following
// Istio's buildWaypointInboundVIP (pilot/pkg/networking/core/cluster_waypoint.go):
// UDP ports get none, and the protocol comes from ConvertProtocol
// (pkg/config/kube/conversion.go): appProtocol, else the port name's prefix,
// else TCP for a few well-known ports, else unknown (sniffed: both).
func ServicePorts(svc *corev1.Service) []ServicePort {
	var out []ServicePort
	for _, p := range svc.Spec.Ports {
		if p.Protocol == corev1.ProtocolUDP {
			continue
		}
		http, tcp := portKinds(p)
		out = append(out, ServicePort{Number: uint32(p.Port), HTTP: http, TCP: tcp})
	}
	return out
}

// wellKnownTCPPorts are the ports Istio reads as TCP when their name says
// nothing: SMTP, DNS, MySQL, MongoDB.
var wellKnownTCPPorts = map[int32]bool{25: true, 53: true, 3306: true, 27017: true}

func portKinds(p corev1.ServicePort) (http, tcp bool) {
	name := p.Name
	if p.AppProtocol != nil {
		name = *p.AppProtocol
		switch name {
		case "kubernetes.io/h2c", "kubernetes.io/ws":
			return true, false
		case "kubernetes.io/wss":
			return false, true
		}
	}
	if len(name) >= len("grpc-web") && strings.EqualFold(name[:len("grpc-web")], "grpc-web") {
		return true, false
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	switch strings.ToLower(name) {
	case "http", "http2", "http_proxy", "grpc":
		return true, false
	case "tcp", "https", "tls", "mongo", "redis", "mysql":
		return false, true
	case "udp":
		return false, false
	}
	if wellKnownTCPPorts[p.Port] {
		return false, true
	}
	return true, true
}

// Names of a waypoint's clusters for traffic that names no subset.
const (
	clusterHTTP = "http"
	clusterTCP  = "tcp"
)

// clusters names the clusters a waypoint builds for traffic on p that
// names no subset.
func (p ServicePort) clusters() []string {
	var out []string
	if p.HTTP {
		out = append(out, clusterHTTP)
	}
	if p.TCP {
		out = append(out, clusterTCP)
	}
	return out
}

// scopePorts are the ports to evaluate: the Service's when it is known,
// else every port a portLevelSettings entry names plus any other port,
// each with both clusters, since the protocol is unknown.
func scopePorts(spec *networking.DestinationRule, svc *corev1.Service) []ServicePort {
	if svc != nil {
		return ServicePorts(svc)
	}
	named := PortsNamed(spec)
	out := make([]ServicePort, len(named))
	for i, n := range named {
		out[i] = ServicePort{Number: n, HTTP: true, TCP: true}
	}
	return out
}
