package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/manifest"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// corpusDir holds the agreement corpus: Namespaces in every mode, and
// Services and DestinationRules covering every rule.
var corpusDir = filepath.Join("..", "testdata", "agreement")

// webhookPrefix renames the corpus's namespaces for the copy admitted
// through the webhook, beside the copy created before it was registered.
const webhookPrefix = "wh-"

// readObjects returns the objects of the manifests at path, Namespaces
// first so they can be created in order.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	set, err := manifest.Open(context.Background(), []string{path}, nil)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	var objs []*unstructured.Unstructured
	err = set.Walk(func(c manifest.Chunk) error {
		doc, err := c.Decode()
		if err != nil {
			return err
		}
		for _, o := range doc.Objects {
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(o.JSON); err != nil {
				return err
			}
			objs = append(objs, u)
		}
		return nil
	})
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolRank(b.GetKind() == "Namespace") - boolRank(a.GetKind() == "Namespace")
	})
	return objs, err
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// inNamespaces returns copies of objs with prefix put in front of every
// namespace, so one set of manifests can be created more than once.
func inNamespaces(objs []*unstructured.Unstructured, prefix string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, obj := range objs {
		obj = obj.DeepCopy()
		if obj.GetKind() == "Namespace" {
			obj.SetName(prefix + obj.GetName())
		} else {
			obj.SetNamespace(prefix + obj.GetNamespace())
		}
		out[i] = obj
	}
	return out
}

func create(ctx context.Context, c *controlplane.Cluster, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		if err := c.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}

// seedAgreement creates the corpus as it is, before the webhook is
// registered, for `webhook audit` to find.
func seedAgreement(ctx context.Context, c *controlplane.Cluster) error {
	objs, err := readObjects(corpusDir)
	if err != nil {
		return err
	}
	return create(ctx, c, objs)
}

// objectKey names an object of the corpus, in its corpus namespace.
type objectKey struct{ kind, namespace, name string }

func (k objectKey) String() string { return k.kind + " " + k.namespace + "/" + k.name }

// outcome is what admission did, or would do, to one object.
type outcome struct {
	denied   bool
	warnings []string // sorted
	// audit is the audit annotation's text: the violations, "; "-joined.
	audit string
	// labels and annotations of a Service as admitted.
	labels, annotations map[string]string
}

func (o outcome) equal(p outcome) bool {
	return o.denied == p.denied && slices.Equal(o.warnings, p.warnings) && o.audit == p.audit &&
		maps.Equal(o.labels, p.labels) && maps.Equal(o.annotations, p.annotations)
}

func (o outcome) String() string {
	return fmt.Sprintf("denied=%v warnings=%q audit=%q labels=%v annotations=%v", o.denied, o.warnings, o.audit, o.labels, o.annotations)
}

// TestWebhookCheckAndAuditAgree judges one corpus three ways: through the
// API server with the webhook registered, with `webhook check` on its
// files, and with `webhook audit` (and --fix) on a copy created before the
// webhook was registered. Every Service and DestinationRule must get the
// same verdict, the same warnings, the same audit annotation and the same
// labels from all three.
func TestWebhookCheckAndAuditAgree(t *testing.T) {
	controlplane.SkipIfShort(t)
	corpus, err := readObjects(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []objectKey
	var namespaces []string
	for _, obj := range corpus {
		switch obj.GetKind() {
		case "Namespace":
			namespaces = append(namespaces, obj.GetName())
		case "Service", "DestinationRule":
			keys = append(keys, objectKey{obj.GetKind(), obj.GetNamespace(), obj.GetName()})
		}
	}

	byWebhook := admitThroughWebhook(t, corpus)
	byCheck := judgeWithCheck(t, corpus)
	byAudit := judgeWithAudit(t, corpus, namespaces)

	for _, k := range keys {
		w, c, a := byWebhook[k], byCheck[k], byAudit[k]
		if !w.equal(c) {
			t.Errorf("%s: the webhook and check disagree:\nwebhook: %s\ncheck:   %s", k, w, c)
		}
		if !w.equal(a) {
			t.Errorf("%s: the webhook and audit disagree:\nwebhook: %s\naudit:   %s", k, w, a)
		}
	}
	// The corpus must exercise every outcome, or agreement proves little.
	var denied, warned, audited, mutated int
	for _, k := range keys {
		w := byWebhook[k]
		if w.denied {
			denied++
		}
		if len(w.warnings) > 0 {
			warned++
		}
		if w.audit != "" {
			audited++
		}
		if _, ok := w.annotations["failover-webhook.io/managed-labels"]; ok && k.name != "labeled" {
			mutated++
		}
	}
	if denied == 0 || warned == 0 || audited == 0 || mutated == 0 {
		t.Errorf("the corpus gave %d denials, %d objects with warnings, %d audit annotations and %d mutations; want some of each", denied, warned, audited, mutated)
	}
}

// admitThroughWebhook creates a copy of the corpus in renamed namespaces
// and records what the webhook did to each object.
func admitThroughWebhook(t *testing.T, corpus []*unstructured.Unstructured) map[objectKey]outcome {
	t.Helper()
	out := map[objectKey]outcome{}
	for i, obj := range inNamespaces(corpus, webhookPrefix) {
		orig := corpus[i]
		ctx, warnings := controlplane.CollectWarnings(t.Context())
		err := cluster.Client.Create(ctx, obj)
		if err != nil && !strings.Contains(err.Error(), `admission webhook "vdestinationrule.failover-webhook.io" denied the request`) {
			t.Fatalf("creating %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
		if obj.GetKind() == "Namespace" {
			continue
		}
		o := outcome{denied: err != nil, warnings: sorted(warnings.List())}
		if obj.GetKind() == "Service" {
			o.labels, o.annotations = obj.GetLabels(), obj.GetAnnotations()
		}
		out[objectKey{orig.GetKind(), orig.GetNamespace(), orig.GetName()}] = o
	}
	// Audit annotations reach the API server's audit log, not the client.
	for k, o := range out {
		if k.kind != "DestinationRule" || o.denied {
			continue
		}
		o.audit = auditAnnotation(t, webhookPrefix+k.namespace, k.name)
		out[k] = o
	}
	return out
}

// judgeWithCheck runs `webhook check -o json --show-mutations` on the
// corpus files.
func judgeWithCheck(t *testing.T, corpus []*unstructured.Unstructured) map[objectKey]outcome {
	t.Helper()
	code, stdout, stderr := webhook("check", "-f", corpusDir, "-o", "json", "--show-mutations")
	if code != app.ExitFailure {
		t.Errorf("check: exit %d, want %d (the corpus holds violations in enforced namespaces); stderr: %s", code, app.ExitFailure, stderr)
	}
	var doc struct {
		Findings        []policy.Finding `json:"findings"`
		MutatedServices []struct {
			Namespace string                    `json:"namespace"`
			Name      string                    `json:"name"`
			Object    unstructured.Unstructured `json:"object"`
		} `json:"mutatedServices"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("check: stdout is not one JSON document: %v\n%s", err, stdout)
	}
	out := fromFindings(doc.Findings)
	// A Service check does not change is admitted as written.
	for _, obj := range corpus {
		if obj.GetKind() == "Service" {
			k := objectKey{"Service", obj.GetNamespace(), obj.GetName()}
			o := out[k]
			o.labels, o.annotations = obj.GetLabels(), obj.GetAnnotations()
			out[k] = o
		}
	}
	for _, m := range doc.MutatedServices {
		k := objectKey{"Service", m.Namespace, m.Name}
		o := out[k]
		o.labels, o.annotations = m.Object.GetLabels(), m.Object.GetAnnotations()
		out[k] = o
	}
	return out
}

// judgeWithAudit runs `webhook audit -o json` on the copy created before
// the webhook was registered, then `--fix`, and reads the Services back.
func judgeWithAudit(t *testing.T, corpus []*unstructured.Unstructured, namespaces []string) map[objectKey]outcome {
	t.Helper()
	args := []string{"audit", "--kubeconfig", cluster.KubeconfigPath, "-n", strings.Join(namespaces, ","), "-o", "json"}
	code, stdout, stderr := webhook(args...)
	if code != app.ExitFailure {
		t.Errorf("audit: exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
	}
	var doc struct {
		Findings []policy.Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("audit: stdout is not one JSON document: %v\n%s", err, stdout)
	}
	out := fromFindings(doc.Findings)

	if code, _, stderr := webhook(append(args, "--fix")...); code != app.ExitFailure {
		t.Errorf("audit --fix: exit %d, want %d; stderr: %s", code, app.ExitFailure, stderr)
	}
	for _, obj := range corpus {
		if obj.GetKind() != "Service" {
			continue
		}
		svc := &corev1.Service{}
		if err := cluster.Client.Get(t.Context(), client.ObjectKey{Namespace: obj.GetNamespace(), Name: obj.GetName()}, svc); err != nil {
			t.Fatal(err)
		}
		k := objectKey{"Service", svc.Namespace, svc.Name}
		o := out[k]
		o.labels, o.annotations = svc.Labels, svc.Annotations
		out[k] = o
	}
	return out
}

// fromFindings turns findings into what admission shows: a denial, the
// warning texts the webhook returns (field, failover-webhook and the rule
// in front of the message), and the audit annotation.
func fromFindings(findings []policy.Finding) map[objectKey]outcome {
	out := map[objectKey]outcome{}
	audits := map[objectKey][]string{}
	for _, f := range findings {
		k := objectKey{f.Kind, f.Namespace, f.Name}
		o := out[k]
		text := f.Field + ": failover-webhook " + string(f.Rule) + ": " + f.Message
		switch f.Severity {
		case policy.Error:
			o.denied = true
		case policy.Warning:
			o.warnings = sorted(append(o.warnings, text))
		case policy.Audit:
			audits[k] = append(audits[k], text)
		}
		out[k] = o
	}
	for k, texts := range audits {
		o := out[k]
		o.audit = strings.Join(texts, "; ")
		out[k] = o
	}
	return out
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

// auditAnnotation returns the validating webhook's violations annotation
// on the create of DestinationRule namespace/name in the API server's
// audit log, "" when the create has none. The log is written as requests
// complete, so it waits a little for the create to appear.
func auditAnnotation(t *testing.T, namespace, name string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		annotation, found, err := findAuditedCreate(namespace, name)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			return annotation
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log has no create of DestinationRule %s/%s", namespace, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func findAuditedCreate(namespace, name string) (annotation string, found bool, err error) {
	f, err := os.Open(cluster.AuditLogPath)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var e struct {
			Verb      string `json:"verb"`
			Stage     string `json:"stage"`
			ObjectRef struct {
				Resource  string `json:"resource"`
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"objectRef"`
			Annotations map[string]string `json:"annotations"`
		}
		if json.Unmarshal(s.Bytes(), &e) != nil || e.Verb != "create" || e.Stage != "ResponseComplete" ||
			e.ObjectRef.Resource != "destinationrules" || e.ObjectRef.Namespace != namespace || e.ObjectRef.Name != name {
			continue
		}
		return e.Annotations["vdestinationrule.failover-webhook.io/violations"], true, nil
	}
	return "", false, s.Err()
}
