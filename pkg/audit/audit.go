// Package audit judges the objects already in a cluster as the webhook
// would admit them, and applies the Service mutations the webhook would
// have made: the engine of `webhook audit`. It finds what was admitted
// before the webhook was installed, or while a namespace was off.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/drift"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/merged"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/report"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// DefaultChunkSize is how many objects one list request returns, as
// kubectl's --chunk-size.
const DefaultChunkSize = 500

// Options configures Run.
type Options struct {
	// Namespaces limits the audit to these namespaces; empty means all.
	Namespaces []string
	// Config holds the what-if modes (NamespaceModes override the modes
	// the namespaces' labels set, to see what a namespace would face in
	// another mode), the excluded namespaces and the waypoint name.
	policy.Config
	// Fix patches the labels and annotations the webhook would set onto
	// the Services lacking them. DestinationRules are never changed.
	Fix bool
	// DryRun sends the patches as server-side dry runs: validated,
	// admitted, not stored.
	DryRun bool
	// ChunkSize is the page size of list requests; 0 means
	// DefaultChunkSize.
	ChunkSize int64
	// Quiet leaves the mutation findings out of the report.
	Quiet  bool
	Format report.Format
}

// FixError reports Services that --fix could not patch.
type FixError struct{ Failed int }

func (e *FixError) Error() string {
	return fmt.Sprintf("%d Services could not be fixed", e.Failed)
}

// Run audits the cluster c talks to and writes the report to stdout;
// notes and failed fixes go to stderr. It lists every DestinationRule
// (through the version the cluster serves) and every Service labeled
// failover=cluster, a page at a time, so memory stays bounded whatever
// their number. The summary's Denied says whether the webhook would reject
// anything; a *FixError says some fixes failed.
func Run(ctx context.Context, c client.Client, opts Options, stdout, stderr io.Writer) (report.Summary, error) {
	var summary report.Summary
	out, err := report.NewWriter(opts.Format, stdout, stderr, false)
	if err != nil {
		return summary, err
	}
	out.Quiet = opts.Quiet
	a := newAuditor(c, opts, out, &summary, stderr)
	runErr := a.run(ctx)
	if err := errors.Join(runErr, out.Close(&summary)); err != nil {
		return summary, err
	}
	if opts.Fix && opts.DryRun && summary.Mutated > 0 {
		fmt.Fprintf(stderr, "dry run: %d Services would be changed (the API server validated each change); nothing was stored\n", summary.Mutated-a.failed)
	}
	if a.failed > 0 {
		return summary, &FixError{Failed: a.failed}
	}
	return summary, nil
}

func newAuditor(c client.Client, opts Options, out *report.Writer, summary *report.Summary, stderr io.Writer) *auditor {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	return &auditor{c: c, opts: opts, stderr: stderr, out: out, summary: summary}
}

// run judges the cluster's objects and writes the findings.
func (a *auditor) run(ctx context.Context) error {
	labels, err := a.namespaceLabels(ctx)
	if err != nil {
		return err
	}
	a.evaluator = a.opts.Evaluator(labels, a.liveService(ctx))
	if err := errors.Join(a.destinationRules(ctx), a.services(ctx)); err != nil {
		return err
	}
	return a.mergedRules(ctx)
}

// mergedRules judges the DestinationRules of each host together, as Istio
// merges them for a waypoint (pkg/merged). It reads each Service such a
// host names once more: for its waypoint labels, not only its ports.
func (a *auditor) mergedRules(ctx context.Context) error {
	lookup := a.liveService(ctx)
	findings := merged.Judge(merged.Input{
		Rules:      a.rules,
		Service:    lookup,
		Namespaces: a.evaluator.Namespaces,
	})
	for _, f := range findings {
		if f.Severity == policy.Error {
			a.summary.Merged++
		}
		if err := a.write(f); err != nil {
			return err
		}
	}
	return nil
}

// liveService reads the Service a DestinationRule with failover names, so
// the rule is judged on the live Service's ports; one the audit cannot
// read is treated as absent (conservative scopes, and the message says so).
func (a *auditor) liveService(ctx context.Context) func(types.NamespacedName) *corev1.Service {
	return func(key types.NamespacedName) *corev1.Service {
		svc := &corev1.Service{}
		if err := a.c.Get(ctx, key, svc); err != nil {
			if !apierrors.IsNotFound(err) {
				fmt.Fprintf(a.stderr, "reading Service %s: %v; its DestinationRules are judged on every port they name and any other port\n", key, err)
			}
			return nil
		}
		return svc
	}
}

type auditor struct {
	c         client.Client
	opts      Options
	stderr    io.Writer
	out       *report.Writer
	evaluator policy.Evaluator
	summary   *report.Summary
	failed    int
	// cluster names the cluster in findings when several are audited.
	cluster string
	// snap, when set, receives every DestinationRule listed, for the
	// comparison of several clusters.
	snap *drift.Snapshot
	// rules are every DestinationRule listed, for Istio's merge per host:
	// metadata and spec only, so the pages can be freed.
	rules []consolidate.Rule
}

// write writes one finding of the cluster.
func (a *auditor) write(f policy.Finding) error {
	f.Cluster = a.cluster
	return a.out.Finding(f)
}

// namespaceLabels reads the labels of the audited namespaces, metadata
// only: all of them a page at a time, or each named one.
func (a *auditor) namespaceLabels(ctx context.Context) (map[string]map[string]string, error) {
	labels := map[string]map[string]string{}
	if len(a.opts.Namespaces) > 0 {
		for _, name := range a.opts.Namespaces {
			ns := namespaces.NewMetadata()
			err := a.c.Get(ctx, client.ObjectKey{Name: name}, ns)
			if apierrors.IsNotFound(err) && a.cluster != "" {
				// Among several clusters, a namespace missing from one is
				// a difference to report, not a reason to stop.
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading namespace %q: %w", name, err)
			}
			labels[name] = ns.Labels
		}
		return labels, nil
	}
	newList := func() *metav1.PartialObjectMetadataList {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
		return l
	}
	err := eachPage(ctx, a.c, newList, nil, a.opts.ChunkSize, func(l *metav1.PartialObjectMetadataList) error {
		for _, ns := range l.Items {
			labels[ns.Name] = ns.Labels
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	return labels, nil
}

// scopes returns the list options of each namespace audited.
func (a *auditor) scopes() [][]client.ListOption {
	if len(a.opts.Namespaces) == 0 {
		return [][]client.ListOption{nil}
	}
	var out [][]client.ListOption
	for _, ns := range a.opts.Namespaces {
		out = append(out, []client.ListOption{client.InNamespace(ns)})
	}
	return out
}

// destinationRules judges every DestinationRule. The three versions are
// one resource; they are listed through the first the cluster serves.
func (a *auditor) destinationRules(ctx context.Context) error {
	mapping, err := a.c.RESTMapper().RESTMapping(validate.GroupKind, "v1", "v1beta1", "v1alpha3")
	if meta.IsNoMatchError(err) {
		fmt.Fprintf(a.stderr, "the cluster serves no %s (are Istio's CRDs installed?); DestinationRules are not audited\n", validate.GroupKind)
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding the served version of %s: %w", validate.GroupKind, err)
	}
	newList := func() client.ObjectList { return validate.NewList(mapping.GroupVersionKind.Version) }
	for _, scope := range a.scopes() {
		err := eachPage(ctx, a.c, newList, scope, a.opts.ChunkSize, func(l client.ObjectList) error {
			return meta.EachListItem(l, func(o runtime.Object) error {
				return a.destinationRule(o.(client.Object))
			})
		})
		if err != nil {
			return fmt.Errorf("listing DestinationRules: %w", err)
		}
	}
	return nil
}

func (a *auditor) destinationRule(dr client.Object) error {
	// A copy of the spec, so that the page can be freed.
	spec := proto.Clone(validate.Spec(dr)).(*networking.DestinationRule)
	if a.snap != nil {
		a.keepDestinationRule(dr, spec)
	}
	a.rules = append(a.rules, consolidate.Rule{
		Namespace: dr.GetNamespace(), Name: dr.GetName(), Created: dr.GetCreationTimestamp().Time, Spec: spec,
	})
	out := a.evaluator.DestinationRule(dr)
	a.summary.CountNotJudged(dr.GetNamespace(), out)
	if out.Excluded {
		a.summary.Skipped++
		return nil
	}
	a.summary.DestinationRules++
	if out.Denied {
		a.summary.Denied++
	}
	fix := ""
	if a.opts.Fix && len(out.Violations) > 0 {
		fix = patchCommand(dr, out.Violations)
	}
	for _, f := range out.Findings {
		// The command goes with the first finding it repairs.
		if fix != "" && f.Rule == rules.FailoverWithoutOutlierDetection {
			f.Fix, fix = fix, ""
		}
		if err := a.write(f); err != nil {
			return err
		}
	}
	return nil
}

// patchCommand returns a kubectl command adding the example
// outlierDetection wherever the violations need one. It is printed, never
// run: a DestinationRule's source of truth is usually a repository.
func patchCommand(dr client.Object, violations []verdict.Entry) string {
	value, err := yaml.YAMLToJSON([]byte(validate.ExampleOutlierDetection))
	if err != nil {
		return ""
	}
	var ops []string
	seen := map[string]bool{}
	for _, v := range violations {
		path := v.Fix
		if path == "" || seen[path] {
			continue
		}
		seen[path] = true
		ops = append(ops, fmt.Sprintf(`{"op":"add","path":%q,"value":%s}`, jsonPointer(path), value))
	}
	if len(ops) == 0 {
		return ""
	}
	return fmt.Sprintf("kubectl patch destinationrules.%s %s -n %s --type=json -p '[%s]'",
		validate.GroupKind.Group, dr.GetName(), dr.GetNamespace(), strings.Join(ops, ","))
}

// jsonPointer turns a field path (spec.subsets[1].trafficPolicy) into a
// JSON pointer (/spec/subsets/1/trafficPolicy).
func jsonPointer(path string) string {
	r := strings.NewReplacer(".", "/", "[", "/", "]", "")
	return "/" + r.Replace(path)
}

// services judges every Service labeled failover=cluster and, with Fix,
// patches the ones the webhook would change.
func (a *auditor) services(ctx context.Context) error {
	newList := func() *corev1.ServiceList { return &corev1.ServiceList{} }
	for _, scope := range a.scopes() {
		opts := append([]client.ListOption{client.MatchingLabels{keys.Trigger: keys.TriggerValue}}, scope...)
		err := eachPage(ctx, a.c, newList, opts, a.opts.ChunkSize, func(l *corev1.ServiceList) error {
			for i := range l.Items {
				if err := a.service(ctx, &l.Items[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("listing Services: %w", err)
		}
	}
	return nil
}

func (a *auditor) service(ctx context.Context, svc *corev1.Service) error {
	out := a.evaluator.Service(svc)
	a.summary.CountNotJudged(svc.Namespace, out)
	if out.Excluded {
		a.summary.Skipped++
		return nil
	}
	a.summary.Services++
	fixed := false
	if out.Mutated != nil {
		a.summary.Mutated++
		if a.opts.Fix {
			var err error
			if out, err = a.fix(ctx, svc, out); err != nil {
				a.failed++
				fmt.Fprintf(a.stderr, "Service %s/%s could not be fixed: %v\n", svc.Namespace, svc.Name, err)
			} else {
				fixed = !a.opts.DryRun
			}
		}
	}
	if fixed {
		a.summary.Fixed++
	}
	for _, f := range out.Findings {
		if fixed && f.Severity == policy.Mutation {
			f = policy.MarkFixed(f)
		}
		if err := a.write(f); err != nil {
			return err
		}
	}
	return nil
}

// fix patches the labels and annotations the webhook would set, and only
// those: a merge patch of the difference, guarded by the resourceVersion
// read. If the Service changed since, it is read and judged again.
func (a *auditor) fix(ctx context.Context, svc *corev1.Service, out policy.Outcome) (policy.Outcome, error) {
	current := svc
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if current == nil {
			current = &corev1.Service{}
			if err := a.c.Get(ctx, client.ObjectKeyFromObject(svc), current); err != nil {
				return err
			}
			if out = a.evaluator.Service(current); out.Mutated == nil {
				return nil
			}
		}
		var opts []client.PatchOption
		if a.opts.DryRun {
			opts = append(opts, client.DryRunAll)
		}
		patch := client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{})
		err := a.c.Patch(ctx, out.Mutated.DeepCopy(), patch, opts...)
		current = nil
		return err
	})
	return out, err
}

// eachPage lists a page of at most chunk objects at a time and calls fn
// with each, following the continue token, so memory holds one page.
func eachPage[L client.ObjectList](ctx context.Context, c client.Reader, newList func() L, opts []client.ListOption, chunk int64, fn func(L) error) error {
	token := ""
	for {
		list := newList()
		pageOpts := append(append([]client.ListOption{}, opts...), client.Limit(chunk))
		if token != "" {
			pageOpts = append(pageOpts, client.Continue(token))
		}
		if err := c.List(ctx, list, pageOpts...); err != nil {
			return err
		}
		if err := fn(list); err != nil {
			return err
		}
		if token = list.GetContinue(); token == "" {
			return nil
		}
	}
}
