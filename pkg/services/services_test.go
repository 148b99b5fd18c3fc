package services

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// countingReader counts the reads that reach the API server, and can hold
// them until released.
type countingReader struct {
	client.Reader
	reads   atomic.Int32
	release chan struct{}
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.reads.Add(1)
	if c.release != nil {
		<-c.release
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

func newReader(t *testing.T, hold bool, objs ...client.Object) (*Reader, *countingReader) {
	t.Helper()
	api := &countingReader{Reader: fake.NewClientBuilder().WithObjects(objs...).Build()}
	if hold {
		api.release = make(chan struct{})
	}
	return NewReader(api), api
}

var (
	key     = types.NamespacedName{Namespace: "sample", Name: "helloworld"}
	service = &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: "sample", Labels: map[string]string{"app": "helloworld"}},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}},
	}
)

func TestConcurrentAdmissionsShareOneRead(t *testing.T) {
	r, api := newReader(t, true, service)
	var wg sync.WaitGroup
	got := make([]*corev1.Service, 20)
	for i := range got {
		wg.Go(func() {
			svc, err := r.Service(context.Background(), key)
			if err != nil {
				t.Error(err)
			}
			got[i] = svc
		})
	}
	for api.reads.Load() == 0 {
		runtime.Gosched() // until the one read starts; then it answers everyone
	}
	close(api.release)
	wg.Wait()
	if n := api.reads.Load(); n != 1 {
		t.Errorf("%d reads for 20 concurrent admissions of one Service, want 1", n)
	}
	for i, svc := range got {
		if svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 5000 {
			t.Fatalf("admission %d got %+v, want the Service's port 5000", i, svc)
		}
	}
	if got[0].Labels != nil || got[0].Spec.ClusterIP != "" {
		t.Errorf("the remembered Service holds more than its name and ports: %+v", got[0])
	}
}

func TestAServiceReadIsUsedAgainForAWhile(t *testing.T) {
	r, api := newReader(t, false, service)
	for range 3 {
		if svc, err := r.Service(context.Background(), key); err != nil || svc == nil {
			t.Fatalf("Service = %v, %v", svc, err)
		}
	}
	missing := types.NamespacedName{Namespace: "sample", Name: "nothing"}
	for range 3 {
		if svc, err := r.Service(context.Background(), missing); err != nil || svc != nil {
			t.Fatalf("a missing Service = %v, %v; want nil, nil", svc, err)
		}
	}
	if n := api.reads.Load(); n != 2 {
		t.Errorf("%d reads for three admissions each of two Services, want 2", n)
	}
}

func TestReadsBeyondTheRateAreRefusedNotQueued(t *testing.T) {
	r, api := newReader(t, false)
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			_, err := r.Service(context.Background(), types.NamespacedName{Namespace: "sample", Name: fmt.Sprint("svc", i)})
			if err != nil {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	// The burst, plus what the rate refills while reads wait up to MaxWait.
	if max := int32(ReadBurst + ReadsPerSecond*MaxWait.Seconds() + 1); api.reads.Load() > max || refused.Load() == 0 {
		t.Errorf("%d reads and %d refused for 40 Services at once, want at most %d reads and the rest refused", api.reads.Load(), refused.Load(), max)
	}
}
