package namespaces

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// reader serves the namespaces it holds, counting Gets, each taking delay
// and, when release is set, held until it is closed.
type reader struct {
	labels  map[string]map[string]string
	delay   time.Duration
	release chan struct{}
	gets    atomic.Int64
}

func (r *reader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.gets.Add(1)
	if r.release != nil {
		<-r.release
	}
	select {
	case <-time.After(r.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	l, ok := r.labels[key.Name]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
	}
	obj.(*metav1.PartialObjectMetadata).Labels = l
	return nil
}

func (r *reader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not used")
}

func TestCacheFirst(t *testing.T) {
	known := map[string]map[string]string{"shop": {"failover-webhook.io/enforcement": "warn"}}
	tests := map[string]struct {
		cached, live map[string]map[string]string
		names        []string // looked up at once

		wantLabels   map[string]string // for names[0], when found
		wantLiveGets int64
		refills      bool // wantLiveGets plus what the rate refills while the lookups run
		wantErr      bool
	}{
		"a namespace in the cache is read from it": {
			cached: known, live: known, names: []string{"shop"},
			wantLabels: known["shop"], wantLiveGets: 0,
		},
		"a namespace the cache has not seen yet is read from the API server": {
			cached: nil, live: known, names: []string{"shop"},
			wantLabels: known["shop"], wantLiveGets: 1,
		},
		"many lookups of one unknown name at once make one live read": {
			names: repeat("ghost", 50), wantLiveGets: 1, wantErr: true,
		},
		"a flood of random unknown names makes no more live reads than the burst": {
			names: random(300), wantLiveGets: LiveReadBurst, refills: true, wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			live := &reader{labels: tc.live, delay: 20 * time.Millisecond}
			c := NewCacheFirst(&reader{labels: tc.cached}, live)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, len(tc.names))
			labels := make([]map[string]string, len(tc.names))
			for i, n := range tc.names {
				wg.Go(func() { labels[i], errs[i] = c.NamespaceLabels(ctx, n) })
			}
			wg.Wait()
			if took := time.Since(start); took > time.Second {
				t.Errorf("%d lookups took %s: unknown names must not queue", len(tc.names), took)
			}
			// Lookups of many names may spread over time on a busy
			// machine: the rate refills meanwhile.
			refilled := int64(0)
			if tc.refills {
				refilled = int64(LiveReadsPerSecond * time.Since(start).Seconds())
			}
			if got := live.gets.Load(); got < tc.wantLiveGets || got > tc.wantLiveGets+refilled {
				t.Errorf("%d live reads, want %d (+%d refilled while they ran)", got, tc.wantLiveGets, refilled)
			}
			for i, err := range errs {
				if (err != nil) != tc.wantErr {
					t.Fatalf("lookup of %q: error %v, want an error: %v", tc.names[i], err, tc.wantErr)
				}
			}
			if !tc.wantErr && fmt.Sprint(labels[0]) != fmt.Sprint(tc.wantLabels) {
				t.Errorf("labels %v, want %v", labels[0], tc.wantLabels)
			}
		})
	}
}

func TestCacheFirstRemembersAMissingName(t *testing.T) {
	live := &reader{}
	c := NewCacheFirst(&reader{}, live)
	for range 5 {
		if _, err := c.NamespaceLabels(context.Background(), "ghost"); err == nil {
			t.Fatal("no error for a missing namespace")
		}
	}
	if got := live.gets.Load(); got != 1 {
		t.Errorf("%d live reads of one missing name, want 1", got)
	}
}

func TestConcurrentLookupsOfAMissingNameShareOneRead(t *testing.T) {
	live := &reader{release: make(chan struct{})}
	c := NewCacheFirst(&reader{}, live)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.NamespaceLabels(context.Background(), "ghost"); err == nil {
				t.Error("no error for a missing namespace")
			}
		})
	}
	for live.gets.Load() == 0 {
		runtime.Gosched() // until the one read starts; then it answers everyone
	}
	close(live.release)
	wg.Wait()
	if got := live.gets.Load(); got != 1 {
		t.Errorf("%d live reads for 20 concurrent lookups of one missing name, want 1", got)
	}
}

func TestCacheFirstErrorsDoNotTellWhetherANamespaceExists(t *testing.T) {
	forbidden := &failing{err: apierrors.NewForbidden(corev1.Resource("namespaces"), "secret-project", errors.New("no"))}
	missing := NewCacheFirst(&reader{}, &reader{})
	hidden := NewCacheFirst(&reader{}, forbidden)
	_, errMissing := missing.NamespaceLabels(context.Background(), "secret-project")
	_, errHidden := hidden.NamespaceLabels(context.Background(), "secret-project")
	if errMissing == nil || errHidden == nil {
		t.Fatalf("errors %v and %v, want both", errMissing, errHidden)
	}
	if errMissing.Error() != errHidden.Error() {
		t.Errorf("a missing namespace says %q, one that could not be read %q: the texts must not differ", errMissing, errHidden)
	}
	if strings.Contains(errMissing.Error(), "not found") {
		t.Errorf("the error %q says the namespace does not exist", errMissing)
	}
	if !apierrors.IsNotFound(errors.Unwrap(errMissing)) {
		t.Errorf("the cause %v is lost for logs", errors.Unwrap(errMissing))
	}
}

type failing struct {
	reader
	err error
}

func (f *failing) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return f.err
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func random(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("random-%d", i)
	}
	return out
}
