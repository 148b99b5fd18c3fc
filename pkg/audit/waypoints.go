package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/drift"
	"github.com/failover-webhook/failover-webhook/pkg/gateway"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

// waypointUse records, during one cluster's audit, which waypoints the
// judged opted-in Services will use once admitted, and which Services
// that are not opted in use a waypoint.
type waypointUse struct {
	users map[types.NamespacedName]*drift.ServiceNames
	// local are the Services, neither opted in nor global, of each
	// waypoint: they stay in their cluster whatever their waypoint is.
	local map[types.NamespacedName][]types.NamespacedName
}

// useWaypoint records the waypoint an opted-in Service will use with
// labels, the labels the webhook admits it with.
func (a *auditor) useWaypoint(svc types.NamespacedName, labels map[string]string) {
	w, ok := drift.EffectiveWaypoint(svc, drift.Relevant(labels), drift.Relevant(a.evaluator.Namespaces.LabelsOf(svc.Namespace)))
	if !ok {
		return
	}
	if a.use.users == nil {
		a.use.users = map[types.NamespacedName]*drift.ServiceNames{}
	}
	if a.use.users[w] == nil {
		a.use.users[w] = &drift.ServiceNames{}
	}
	a.use.users[w].Add(svc)
}

// localServices lists the metadata of every audited Service and records
// those that use a waypoint without being opted in or global.
func (a *auditor) localServices(ctx context.Context) error {
	a.use.local = map[types.NamespacedName][]types.NamespacedName{}
	return a.eachServiceMetadata(ctx, func(svc *metav1.PartialObjectMetadata) {
		if svc.Labels[keys.Trigger] == keys.TriggerValue || svc.Labels[keys.Global] == keys.GlobalValue ||
			a.evaluator.Namespaces.IsExcluded(svc.Namespace) {
			return
		}
		key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		if w, ok := drift.EffectiveWaypoint(key, drift.Relevant(svc.Labels), drift.Relevant(a.evaluator.Namespaces.LabelsOf(svc.Namespace))); ok {
			a.use.local[w] = append(a.use.local[w], key)
		}
	})
}

// checkWaypoints reports, for one cluster, the waypoints the opted-in
// Services use that are missing, not global or not ready (as the audit
// of several clusters does per cluster), and the Services that use a
// global waypoint without being global themselves.
func (a *auditor) checkWaypoints(ctx context.Context) error {
	if err := a.localServices(ctx); err != nil {
		return err
	}
	waypoints := slices.Collect(maps.Keys(a.use.users))
	for w := range a.use.local {
		if !slices.Contains(waypoints, w) {
			waypoints = append(waypoints, w)
		}
	}
	slices.SortFunc(waypoints, func(x, y types.NamespacedName) int {
		return strings.Compare(x.String(), y.String())
	})
	readable := &readability{deployments: true, gateways: true}
	for _, w := range waypoints {
		wp, err := a.readWaypoint(ctx, w, nil, readable)
		if err != nil {
			return err
		}
		if users := a.use.users[w]; users != nil {
			if err := a.reportWaypoint(w, wp, users.String()); err != nil {
				return err
			}
		}
		if wp.Found && wp.Service[keys.Global] == keys.GlobalValue {
			for _, svc := range a.use.local[w] {
				if err := a.reportLocalService(svc, w); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reportWaypoint writes what is wrong with waypoint w for the Services
// using it.
func (a *auditor) reportWaypoint(w types.NamespacedName, wp drift.Waypoint, usedBy string) error {
	gw := types.NamespacedName{Namespace: w.Namespace, Name: drift.DeploymentName(w, wp.Service)}
	finding := policy.Finding{Kind: policy.ServiceKind, Namespace: w.Namespace, Name: w.Name, Severity: policy.Warning}
	if !wp.Found {
		f := finding
		f.Rule, f.Field = rules.WaypointMissing, "metadata.name"
		f.Message = fmt.Sprintf("the waypoint %q used by %s does not exist: no waypoint applies the DestinationRules' failover policy to their traffic", w.Name, usedBy)
		f.Fix = fmt.Sprintf("istioctl waypoint apply -n %s --name %s --for service && %s",
			w.Namespace, w.Name, gateway.LabelCommand("", gw, nil, keys.Global, keys.GlobalValue))
		return a.write(f)
	}
	// A waypoint's Service that opted in is made global by the webhook
	// (and by --fix): its mutation finding says so already.
	nsMode, _ := mode.FromLabels(a.evaluator.Namespaces.LabelsOf(w.Namespace))
	optedIn := wp.Service[keys.Trigger] == keys.TriggerValue && nsMode != mode.Off && !a.evaluator.Namespaces.IsExcluded(w.Namespace)
	if v := wp.Service[keys.Global]; v != keys.GlobalValue && !optedIn {
		f := finding
		f.Rule, f.Field = rules.WaypointServiceNotGlobal, field.NewPath("metadata", "labels").Key(keys.Global).String()
		state := "unset"
		if v != "" {
			state = fmt.Sprintf("%q", v)
		}
		f.Message = fmt.Sprintf("the Service of waypoint %q (used by %s) has %s %s: a waypoint's Service must be global too, or Istio does not share it with the other clusters; Istio copies it from the waypoint's Gateway",
			w.Name, usedBy, keys.Global, state)
		f.Fix = gateway.LabelCommand("", gw, wp.Gateway, keys.Global, keys.GlobalValue)
		if err := a.write(f); err != nil {
			return err
		}
	}
	if d := wp.Deployment; d != nil && (!d.Found || d.Ready == 0) {
		state := fmt.Sprintf("no Deployment %s", d.Name)
		if d.Found {
			state = fmt.Sprintf("%d of %d replicas ready", d.Ready, d.Desired)
		}
		return a.write(policy.Finding{
			Kind: policy.DeploymentKind, Namespace: w.Namespace, Name: d.Name, Field: "status.readyReplicas",
			Rule: rules.WaypointNotReady, Severity: policy.Warning,
			Message: fmt.Sprintf("waypoint %q (used by %s): %s: traffic through the waypoint fails until it runs a ready replica", w.Name, usedBy, state),
		})
	}
	return nil
}

// reportLocalService writes that svc, which uses the global waypoint w,
// is not global itself.
func (a *auditor) reportLocalService(svc, w types.NamespacedName) error {
	return a.write(LocalServiceFinding(svc, w))
}

// LocalServiceFinding is FW413 (rules.GlobalThroughWaypoint) for svc,
// which uses the global waypoint w and is not global itself.
func LocalServiceFinding(svc, w types.NamespacedName) policy.Finding {
	return policy.Finding{
		Kind: policy.ServiceKind, Namespace: svc.Namespace, Name: svc.Name,
		Field: field.NewPath("metadata", "labels").Key(keys.Global).String(), Rule: rules.GlobalThroughWaypoint, Severity: policy.Warning,
		Message: fmt.Sprintf("uses the global waypoint %s but is not global itself: Istio decides a Service's scope from its own and its namespace's labels only, never from its waypoint, so its endpoints in other clusters are not shared and its traffic never fails over to them", w),
		Fix:     fmt.Sprintf("kubectl label service %s -n %s %s=%s (or, if it is meant to stay in this cluster, nothing)", svc.Name, svc.Namespace, keys.Trigger, keys.TriggerValue),
	}
}

// readability remembers what the audit found it may not read, so that it
// says so once and goes on.
type readability struct {
	deployments, gateways bool
}

// readWaypoint reads the Service, the Deployment and the Gateway of
// waypoint w. service, when not nil, holds its Service's labels already
// read (found or not), sparing the request.
func (a *auditor) readWaypoint(ctx context.Context, w types.NamespacedName, service *drift.Waypoint, readable *readability) (drift.Waypoint, error) {
	var wp drift.Waypoint
	if service != nil {
		wp.Found, wp.Service = service.Found, service.Service
	} else {
		svc := namespaces.NewMetadata()
		svc.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
		switch err := a.c.Get(ctx, w, svc); {
		case err == nil:
			wp.Found, wp.Service = true, drift.Relevant(svc.Labels)
		case !apierrors.IsNotFound(err):
			return wp, fmt.Errorf("reading the Service of waypoint %s: %w", w, err)
		}
	}
	if !wp.Found {
		return wp, nil
	}
	name := drift.DeploymentName(w, wp.Service)
	if readable.deployments {
		d := &unstructured.Unstructured{}
		d.SetGroupVersionKind(deploymentGVK)
		switch err := a.c.Get(ctx, types.NamespacedName{Namespace: w.Namespace, Name: name}, d); {
		case err == nil:
			ready, _, _ := unstructured.NestedInt64(d.Object, "status", "readyReplicas")
			desired, found, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
			if !found {
				desired = 1 // the API server's default
			}
			wp.Deployment = &drift.Readiness{Name: name, Found: true, Ready: int32(ready), Desired: int32(desired)}
		case apierrors.IsNotFound(err):
			wp.Deployment = &drift.Readiness{Name: name}
		case apierrors.IsForbidden(err):
			// Readiness is the one thing that needs more than list on
			// the audited kinds; go on without it.
			readable.deployments = false
			fmt.Fprintf(a.stderr, "%scannot read waypoint Deployments (%v); their readiness is not checked\n", a.prefix(), err)
		default:
			return wp, fmt.Errorf("reading the Deployment of waypoint %s: %w", w, err)
		}
	}
	if readable.gateways {
		gw := &unstructured.Unstructured{}
		gw.SetGroupVersionKind(gateway.GVK)
		switch err := a.c.Get(ctx, types.NamespacedName{Namespace: w.Namespace, Name: name}, gw); {
		case err == nil:
			wp.Gateway = gateway.Of(gw)
		case apierrors.IsNotFound(err):
		case meta.IsNoMatchError(err):
			// No Gateway API: the waypoint's Gateway cannot set
			// spec.infrastructure.labels, and the commands are right.
			readable.gateways = false
		case apierrors.IsForbidden(err):
			readable.gateways = false
			fmt.Fprintf(a.stderr, "%scannot read waypoint Gateways (%v); the fix commands label them as if they set no spec.infrastructure.labels\n", a.prefix(), err)
		default:
			return wp, fmt.Errorf("reading the Gateway of waypoint %s: %w", w, err)
		}
	}
	return wp, nil
}

// prefix names the cluster at the start of a note when several are
// audited.
func (a *auditor) prefix() string {
	if a.cluster == "" {
		return ""
	}
	return a.cluster + ": "
}

// gatewayLabelsNotCopied reports waypoint Gateways labeled for failover
// whose label never reaches their Service because they set
// spec.infrastructure.labels without it. A cluster without the Gateway
// API has no waypoints, and one the audit may not read them in is said
// so on stderr.
func (a *auditor) gatewayLabelsNotCopied(ctx context.Context) error {
	newList := func() *unstructured.UnstructuredList {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gateway.GVK.GroupVersion().WithKind("GatewayList"))
		return l
	}
	for _, scope := range a.scopes() {
		err := eachPage(ctx, a.c, newList, scope, a.opts.ChunkSize, func(l *unstructured.UnstructuredList) error {
			for i := range l.Items {
				if err := a.gatewayLabels(&l.Items[i]); err != nil {
					return err
				}
			}
			return nil
		})
		switch {
		case meta.IsNoMatchError(err):
			return nil
		case apierrors.IsForbidden(err):
			fmt.Fprintf(a.stderr, "%scannot list Gateways (%v); waypoint Gateways whose labels never reach their Service are not found\n", a.prefix(), err)
			return nil
		case err != nil:
			return fmt.Errorf("listing Gateways: %w", err)
		}
	}
	return nil
}

func (a *auditor) gatewayLabels(u *unstructured.Unstructured) error {
	for _, f := range a.evaluator.Gateway(u).Findings {
		if err := a.write(f); err != nil {
			return err
		}
	}
	return nil
}
