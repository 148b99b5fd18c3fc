package native_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/tables"
)

// drCase is one DestinationRule spec of the corpus.
type drCase struct {
	name string
	spec map[string]any
}

// decisionTableSpecs returns every DestinationRule spec written in the
// decision tables of pkg/validate (each `spec:` field of a test table whose
// value is a string constant), read from the test sources so that a row added
// there is sent to both policies here without being copied.
func decisionTableSpecs() ([]drCase, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	rows, err := tables.DestinationRuleSpecs(filepath.Join(root, "pkg", "validate"))
	if err != nil {
		return nil, err
	}
	out := make([]drCase, len(rows))
	for i, r := range rows {
		out[i] = drCase{name: fmt.Sprintf("table %s", r.Pos), spec: r.Spec}
	}
	return out, nil
}

// agreementSpecs returns the DestinationRules of test/testdata/agreement.
func agreementSpecs() ([]drCase, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, "test", "testdata", "agreement", "destinationrules.yaml"))
	if err != nil {
		return nil, err
	}
	var out []drCase
	for _, doc := range strings.Split(string(b), "\n---") {
		var obj struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     map[string]any
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		if obj.Kind == "DestinationRule" {
			out = append(out, drCase{name: "agreement " + obj.Metadata.Name, spec: obj.Spec})
		}
	}
	return out, nil
}

// generatedSpecs returns n DestinationRule specs drawn with a fixed seed from
// every shape the rule reads: subsets with and without a traffic policy, port
// entries at both levels (repeated ports among them), failover and
// failoverPriority, enabled true, false or unset, outlierDetection absent, empty
// or set. zoneAwareLbSetting is left out: only the webhook reports it as a
// violation today, and its rule is a warning in docs/design.md.
func generatedSpecs(n int) []drCase {
	r := rand.New(rand.NewPCG(14, 1))
	ports := []int64{80, 443, 5000, 9080}
	pick := func(p float64) bool { return r.Float64() < p }
	outlier := func() map[string]any {
		if pick(0.5) {
			return map[string]any{}
		}
		return map[string]any{"consecutive5xxErrors": int64(1), "interval": "1s", "baseEjectionTime": "1m"}
	}
	loadBalancer := func() map[string]any {
		lb := map[string]any{"simple": "ROUND_ROBIN"}
		if !pick(0.7) {
			return lb
		}
		l := map[string]any{}
		switch r.IntN(3) {
		case 0:
			l["failoverPriority"] = []any{"topology.istio.io/network", "topology.istio.io/cluster"}
		case 1:
			l["failover"] = []any{map[string]any{"from": "us-east", "to": "us-west"}}
		default:
			l["failoverPriority"] = []any{"topology.istio.io/cluster"}
			l["failover"] = []any{map[string]any{"from": "us-east", "to": "us-west"}}
		}
		switch r.IntN(4) {
		case 0:
			l["enabled"] = false
		case 1:
			l["enabled"] = true
		}
		lb["localityLbSetting"] = l
		return lb
	}
	policy := func(portEntries bool) map[string]any {
		p := map[string]any{}
		if pick(0.6) {
			p["loadBalancer"] = loadBalancer()
		}
		if pick(0.5) {
			p["outlierDetection"] = outlier()
		}
		if pick(0.2) {
			p["connectionPool"] = map[string]any{"tcp": map[string]any{"maxConnections": int64(100)}}
		}
		if portEntries && pick(0.5) {
			var entries []any
			for range 1 + r.IntN(3) {
				e := map[string]any{"port": map[string]any{"number": ports[r.IntN(len(ports))]}}
				if pick(0.6) {
					e["loadBalancer"] = loadBalancer()
				}
				if pick(0.5) {
					e["outlierDetection"] = outlier()
				}
				entries = append(entries, e)
			}
			p["portLevelSettings"] = entries
		}
		return p
	}
	out := make([]drCase, n)
	for i := range out {
		spec := map[string]any{"host": "helloworld.sample.svc.cluster.local"}
		if pick(0.8) {
			spec["trafficPolicy"] = policy(true)
		}
		if pick(0.6) {
			var subsets []any
			for j := range 1 + r.IntN(3) {
				s := map[string]any{"name": fmt.Sprintf("v%d", j+1), "labels": map[string]any{"version": fmt.Sprintf("v%d", j+1)}}
				if pick(0.6) {
					s["trafficPolicy"] = policy(true)
				}
				subsets = append(subsets, s)
			}
			spec["subsets"] = subsets
		}
		out[i] = drCase{name: fmt.Sprintf("generated %d", i), spec: spec}
	}
	return out
}

// versions are the served networking.istio.io versions; case i is sent as
// versions[i%3].
var versions = []string{"v1", "v1beta1", "v1alpha3"}

// modes are the namespace modes, in the label's values.
var modes = []string{"enforce", "warn", "audit", "off"}
