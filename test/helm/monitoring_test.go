package helm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"
)

// ruleGroups returns manifests/monitoring's PrometheusRule spec as a
// Prometheus rule file.
func ruleGroups(t *testing.T) []byte {
	t.Helper()
	for _, o := range kustomizeBuild(t, "monitoring") {
		if o.GetKind() == "PrometheusRule" {
			b, err := yaml.Marshal(o.Object["spec"])
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("manifests/monitoring has no PrometheusRule")
	return nil
}

// TestRulesLoadAsPrometheusLoadsThem: every expression parses with
// Prometheus's PromQL parser, and every annotation template expands, as
// Prometheus checks a rule file when it loads it.
func TestRulesLoadAsPrometheusLoadsThem(t *testing.T) {
	groups, errs := rulefmt.Parse(ruleGroups(t), false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	for _, err := range errs {
		t.Error(err)
	}
	n := 0
	for _, g := range groups.Groups {
		n += len(g.Rules)
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

// job is the metrics Service's name, which the ServiceMonitor's targets get
// as their job.
const job = `job="failover-webhook-metrics-service", namespace="failover-webhook-system"`

// TestAlerts evaluates the rules, every minute as Prometheus would, over
// synthetic series (promqltest's load notation, one sample a minute from
// time 0), and compares the alerts firing at the end with what each case
// expects.
func TestAlerts(t *testing.T) {
	tests := map[string]struct {
		series string
		at     time.Duration
		alert  string
		firing []string // the alerts' pod or webhook labels; none when it must stay silent
	}{
		"no replica up for 5 minutes: down": {
			series: `up{` + job + `, pod="a"} 0x15
				up{` + job + `, pod="b"} 1x3 0x12`,
			at: 15 * time.Minute, alert: "FailoverWebhookDown", firing: []string{""},
		},
		"no replica scraped at all: down": {
			series: `up{job="other"} 1x15`,
			at:     15 * time.Minute, alert: "FailoverWebhookDown", firing: []string{""},
		},
		"one replica of two up: not down": {
			series: `up{` + job + `, pod="a"} 0x15
				up{` + job + `, pod="b"} 1x15`,
			at: 15 * time.Minute, alert: "FailoverWebhookDown",
		},
		"a replica down for 10 minutes": {
			series: `up{` + job + `, pod="a"} 0x15
				up{` + job + `, pod="b"} 1x15`,
			at: 15 * time.Minute, alert: "FailoverWebhookReplicaDown", firing: []string{"a"},
		},
		"a replica down for 5 minutes: not yet": {
			series: `up{` + job + `, pod="a"} 1x10 0x5`,
			at:     15 * time.Minute, alert: "FailoverWebhookReplicaDown",
		},
		"10% of decisions errored for 10 minutes": {
			series: `failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="errored", mode="enforce", dry_run="false"} 0+6x30
				failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="allowed", mode="enforce", dry_run="false"} 0+54x30`,
			at: 30 * time.Minute, alert: "FailoverWebhookErrors", firing: []string{"validate-destinationrule"},
		},
		"10% of requests answered 500 for 10 minutes": {
			series: `controller_runtime_webhook_requests_total{` + job + `, pod="a", webhook="/mutate-service", code="500"} 0+6x30
				controller_runtime_webhook_requests_total{` + job + `, pod="a", webhook="/mutate-service", code="200"} 0+54x30`,
			at: 30 * time.Minute, alert: "FailoverWebhookErrors", firing: []string{"/mutate-service"},
		},
		"1% of decisions errored: no alert": {
			series: `failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="errored", mode="enforce", dry_run="false"} 0+1x30
				failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="allowed", mode="enforce", dry_run="false"} 0+99x30`,
			at: 30 * time.Minute, alert: "FailoverWebhookErrors",
		},
		"the 99th percentile between 1s and 10s for 10 minutes: near the timeout": {
			series: latency("/mutate-service", 0, 100),
			at:     30 * time.Minute, alert: "FailoverWebhookLatencyNearTimeout", firing: []string{"/mutate-service"},
		},
		"admissions within 100ms: no alert": {
			series: latency("/mutate-service", 100, 0),
			at:     30 * time.Minute, alert: "FailoverWebhookLatencyNearTimeout",
		},
		"a certificate expiring in 6 days": {
			series: expiry("a", 6*24*time.Hour),
			at:     30 * time.Minute, alert: "FailoverWebhookCertificateExpiresSoon", firing: []string{"a"},
		},
		"a certificate expiring in 30 days: no alert": {
			series: expiry("a", 30*24*time.Hour),
			at:     30 * time.Minute, alert: "FailoverWebhookCertificateExpiresSoon",
		},
		"a certificate expiring in 12 hours": {
			series: expiry("a", 12*time.Hour),
			at:     30 * time.Minute, alert: "FailoverWebhookCertificateExpiresToday", firing: []string{"a"},
		},
		"a certificate expiring in 6 days: not today": {
			series: expiry("a", 6*24*time.Hour),
			at:     30 * time.Minute, alert: "FailoverWebhookCertificateExpiresToday",
		},
		"denials twenty times the 6-hour rate for 15 minutes": {
			series: `failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="denied", mode="enforce", dry_run="false"} 0+1x360 360+20x20`,
			at:     380 * time.Minute, alert: "FailoverWebhookDenialsRising", firing: []string{"validate-destinationrule"},
		},
		"denials at their usual rate: no alert": {
			series: `failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="denied", mode="enforce", dry_run="false"} 0+1x380`,
			at:     380 * time.Minute, alert: "FailoverWebhookDenialsRising",
		},
		"a burst of dry-run denials: no alert": {
			series: `failover_webhook_decisions_total{` + job + `, pod="a", webhook="validate-destinationrule", decision="denied", mode="enforce", dry_run="true"} 0x360 0+20x20`,
			at:     380 * time.Minute, alert: "FailoverWebhookDenialsRising",
		},
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, ruleGroups(t), 0o600); err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for name, tc := range tests {
		tested[tc.alert] = true
		t.Run(name, func(t *testing.T) {
			got := firingAt(t, file, tc.series, tc.at, tc.alert)
			if !slices.Equal(got, tc.firing) {
				t.Errorf("%s firing for %q, want %q", tc.alert, got, tc.firing)
			}
		})
	}
	groups, _ := rulefmt.ParseFile(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !tested[r.Alert] {
				t.Errorf("alert %s has no case here", r.Alert)
			}
		}
	}
}

// latency returns the latency histogram of a webhook path receiving 100
// admissions a minute: fast ones within 100ms, slow ones between 1s and 10s.
func latency(webhook string, fast, slow int) string {
	var b strings.Builder
	for _, bucket := range []struct {
		le    string
		count int
	}{{"0.1", fast}, {"1", fast}, {"10", fast + slow}, {"+Inf", fast + slow}} {
		b.WriteString(`controller_runtime_webhook_latency_seconds_bucket{` + job + `, pod="a", webhook="` + webhook + `", le="` + bucket.le + `"} 0+` + itoa(bucket.count) + "x30\n")
	}
	return b.String()
}

// expiry returns a replica's certificate expiry gauge, constant at left
// after the end of the evaluation (30 minutes).
func expiry(pod string, left time.Duration) string {
	return `failover_webhook_serving_certificate_expiry_timestamp_seconds{` + job + `, pod="` + pod + `"} ` + itoa(int((30*time.Minute+left)/time.Second)) + "x30"
}

func itoa(i int) string { return strconv.Itoa(i) }

// firingAt evaluates the rule file every minute from time 0 to at over
// series and returns the pod or webhook label of each alert named alert
// firing then ("" when it has neither).
func firingAt(t *testing.T, file, series string, at time.Duration, alert string) []string {
	t.Helper()
	ll, err := promqltest.NewLazyLoader("load 1m\n"+series, promqltest.LazyLoaderOpts{EnableAtModifier: true, EnableNegativeOffset: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(ll.QueryEngine(), ll.Storage()),
		AppendableV2: ll.Storage(),
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
	})
	byName, errs := m.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, file)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// The recording rules' group first, as in the file: the alerts read
	// what it records in the same round.
	groups := slices.SortedFunc(func(yield func(*rules.Group) bool) {
		for _, g := range byName {
			if !yield(g) {
				return
			}
		}
	}, func(a, b *rules.Group) int { return strings.Compare(groupOrder(a.Name()), groupOrder(b.Name())) })
	var target *rules.AlertingRule
	for _, g := range groups {
		for _, r := range g.AlertingRules() {
			r.SetRestored(true)
			if r.Name() == alert {
				target = r
			}
		}
	}
	if target == nil {
		t.Fatalf("no alert %s", alert)
	}
	for ts := time.Unix(0, 0).UTC(); !ts.After(time.Unix(0, 0).UTC().Add(at)); ts = ts.Add(time.Minute) {
		ll.WithSamplesTill(ts, func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range groups {
				g.Eval(ll.Context(), ts)
				for _, r := range g.Rules() {
					if err := r.LastError(); err != nil {
						t.Fatalf("%s at %s: %v", r.Name(), ts, err)
					}
				}
			}
		})
	}
	var firing []string
	for _, a := range target.ActiveAlerts() {
		if a.State == rules.StateFiring {
			l := a.Labels.Get("pod")
			if l == "" {
				l = a.Labels.Get("webhook")
			}
			firing = append(firing, l)
		}
	}
	slices.Sort(firing)
	return firing
}

// groupOrder puts the recording rules before the alerts.
func groupOrder(name string) string {
	if strings.HasSuffix(name, ".rules") {
		return "0" + name
	}
	return "1" + name
}

// dashboard reads manifests/monitoring's Grafana dashboard.
func dashboard(t *testing.T) (queries []string) {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, "manifests", "monitoring", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Definition string
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, target := range p.Targets {
			queries = append(queries, target.Expr)
		}
	}
	return queries
}

// grafanaVariables stand for the dashboard's variables in its queries.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$namespace", "failover-webhook-system")

// metricNames parses a query with Prometheus's parser and returns the
// metrics it selects.
func metricNames(t *testing.T, query string) []string {
	t.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVariables.Replace(query))
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var names []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%s selects a metric without naming it", query)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// TestDashboardQueriesParse: every panel's query is PromQL.
func TestDashboardQueriesParse(t *testing.T) {
	for _, q := range dashboard(t) {
		if len(metricNames(t, q)) == 0 {
			t.Errorf("%s selects no metric", q)
		}
	}
}

// monitoringQueriesTheWebhooksMetrics checks, against the metrics the
// running webhook exports (read from its registry after it served), that
// the dashboard and the rules select only those, Prometheus's up, and the
// rules' own records.
func monitoringQueriesTheWebhooksMetrics(t *testing.T) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{"up": true}
	for _, f := range families {
		exported[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[f.GetName()+suffix] = true
			}
		}
	}
	queries := dashboard(t)
	var spec struct {
		Groups []struct {
			Rules []struct{ Record, Expr string }
		}
	}
	if err := yaml.Unmarshal(ruleGroups(t), &spec); err != nil {
		t.Fatal(err)
	}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			queries = append(queries, r.Expr)
			if r.Record != "" {
				exported[r.Record] = true
			}
		}
	}
	for _, q := range queries {
		for _, name := range metricNames(t, q) {
			if !exported[name] {
				t.Errorf("%s selects %s, which the webhook does not export", strings.TrimSpace(q), name)
			}
		}
	}
}
