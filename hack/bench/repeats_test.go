package main

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

func TestMedianOf(t *testing.T) {
	for _, tc := range []struct {
		values   []float64
		want     float64
		min, max float64
		runs     int
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
		{[]float64{math.NaN(), 5, 1}, 3, 1, 5, 2},
		{[]float64{7}, 7, 7, 7, 1},
	} {
		got := medianOf(tc.values)
		if float64(got.Median) != tc.want || float64(got.Spread.Min) != tc.min || float64(got.Spread.Max) != tc.max || got.Runs != tc.runs {
			t.Errorf("medianOf(%v) = %+v, want median %v, spread %v–%v over %d runs", tc.values, got, tc.want, tc.min, tc.max, tc.runs)
		}
	}
	if m := medianOf([]float64{math.NaN()}); !math.IsNaN(float64(m.Median)) || m.Runs != 0 {
		t.Errorf("medianOf(NaN) = %+v, want an undefined median of no runs", m)
	}
}

func TestCallRatiosPairEachWebhookWithItsDoNothingCopy(t *testing.T) {
	calls := []WebhookCalls{
		{Webhook: "mservice.failover-webhook.io", Operation: "CREATE", Calls: 10, MeanUs: 600},
		{Webhook: "do-nothing-webhook-mservice.failover-webhook.io", Operation: "CREATE", Calls: 10, MeanUs: 400},
		{Webhook: "controller-runtime-allowing-all-mservice.failover-webhook.io", Operation: "CREATE", Calls: 10, MeanUs: 500},
		{Webhook: "vdestinationrule.failover-webhook.io", Operation: "UPDATE", Calls: 10, MeanUs: 900},
		{Webhook: "do-nothing-webhook-vdestinationrule.failover-webhook.io", Operation: "UPDATE", Calls: 10, MeanUs: 600},
	}
	got := map[string]float64{}
	for _, c := range callRatios(calls) {
		got[c.Kind+" "+c.Operation] = float64(c.WebhookOverNoop)
	}
	if got[kindService+" "+opCreate] != 1.5 || got[kindDestinationRule+" "+opUpdate] != 1.5 {
		t.Errorf("call ratios = %v, want 1.5 for Service create and DestinationRule update", got)
	}
	if !math.IsNaN(got[kindDestinationRule+" "+opCreate]) {
		t.Errorf("a ratio without calls = %v, want undefined", got[kindDestinationRule+" "+opCreate])
	}
}

func TestMemoryGrowthCountsRequestsAfterTheFirstRepetition(t *testing.T) {
	reps := []Repeat{
		{Memory: &MemorySample{AnonKiB: 10240}, WebhookRequests: 100},
		{Memory: &MemorySample{AnonKiB: 11264}, WebhookRequests: 200},
		{Memory: &MemorySample{AnonKiB: 9216}, WebhookRequests: 300},
	}
	kib, requests, ok := memoryGrowth(reps)
	if !ok || kib != -1024 || requests != 500 {
		t.Errorf("memoryGrowth = %d KiB over %d requests (%v), want -1024 over 500", kib, requests, ok)
	}
	if _, _, ok := memoryGrowth(reps[:1]); ok {
		t.Error("one repetition gave a growth")
	}
}

// TestShippedMemoryLimitIsTheDeployments keeps the GOMEMLIMIT the webhook
// runs with here equal to what the shipped Deployment gives it.
func TestShippedMemoryLimitIsTheDeployments(t *testing.T) {
	data, err := os.ReadFile("../../manifests/manager/manager.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != "manager" {
				continue
			}
			limit := c.Resources.Limits.Memory().Value()
			if strconv.FormatInt(limit, 10) != shippedMemoryLimit {
				t.Errorf("the manager's limits.memory is %d bytes, the bench runs the webhook with GOMEMLIMIT=%s", limit, shippedMemoryLimit)
			}
			return
		}
	}
	t.Fatal("no manager container in manifests/manager/manager.yaml")
}
