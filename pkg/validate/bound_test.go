package validate

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// sizedSpec builds a DestinationRule with subsets subsets and ports
// top-level port entries. With failover, every load balancer declares
// failoverPriority and nothing sets outlierDetection: every scope violates,
// the most expensive case to evaluate and to report.
func sizedSpec(subsets, ports int, failover bool) *networking.DestinationRule {
	lb := func() *networking.LoadBalancerSettings {
		if !failover {
			return &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_ROUND_ROBIN}}
		}
		return &networking.LoadBalancerSettings{LocalityLbSetting: &networking.LocalityLoadBalancerSetting{FailoverPriority: []string{"topology.istio.io/cluster"}}}
	}
	spec := &networking.DestinationRule{Host: "reviews", TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: lb()}}
	for p := 1; p <= ports; p++ {
		spec.TrafficPolicy.PortLevelSettings = append(spec.TrafficPolicy.PortLevelSettings, &networking.TrafficPolicy_PortTrafficPolicy{
			Port: &networking.PortSelector{Number: uint32(p)}, LoadBalancer: lb(),
		})
	}
	for s := range subsets {
		spec.Subsets = append(spec.Subsets, &networking.Subset{
			Name:          fmt.Sprintf("v%d", s),
			Labels:        map[string]string{"version": fmt.Sprintf("v%d", s)},
			TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: lb()},
		})
	}
	return spec
}

// The bound each evaluation must stay within, with a wide margin over what
// it measures for the 5,000 × 5,000 rule so that a loaded machine does not
// fail the test, while work proportional to subsets × ports (seconds and
// gigabytes at that size) would.
const (
	maxEvaluationTime  = 2 * time.Second
	maxEvaluationBytes = 128 << 20
	// maxMessageBytes bounds each violation and warning: MaxListedScopes
	// scope names plus the explanation.
	maxMessageBytes = 4 << 10
)

func TestEvaluateCostIsBoundedWhateverTheSize(t *testing.T) {
	tests := map[string]struct {
		subsets, ports int
		failover       bool
		tooMany        bool
	}{
		"failover everywhere at exactly MaxScopes is evaluated in full": {
			subsets: 99, ports: 999, failover: true,
		},
		"failover everywhere with 5,000 subsets × 5,000 ports is refused without evaluating 25 million scopes": {
			subsets: 5000, ports: 5000, failover: true, tooMany: true,
		},
		"5,000 subsets × 5,000 ports without failover are allowed without evaluating any scope": {
			subsets: 5000, ports: 5000,
		},
		"one subset over MaxScopes is refused": {
			subsets: 100, ports: 999, failover: true, tooMany: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := sizedSpec(tc.subsets, tc.ports, tc.failover)
			var f Findings
			elapsed, allocated := measure(func() { f = Evaluate(spec, field.NewPath("spec")) })
			t.Logf("%d subsets × %d ports: %s, %.1f MiB allocated, %d violations, %d warnings",
				tc.subsets, tc.ports, elapsed.Round(time.Millisecond), float64(allocated)/(1<<20), len(f.Violations), len(f.Warnings))
			if elapsed > maxEvaluationTime {
				t.Errorf("took %s, over %s", elapsed, maxEvaluationTime)
			}
			if allocated > maxEvaluationBytes {
				t.Errorf("allocated %d bytes, over %d", allocated, maxEvaluationBytes)
			}
			if len(f.Violations) > MaxReported+1 || len(f.Warnings) > MaxReported+1 {
				t.Errorf("%d violations and %d warnings, want at most %d of each", len(f.Violations), len(f.Warnings), MaxReported+1)
			}
			for _, msg := range entryStrings(f.Entries()) {
				if len(msg) > maxMessageBytes {
					t.Errorf("a finding of %d bytes, over %d: %.300s...", len(msg), maxMessageBytes, msg)
				}
			}

			switch {
			case tc.tooMany:
				if len(f.Violations) != 1 || f.Violations[0].Field != "spec" ||
					!strings.Contains(f.Violations[0].Message, fmt.Sprintf("over the %d the webhook evaluates", MaxScopes)) ||
					!strings.Contains(f.Violations[0].Message, "split it") {
					t.Errorf("want one violation at spec saying the rule is over MaxScopes and how to fix it, got %v", f.Violations)
				}
			case tc.failover:
				if len(f.Violations) != MaxReported+1 {
					t.Fatalf("%d violations, want %d and a summary", len(f.Violations), MaxReported)
				}
				if last := f.Violations[MaxReported]; last.Field != "spec" || !strings.HasPrefix(last.Message, fmt.Sprintf("%d more failover settings", tc.subsets+tc.ports+1-MaxReported)) {
					t.Errorf("the last violation does not summarise the others: %v", last)
				}
			default:
				if len(f.Violations) != 0 {
					t.Errorf("violations without failover: %v", f.Violations)
				}
			}
		})
	}
}

func TestEvaluateOverMaxScopesWithOnlyDisabledFailoverIsAllowedWithWarnings(t *testing.T) {
	spec := sizedSpec(100, 999, true)
	lbs := []*networking.LoadBalancerSettings{spec.TrafficPolicy.LoadBalancer}
	for _, e := range spec.TrafficPolicy.PortLevelSettings {
		lbs = append(lbs, e.LoadBalancer)
	}
	for _, s := range spec.Subsets {
		lbs = append(lbs, s.TrafficPolicy.LoadBalancer)
	}
	for _, lb := range lbs {
		lb.LocalityLbSetting.Enabled = wrapperspb.Bool(false)
	}
	f := Evaluate(spec, field.NewPath("spec"))
	if len(f.Violations) != 0 {
		t.Errorf("violations for failover that is disabled everywhere: %v", f.Violations)
	}
	if len(f.Warnings) != MaxReported+1 || f.Warnings[0].Field != "spec.trafficPolicy.loadBalancer.localityLbSetting.enabled" {
		t.Errorf("warnings %v, want the disabled settings in order, summarised after %d", entryStrings(f.Warnings)[:min(3, len(f.Warnings))], MaxReported)
	}
}

func TestEvaluateListsAtMostMaxListedScopesPerViolation(t *testing.T) {
	spec := parseSpec(t, `
host: reviews
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy:
    loadBalancer:
      localityLbSetting: {failoverPriority: [topology.istio.io/cluster]}
`)
	spec.TrafficPolicy = &networking.TrafficPolicy{}
	const ports = 999
	for p := 1; p <= ports; p++ {
		// A port entry without outlierDetection: the subset's failover is
		// unprotected on every named port and on any other port.
		spec.TrafficPolicy.PortLevelSettings = append(spec.TrafficPolicy.PortLevelSettings, &networking.TrafficPolicy_PortTrafficPolicy{
			Port: &networking.PortSelector{Number: uint32(p)}, ConnectionPool: &networking.ConnectionPoolSettings{},
		})
	}
	f := Evaluate(spec, field.NewPath("spec"))
	if len(f.Violations) != 1 {
		t.Fatalf("%d violations, want 1: %v", len(f.Violations), f.Violations)
	}
	msg := f.Violations[0].Message
	listed := `subset "v1" port 1, subset "v1" port 2, `
	if !strings.Contains(msg, listed) || !strings.Contains(msg, fmt.Sprintf(`subset "v1" port %d and %d other subset/port combinations;`, MaxListedScopes, ports+1-MaxListedScopes)) {
		t.Errorf("the message does not list the first %d scopes and count the other %d:\n%s", MaxListedScopes, ports+1-MaxListedScopes, msg)
	}
	if strings.Contains(msg, fmt.Sprintf("port %d", MaxListedScopes+1)) {
		t.Errorf("the message lists more than %d scopes:\n%s", MaxListedScopes, msg)
	}
}

func TestEvaluateSummarisesWarningsOverMaxReported(t *testing.T) {
	spec := parseSpec(t, guideSpec)
	for p := 1; p <= 3*MaxReported; p++ {
		// Each entry drops the top-level failover for its port: one warning each.
		spec.TrafficPolicy.PortLevelSettings = append(spec.TrafficPolicy.PortLevelSettings, &networking.TrafficPolicy_PortTrafficPolicy{Port: &networking.PortSelector{Number: uint32(p)}})
	}
	f := Evaluate(spec, field.NewPath("spec"))
	if len(f.Warnings) != MaxReported+1 {
		t.Fatalf("%d warnings, want %d and a summary", len(f.Warnings), MaxReported)
	}
	if last := f.Warnings[MaxReported]; last.Field != "spec" || last.Message != fmt.Sprintf("%d more warnings not shown", 2*MaxReported) {
		t.Errorf("last warning = %v", last)
	}
}

func entryStrings(entries []verdict.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.String()
	}
	return out
}

// measure runs f once and returns how long it took and how many bytes it
// allocated.
func measure(f func()) (time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return elapsed, after.TotalAlloc - before.TotalAlloc
}

func BenchmarkEvaluate(b *testing.B) {
	for _, bc := range []struct {
		name           string
		subsets, ports int
		failover       bool
	}{
		{"the guide's rule", 0, 0, false},
		{"10 subsets × 10 ports, every scope violating", 10, 10, true},
		{"99 subsets × 999 ports at MaxScopes, every scope violating", 99, 999, true},
		{"5000 subsets × 5000 ports over MaxScopes", 5000, 5000, true},
		{"5000 subsets × 5000 ports without failover", 5000, 5000, false},
	} {
		spec := sizedSpec(bc.subsets, bc.ports, bc.failover)
		if bc.subsets == 0 {
			spec = parseSpec(b, guideSpec)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Evaluate(spec, field.NewPath("spec"))
			}
		})
	}
}
