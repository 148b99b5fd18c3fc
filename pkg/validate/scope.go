package validate

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// scope is one (subset, port) pair Istio builds a cluster for.
type scope struct {
	subset *networking.Subset // nil: traffic without a subset
	port   uint32             // AnyPort: ports no entry names
	// anyPort is set when no port is named anywhere, so the port need not
	// be mentioned at all.
	anyPort bool
	// viaSubset names the subset ("http" or "tcp") whose load balancing
	// the cluster for traffic without a subset takes.
	viaSubset string
}

func (s scope) String() string {
	name := ScopeName(s.subset.GetName(), s.port, s.anyPort)
	if s.viaSubset != "" {
		name += fmt.Sprintf(" (whose %q cluster takes its load balancing from subset %q)", s.viaSubset, s.viaSubset)
	}
	return name
}

// ScopeName names a (subset, port) scope the way every message of the
// webhook, of check, of audit and of drift does: `subset "v2" port 5000`,
// `traffic without a subset on any other port`. subset is "" for traffic
// without a subset (Istio rejects a subset without a name); port is AnyPort
// for the ports no portLevelSettings entry names; onlyPort leaves the port
// out when no port is named anywhere, so every port is the same scope.
func ScopeName(subset string, port uint32, onlyPort bool) string {
	var b strings.Builder
	if subset == "" {
		b.WriteString("traffic without a subset")
	} else {
		fmt.Fprintf(&b, "subset %q", subset)
	}
	switch {
	case onlyPort:
	case port == AnyPort:
		b.WriteString(" on any other port")
	default:
		fmt.Fprintf(&b, " port %d", port)
	}
	return b.String()
}
