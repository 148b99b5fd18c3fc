// Package mutate holds the Service rules: which labels an opted-in Service
// gets so that Istio ambient shares its endpoints across clusters and routes
// it through a waypoint, and how they are taken back when it opts out.
package mutate

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Input is everything a mutation decision depends on.
type Input struct {
	// Service is the object being admitted. Decide never modifies it.
	Service *corev1.Service
	// OldService is the stored object on UPDATE, nil on CREATE.
	OldService *corev1.Service
	// NamespaceLabels are the labels of the Service's namespace, read for
	// its istio.io/use-waypoint and istio.io/use-waypoint-namespace.
	NamespaceLabels map[string]string
	// DefaultWaypoint is the waypoint used when neither the Service nor its
	// namespace names one.
	DefaultWaypoint string
}

// Result is the outcome of Decide.
type Result struct {
	// Service is the Service as it should be admitted: a modified copy when
	// Changed, the input otherwise.
	Service *corev1.Service
	Changed bool
	// Warnings explain what the rules did or could not do
	// (verdict.Notice entries about metadata.labels).
	Warnings []verdict.Entry
}

// Decide applies the Service rules to in.Service.
func Decide(in Input) Result {
	svc := in.Service.DeepCopy()
	d := decision{in: in, svc: svc}
	switch {
	case svc.Labels[keys.GatewayManaged] == keys.ManagedByEastWestController:
		if optedIn(svc) {
			d.warn(rules.EastWestGatewayUntouched, "east-west gateway Services are left alone: they carry cross-network traffic for every global Service and must not be routed through a waypoint; remove the %s=%s label from it", keys.Trigger, keys.TriggerValue)
		}
		return Result{Service: in.Service, Warnings: d.warnings}
	case optedIn(svc):
		d.optIn()
	default:
		d.optOut()
	}
	if !d.changed {
		return Result{Service: in.Service, Warnings: d.warnings}
	}
	return Result{Service: svc, Changed: true, Warnings: d.warnings}
}

func optedIn(svc *corev1.Service) bool {
	return svc.Labels[keys.Trigger] == keys.TriggerValue
}

func isWaypoint(svc *corev1.Service) bool {
	return svc.Labels[keys.GatewayManaged] == keys.ManagedByWaypointController
}

// decision carries the working state of one Decide call.
type decision struct {
	in       Input
	svc      *corev1.Service
	changed  bool
	warnings []verdict.Entry
}

// labelsPath is the field every Service warning is about.
var labelsPath = field.NewPath("metadata", "labels")

func (d *decision) warn(rule rules.ID, format string, args ...any) {
	d.warnings = append(d.warnings, verdict.New(rule, verdict.Notice, labelsPath, format, args...))
}

// optIn sets the labels an opted-in Service needs and records which ones the
// webhook owns.
func (d *decision) optIn() {
	managed := map[string]bool{}
	// A key listed in the record stays the webhook's while it still holds
	// the webhook's value; once a person changes it, it is theirs.
	// Only the incoming record counts here: a person who blanks it takes
	// the labels over, and the result must be stable when re-admitted.
	for _, k := range parseRecord(d.svc.Annotations[keys.ManagedLabels]) {
		if v, ok := d.svc.Labels[k]; ok && d.isWebhookValue(k, v) {
			managed[k] = true
		}
	}

	if v, ok := d.svc.Labels[keys.Global]; !ok {
		d.setLabel(keys.Global, keys.GlobalValue)
		managed[keys.Global] = true
	} else if v != keys.GlobalValue {
		d.warn(rules.GlobalValueReplaced, "label %s=%q changed to %q: Istio shares a Service's endpoints across clusters only when the value is exactly %q", keys.Global, v, keys.GlobalValue, keys.GlobalValue)
		d.setLabel(keys.Global, keys.GlobalValue)
		managed[keys.Global] = true
	}

	// A waypoint never routes through a waypoint, and Istio ignores
	// use-waypoint on the waypoint's own Service: it only needs to be global.
	if !isWaypoint(d.svc) {
		d.chooseWaypoint(managed)
	}
	d.writeRecord(managed)
}

func (d *decision) chooseWaypoint(managed map[string]bool) {
	if v, ok := d.svc.Labels[keys.UseWaypoint]; ok {
		switch v {
		case keys.NoWaypoint:
			d.warnNoWaypoint("the Service")
		case "":
			// Istio's fetchWaypointForTarget takes an empty name as a
			// waypoint that is not ready, and does not fall back to the
			// namespace's label.
			d.warn(rules.EmptyWaypoint, "%s is empty on the Service: Istio takes it as a waypoint named \"\" that never becomes ready, and does not fall back to the namespace's label, so no waypoint serves this Service; set it to a waypoint name, or remove it", keys.UseWaypoint)
		}
		return
	}
	// The Service's own use-waypoint-namespace is ignored by Istio while
	// the Service has no use-waypoint (Istio's GetUseWaypoint reads both
	// from one object); it takes effect once the webhook adds one.
	ownNamespace, hasOwnNamespace := d.svc.Labels[keys.UseWaypointNamespace]
	if hasOwnNamespace && managed[keys.UseWaypointNamespace] {
		hasOwnNamespace = false // the webhook's own copy of the namespace's label
	}
	nsWaypoint, ok := d.in.NamespaceLabels[keys.UseWaypoint]
	if !ok {
		d.setLabel(keys.UseWaypoint, d.in.DefaultWaypoint)
		managed[keys.UseWaypoint] = true
		if hasOwnNamespace {
			d.warnOwnWaypointNamespace(ownNamespace, d.in.DefaultWaypoint, "no waypoint (neither the Service nor its namespace names one)")
		}
		return
	}
	// Copy the namespace's choice so the Service describes itself and
	// keeps it if the Service is moved or the namespace label changes.
	d.setLabel(keys.UseWaypoint, nsWaypoint)
	managed[keys.UseWaypoint] = true
	if nsWaypoint == keys.NoWaypoint {
		d.warnNoWaypoint("its namespace")
	}
	nsNamespace, nsHasNamespace := d.in.NamespaceLabels[keys.UseWaypointNamespace]
	switch {
	case hasOwnNamespace && nsWaypoint != keys.NoWaypoint:
		alone := d.svc.Namespace
		if nsHasNamespace {
			alone = nsNamespace
		}
		if ownNamespace != alone {
			d.warnOwnWaypointNamespace(ownNamespace, nsWaypoint, fmt.Sprintf("%s/%s (the namespace's label)", alone, nsWaypoint))
		}
	case nsHasNamespace && !hasOwnNamespace:
		// A recorded copy whose value differs from the namespace's label
		// was changed by a person since (or the namespace's label was):
		// it is kept, as every label a person may have set.
		if _, set := d.svc.Labels[keys.UseWaypointNamespace]; !set {
			d.setLabel(keys.UseWaypointNamespace, nsNamespace)
			managed[keys.UseWaypointNamespace] = true
		}
	}
}

// warnOwnWaypointNamespace explains that the Service's own
// use-waypoint-namespace label now binds it to another namespace's
// waypoint than it had before the webhook added use-waypoint.
func (d *decision) warnOwnWaypointNamespace(namespace, waypoint, alone string) {
	d.warn(rules.WaypointNamespaceApplies, "the Service's own %s=%s now takes effect, because Istio reads it together with %s: the Service is bound to waypoint %s/%s, where the namespace's labels alone would have given %s; remove %s if that is not meant", keys.UseWaypointNamespace, namespace, keys.UseWaypoint, namespace, waypoint, alone, keys.UseWaypointNamespace)
}

func (d *decision) warnNoWaypoint(where string) {
	d.warn(rules.NoWaypoint, "%s=%s on %s: no waypoint serves this Service, so the locality failover of its DestinationRule is not enforced; set %s to a waypoint name to enable it", keys.UseWaypoint, keys.NoWaypoint, where, keys.UseWaypoint)
}

// optOut takes back the labels the webhook set, once the Service no longer
// carries the trigger label, and drops the record.
func (d *decision) optOut() {
	recorded := d.recordedKeys()
	if len(recorded) == 0 {
		return
	}
	for _, k := range recorded {
		if v, ok := d.svc.Labels[k]; ok && d.isWebhookValue(k, v) {
			delete(d.svc.Labels, k)
			d.changed = true
		}
	}
	if _, ok := d.svc.Annotations[keys.ManagedLabels]; ok {
		delete(d.svc.Annotations, keys.ManagedLabels)
		d.changed = true
	}
}

// recordedKeys returns the label keys the record says the webhook set, in
// the incoming object or in the stored one: an update may drop or rewrite
// the record along with the trigger label, and a reinvocation sees the
// record already removed, so both must lead to the same result.
func (d *decision) recordedKeys() []string {
	recorded := parseRecord(d.svc.Annotations[keys.ManagedLabels])
	if d.in.OldService != nil {
		for _, k := range parseRecord(d.in.OldService.Annotations[keys.ManagedLabels]) {
			if !slices.Contains(recorded, k) {
				recorded = append(recorded, k)
			}
		}
	}
	return recorded
}

// isWebhookValue reports whether v is the value the webhook gave key k: the
// value it would set now, or the value k had before this request if the
// stored object recorded k as the webhook's (it may have been set from a
// namespace label that has changed since).
func (d *decision) isWebhookValue(k, v string) bool {
	if !slices.Contains(labelsSet, k) {
		// A hand-edited record may name any key; only these are ever ours.
		return false
	}
	if want, ok := d.webhookValue(k); ok && v == want {
		return true
	}
	old := d.in.OldService
	if old == nil || !slices.Contains(parseRecord(old.Annotations[keys.ManagedLabels]), k) {
		return false
	}
	oldValue, ok := old.Labels[k]
	return ok && oldValue == v
}

// webhookValue is the value the webhook sets for k on this Service now, if
// it sets k at all.
func (d *decision) webhookValue(k string) (string, bool) {
	switch k {
	case keys.Global:
		return keys.GlobalValue, true
	case keys.UseWaypoint:
		if ns, ok := d.in.NamespaceLabels[keys.UseWaypoint]; ok {
			return ns, true
		}
		return d.in.DefaultWaypoint, true
	case keys.UseWaypointNamespace:
		ns, ok := d.in.NamespaceLabels[keys.UseWaypointNamespace]
		return ns, ok
	}
	return "", false
}

// labelsSet lists every label key the webhook may set.
var labelsSet = []string{keys.Global, keys.UseWaypoint, keys.UseWaypointNamespace}

func (d *decision) setLabel(k, v string) {
	if d.svc.Labels == nil {
		d.svc.Labels = map[string]string{}
	}
	if cur, ok := d.svc.Labels[k]; ok && cur == v {
		return
	}
	d.svc.Labels[k] = v
	d.changed = true
}

// writeRecord stores the managed keys, sorted so that admitting the output
// again yields the same string and no patch.
func (d *decision) writeRecord(managed map[string]bool) {
	var list []string
	for k := range managed {
		list = append(list, k)
	}
	sort.Strings(list)
	want := strings.Join(list, ",")
	cur, ok := d.svc.Annotations[keys.ManagedLabels]
	switch {
	case len(list) == 0 && ok:
		delete(d.svc.Annotations, keys.ManagedLabels)
		d.changed = true
	case len(list) > 0 && (!ok || cur != want):
		if d.svc.Annotations == nil {
			d.svc.Annotations = map[string]string{}
		}
		d.svc.Annotations[keys.ManagedLabels] = want
		d.changed = true
	}
}

// parseRecord splits the managed-labels annotation, tolerating spaces and
// empty items a person may have left when editing it.
func parseRecord(record string) []string {
	var out []string
	for _, k := range strings.Split(record, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
