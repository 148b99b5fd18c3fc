package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/audit"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/report"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// The contract of docs/design.md §2, spelled out rather than taken from
// pkg/keys so that a renamed constant fails here.
const (
	trigger       = "failover"
	global        = "istio.io/global"
	useWaypoint   = "istio.io/use-waypoint"
	enforcement   = "failover-webhook.io/enforcement"
	managedLabels = "failover-webhook.io/managed-labels"
)

// openedServices is how many Services of the fixture opted in without the
// webhook's labels.
const openedServices = 5

// fixtureFile holds the objects of the audit tests: an enforced namespace
// with two violating DestinationRules, a good one, Services that opted in
// before the webhook existed, one already labeled and one that never opted
// in; a warn namespace; and an off namespace.
var fixtureFile = filepath.Join("..", "testdata", "audit", "fixture.yaml")

// auditPrefixes name the copies of the fixture seedAudit creates, one per
// test that changes or reads them.
var auditPrefixes = []string{"report", "fix"}

func seedAudit(ctx context.Context, c *controlplane.Cluster) error {
	objs, err := readObjects(fixtureFile)
	if err != nil {
		return err
	}
	for _, prefix := range auditPrefixes {
		copies := inNamespaces(objs, prefix+"-")
		if err := create(ctx, c, copies); err != nil {
			return err
		}
		if err := reportDeploymentsReady(ctx, c, copies); err != nil {
			return err
		}
	}
	return nil
}

// reportDeploymentsReady sets the status of the created Deployments of
// objs to ready, as the Deployment controller the control plane lacks
// would.
func reportDeploymentsReady(ctx context.Context, c *controlplane.Cluster, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		if obj.GetKind() == "Deployment" {
			if err := seed.ReportReady(ctx, c.Client, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// webhook runs the webhook command line in this process.
func webhook(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = app.Main(args, &out, &errOut, nil)
	return code, out.String(), errOut.String()
}

// auditArgs are the arguments of `webhook audit` against the test cluster,
// limited to the namespaces of a fixture.
func auditArgs(prefix string, more ...string) []string {
	return append([]string{"audit", "--kubeconfig", cluster.KubeconfigPath,
		"-n", strings.Join([]string{prefix + "-enforce", prefix + "-warn", prefix + "-off"}, ",")}, more...)
}

const (
	noOutlierViolation = "FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: locality failover needs outlierDetection, and none applies to traffic without a subset; add outlierDetection next to it (spec.trafficPolicy.outlierDetection), e.g. {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}"
	subsetField        = "FW101 spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority: error: "
	wouldSetLabels     = "FW201 metadata.labels: mutation: would set istio.io/global=true, istio.io/use-waypoint=waypoint"
	wouldSetRecord     = "FW201 metadata.annotations: mutation: would set failover-webhook.io/managed-labels=istio.io/global,istio.io/use-waypoint"
)

func TestAuditReportsWhatPredatesTheWebhook(t *testing.T) {
	controlplane.SkipIfShort(t)
	code, stdout, stderr := webhook(auditArgs("report")...)
	if code != app.ExitFailure {
		t.Errorf("exit %d, want %d (a violating DestinationRule in an enforced namespace); stderr: %s", code, app.ExitFailure, stderr)
	}
	want := []string{
		"DestinationRule report-enforce/no-outlier: " + noOutlierViolation,
		"DestinationRule report-enforce/subset-port: " + subsetField,
		"DestinationRule report-warn/no-outlier: FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: warning: locality failover needs outlierDetection",
		"Service report-warn/svc: " + wouldSetLabels,
		"Service report-warn/svc: " + wouldSetRecord,
		`Service report-warn/waypoint: FW404 metadata.name: warning: the waypoint "waypoint" used by report-warn/svc does not exist`,
		"    fix: istioctl waypoint apply -n report-warn --name waypoint --for service && kubectl label gateways.gateway.networking.k8s.io waypoint -n report-warn istio.io/global=true --overwrite",
	}
	for i := range openedServices {
		want = append(want,
			fmt.Sprintf("Service report-enforce/svc-%d: %s", i, wouldSetLabels),
			fmt.Sprintf("Service report-enforce/svc-%d: %s", i, wouldSetRecord))
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no line starts with %q:\n%s", w, stdout)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d lines, want %d (nothing about the good rule, the labeled or plain Services, the ready global waypoint, or the off namespace):\n%s", len(lines), len(want), stdout)
	}
	for _, unwanted := range []string{"report-off", "report-enforce/guide", "report-enforce/labeled", "report-enforce/plain", "report-enforce/waypoint", "fix: kubectl patch"} {
		if strings.Contains(stdout, unwanted) {
			t.Errorf("the report mentions %q:\n%s", unwanted, stdout)
		}
	}
	wantSummary := "9 Services, 5 DestinationRules: 2 would be denied, 2 warnings, 0 audit findings, 6 Services would be mutated; not judged: report-off (mode off, 2 objects)\n"
	if !strings.Contains(stderr, wantSummary) {
		t.Errorf("stderr %q, want the summary %q", stderr, wantSummary)
	}
	if !strings.Contains(stderr, "error: 2 objects would be denied") {
		t.Errorf("stderr %q, want it to say how many objects would be denied", stderr)
	}
}

func TestAuditJSON(t *testing.T) {
	controlplane.SkipIfShort(t)
	code, stdout, stderr := webhook(auditArgs("report", "-o", "json")...)
	if code != app.ExitFailure {
		t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
	}
	var doc struct {
		Findings []map[string]any `json:"findings"`
		Summary  report.Summary   `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	want := report.Summary{Services: 9, DestinationRules: 5, Denied: 2, Warnings: 2, Mutated: 6,
		NotJudged: []report.NotJudged{{Namespace: "report-off", Reason: report.ModeOff, Objects: 2}}}
	if !reflect.DeepEqual(doc.Summary, want) {
		t.Errorf("summary %+v, want %+v", doc.Summary, want)
	}
	for _, f := range doc.Findings {
		for _, key := range []string{"file", "doc", "line"} {
			if _, ok := f[key]; ok {
				t.Errorf("finding %v has %q; objects from a cluster have no file", f, key)
			}
		}
	}
	if len(doc.Findings) != 16 {
		t.Errorf("%d findings, want 16:\n%s", len(doc.Findings), stdout)
	}
}

// listCounter counts the list requests a client makes, by list type, and
// records the largest page asked for.
type listCounter struct {
	mu       sync.Mutex
	calls    map[string]int
	maxLimit int64
}

func (l *listCounter) client(t *testing.T) client.Client {
	t.Helper()
	base, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	l.calls = map[string]int{}
	return interceptor.NewClient(base, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			o := (&client.ListOptions{}).ApplyOptions(opts)
			l.mu.Lock()
			l.calls[fmt.Sprintf("%T", list)]++
			l.maxLimit = max(l.maxLimit, o.Limit)
			l.mu.Unlock()
			return c.List(ctx, list, opts...)
		},
	})
}

func TestAuditReadsListsPageByPage(t *testing.T) {
	controlplane.SkipIfShort(t)
	var counter listCounter
	c := counter.client(t)
	var out, errOut bytes.Buffer
	summary, err := audit.Run(t.Context(), c, audit.Options{
		Config:    policy.Config{WaypointName: "waypoint", ExcludedNamespaces: []string{"kube-system"}},
		ChunkSize: 2,
		Format:    report.Text,
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, errOut.String())
	}
	if counter.maxLimit != 2 {
		t.Errorf("largest page asked for: %d objects, want 2", counter.maxLimit)
	}
	// Every Service and DestinationRule of the report fixture, read two
	// at a time among the others.
	for _, name := range []string{"Service report-enforce/svc-4", "Service report-warn/svc", "DestinationRule report-enforce/subset-port", "DestinationRule report-warn/no-outlier"} {
		if !strings.Contains(out.String(), name+": ") {
			t.Errorf("the audit missed %s:\n%s", name, out.String())
		}
	}
	for list, atLeast := range map[string]int{
		"*v1.PartialObjectMetadataList": summaryNamespaces(t, c) / 2,
		"*v1.ServiceList":               summary.Services / 2,
		"*v1.DestinationRuleList":       summary.DestinationRules / 2,
	} {
		if counter.calls[list] < atLeast || atLeast < 2 {
			t.Errorf("%d requests for %s, want at least %d (pages of 2)", counter.calls[list], list, atLeast)
		}
	}
}

// summaryNamespaces counts the cluster's namespaces.
func summaryNamespaces(t *testing.T, c client.Client) int {
	t.Helper()
	var list corev1.NamespaceList
	if err := c.List(t.Context(), &list); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// fixLine is the kubectl command `audit --fix` prints under a violation.
var fixLine = regexp.MustCompile(`(?m)^    fix: kubectl patch destinationrules\.networking\.istio\.io (\S+) -n (\S+) --type=json -p '(.*)'$`)

func TestAuditFix(t *testing.T) {
	controlplane.SkipIfShort(t)
	ctx := t.Context()
	enforced := "fix-enforce"
	labelsOf := func(name string) (map[string]string, map[string]string) {
		t.Helper()
		svc := &corev1.Service{}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: enforced, Name: name}, svc); err != nil {
			t.Fatal(err)
		}
		return svc.Labels, svc.Annotations
	}
	opted := map[string]string{trigger: "cluster"}
	mutated := map[string]string{trigger: "cluster", global: "true", useWaypoint: "waypoint"}
	record := map[string]string{managedLabels: global + "," + useWaypoint}

	t.Run("a dry run reports the changes and stores none", func(t *testing.T) {
		code, stdout, stderr := webhook(auditArgs("fix", "--fix", "--dry-run")...)
		if code != app.ExitFailure {
			t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
		}
		if !strings.Contains(stdout, "Service fix-enforce/svc-0: "+wouldSetLabels) {
			t.Errorf("stdout does not report the change to svc-0:\n%s", stdout)
		}
		if !strings.Contains(stderr, "dry run: 6 Services would be changed (the API server validated each change); nothing was stored") {
			t.Errorf("stderr %q, want the dry-run note", stderr)
		}
		if labels, _ := labelsOf("svc-0"); !maps.Equal(labels, opted) {
			t.Errorf("after a dry run svc-0 has labels %v, want them unchanged %v", labels, opted)
		}
	})

	var fixes []string
	t.Run("--fix patches the Services and prints a fix for each violating DestinationRule", func(t *testing.T) {
		code, stdout, stderr := webhook(auditArgs("fix", "--fix")...)
		if code != app.ExitFailure {
			t.Errorf("exit %d, want %d: DestinationRules are not fixed, so the violation stands; stderr: %s", code, app.ExitFailure, stderr)
		}
		for i := range openedServices {
			name := fmt.Sprintf("svc-%d", i)
			want := fmt.Sprintf("Service fix-enforce/%s: FW201 metadata.labels: fixed: set istio.io/global=true, istio.io/use-waypoint=waypoint", name)
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout does not contain %q:\n%s", want, stdout)
			}
			labels, annotations := labelsOf(name)
			if !maps.Equal(labels, mutated) || !maps.Equal(annotations, record) {
				t.Errorf("%s has labels %v and annotations %v, want %v and %v", name, labels, annotations, mutated, record)
			}
		}
		if !strings.Contains(stderr, "6 Services would be mutated, 6 fixed") {
			t.Errorf("stderr %q, want the summary to count 6 fixes", stderr)
		}
		if labels, _ := labelsOf("plain"); !maps.Equal(labels, map[string]string{"app": "plain"}) {
			t.Errorf("a Service that never opted in was changed: %v", labels)
		}
		for _, m := range fixLine.FindAllStringSubmatch(stdout, -1) {
			if m[2] == enforced {
				fixes = append(fixes, m[0])
			}
		}
		if len(fixes) != 2 {
			t.Errorf("%d fixes printed for %s, want one per violating DestinationRule:\n%s", len(fixes), enforced, stdout)
		}
	})

	t.Run("a second audit finds the Services clean", func(t *testing.T) {
		code, stdout, _ := webhook(auditArgs("fix")...)
		if code != app.ExitFailure {
			t.Errorf("exit %d, want %d", code, app.ExitFailure)
		}
		if strings.Contains(stdout, "mutation:") {
			t.Errorf("the second audit still finds mutations:\n%s", stdout)
		}
	})

	t.Run("the printed fixes make the DestinationRules pass", func(t *testing.T) {
		for _, line := range fixes {
			m := fixLine.FindStringSubmatch(line)
			dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: m[2], Name: m[1]}}
			// The patch goes through the validating webhook, which now
			// judges the changed spec.
			if err := cluster.Client.Patch(ctx, dr, client.RawPatch(types.JSONPatchType, []byte(m[3]))); err != nil {
				t.Fatalf("applying %s: %v", line, err)
			}
		}
		code, stdout, stderr := webhook("audit", "--kubeconfig", cluster.KubeconfigPath, "-n", enforced)
		if code != app.ExitOK || strings.TrimSpace(stdout) != "" {
			t.Errorf("exit %d with findings:\n%s\nwant exit 0 and none; stderr: %s", code, stdout, stderr)
		}
	})
}

func TestAuditUsageErrors(t *testing.T) {
	controlplane.SkipIfShort(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"--dry-run without --fix":  {[]string{"--dry-run"}, "--dry-run only applies to --fix"},
		"a zero chunk size":        {[]string{"--chunk-size", "0"}, "invalid --chunk-size 0"},
		"an unknown output format": {[]string{"-o", "xml"}, `unknown output format "xml"`},
		"a bad namespace mode":     {[]string{"--namespace-mode", "prod=strict"}, `invalid --namespace-mode "prod=strict"`},
		"a missing kubeconfig":     {[]string{"--kubeconfig", "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
		"an unknown context":       {[]string{"--kubeconfig", cluster.KubeconfigPath, "--context", "nowhere"}, `"nowhere"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := webhook(append([]string{"audit"}, tc.args...)...)
			if code != app.ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
