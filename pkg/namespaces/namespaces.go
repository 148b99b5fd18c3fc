// Package namespaces looks up the labels of namespaces, which carry the
// policy mode and the namespace-wide waypoint.
package namespaces

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LabelGetter returns the labels of the named namespace. The map may be
// shared with a cache: callers read it and never modify it.
type LabelGetter interface {
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
}

// CacheFirst reads namespaces from an informer cache and falls back to the
// API server when the cache has not seen one yet (a namespace created a
// moment before the object being admitted in it).
//
// It reads metadata only: labels are all the webhook needs, and a
// metadata-only informer keeps memory small in clusters with many namespaces.
type CacheFirst struct {
	Cache client.Reader
	API   client.Reader
}

var _ LabelGetter = CacheFirst{}

// NamespaceLabels implements LabelGetter.
func (c CacheFirst) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns := NewMetadata()
	// Every admission reads one namespace, and only reads its labels: the
	// cache's copy is handed out as it is rather than deep-copied per
	// request.
	err := c.Cache.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) && c.API != nil {
		err = c.API.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading labels of namespace %q: %w", name, err)
	}
	return ns.Labels, nil
}

// NewMetadata returns an empty metadata-only Namespace, the shape both the
// cache and the API reader are asked for.
func NewMetadata() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// Static is a LabelGetter over a fixed set of namespaces, for tests and for
// offline checks where the namespaces come from files.
type Static map[string]map[string]string

var _ LabelGetter = Static{}

// NamespaceLabels implements LabelGetter. An unknown namespace has no labels,
// as a namespace created without any would.
func (s Static) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return s[name], nil
}
