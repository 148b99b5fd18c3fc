package multicluster_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
	"github.com/failover-webhook/failover-webhook/test/seed"
)

// TestKubeconfigForms audits the same two clusters named in each way the
// flags allow, and checks that the findings name the clusters by their
// contexts and that each fix selects its cluster as the flags did.
func TestKubeconfigForms(t *testing.T) {
	needClusters(t)
	const ns = "forms"
	setups := []*setup{guide(t, ns), guide(t, ns)}
	removeLabels(setups[1].service, global)
	createIn(t, setups)

	// Two kubeconfigs whose contexts have the same name: the clusters are
	// then named by kubeconfig and context.
	dir := t.TempDir()
	prod := []string{filepath.Join(dir, "prod1"), filepath.Join(dir, "prod2")}
	for i, path := range prod {
		renameContext(t, clusters[i].KubeconfigPath, path, "prod")
	}
	c1, c2 := clusters[0].KubeconfigPath, clusters[1].KubeconfigPath

	tests := map[string]struct {
		args []string
		// clusters name the clusters, in the order given; drifted is
		// the name of cluster2, whose Service is not global.
		clusters []string
		drifted  string
		// fix is how the fix command starts, selecting cluster2.
		fix string
	}{
		"Two contexts of the kubeconfig KUBECONFIG names": {
			args:     []string{"--context", "cluster1", "--context", "cluster2"},
			clusters: []string{"cluster1", "cluster2"}, drifted: "cluster2",
			fix: "kubectl --context cluster2 label",
		},
		"Two contexts of one kubeconfig given with --kubeconfig": {
			args:     []string{"--kubeconfig", mergedKubeconfig, "--context", "cluster1", "--context", "cluster2"},
			clusters: []string{"cluster1", "cluster2"}, drifted: "cluster2",
			fix: "kubectl --kubeconfig " + mergedKubeconfig + " --context cluster2 label",
		},
		// The fix names the context too, so it still selects the cluster
		// after the kubeconfig's current context changes.
		"One kubeconfig per cluster, each with its current context": {
			args:     []string{"--kubeconfig", c1, "--kubeconfig", c2},
			clusters: []string{"cluster1", "cluster2"}, drifted: "cluster2",
			fix: "kubectl --kubeconfig " + c2 + " --context cluster2 label",
		},
		"Kubeconfigs paired with contexts in order": {
			args:     []string{"--kubeconfig", c1, "--kubeconfig", c2, "--context", "cluster1", "--context", "cluster2"},
			clusters: []string{"cluster1", "cluster2"}, drifted: "cluster2",
			fix: "kubectl --kubeconfig " + c2 + " --context cluster2 label",
		},
		"Several kubeconfigs with one context of the same name": {
			args:     []string{"--kubeconfig", prod[0], "--kubeconfig", prod[1], "--context", "prod"},
			clusters: []string{prod[0] + ":prod", prod[1] + ":prod"}, drifted: prod[1] + ":prod",
			fix: "kubectl --kubeconfig " + prod[1] + " --context prod label",
		},
		"Several kubeconfigs whose current contexts have the same name": {
			args:     []string{"--kubeconfig", prod[0], "--kubeconfig", prod[1]},
			clusters: []string{prod[0] + ":prod", prod[1] + ":prod"}, drifted: prod[1] + ":prod",
			fix: "kubectl --kubeconfig " + prod[1] + " --context prod label",
		},
		// The clusters are listed, and described, in the order given.
		"The contexts in the other order": {
			args:     []string{"--context", "cluster2", "--context", "cluster1"},
			clusters: []string{"cluster2", "cluster1"}, drifted: "cluster2",
			fix: "kubectl --context cluster2 label",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, doc := auditJSON(t, append(tc.args, "-n", ns)...)
			if r.code != app.ExitFailure {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, app.ExitFailure, r.stderr)
			}
			good := tc.clusters[0]
			if good == tc.drifted {
				good = tc.clusters[1]
			}
			checkDrift(t, doc.drift(), []want{{
				kind: "Service", namespace: ns, name: "helloworld", field: "metadata.labels[istio.io/global]",
				clusters: tc.clusters,
				message:  []string{globalTrue + " in " + good, globalUnset + " in " + tc.drifted},
				fix:      []string{tc.fix + " service helloworld -n forms istio.io/global=true --overwrite"},
			}})
			if doc.Summary.Clusters != 2 {
				t.Errorf("summary counts %d clusters, want 2", doc.Summary.Clusters)
			}
			// Values are described in the order the clusters were given.
			first := globalTrue + " in " + good + "; "
			if tc.clusters[0] == tc.drifted {
				first = globalUnset + " in " + tc.drifted + "; "
			}
			if d := doc.drift(); len(d) == 1 && !strings.HasPrefix(d[0].Message, first) {
				t.Errorf("message %q should start with %q, the cluster given first", d[0].Message, first)
			}
		})
	}
}

// renameContext writes a copy of the kubeconfig at from to to, its
// context (the only one) renamed name.
func renameContext(t *testing.T, from, to, name string) {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(from)
	if err != nil {
		t.Fatal(err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	delete(kc.Contexts, kc.CurrentContext)
	kc.Contexts[name] = ctx
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, to); err != nil {
		t.Fatal(err)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	needClusters(t)
	c1, c2 := clusters[0].KubeconfigPath, clusters[1].KubeconfigPath
	// A second kubeconfig for cluster1: another file, the same API server.
	c1Again := filepath.Join(t.TempDir(), "cluster1-again.yaml")
	if data, err := os.ReadFile(c1); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(c1Again, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		// reason is what stderr must say.
		reason string
	}{
		"--fix with two contexts": {
			args:   []string{"--context", "cluster1", "--context", "cluster2", "--fix"},
			reason: "--fix changes one cluster at a time; audit several clusters without it",
		},
		"--fix --dry-run with two kubeconfigs": {
			args:   []string{"--kubeconfig", c1, "--kubeconfig", c2, "--fix", "--dry-run"},
			reason: "--fix changes one cluster at a time",
		},
		"Two kubeconfigs and three contexts": {
			args:   []string{"--kubeconfig", c1, "--kubeconfig", c2, "--context", "x", "--context", "y", "--context", "z"},
			reason: "2 --kubeconfig and 3 --context flags",
		},
		"The same context twice": {
			args:   []string{"--context", "cluster1", "--context", "cluster1"},
			reason: "given twice",
		},
		"Two kubeconfigs that reach the same cluster": {
			args:   []string{"--kubeconfig", c1, "--kubeconfig", c1Again},
			reason: "reach the same API server",
		},
		"A context the kubeconfig does not have": {
			args:   []string{"--context", "cluster1", "--context", "nowhere"},
			reason: "nowhere",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := webhook(append([]string{"audit"}, tc.args...)...)
			if r.code != app.ExitUsage {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", r.code, app.ExitUsage, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.reason) {
				t.Errorf("stderr does not say %q:\n%s", tc.reason, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing: no cluster is audited", r.stdout)
			}
		})
	}
}

// versions returns the resourceVersion of every Namespace, Service,
// Deployment and DestinationRule of each cluster, by cluster, kind,
// namespace and name.
func versions(ctx context.Context, cs []*controlplane.Cluster) (map[string]string, error) {
	kinds := []schema.GroupVersionKind{
		{Version: "v1", Kind: "NamespaceList"},
		{Version: "v1", Kind: "ServiceList"},
		{Group: "apps", Version: "v1", Kind: "DeploymentList"},
		{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRuleList"},
	}
	out := map[string]string{}
	for _, c := range cs {
		for _, gvk := range kinds {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(gvk)
			if err := c.Client.List(ctx, l); err != nil {
				return nil, fmt.Errorf("%s: listing %s: %w", c.Name, gvk.Kind, err)
			}
			for _, o := range l.Items {
				out[fmt.Sprintf("%s %s %s/%s", c.Name, o.GetKind(), o.GetNamespace(), o.GetName())] = o.GetResourceVersion()
			}
		}
	}
	return out, nil
}

// TestAuditOnlyReads audits three clusters that differ, and one whose
// rule would be denied, in every form, and checks that no object of any
// cluster changed: several clusters are only read.
func TestAuditOnlyReads(t *testing.T) {
	needClusters(t)
	const ns = "read-only"
	setups := []*setup{guide(t, ns), guide(t, ns), guide(t, ns)}
	// What --fix would patch in one cluster: a Service missing its labels.
	removeLabels(setups[1].service, global, useWaypoint)
	setups[2].rule = object(t, seed.NoOutlierDestinationRule)
	setups[2].rule.SetNamespace(ns)
	createIn(t, setups)

	before, err := versions(t.Context(), clusters)
	if err != nil {
		t.Fatal(err)
	}
	// Fails when the listing above misses the objects it should compare.
	for _, key := range []string{"cluster2 Service read-only/helloworld", "cluster3 DestinationRule read-only/helloworld", "cluster1 Deployment read-only/waypoint", "cluster3 Namespace /read-only"} {
		if before[key] == "" {
			t.Fatalf("no resourceVersion of %s among %d objects", key, len(before))
		}
	}
	runs := [][]string{
		append(contexts(3), "-n", ns),
		append(contexts(3), "-n", ns, "-o", "json"),
		contexts(3), // every namespace
		{"--kubeconfig", clusters[0].KubeconfigPath, "--kubeconfig", clusters[1].KubeconfigPath, "--kubeconfig", clusters[2].KubeconfigPath},
	}
	for _, args := range runs {
		r := webhook(append([]string{"audit"}, args...)...)
		if r.code != app.ExitFailure {
			t.Errorf("audit %v: exit %d, want %d (drift and a denied rule); stderr:\n%s", args, r.code, app.ExitFailure, r.stderr)
		}
		if strings.Contains(r.stdout, "fixed:") {
			t.Errorf("audit %v reports a fix:\n%s", args, r.stdout)
		}
	}
	after, err := versions(t.Context(), clusters)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range slices.Sorted(maps.Keys(before)) {
		if after[key] != before[key] {
			t.Errorf("%s: resourceVersion %s before the audits, %q after", key, before[key], after[key])
		}
	}
	for key := range after {
		if _, ok := before[key]; !ok {
			t.Errorf("%s appeared during the audits", key)
		}
	}
}

// TestPerClusterFindingsStillReported checks that each cluster is still
// audited on its own: a rule the webhook denies in cluster2's enforced
// namespace is a finding of cluster2, next to the drift it causes.
func TestPerClusterFindingsStillReported(t *testing.T) {
	needClusters(t)
	const ns = "per-cluster"
	setups := []*setup{guide(t, ns), guide(t, ns)}
	setups[1].rule = object(t, seed.NoOutlierDestinationRule)
	setups[1].rule.SetNamespace(ns)
	set(t, setups[1].rule, "helloworld."+ns+".svc.cluster.local", "spec", "host")
	createIn(t, setups)
	args := append(contexts(2), "-n", ns)

	const violation = "FW101 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority: error: locality failover needs outlierDetection"
	text := webhook(append([]string{"audit"}, args...)...)
	if text.code != app.ExitFailure {
		t.Errorf("exit %d, want %d; stderr:\n%s", text.code, app.ExitFailure, text.stderr)
	}
	lines := strings.Split(text.stdout, "\n")
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "cluster2: DestinationRule per-cluster/helloworld: "+violation)
	}) {
		t.Errorf("no line of cluster2 denying the rule:\n%s", text.stdout)
	}
	if strings.Contains(text.stdout, "cluster1: DestinationRule") {
		t.Errorf("a finding about cluster1's rule, which has outlier detection:\n%s", text.stdout)
	}
	for _, s := range []string{"error: 1 object would be denied", differences(1)} {
		if !strings.Contains(text.stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, text.stderr)
		}
	}

	r, doc := auditJSON(t, args...)
	if r.code != app.ExitFailure {
		t.Errorf("-o json: exit %d, want %d", r.code, app.ExitFailure)
	}
	var denials []finding
	for _, f := range doc.Findings {
		if f.Severity == "error" {
			denials = append(denials, f)
		}
	}
	if len(denials) != 1 || denials[0].Cluster != "cluster2" || denials[0].Kind != "DestinationRule" || len(denials[0].Clusters) != 0 {
		t.Errorf("errors %v, want one, of cluster2's DestinationRule", denials)
	}
	checkDrift(t, doc.drift(), []want{{
		kind: "DestinationRule", namespace: ns, name: "helloworld", field: "spec.trafficPolicy.outlierDetection",
		clusters: []string{"cluster1", "cluster2"},
		message:  []string{"the effective outlierDetection differs for traffic without a subset", "in cluster1", "not set in cluster2"},
	}})
	if s := doc.Summary; s.Denied != 1 || s.Drift != 1 || s.Clusters != 2 {
		t.Errorf("summary %+v, want denied 1, drift 1, clusters 2", s)
	}
}

// TestNamespaceInOneClusterOnly audits a namespace that exists in
// cluster1 only: its Services are missing from cluster2, which is drift,
// whether the audit covers every namespace or names this one with -n.
func TestNamespaceInOneClusterOnly(t *testing.T) {
	needClusters(t)
	const ns = "one-cluster-only"
	createIn(t, []*setup{guide(t, ns)})
	missing := func(name string) want {
		return want{
			kind: "Service", namespace: ns, name: name, field: "metadata.name",
			clusters: []string{"cluster1", "cluster2"},
			message:  []string{"the Service " + name + "." + ns + " exists in cluster1 but not in cluster2"},
		}
	}
	// The waypoint helloworld uses in cluster1 is needed in cluster2 too.
	waypoint := want{
		kind: "Service", namespace: ns, name: "waypoint", field: "metadata.name",
		clusters: []string{"cluster1", "cluster2"},
		message:  []string{`the waypoint "waypoint" (used by ` + ns + `/helloworld) does not exist in cluster2; it exists in cluster1`},
		fix:      []string{"istioctl --context cluster2 waypoint apply -n " + ns + " --name waypoint --for service"},
	}
	dr := want{
		kind: "DestinationRule", namespace: ns, name: "helloworld", field: "spec.host",
		clusters: []string{"cluster1", "cluster2"},
		message:  []string{"the DestinationRule " + ns + "/helloworld for host helloworld." + ns + ".svc.cluster.local exists in cluster1 but not in cluster2"},
	}
	tests := map[string][]string{
		"Every namespace":     nil,
		"The namespace by -n": {"-n", ns},
	}
	for name, more := range tests {
		t.Run(name, func(t *testing.T) {
			r, doc := auditJSON(t, append(contexts(2), more...)...)
			if r.code != app.ExitFailure {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, app.ExitFailure, r.stderr)
			}
			// A namespace missing from one cluster is a difference to
			// report, not a failure to read that cluster.
			if strings.Contains(r.stderr, `reading namespace "`+ns+`"`) {
				t.Errorf("the audit stopped on the missing namespace:\n%s", r.stderr)
			}
			var here []finding
			for _, f := range doc.drift() {
				if f.Namespace == ns {
					here = append(here, f)
				}
			}
			checkDrift(t, here, []want{missing("helloworld"), waypoint, dr})
		})
	}
}

// TestUnreachableCluster checks that a cluster whose API server does not
// answer fails the audit, naming the cluster, rather than passing as a
// cluster with nothing in it.
func TestUnreachableCluster(t *testing.T) {
	needClusters(t)
	dead := filepath.Join(t.TempDir(), "dead")
	kc, err := clientcmd.LoadFromFile(clusters[1].KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on the loopback address: nothing listens there.
	for _, c := range kc.Clusters {
		c.Server = "https://127.0.0.1:1"
	}
	if err := clientcmd.WriteToFile(*kc, dead); err != nil {
		t.Fatal(err)
	}
	r := webhook("audit", "--kubeconfig", clusters[0].KubeconfigPath, "--kubeconfig", dead, "-n", "default")
	if r.code != app.ExitFailure {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, app.ExitFailure, r.stderr)
	}
	if !strings.Contains(r.stderr, "cluster2") {
		t.Errorf("stderr does not name the unreachable cluster:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("stderr does not say why the cluster could not be read:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "clusters compared") {
		t.Errorf("the summary claims a comparison that never ran:\n%s", r.stderr)
	}
}
