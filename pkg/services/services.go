// Package services reads the Kubernetes Service a DestinationRule's host
// names, whose ports are the scopes Istio builds a waypoint's clusters
// for. The webhook reads one only for a rule that declares failover and
// whose verdict the ports can change (validate.TargetOf), by name, never
// by a list or a watch: it keeps no cache of the cluster's Services.
package services

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reader gets Services from the API server, sharing each read between the
// admissions that need the same Service at the same time and remembering
// its ports for RecentFor. DestinationRule writes are rare, but they come
// in bursts (a GitOps sync, a rollout of many rules for one host): without
// this every admission of the burst would wait in the client's rate limit
// for a read of the same object, and past the webhook's timeout fail
// closed. A read the rate does not allow within MaxWait is an error, and
// the rule is judged on its conservative scopes, as when the Service cannot
// be read at all.
type Reader struct {
	api    client.Reader
	live   *rate.Limiter
	flight singleflight.Group
	recent *utilcache.LRUExpireCache
}

// Bounds of Reader.
const (
	// RecentFor is how long a Service read is used again. Ports change
	// rarely and only by a write to the Service; a rule admitted within
	// this long of such a write may be judged on the ports before it.
	RecentFor = 5 * time.Second
	// RecentServices bounds the Services remembered.
	RecentServices = 1024
	// ReadsPerSecond and ReadBurst bound the reads. With --kubeconfig,
	// client-go's default limit (5 a second, bursts of 10) applies and
	// these stay under it, so that an allowed read is sent at once; in a
	// cluster controller-runtime turns the client-side limit off (QPS -1,
	// leaving API Priority and Fairness), and these bounds alone keep the
	// reads few.
	ReadsPerSecond = 4
	ReadBurst      = 8
	// MaxWait is the longest an admission waits for the rate to allow a
	// read, well within the webhook configurations' 5 s timeout.
	MaxWait = time.Second
)

// NewReader returns a Reader getting Services through api.
func NewReader(api client.Reader) *Reader {
	return &Reader{api: api, live: rate.NewLimiter(ReadsPerSecond, ReadBurst), recent: utilcache.NewLRUExpireCache(RecentServices)}
}

// errRateLimited is the error when the rate does not allow a read in time.
var errRateLimited = errors.New("too many reads of Services; judging on conservative scopes")

// Service returns the named Service, with only its name, namespace and
// ports; nil when it does not exist. The result may be shared: callers
// read it and never modify it.
func (r *Reader) Service(ctx context.Context, key types.NamespacedName) (*corev1.Service, error) {
	if v, ok := r.recent.Get(key); ok {
		return v.(*corev1.Service), nil
	}
	result := r.flight.DoChan(key.String(), func() (any, error) {
		// A read that ended between the lookup above and this flight
		// has remembered its answer: use it rather than read again.
		if v, ok := r.recent.Get(key); ok {
			return v, nil
		}
		// The read outlives the admission that started it: others may
		// be waiting for it.
		return r.read(context.WithoutCancel(ctx), key)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-result:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*corev1.Service), nil
	}
}

func (r *Reader) read(ctx context.Context, key types.NamespacedName) (*corev1.Service, error) {
	wait, cancel := context.WithTimeout(ctx, MaxWait)
	defer cancel()
	if err := r.live.Wait(wait); err != nil {
		return nil, errRateLimited
	}
	svc := &corev1.Service{}
	err := r.api.Get(ctx, key, svc)
	switch {
	case apierrors.IsNotFound(err):
		svc = nil
	case err != nil:
		return nil, err
	default:
		svc = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace},
			Spec:       corev1.ServiceSpec{Ports: svc.Spec.Ports},
		}
	}
	r.recent.Add(key, svc, RecentFor)
	return svc, nil
}
