// Package namespaces looks up the labels of namespaces, which carry the
// policy mode and the namespace-wide waypoint.
package namespaces

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
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
// The API server never sends an admission for an object in a namespace that
// does not exist, so a name the cache does not know comes from the rare
// race above or from a client calling the webhook directly. Those live
// reads are therefore few and bounded: one per name at a time, a name found
// missing is remembered for a moment, and beyond a small rate the answer is
// "unavailable" at once instead of a queue that would delay every
// admission behind it.
//
// It reads metadata only: labels are all the webhook needs, and a
// metadata-only informer keeps memory small in clusters with many namespaces.
type CacheFirst struct {
	cache, api client.Reader
	live       *rate.Limiter
	flight     singleflight.Group
	missing    *utilcache.LRUExpireCache
}

// Bounds of the live reads of CacheFirst.
const (
	// LiveReadsPerSecond and LiveReadBurst bound reads of names the cache
	// does not hold; more are answered as unavailable without a read. With
	// --kubeconfig, client-go's own default limit (5 a second, bursts of
	// 10) applies and these stay under it, so a read allowed here is sent
	// at once, never queued behind others; in a cluster controller-runtime
	// turns the client-side limit off (QPS -1, leaving API Priority and
	// Fairness), and these bounds alone keep the reads few.
	LiveReadsPerSecond = 4
	LiveReadBurst      = 8
	// missingTTL is how long a name the API server did not find is
	// answered from memory: longer than an attacker's patience is not
	// needed, shorter than the informer's lag would repeat reads.
	missingTTL = 2 * time.Second
	// missingNames bounds the names remembered.
	missingNames = 4096
)

var _ LabelGetter = &CacheFirst{}

// NewCacheFirst returns a CacheFirst reading cache first, then api (nil: never).
func NewCacheFirst(cache, api client.Reader) *CacheFirst {
	return &CacheFirst{
		cache:   cache,
		api:     api,
		live:    rate.NewLimiter(LiveReadsPerSecond, LiveReadBurst),
		missing: utilcache.NewLRUExpireCache(missingNames),
	}
}

// UnavailableError says the labels of a namespace could not be read. Its
// text is the same whether the namespace is missing, the read was not
// allowed, or the API server failed, so that a caller learns nothing about
// which namespaces exist; Unwrap gives the cause to logs and tests.
type UnavailableError struct {
	Namespace string
	cause     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the labels of namespace %q are not available to this webhook; retry in a moment", e.Namespace)
}

func (e *UnavailableError) Unwrap() error { return e.cause }

// errRateLimited is the cause of an UnavailableError when the live read
// was not made.
var errRateLimited = errors.New("too many reads of namespaces the cache does not hold")

// NamespaceLabels implements LabelGetter.
func (c *CacheFirst) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns := NewMetadata()
	// Every admission reads one namespace, and only reads its labels: the
	// cache's copy is handed out as it is rather than deep-copied per
	// request.
	err := c.cache.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil:
		return ns.Labels, nil
	case !apierrors.IsNotFound(err) || c.api == nil:
		return nil, &UnavailableError{Namespace: name, cause: err}
	}
	if _, missing := c.missing.Get(name); missing {
		return nil, &UnavailableError{Namespace: name, cause: err}
	}
	result := c.flight.DoChan(name, func() (any, error) {
		// A read that ended between the lookup above and this flight
		// has remembered a missing name: answer as it did.
		if _, missing := c.missing.Get(name); missing {
			return nil, err
		}
		return c.readLive(ctx, name)
	})
	select {
	case <-ctx.Done():
		return nil, &UnavailableError{Namespace: name, cause: ctx.Err()}
	case r := <-result:
		if r.Err != nil {
			return nil, &UnavailableError{Namespace: name, cause: r.Err}
		}
		return r.Val.(map[string]string), nil
	}
}

// readLive reads one namespace from the API server, if the rate allows.
func (c *CacheFirst) readLive(ctx context.Context, name string) (map[string]string, error) {
	if !c.live.Allow() {
		return nil, errRateLimited
	}
	ns := NewMetadata()
	err := c.api.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		c.missing.Add(name, struct{}{}, missingTTL)
	}
	if err != nil {
		return nil, err
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
