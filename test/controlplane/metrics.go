package controlplane

import (
	"fmt"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// MetricSum returns the sum of the counter or gauge series named name whose
// labels include every pair of match, read from controller-runtime's
// registry, where the webhook records its request counts
// (controller_runtime_webhook_requests_total{webhook="/mutate-service"}) and
// its decisions (failover_webhook_decisions_total). The registry is global,
// so the sum covers every cluster of the process.
func MetricSum(name string, match map[string]string) (float64, error) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, fmt.Errorf("reading the metrics registry: %w", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if matches(labels, match) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum, nil
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
