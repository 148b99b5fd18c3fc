package validate_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/test/admissionbench"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// The benchmarks run on the DestinationRules of Istio's failover guide as
// the seed scenario applies them (test/seed), and on a large rule.
// docs/benchmarks.md publishes their results; `make bench` runs them.

// Size of the large DestinationRule: every subset sets its own failover
// and port entries, so the rule has (largeSubsets+1) × (largePorts+1)
// scopes, each resolved through Istio's merge.
const (
	largeSubsets = 50
	largePorts   = 20
)

// seedSpecJSON returns the spec of a seed DestinationRule manifest as JSON.
func seedSpecJSON(b *testing.B, manifest string) string {
	b.Helper()
	var obj struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(manifest), &obj); err != nil {
		b.Fatalf("decoding the seed manifest: %v", err)
	}
	return string(obj.Spec)
}

// largeSpecJSON is a DestinationRule with largeSubsets subsets and
// largePorts port entries at the top level and in every subset, locality
// failover everywhere and outlier detection wherever a port entry needs
// it; withOutlierDetection false drops them all, so every scope violates.
func largeSpecJSON(withOutlierDetection bool) string {
	od := func(n int) string {
		if !withOutlierDetection {
			return ""
		}
		return fmt.Sprintf(`"outlierDetection":{"consecutive5xxErrors":%d,"interval":"1s","baseEjectionTime":"1m"},`, n%5+1)
	}
	failover := `"loadBalancer":{"simple":"ROUND_ROBIN","localityLbSetting":{"enabled":true,"failoverPriority":["topology.istio.io/network","topology.istio.io/cluster","topology.kubernetes.io/zone"]}}`
	ports := func() string {
		entries := make([]string, largePorts)
		for p := range largePorts {
			entries[p] = fmt.Sprintf(`{"port":{"number":%d},%s"connectionPool":{"tcp":{"maxConnections":%d}},%s}`, 8000+p, od(p), 100+p, failover)
		}
		return `"portLevelSettings":[` + strings.Join(entries, ",") + `]`
	}
	subsets := make([]string, largeSubsets)
	for s := range largeSubsets {
		subsets[s] = fmt.Sprintf(`{"name":"v%d","labels":{"version":"v%d","track":"stable"},"trafficPolicy":{%s%s,%s}}`, s, s, od(s), failover, ports())
	}
	return `{"host":"reviews.sample.svc.cluster.local","trafficPolicy":{` + od(0) + failover + `,` + ports() + `},` +
		`"subsets":[` + strings.Join(subsets, ",") + `]}`
}

func decodeSpec(b *testing.B, specJSON string) *networking.DestinationRule {
	b.Helper()
	spec := &networking.DestinationRule{}
	if err := spec.UnmarshalJSON([]byte(specJSON)); err != nil {
		b.Fatalf("decoding the spec: %v", err)
	}
	return spec
}

type benchRule struct {
	name    string
	spec    string
	allowed bool
}

func benchRules(b *testing.B) []benchRule {
	return []benchRule{
		{"seed guide DestinationRule, allowed", seedSpecJSON(b, seed.GuideDestinationRule), true},
		{"seed DestinationRule without outlierDetection, denied", seedSpecJSON(b, seed.NoOutlierDestinationRule), false},
		{fmt.Sprintf("DestinationRule with %d subsets × %d ports, allowed", largeSubsets, largePorts), largeSpecJSON(true), true},
		{fmt.Sprintf("DestinationRule with %d subsets × %d ports, denied", largeSubsets, largePorts), largeSpecJSON(false), false},
	}
}

// BenchmarkDecision measures the rule on a decoded spec: Evaluate (Istio's
// merge per scope, the findings) and Judge (the namespace's mode) through
// Admit, as the handler calls them.
func BenchmarkDecision(b *testing.B) {
	nsLabels := map[string]string{"kubernetes.io/metadata.name": seed.Namespace}
	for _, bc := range benchRules(b) {
		spec := decodeSpec(b, bc.spec)
		if got := validate.Admit(spec, validate.Target{}, nsLabels, false).Allowed(); got != bc.allowed {
			b.Fatalf("%s: allowed = %v", bc.name, got)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				validate.Admit(spec, validate.Target{}, nsLabels, false)
			}
		})
	}
}

// BenchmarkHandler measures a full admission: the AdmissionReview body
// decoded by controller-runtime, the DestinationRule's spec decoded as
// the handler decodes it (decodeAdmittedSpec), the namespace looked up, the rule evaluated and judged,
// and the response encoded. Updates change the spec, so nothing is skipped.
func BenchmarkHandler(b *testing.B) {
	admissionbench.UseProductionLogger()
	ns := namespaces.Static{seed.Namespace: {"kubernetes.io/metadata.name": seed.Namespace}}
	handler := server.NewAdmission(validate.NewHandler(ns))
	for _, bc := range benchRules(b) {
		for _, op := range []string{"CREATE", "UPDATE"} {
			r := review{operation: op, namespace: seed.Namespace, object: drJSON("v1", bc.spec)}
			if op == "UPDATE" {
				// The stored rule had another host: a spec change.
				r.oldObject = drJSON("v1", strings.Replace(bc.spec, `"host":"`, `"host":"old-`, 1))
			}
			body := r.body(b)
			b.Run(strings.ToLower(op)+" "+bc.name, func(b *testing.B) {
				if resp := admissionbench.Answer(b, handler, validate.Path, body); resp.Allowed != bc.allowed {
					b.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, bc.allowed, resp.Result)
				}
				admissionbench.Run(b, handler, validate.Path, body)
			})
		}
	}
}
