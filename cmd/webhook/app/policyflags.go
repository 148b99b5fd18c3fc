package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/report"
	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// defaultExcludedNamespaces are the namespaces the shipped webhook
// configurations never send to the webhook.
var defaultExcludedNamespaces = []string{"kube-system", "failover-webhook-system"}

// policyFlags are the flags `webhook check` and `webhook audit` share:
// how the webhook is configured, and how to report.
type policyFlags struct {
	namespaceModes []string
	excluded       []string
	waypointName   string
	output         string
	threshold      string
	quiet          bool
}

func (p *policyFlags) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&p.namespaceModes, "namespace-mode", nil, "NAMESPACE=MODE: judge NAMESPACE as if labeled "+keys.Enforcement+"=MODE (enforce, warn, audit or off); repeatable")
	f.StringSliceVar(&p.excluded, "exclude-namespaces", defaultExcludedNamespaces, "namespaces the webhook configurations exclude, whose objects the webhook never sees; comma-separated")
	f.StringVar(&p.waypointName, "waypoint-name", server.DefaultOptions().WaypointName, "the webhook's --waypoint-name: the waypoint of Services when neither they nor their namespace set "+keys.UseWaypoint)
	f.StringVar(&p.threshold, "severity-threshold", thresholdError, "what fails the run (exit 1): error (objects the webhook would deny; and, across clusters, differences), warning (also warnings and audit findings), or none (only bad input or usage fails)")
	f.BoolVarP(&p.quiet, "quiet", "q", false, "leave out the mutation findings (the labels the webhook would set); they still count in the summary")
	f.StringVarP(&p.output, "output", "o", string(report.Text), "output format: text (one line per finding), json, github (GitHub Actions annotations on the offending line) sarif (SARIF 2.1.0, for code scanning) or junit (JUnit XML: denials and differences fail)")
}

// parsed is policyFlags checked.
type parsed struct {
	modes     map[string]mode.Mode
	format    report.Format
	threshold string
}

// Severity thresholds: what fails a run.
const (
	thresholdError   = "error"
	thresholdWarning = "warning"
	thresholdNone    = "none"
)

// failure is the outcome of a run under the threshold: nil when it passes.
func (p parsed) failure(s report.Summary) error {
	switch p.threshold {
	case thresholdNone:
		return nil
	case thresholdWarning:
		if n := s.Warnings + s.Audited; s.Denied == 0 && s.Drift == 0 && s.Merged == 0 && n > 0 {
			return fmt.Errorf("%s at or above --severity-threshold=warning", plural(n, "finding"))
		}
	}
	return errors.Join(deniedError(s.Denied), mergedError(s.Merged), driftError(s.Drift))
}

// mergedError is the outcome of a run that found failover settings that
// Istio's merge of several DestinationRules leaves without outlier
// detection, or nil.
func mergedError(n int) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%s without outlier detection once Istio merges the DestinationRules of their host", plural(n, "failover setting"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (p *policyFlags) parse() (parsed, error) {
	var out parsed
	if err := checkWaypointName(p.waypointName); err != nil {
		return out, err
	}
	format, err := report.ParseFormat(p.output)
	if err != nil {
		return out, fmt.Errorf("invalid --output: %w", err)
	}
	out.format = format
	switch p.threshold {
	case thresholdError, thresholdWarning, thresholdNone:
		out.threshold = p.threshold
	default:
		return out, fmt.Errorf("invalid --severity-threshold %q: want error, warning or none", p.threshold)
	}
	for _, ns := range p.excluded {
		if err := checkNamespaceName("--exclude-namespaces", ns); err != nil {
			return out, err
		}
	}
	out.modes = map[string]mode.Mode{}
	for _, arg := range p.namespaceModes {
		ns, value, ok := strings.Cut(arg, "=")
		if !ok {
			return out, fmt.Errorf("invalid --namespace-mode %q: want NAMESPACE=MODE, e.g. sample=warn", arg)
		}
		if err := checkNamespaceName("--namespace-mode", ns); err != nil {
			return out, err
		}
		m, err := mode.Parse(value)
		if err != nil {
			return out, fmt.Errorf("invalid --namespace-mode %q: %w", arg, err)
		}
		out.modes[ns] = m
	}
	return out, nil
}

func checkNamespaceName(flag, name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid %s: namespace %q: %s", flag, name, strings.Join(errs, "; "))
	}
	return nil
}

// noArgs rejects positional arguments, naming what to use instead.
func noArgs(instead string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("%s takes no arguments, got %q%s", cmd.Name(), strings.Join(args, " "), instead)
		}
		return nil
	}
}
