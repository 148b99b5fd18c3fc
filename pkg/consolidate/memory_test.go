package consolidate_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
)

// storedRule is a DestinationRule as the API server returns it after
// `kubectl apply`: the guide's spec with two subsets, the last applied
// configuration and the managed fields of client-side apply.
const storedRule = `{
  "apiVersion": "networking.istio.io/v1",
  "kind": "DestinationRule",
  "metadata": {
    "name": "helloworld-%[1]d",
    "namespace": "ns-%[2]d",
    "uid": "6f1c1c1e-4b7a-4f4e-9d1a-%012[1]d",
    "resourceVersion": "%[1]d",
    "generation": 1,
    "creationTimestamp": "2026-01-01T00:00:00Z",
    "annotations": {
      "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"DestinationRule\",\"metadata\":{\"annotations\":{},\"name\":\"helloworld-%[1]d\",\"namespace\":\"ns-%[2]d\"},\"spec\":{\"host\":\"helloworld-%[1]d\",\"subsets\":[{\"labels\":{\"version\":\"v1\"},\"name\":\"v1\"},{\"labels\":{\"version\":\"v2\"},\"name\":\"v2\"}],\"trafficPolicy\":{\"loadBalancer\":{\"localityLbSetting\":{\"enabled\":true,\"failoverPriority\":[\"topology.istio.io/cluster\"]},\"simple\":\"ROUND_ROBIN\"},\"outlierDetection\":{\"baseEjectionTime\":\"1m\",\"consecutive5xxErrors\":1,\"interval\":\"1s\"}}}}\n"
    },
    "managedFields": [{
      "manager": "kubectl-client-side-apply",
      "operation": "Update",
      "apiVersion": "networking.istio.io/v1",
      "time": "2026-01-01T00:00:00Z",
      "fieldsType": "FieldsV1",
      "fieldsV1": {"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:spec":{".":{},"f:host":{},"f:subsets":{},"f:trafficPolicy":{".":{},"f:loadBalancer":{".":{},"f:localityLbSetting":{".":{},"f:enabled":{},"f:failoverPriority":{}},"f:simple":{}},"f:outlierDetection":{".":{},"f:baseEjectionTime":{},"f:consecutive5xxErrors":{},"f:interval":{}}}}}
    }]
  },
  "spec": {
    "host": "helloworld-%[1]d",
    "subsets": [{"labels": {"version": "v1"}, "name": "v1"}, {"labels": {"version": "v2"}, "name": "v2"}],
    "trafficPolicy": {
      "loadBalancer": {"localityLbSetting": {"enabled": true, "failoverPriority": ["topology.istio.io/cluster"]}, "simple": "ROUND_ROBIN"},
      "outlierDetection": {"baseEjectionTime": "1m", "consecutive5xxErrors": 1, "interval": "1s"}
    }
  }
}`

// heapAfter returns the live heap, in bytes, that fill leaves behind,
// keeping what it returns alive while measuring.
func heapAfter(fill func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, kept
}

// TestDestinationRuleCacheMemory measures what holding 10,000
// DestinationRules costs the webhook, as an informer's store holds them
// (a client-go Indexer keyed by namespace/name, which controller-runtime's
// cache uses): whole objects as stored, objects with managedFields and the
// last-applied annotation stripped by a transform, and only what Istio's
// merge reads (consolidate.Rule). It logs the bytes per rule that
// docs/benchmarks.md publishes, and fails when the stripped store costs
// more than it says.
func TestDestinationRuleCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 10,000 objects")
	}
	const n = 10_000
	decode := func(i int) *networkingv1.DestinationRule {
		dr := &networkingv1.DestinationRule{}
		if err := json.Unmarshal(fmt.Appendf(nil, storedRule, i, i%100), dr); err != nil {
			t.Fatal(err)
		}
		return dr
	}
	store := func(strip bool) func() any {
		return func() any {
			s := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			for i := range n {
				dr := decode(i)
				if strip {
					// What cache.TransformStripManagedFields and a transform
					// dropping the annotation leave.
					dr.ManagedFields = nil
					dr.Annotations = nil
				}
				if err := s.Add(dr); err != nil {
					t.Fatal(err)
				}
			}
			return s
		}
	}
	full, kept := heapAfter(store(false))
	runtime.KeepAlive(kept)
	stripped, kept := heapAfter(store(true))
	runtime.KeepAlive(kept)
	rules, kept := heapAfter(func() any {
		rs := make([]consolidate.Rule, 0, n)
		for i := range n {
			dr := decode(i)
			rs = append(rs, consolidate.Rule{
				Namespace: dr.Namespace, Name: dr.Name, Created: dr.CreationTimestamp.Time,
				Spec: proto.Clone(&dr.Spec).(*networking.DestinationRule),
			})
		}
		return rs
	})
	runtime.KeepAlive(kept)
	index, kept := heapAfter(func() any {
		rs := make([]consolidate.Rule, 0, n)
		for i := range n {
			dr := decode(i)
			rs = append(rs, consolidate.Rule{Namespace: dr.Namespace, Name: dr.Name, Spec: proto.Clone(&dr.Spec).(*networking.DestinationRule)})
		}
		return consolidate.DefaultMesh.Index(rs)
	})
	runtime.KeepAlive(kept)

	perRule := func(b uint64) string { return fmt.Sprintf("%.2f MiB (%d B a rule)", float64(b)/(1<<20), b/n) }
	t.Logf("%d DestinationRules: informer store of whole objects %s; with managedFields and the last-applied annotation stripped %s; consolidate.Rule only %s; rules and their Index %s",
		n, perRule(full), perRule(stripped), perRule(rules), perRule(index))
	if stripped >= full || rules >= stripped {
		t.Errorf("stripping should cost less than whole objects, and rules less than both: %d, %d, %d", full, stripped, rules)
	}
	// The bound docs/benchmarks.md states for the stripped store.
	if stripped > 3<<10*n {
		t.Errorf("stripped store: %s, more than the 3 KiB a rule documented", perRule(stripped))
	}
}
