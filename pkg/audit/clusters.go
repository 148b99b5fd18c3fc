package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/pkg/drift"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/report"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// Cluster is one of several clusters audited together.
type Cluster struct {
	// Name names the cluster in findings: its kubeconfig context.
	Name string
	// Kubectl are the kubectl flags that select the cluster, for the
	// commands findings suggest ("--context cluster2").
	Kubectl string
	// Server is the URL of the cluster's API server: two clusters with the
	// same one are one cluster, refused rather than compared with itself.
	Server string
	Client client.Client
}

// ErrFixSeveralClusters is returned when Fix is asked of RunClusters.
var ErrFixSeveralClusters = errors.New("--fix changes one cluster at a time; audit several clusters without it")

// RunClusters audits each cluster as Run does, each finding naming its
// cluster, then compares what the clusters hold that failover depends on
// (package drift) and reports every difference as a drift finding. It only
// reads: opts.Fix is refused. Memory holds one page of objects plus a few
// labels per Service and namespace and the specs of the DestinationRules
// that declare a failover policy.
func RunClusters(ctx context.Context, clusters []Cluster, opts Options, stdout, stderr io.Writer) (report.Summary, error) {
	summary := report.Summary{Clusters: len(clusters)}
	if opts.Fix {
		return summary, ErrFixSeveralClusters
	}
	out, err := report.NewWriter(opts.Format, stdout, stderr, false)
	if err != nil {
		return summary, err
	}
	out.Quiet, out.Color = opts.Quiet, opts.Color
	snaps := make([]*drift.Snapshot, len(clusters))
	auditors := make([]*auditor, len(clusters))
	failed := func(i int, err error) (report.Summary, error) {
		// Nothing was compared: the summary must not say otherwise.
		summary.Clusters = 0
		return summary, errors.Join(fmt.Errorf("cluster %s: %w", clusters[i].Name, err), out.Close(&summary))
	}
	for i, cl := range clusters {
		a := newAuditor(cl.Client, opts, out, &summary, stderr)
		a.cluster = cl.Name
		// The audit's own pass over the DestinationRules fills in theirs.
		a.snap = &drift.Snapshot{
			Cluster:    cl.Name,
			Kubectl:    cl.Kubectl,
			Namespaces: map[string]drift.Labels{},
			Services:   map[types.NamespacedName]drift.Labels{},
			Waypoints:  map[types.NamespacedName]drift.Waypoint{},
		}
		err := a.run(ctx)
		if err == nil {
			err = a.snapshot(ctx)
		}
		if err != nil {
			return failed(i, err)
		}
		snaps[i], auditors[i] = a.snap, a
	}
	// Every cluster is asked about every waypoint any cluster's Services
	// use: a Service missing from a cluster needs its waypoint there too.
	var waypoints []types.NamespacedName
	for _, s := range snaps {
		for _, w := range s.WaypointsUsed() {
			if !slices.Contains(waypoints, w) {
				waypoints = append(waypoints, w)
			}
		}
	}
	for i, a := range auditors {
		if err := a.snapshotWaypoints(ctx, snaps[i], waypoints); err != nil {
			return failed(i, err)
		}
	}
	// FW413 per cluster, as the audit of one cluster reports it: a
	// Service there that is neither global nor opted in behind a waypoint
	// that is global there.
	for i, a := range auditors {
		for _, svc := range localThroughGlobal(snaps[i], a.evaluator.Namespaces.IsExcluded) {
			if err := a.reportLocalService(svc.service, svc.waypoint); err != nil {
				return summary, err
			}
		}
	}
	for _, f := range drift.Compare(snaps, drift.Options{Excluded: opts.ExcludedNamespaces}) {
		if err := out.Finding(f); err != nil {
			return summary, err
		}
	}
	err = out.Close(&summary)
	summary.Drift = out.Drift()
	return summary, err
}

// snapshot completes a.snap after a.run: the namespaces' labels, which
// the audit read, and every Service's, a page at a time, keeping only what
// package drift compares.
func (a *auditor) snapshot(ctx context.Context) error {
	s := a.snap
	// The auditor read the namespaces' labels already.
	for name, labels := range a.evaluator.Namespaces.Labels {
		s.Namespaces[name] = drift.Relevant(labels)
	}
	return a.eachServiceMetadata(ctx, func(svc *metav1.PartialObjectMetadata) {
		s.Services[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}] = drift.Relevant(svc.Labels)
	})
}

// eachServiceMetadata calls fn with the metadata of every audited Service,
// a page at a time.
func (a *auditor) eachServiceMetadata(ctx context.Context, fn func(*metav1.PartialObjectMetadata)) error {
	newList := func() *metav1.PartialObjectMetadataList {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceList"))
		return l
	}
	for _, scope := range a.scopes() {
		err := eachPage(ctx, a.c, newList, scope, a.opts.ChunkSize, func(l *metav1.PartialObjectMetadataList) error {
			for i := range l.Items {
				fn(&l.Items[i])
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("listing Services: %w", err)
		}
	}
	return nil
}

// inScope reports whether the namespace's Services were listed.
func (a *auditor) inScope(namespace string) bool {
	return len(a.opts.Namespaces) == 0 || slices.Contains(a.opts.Namespaces, namespace)
}

var deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

// snapshotWaypoints reads the Service, the Deployment and the Gateway of
// each waypoint. A waypoint outside the audited namespaces is read by
// name.
func (a *auditor) snapshotWaypoints(ctx context.Context, s *drift.Snapshot, waypoints []types.NamespacedName) error {
	readable := &readability{deployments: true, gateways: true}
	for _, w := range waypoints {
		var known *drift.Waypoint
		if a.inScope(w.Namespace) {
			known = &drift.Waypoint{}
			known.Service, known.Found = s.Services[w]
		}
		wp, err := a.readWaypoint(ctx, w, known, readable)
		if err != nil {
			return err
		}
		s.Waypoints[w] = wp
	}
	return nil
}

// keepDestinationRule adds dr to a.snap, with spec, a copy of its spec.
func (a *auditor) keepDestinationRule(dr client.Object, spec *networking.DestinationRule) {
	kept := drift.DestinationRule{
		Namespace: dr.GetNamespace(), Name: dr.GetName(), Created: dr.GetCreationTimestamp().Time,
		Host:     drift.ResolveHost(spec.GetHost(), dr.GetNamespace()),
		Spec:     spec,
		Failover: validate.DeclaresFailoverPolicy(spec),
	}
	for _, sub := range spec.GetSubsets() {
		kept.Subsets = append(kept.Subsets, sub.GetName())
	}
	a.snap.DestinationRules = append(a.snap.DestinationRules, kept)
}

// localUse is a Service that uses a waypoint without being global.
type localUse struct {
	service, waypoint types.NamespacedName
}

// localThroughGlobal returns the Services of s, in order, that are neither
// opted in nor global, in a namespace not excluded, and use a waypoint
// whose Service s holds as global (rules.GlobalThroughWaypoint).
func localThroughGlobal(s *drift.Snapshot, excluded func(string) bool) []localUse {
	var out []localUse
	for svc, labels := range s.Services {
		if labels[keys.Trigger] == keys.TriggerValue || labels[keys.Global] == keys.GlobalValue || excluded(svc.Namespace) {
			continue
		}
		w, ok := drift.EffectiveWaypoint(svc, labels, s.Namespaces[svc.Namespace])
		if !ok {
			continue
		}
		if wp := s.Waypoints[w]; wp.Found && wp.Service[keys.Global] == keys.GlobalValue {
			out = append(out, localUse{service: svc, waypoint: w})
		}
	}
	slices.SortFunc(out, func(x, y localUse) int { return strings.Compare(x.service.String(), y.service.String()) })
	return out
}
