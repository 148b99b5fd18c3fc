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
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/audit"
	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/drift"
	"github.com/failover-webhook/failover-webhook/pkg/fieldpos"
	"github.com/failover-webhook/failover-webhook/pkg/gateway"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/kinds"
	"github.com/failover-webhook/failover-webhook/pkg/manifest"
	"github.com/failover-webhook/failover-webhook/pkg/merged"
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
		inv:       inv,
	}
	walkErr := set.Walk(func(c manifest.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return r.document(c)
	})
	if walkErr == nil {
		walkErr = r.mergedRules(ctx, set, inv)
	}
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
	// gateways are the labels each Gateway of the input has Istio copy
	// onto its Service (gateway.Gateway.LabelsReachingService).
	gateways map[types.NamespacedName]map[string]string
}

// globalWaypoint reports whether the input shows waypoint w's Service
// global: its Service, else its Gateway, whose labels Istio copies onto
// the Service it generates.
func (inv inventory) globalWaypoint(w types.NamespacedName) bool {
	if svc := inv.services[w]; svc != nil {
		return svc.Labels[keys.Global] == keys.GlobalValue
	}
	return inv.gateways[w][keys.Global] == keys.GlobalValue
}

func (inv inventory) service(key types.NamespacedName) *corev1.Service {
	return inv.services[key]
}

// readInventory reads the Namespaces and Services of the input; objects
// that name no namespace are in defaultNamespace. Documents that cannot
// be read are reported by the second pass.
func readInventory(ctx context.Context, set *manifest.Set, defaultNamespace string) (inventory, error) {
	inv := inventory{labels: map[string]map[string]string{}, services: map[types.NamespacedName]*corev1.Service{}, gateways: map[types.NamespacedName]map[string]string{}}
	err := set.Walk(func(c manifest.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Only a document naming one of the kinds can hold one; most do
		// not, and skipping them unparsed keeps this pass cheap.
		if !bytes.Contains(c.Data, []byte("Namespace")) && !bytes.Contains(c.Data, []byte("Service")) && !bytes.Contains(c.Data, []byte("Gateway")) {
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
				// Only the ports and the waypoint labels are kept: the
				// input may hold many Services, and the rules read
				// nothing else of them.
				var svc struct {
					Metadata struct {
						Name      string            `json:"name"`
						Namespace string            `json:"namespace"`
						Labels    map[string]string `json:"labels"`
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
				inv.services[key] = &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Labels: drift.Relevant(svc.Metadata.Labels)},
					Spec:       corev1.ServiceSpec{Ports: svc.Spec.Ports},
				}
			default:
				if obj.GVK.GroupKind() != gateway.GVK.GroupKind() {
					continue
				}
				u := &unstructured.Unstructured{}
				if u.UnmarshalJSON(obj.JSON) != nil || u.GetName() == "" {
					continue
				}
				key := types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()}
				if key.Namespace == "" {
					key.Namespace = defaultNamespace
				}
				inv.gateways[key] = drift.Relevant(gateway.Of(u).LabelsReachingService())
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
	inv       inventory
	// rules are the DestinationRules read, for Istio's merge per host.
	rules []seenRule
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
		out, judged, err := r.judge(doc, obj, svc, func() policy.Outcome {
			out := r.evaluator.Service(svc)
			if f, ok := r.globalThroughWaypoint(svc); ok && !out.Excluded {
				out.Findings = append(out.Findings, f)
			}
			return out
		})
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
		out, judged, err := r.judge(doc, obj, dr, func() policy.Outcome {
			// Every rule takes part in Istio's merge, judged or not.
			r.keep(doc, obj, dr)
			return r.evaluator.DestinationRule(dr)
		})
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

// globalThroughWaypoint is FW413 for svc, as `webhook audit` reports it
// (rules.GlobalThroughWaypoint): a Service neither global nor opted in
// whose waypoint, named by its labels or its namespace's in the input, is
// global in the input.
func (r *run) globalThroughWaypoint(svc *corev1.Service) (policy.Finding, bool) {
	if svc.Labels[keys.Trigger] == keys.TriggerValue || svc.Labels[keys.Global] == keys.GlobalValue {
		return policy.Finding{}, false
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	w, ok := validate.WaypointOf(key, svc.Labels, r.evaluator.Namespaces.LabelsOf(svc.Namespace))
	if !ok || !r.inv.globalWaypoint(w) {
		return policy.Finding{}, false
	}
	return audit.LocalServiceFinding(key, w), true
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

// seenRule is what the second pass keeps of a DestinationRule: where it
// was read and what decides whether it takes part in a merge, not its
// spec, so that memory stays small however many rules the input holds.
type seenRule struct {
	key types.NamespacedName
	// host is spec.host as Istio resolves it; failover says whether the
	// rule declares a failover policy.
	host     string
	failover bool
	place    place
}

// place is where a DestinationRule was read: its document and its item
// in a List (0 for the document itself).
type place struct {
	source      string
	index, line int
	item        int
}

type docKey struct {
	source string
	index  int
}

// keep records dr for the merge.
func (r *run) keep(doc manifest.Document, obj manifest.Object, dr client.Object) {
	spec := validate.Spec(dr)
	r.rules = append(r.rules, seenRule{
		key:      client.ObjectKeyFromObject(dr),
		host:     consolidate.DefaultMesh.Resolve(spec.GetHost(), dr.GetNamespace()),
		failover: validate.DeclaresFailoverPolicy(spec),
		place:    place{source: doc.Source, index: doc.Index, line: doc.Line, item: obj.Item},
	})
}

// shared returns the rules that take part in a merge for a host some rule
// with a failover policy names: every rule of a host that has several,
// and every rule of a wildcard host with those of all such hosts. Rules
// of other hosts cannot change what a waypoint applies to these.
func shared(seen []seenRule) []seenRule {
	perHost := map[string]int{}
	wildcard := false
	for _, s := range seen {
		perHost[s.host]++
		wildcard = wildcard || strings.HasPrefix(s.host, "*")
	}
	relevant := map[string]bool{}
	for _, s := range seen {
		if s.failover && (wildcard || perHost[s.host] > 1) {
			relevant[s.host] = true
		}
	}
	var out []seenRule
	for _, s := range seen {
		if relevant[s.host] || (len(relevant) > 0 && strings.HasPrefix(s.host, "*")) {
			out = append(out, s)
		}
	}
	return out
}

// mergedRules judges the DestinationRules of each host together, as Istio
// merges them for a waypoint (pkg/merged), and reports the findings at
// their fields. Only when some host has several rules does it read again
// the documents that hold them.
func (r *run) mergedRules(ctx context.Context, set *manifest.Set, inv inventory) error {
	needed := shared(r.rules)
	if len(needed) == 0 {
		return nil
	}
	docs := map[docKey][]seenRule{}
	for _, s := range needed {
		k := docKey{s.place.source, s.place.index}
		docs[k] = append(docs[k], s)
	}
	var rules []consolidate.Rule
	places := map[types.NamespacedName]place{}
	positions := map[docKey]*fieldpos.Document{}
	err := set.Walk(func(c manifest.Chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := docKey{c.Source, c.Index}
		want := docs[k]
		if len(want) == 0 {
			return nil
		}
		doc, err := c.Decode()
		if err != nil {
			return nil // reported by the second pass
		}
		positions[k], _ = fieldpos.Parse(doc.Data)
		for _, obj := range doc.Objects {
			if !slices.ContainsFunc(want, func(s seenRule) bool { return s.place.item == obj.Item }) {
				continue
			}
			dr := validate.NewObject(obj.GVK.Version)
			if dr == nil || r.decoder.DecodeRaw(runtime.RawExtension{Raw: obj.JSON}, dr) != nil {
				continue
			}
			if dr.GetNamespace() == "" {
				dr.SetNamespace(r.opts.Namespace)
			}
			key := client.ObjectKeyFromObject(dr)
			places[key] = place{source: doc.Source, index: doc.Index, line: doc.Line, item: obj.Item}
			rules = append(rules, consolidate.Rule{
				Namespace: key.Namespace, Name: key.Name, Created: dr.GetCreationTimestamp().Time, Spec: validate.Spec(dr),
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range merged.Judge(merged.Input{Rules: rules, Service: inv.service, Namespaces: r.evaluator.Namespaces}) {
		p := places[types.NamespacedName{Namespace: f.Namespace, Name: f.Name}]
		f.File, f.Doc = p.source, p.index
		f.Line, f.Column = locate(positions[docKey{p.source, p.index}], manifest.Document{Line: p.line}, p.item, f.Field)
		if f.Severity == policy.Error {
			r.summary.Merged++
		}
		if err := r.out.Finding(f); err != nil {
			return err
		}
	}
	return nil
}

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
