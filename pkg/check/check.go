// Package check judges manifests offline, as the webhook would admit them:
// the engine of `webhook check`.
package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/fieldpos"
	"github.com/failover-webhook/failover-webhook/pkg/gateway"
	"github.com/failover-webhook/failover-webhook/pkg/kinds"
	"github.com/failover-webhook/failover-webhook/pkg/manifest"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/report"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// Options configures Run.
type Options struct {
	// Paths are files, folders (read recursively) and manifest.Stdin.
	Paths []string
	Stdin io.Reader
	// Namespace is the namespace of objects that name none, as kubectl's
	// --namespace.
	Namespace string
	// Config holds the modes (NamespaceModes override the modes the
	// input's Namespace objects set; DefaultMode is the mode of namespaces
	// neither gives one, empty meaning enforce, as the webhook reads it),
	// the excluded namespaces and the waypoint name.
	policy.Config

	Format report.Format
	// ShowMutations adds each Service as the webhook would admit it.
	ShowMutations bool
	// Verbose writes a note for everything skipped.
	Verbose bool
	// Quiet leaves the mutation findings out of the report.
	Quiet bool
	// Color colours the severities of text findings.
	Color bool
	// AllowEmpty accepts input from which no document is read; otherwise
	// that is an *InputError ("nothing to check").
	AllowEmpty bool
}

// InputError reports input that could not be read: a missing path, or
// documents that are not valid YAML or JSON or do not decode. The run
// still reports everything it could read.
type InputError struct {
	Err     error // a path that could not be read
	Invalid int   // documents that could not be read
}

func (e *InputError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	if e.Invalid == 1 {
		return "1 document could not be read"
	}
	return fmt.Sprintf("%d documents could not be read", e.Invalid)
}

func (e *InputError) Unwrap() error { return e.Err }

// Run judges every Service and DestinationRule of the input and writes the
// report to stdout; problems with the input and, when Verbose, notes about
// what was skipped go to stderr. It reads the input twice: first for the
// Namespace objects, whose labels set each namespace's mode and waypoint,
// then document by document to judge the rest. The returned summary's
// Denied says whether the webhook would reject anything; an *InputError
// says some input could not be read.
func Run(ctx context.Context, opts Options, stdout, stderr io.Writer) (report.Summary, error) {
	var summary report.Summary
	set, err := manifest.Open(ctx, opts.Paths, opts.Stdin)
	if err != nil {
		return summary, &InputError{Err: err}
	}
	defer set.Close()

	inv, err := readInventory(ctx, set, opts.Namespace)
	if err != nil {
		return summary, err
	}
	if err := set.NothingRead(); err != nil && !opts.AllowEmpty {
		return summary, &InputError{Err: err}
	}
	scheme, err := kinds.Scheme()
	if err != nil {
		return summary, err
	}
	out, err := report.NewWriter(opts.Format, stdout, stderr, opts.ShowMutations)
	if err != nil {
		return summary, err
	}
	out.Quiet, out.Color = opts.Quiet, opts.Color
	r := &run{
		opts:      opts,
		stderr:    stderr,
		out:       out,
		decoder:   admission.NewDecoder(scheme),
		evaluator: opts.Evaluator(inv.labels, inv.service),
	}
	walkErr := set.Walk(func(c manifest.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return r.document(c)
	})
	closeErr := out.Close(&r.summary)
	if err := errors.Join(walkErr, closeErr); err != nil {
		return r.summary, err
	}
	if r.summary.Invalid > 0 {
		return r.summary, &InputError{Invalid: r.summary.Invalid}
	}
	return r.summary, nil
}

var namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")

// inventory is what the first pass reads: the labels of every Namespace
// object, and the Services, whose ports are the scopes of the
// DestinationRules for them.
type inventory struct {
	labels   map[string]map[string]string
	services map[types.NamespacedName]*corev1.Service
}

func (inv inventory) service(key types.NamespacedName) *corev1.Service {
	return inv.services[key]
}

// readInventory reads the Namespaces and Services of the input; objects
// that name no namespace are in defaultNamespace. Documents that cannot
// be read are reported by the second pass.
func readInventory(ctx context.Context, set *manifest.Set, defaultNamespace string) (inventory, error) {
	inv := inventory{labels: map[string]map[string]string{}, services: map[types.NamespacedName]*corev1.Service{}}
	err := set.Walk(func(c manifest.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Only a document naming one of the kinds can hold one; most do
		// not, and skipping them unparsed keeps this pass cheap.
		if !bytes.Contains(c.Data, []byte("Namespace")) && !bytes.Contains(c.Data, []byte("Service")) {
			return nil
		}
		doc, err := c.Decode()
		if err != nil {
			return nil
		}
		for _, obj := range doc.Objects {
			switch obj.GVK {
			case namespaceGVK:
				var ns struct {
					Metadata struct {
						Name   string            `json:"name"`
						Labels map[string]string `json:"labels"`
					} `json:"metadata"`
				}
				if json.Unmarshal(obj.JSON, &ns) == nil && ns.Metadata.Name != "" {
					inv.labels[ns.Metadata.Name] = ns.Metadata.Labels
				}
			case serviceGVK:
				// Only the ports are kept: the input may hold many
				// Services, and the rule reads nothing else of them.
				var svc struct {
					Metadata struct {
						Name      string `json:"name"`
						Namespace string `json:"namespace"`
					} `json:"metadata"`
					Spec struct {
						Ports []corev1.ServicePort `json:"ports"`
					} `json:"spec"`
				}
				if json.Unmarshal(obj.JSON, &svc) != nil || svc.Metadata.Name == "" {
					continue
				}
				key := types.NamespacedName{Namespace: svc.Metadata.Namespace, Name: svc.Metadata.Name}
				if key.Namespace == "" {
					key.Namespace = defaultNamespace
				}
				inv.services[key] = &corev1.Service{Spec: corev1.ServiceSpec{Ports: svc.Spec.Ports}}
			}
		}
		return nil
	})
	return inv, err
}

// run is the state of the second pass.
type run struct {
	opts      Options
	stderr    io.Writer
	out       *report.Writer
	decoder   admission.Decoder
	evaluator policy.Evaluator
	summary   report.Summary
	// positions are the field positions of the last document parsed.
	positions struct {
		source string
		index  int
		doc    *fieldpos.Document
	}
}

func (r *run) document(c manifest.Chunk) error {
	r.summary.Documents++
	doc, err := c.Decode()
	if err != nil {
		r.summary.Invalid++
		_, werr := fmt.Fprintln(r.stderr, err)
		return werr
	}
	for _, note := range doc.Notes {
		r.skip(doc, 0, "%s", note)
	}
	for _, obj := range doc.Objects {
		if err := r.object(doc, obj); err != nil {
			return err
		}
	}
	return nil
}

// skip counts something not judged and, when Verbose, says why, at the
// line its document starts on.
func (r *run) skip(doc manifest.Document, item int, format string, args ...any) {
	r.summary.Skipped++
	if !r.opts.Verbose {
		return
	}
	what := fmt.Sprintf("document %d", doc.Index)
	if item > 0 {
		what += fmt.Sprintf(", item %d,", item)
	}
	fmt.Fprintf(r.stderr, "%s:%d: %s skipped: %s\n", doc.Source, doc.Line, what, fmt.Sprintf(format, args...))
}

func (r *run) object(doc manifest.Document, obj manifest.Object) error {
	switch {
	case obj.GVK == serviceGVK:
		svc := &corev1.Service{}
		out, judged, err := r.judge(doc, obj, svc, func() policy.Outcome { return r.evaluator.Service(svc) })
		if !judged || err != nil {
			return err
		}
		r.summary.Services++
		if out.Mutated == nil {
			return nil
		}
		r.summary.Mutated++
		if !r.out.ShowsMutations() {
			return nil
		}
		mutated, err := mutate.WithMetadata(obj.JSON, out.Mutated.Labels, out.Mutated.Annotations)
		if err != nil {
			return err
		}
		return r.out.Mutated(report.Mutation{File: doc.Source, Doc: doc.Index, Namespace: svc.Namespace, Name: svc.Name, Object: mutated})
	case obj.GVK.GroupKind() == validate.GroupKind:
		dr := validate.NewObject(obj.GVK.Version)
		if dr == nil {
			r.skip(doc, obj.Item, "%s %s is not a version the webhook admits (v1, v1beta1, v1alpha3)", obj.GVK.GroupVersion(), obj.GVK.Kind)
			return nil
		}
		out, judged, err := r.judge(doc, obj, dr, func() policy.Outcome { return r.evaluator.DestinationRule(dr) })
		if !judged || err != nil {
			return err
		}
		r.summary.DestinationRules++
		if out.Denied {
			r.summary.Denied++
		}
		return nil
	case obj.GVK == namespaceGVK:
		return nil
	case obj.GVK.GroupKind() == gateway.GVK.GroupKind():
		// Waypoint Gateways are read for FW412 only; they are not
		// admitted, so they count neither as judged nor as skipped.
		gw := &unstructured.Unstructured{}
		_, _, err := r.judge(doc, obj, gw, func() policy.Outcome { return r.evaluator.Gateway(gw) })
		return err
	}
	r.skip(doc, obj.Item, "%s %s is not admitted by the webhook", obj.GVK.GroupVersion(), obj.GVK.Kind)
	return nil
}

// judge decodes obj into into, judges it with evaluate and reports the
// findings. judged is false for an object that does not decode (bad input)
// or is in a namespace the webhook never sees.
func (r *run) judge(doc manifest.Document, obj manifest.Object, into client.Object, evaluate func() policy.Outcome) (out policy.Outcome, judged bool, err error) {
	if !r.decode(doc, obj, into) {
		return out, false, nil
	}
	out = evaluate()
	r.summary.CountNotJudged(into.GetNamespace(), out)
	if out.Excluded {
		r.skip(doc, obj.Item, "%s %s/%s: namespace %s is excluded from the webhook", obj.GVK.Kind, into.GetNamespace(), into.GetName(), into.GetNamespace())
		return out, false, nil
	}
	for _, f := range out.Findings {
		positions := r.positionsOf(doc)
		f.File, f.Doc = doc.Source, doc.Index
		f.Line, f.Column = locate(positions, doc, obj.Item, f.Field)
		if err := r.out.Finding(f); err != nil {
			return out, false, err
		}
	}
	return out, true, nil
}

// positionsOf parses the document's text for field positions once, and
// only when one of its objects has findings: a List's items share it. It
// decoded, so it parses; if it ever did not, findings fall back to the
// document's first line.
func (r *run) positionsOf(doc manifest.Document) *fieldpos.Document {
	if r.positions.source != doc.Source || r.positions.index != doc.Index {
		d, _ := fieldpos.Parse(doc.Data)
		r.positions.source, r.positions.index, r.positions.doc = doc.Source, doc.Index, d
	}
	return r.positions.doc
}

// locate returns the line and column, in the file, of the field at path of
// the object (item of a List, from 1; 0 for the document itself).
func locate(positions *fieldpos.Document, doc manifest.Document, item int, path string) (line, column int) {
	if positions == nil {
		return doc.Line, 1
	}
	if item > 0 {
		path = fmt.Sprintf("items[%d].%s", item-1, path)
	}
	pos, _, err := positions.Locate(path)
	if err != nil || pos.Line == 0 {
		return doc.Line, 1
	}
	return doc.Line + pos.Line - 1, pos.Column
}

var serviceGVK = corev1.SchemeGroupVersion.WithKind("Service")

// decode reads obj into into as the webhook's decoder does, and puts it
// in the default namespace if it names none. A failure is bad input.
func (r *run) decode(doc manifest.Document, obj manifest.Object, into client.Object) bool {
	if err := r.decoder.DecodeRaw(runtime.RawExtension{Raw: obj.JSON}, into); err != nil {
		r.summary.Invalid++
		fmt.Fprintf(r.stderr, "%s:%d: %s: cannot decode the %s: %v\n", doc.Source, doc.Line, describe(doc, obj), obj.GVK.Kind, err)
		return false
	}
	if into.GetNamespace() == "" {
		into.SetNamespace(r.opts.Namespace)
	}
	return true
}

func describe(doc manifest.Document, obj manifest.Object) string {
	if obj.Item > 0 {
		return fmt.Sprintf("document %d, item %d", doc.Index, obj.Item)
	}
	return fmt.Sprintf("document %d", doc.Index)
}

// Stdin is the path naming standard input.
const Stdin = manifest.Stdin
