// Package metrics defines the webhook's domain metric, registered with
// controller-runtime's registry so it is served on /metrics next to the
// per-path webhook request metrics controller-runtime records.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Webhook names, used as the "webhook" label value.
const (
	WebhookMutate   = "mutate-service"
	WebhookValidate = "validate-destinationrule"
)

// Decision is the outcome of one admission request. The set is fixed so the
// metric's cardinality stays small.
type Decision string

const (
	Allowed Decision = "allowed" // nothing to do
	Mutated Decision = "mutated" // a patch was returned
	Denied  Decision = "denied"  // enforce mode rejected it
	Warned  Decision = "warned"  // allowed with findings as warnings
	Audited Decision = "audited" // allowed with findings as audit annotations
	Errored Decision = "errored" // the request could not be evaluated
)

var decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "failover_webhook_decisions_total",
	Help: "Admission decisions by webhook, outcome, namespace mode and whether the request was a dry run.",
}, []string{"webhook", "decision", "mode", "dry_run"})

func init() {
	ctrlmetrics.Registry.MustRegister(decisions)
}

// RecordDecision counts one decision. mode is empty when it was not known
// (the request failed before the namespace was read).
func RecordDecision(webhook string, d Decision, mode string, dryRun bool) {
	if mode == "" {
		mode = "unknown"
	}
	decisions.WithLabelValues(webhook, string(d), mode, strconv.FormatBool(dryRun)).Inc()
}

// Decisions exposes the counter for tests.
func Decisions() *prometheus.CounterVec { return decisions }
