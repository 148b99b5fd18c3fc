package oracle

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/tables"
)

// corpusSeed fixes the generated corpus, so every run judges the same rules.
const corpusSeed = 20261204

// generatedCases is how many rules the generator writes.
const generatedCases = 320

// namedCase is one case of the corpus with a name for t.Run.
type namedCase struct {
	name string
	istioCase
}

// servicePortSets are the Services the generated rules are judged for: an
// HTTP port, a TCP port, and a port whose protocol Istio cannot tell (it
// gets both an http and a tcp cluster).
var servicePortSets = [][]servicePort{
	{{"http", 80}},
	{{"http", 80}, {"tcp-db", 90}},
	{{"http", 80}, {"web", 8080}},
}

// generateCorpus returns n rules for host app in namespace default, each
// combining what the waypoint's merge depends on: subsets (some named http
// or tcp), port entries (some for ports the Service does not have),
// locality and zone-aware load balancing, distribute, enabled: false,
// outlier detection at every level, exportTo, a workloadSelector that
// selects the waypoint, and the host's spellings.
func generateCorpus(n int) []namedCase {
	r := rand.New(rand.NewPCG(corpusSeed, 0))
	out := make([]namedCase, 0, n)
	for i := range n {
		spec := generatedSpec(r)
		rule := ruleYAML(fmt.Sprintf("gen-%03d", i), spec)
		out = append(out, namedCase{
			name:      fmt.Sprintf("generated rule %03d", i),
			istioCase: istioCase{ports: servicePortSets[r.IntN(len(servicePortSets))], rules: []string{rule}},
		})
	}
	return out
}

// generatedSpec is one generated DestinationRule spec for host app.
func generatedSpec(r *rand.Rand) map[string]any {
	// The two spellings of the Service's host; "app.default" names no
	// Kubernetes Service (ResolveShortnameToFQDN takes it as fully
	// qualified), so the webhook judges it on conservative scopes and
	// Istio applies it to nothing here.
	spec := map[string]any{"host": pick(r, "app", "app", "app.default.svc.cluster.local")}
	if tp := trafficPolicy(r, true); tp != nil {
		spec["trafficPolicy"] = tp
	}
	if k := r.IntN(4); k > 0 {
		var subsets []any
		names := r.Perm(4)[:k]
		for _, j := range names {
			s := map[string]any{"name": []string{"v1", "v2", "http", "tcp"}[j], "labels": map[string]any{"app": "app"}}
			if r.IntN(3) > 0 {
				if tp := trafficPolicy(r, true); tp != nil {
					s["trafficPolicy"] = tp
				}
			}
			subsets = append(subsets, s)
		}
		spec["subsets"] = subsets
	}
	switch r.IntN(8) {
	case 0:
		spec["exportTo"] = []any{"."}
	case 1:
		spec["exportTo"] = []any{"*"}
	case 2:
		spec["exportTo"] = []any{"default"}
	}
	if r.IntN(12) == 0 {
		// Istio refuses a selector rule exported beyond its namespace.
		if spec["exportTo"] != nil {
			spec["exportTo"] = []any{"."}
		}
		// A selector of the waypoint's pods, as Istio labels them.
		spec["workloadSelector"] = map[string]any{"matchLabels": map[string]any{"gateway.istio.io/managed": "istio.io-mesh-controller"}}
	}
	return spec
}

// generatedPairs is how many pairs of rules for the host the generator writes.
const generatedPairs = 100

// generatePairs returns n cases of two rules for host app in namespace
// default, as Istio merges them for one waypoint: the same host in either
// spelling, the same or different exportTo, a workloadSelector of the
// waypoint's pods (by their controller's label or their Gateway's name) on
// one of them or neither, and either created first.
func generatePairs(n int) []namedCase {
	r := rand.New(rand.NewPCG(corpusSeed, 1))
	out := make([]namedCase, 0, n)
	for i := range n {
		specs := [2]map[string]any{generatedSpec(r), generatedSpec(r)}
		for _, spec := range specs {
			delete(spec, "workloadSelector")
			if r.IntN(2) == 0 {
				delete(spec, "exportTo") // same exportTo more often
			}
		}
		if k := r.IntN(4); k < 2 {
			if specs[k]["exportTo"] != nil {
				specs[k]["exportTo"] = []any{"."}
			}
			// The waypoint's pods by their controller, or by their
			// Gateway's name (the world's waypoint is default/waypoint).
			labels := map[string]any{"gateway.istio.io/managed": "istio.io-mesh-controller"}
			if r.IntN(2) == 0 {
				labels = map[string]any{"gateway.networking.k8s.io/gateway-name": "waypoint"}
			}
			specs[k]["workloadSelector"] = map[string]any{"matchLabels": labels}
		}
		first := r.IntN(2)
		var rules []string
		for j, spec := range specs {
			created := worldCreated.Add(time.Second)
			if j != first {
				created = created.Add(time.Second)
			}
			rules = append(rules, ruleYAMLCreated(fmt.Sprintf("pair-%03d-%c", i, 'a'+j), spec, created))
		}
		out = append(out, namedCase{
			name:      fmt.Sprintf("generated pair %03d", i),
			istioCase: istioCase{ports: servicePortSets[r.IntN(len(servicePortSets))], rules: rules},
		})
	}
	return out
}

func trafficPolicy(r *rand.Rand, withPorts bool) map[string]any {
	tp := map[string]any{}
	if lb := loadBalancer(r); lb != nil {
		tp["loadBalancer"] = lb
	}
	if od := outlierDetection(r); od != nil {
		tp["outlierDetection"] = od
	}
	if withPorts && r.IntN(3) == 0 {
		var entries []any
		for range 1 + r.IntN(2) {
			e := map[string]any{"port": map[string]any{"number": pick(r, 80, 90, 8080, 9999)}}
			if lb := loadBalancer(r); lb != nil {
				e["loadBalancer"] = lb
			}
			if od := outlierDetection(r); od != nil {
				e["outlierDetection"] = od
			}
			if len(e) == 1 {
				// Istio refuses an entry with nothing but a port; one
				// that sets neither still replaces both with defaults.
				e["connectionPool"] = map[string]any{"tcp": map[string]any{"maxConnections": 100}}
			}
			entries = append(entries, e)
		}
		tp["portLevelSettings"] = entries
	}
	if len(tp) == 0 {
		return nil
	}
	return tp
}

func loadBalancer(r *rand.Rand) map[string]any {
	switch r.IntN(11) {
	case 0, 1:
		return nil
	case 2:
		return map[string]any{"simple": "ROUND_ROBIN"}
	case 3, 4:
		return map[string]any{"localityLbSetting": map[string]any{"failoverPriority": []any{"tier"}}}
	case 5:
		return map[string]any{"localityLbSetting": map[string]any{"failover": []any{map[string]any{"from": "r1", "to": "r2"}}}}
	case 6:
		return map[string]any{"localityLbSetting": map[string]any{"enabled": false, "failoverPriority": []any{"tier"}}}
	case 7:
		return map[string]any{"localityLbSetting": map[string]any{
			"distribute":       []any{map[string]any{"from": "r1/*", "to": map[string]any{"r1/*": 80, "r2/*": 20}}},
			"failoverPriority": []any{"tier"},
		}}
	case 8:
		return map[string]any{"zoneAwareLbSetting": map[string]any{"failoverPriority": []any{"tier"}}}
	case 9:
		return map[string]any{"zoneAwareLbSetting": map[string]any{}}
	default:
		// Istio refuses localityLbSetting beside zoneAwareLbSetting
		// ("only one of localityLbSetting and zoneAwareLbSetting can be
		// set"), so no rule of the corpus has both.
		return map[string]any{"zoneAwareLbSetting": map[string]any{"failoverPriority": []any{"tier"}, "enabled": true}}
	}
}

func outlierDetection(r *rand.Rand) map[string]any {
	switch r.IntN(3) {
	case 0:
		return map[string]any{}
	case 1:
		return map[string]any{"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "1m"}
	}
	return nil
}

func pick[T any](r *rand.Rand, options ...T) T { return options[r.IntN(len(options))] }

func ruleYAML(name string, spec map[string]any) string {
	return ruleYAMLCreated(name, spec, time.Time{})
}

// ruleYAMLCreated is ruleYAML with a creation time, which orders the rules
// of a host when Istio merges them; zero leaves it to the world's.
func ruleYAMLCreated(name string, spec map[string]any, created time.Time) string {
	meta := map[string]any{"name": name, "namespace": "default"}
	if !created.IsZero() {
		meta["creationTimestamp"] = created.Format(time.RFC3339)
	}
	out, err := yaml.Marshal(map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "DestinationRule",
		"metadata":   meta,
		"spec":       spec,
	})
	if err != nil {
		panic(err)
	}
	return string(out)
}

// tablePorts are the ports of the Service the rules of the decision tables
// are judged for: HTTP, TCP, gRPC, and ports the tables name.
var tablePorts = []servicePort{{"http", 80}, {"tcp-db", 90}, {"http-alt", 5000}, {"grpc", 9090}, {"http-8080", 8080}}

// decisionTableCases are the DestinationRules of the agreement corpus the
// webhook's other tests share, moved into namespace default with their host
// renamed to app, each judged for a Service with an HTTP and a TCP port.
func decisionTableCases() ([]namedCase, error) {
	path := filepath.Join("..", "testdata", "agreement", "destinationrules.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []namedCase
	for i, doc := range strings.Split(string(raw), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i+1, err)
		}
		if obj["kind"] != "DestinationRule" {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		spec, _ := obj["spec"].(map[string]any)
		if meta == nil || spec == nil {
			return nil, fmt.Errorf("%s document %d: no metadata or spec", path, i+1)
		}
		spec["host"] = "app"
		inWorld(spec)
		out = append(out, namedCase{
			name:      fmt.Sprintf("decision table %s/%s", meta["namespace"], meta["name"]),
			istioCase: istioCase{ports: tablePorts, rules: []string{ruleYAML(fmt.Sprint(meta["name"]), spec)}},
		})
	}
	return out, nil
}

// inWorld rewrites what a rule of the decision tables says about labels so
// that Istio shows its failover in the oracle's world, without changing
// the webhook's verdict, which never reads labels: subsets select app: app,
// every endpoint (a cluster without endpoints shows no priorities), and a
// non-empty failoverPriority names tier, the one label the world's
// endpoints differ by from the waypoint (a rule's topology.istio.io/cluster
// is the same for every endpoint of a one-cluster world, so Istio would
// rightly give them all priority 0).
func inWorld(spec map[string]any) {
	camelCase(spec)
	subsets, _ := spec["subsets"].([]any)
	for _, s := range subsets {
		if subset, ok := s.(map[string]any); ok {
			subset["labels"] = map[string]any{"app": "app"}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if list, ok := child.([]any); ok && k == "failoverPriority" && len(list) > 0 {
					v[k] = []any{"tier"}
					continue
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(spec)
}

// validateTableCases are the DestinationRule specs of pkg/validate's
// decision tables (each `spec:` field of a test table whose value is a
// string constant, read from the test sources so that a row added there is
// judged here too), with their host renamed to app and moved into the
// oracle's world (inWorld), each judged for the same Service as the
// agreement corpus's rules.
func validateTableCases() ([]namedCase, error) {
	rows, err := tables.DestinationRuleSpecs(filepath.Join("..", "..", "pkg", "validate"))
	if err != nil {
		return nil, err
	}
	out := make([]namedCase, len(rows))
	for i, r := range rows {
		r.Spec["host"] = "app"
		inWorld(r.Spec)
		out[i] = namedCase{
			name:      fmt.Sprintf("pkg/validate table %s:%d", filepath.Base(r.Pos.Filename), r.Pos.Line),
			istioCase: istioCase{ports: tablePorts, rules: []string{ruleYAML(fmt.Sprintf("table-%d", i), r.Spec)}},
		}
	}
	return out, nil
}

// camelCase renames the snake_case field names of a spec (which Istio's
// decoder accepts as well) to camelCase, so that the oracle's rewrites
// find them; label keys are left alone.
func camelCase(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if k != "labels" && k != "matchLabels" && k != "match_labels" {
				camelCase(child)
			}
			if parts := strings.Split(k, "_"); len(parts) > 1 {
				for i := 1; i < len(parts); i++ {
					parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
				}
				delete(v, k)
				v[strings.Join(parts, "")] = child
			}
		}
	case []any:
		for _, child := range v {
			camelCase(child)
		}
	}
}
