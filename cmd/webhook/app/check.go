package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/failover-webhook/failover-webhook/pkg/check"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
)

// NewCheckCommand returns `webhook check`.
func NewCheckCommand() *cobra.Command {
	var (
		opts        check.Options
		pf          policyFlags
		defaultMode string
	)
	cmd := &cobra.Command{
		Use:   "check -f PATH [-f PATH ...]",
		Short: "Judge manifests offline, as the webhook would admit them (for CI)",
		Long: `Judge the Services and DestinationRules of manifests as the webhook would
admit them, without a cluster: the same rules, in each namespace's mode.

-f takes files, folders (read recursively for *.yaml, *.yml and *.json;
sub-folders starting with "." are skipped) and - for standard input, so
rendered manifests can be piped in. Multi-document YAML, JSON and List kinds
are read one document at a time, so input of any size fits in memory.

Each namespace's mode and waypoint come from the Namespace objects in the
input (label ` + keys.Enforcement + `), overridden by
--namespace-mode; namespaces the input does not label are in --default-mode.

Output, one line per finding:

  FILE:LINE:COL KIND NAMESPACE/NAME: RULE-ID field.path: SEVERITY: message

LINE:COL is where the offending field sits in FILE. RULE-ID (FW101, ...) is
explained by 'webhook explain RULE-ID'. SEVERITY is "error" (the webhook
would deny the object: its namespace enforces), "warning" (kubectl would
print it), "audit" (recorded in the API server's audit log only) or
"mutation" (labels the webhook would set on a Service). -o json writes one
JSON document: {"findings": [...], "summary": {...}}, each finding with its
file, doc (the document's position in the file), line, column and rule.
-o github writes GitHub Actions annotations; -o sarif a SARIF 2.1.0 log for
code scanning; -o junit JUnit XML (denials fail, other findings pass). A summary line goes to standard error; unreadable input is
reported there as FILE:LINE.

Exit status: 0 when the webhook would admit everything (mutations and
warnings included), 1 when it would deny at least one object, 2 for bad
flags or input that could not be read (a YAML syntax error, a path that
does not exist, an unreadable file), for "nothing to check", and when
SIGINT or SIGTERM stops the run before all input was judged. Documents
that are not Kubernetes objects, kinds the webhook does not admit and
empty documents are skipped (-v says which).

"Nothing to check" is input from which no document was read: folders
without *.yaml, *.yml or *.json files, files or standard input holding
nothing but spaces, comments and empty "---" documents. A template that
rendered nothing must not pass a CI gate by silence; --allow-empty makes
such input exit 0 where empty output is expected.

Named pipes and devices named with -f are read once, like standard input,
and waited for until their writer closes them; SIGINT or SIGTERM stops
that wait.`,
		Example: `  # Gate rendered manifests in CI
  helm template my-release ./chart | webhook check -f -
  kustomize build overlays/prod | webhook check -f - --default-mode enforce

  # A folder, with one namespace judged as if it were already enforced
  webhook check -f manifests/ --namespace-mode sample=enforce

  # Show the Services as the webhook would admit them
  webhook check -f service.yaml --show-mutations

  # Only the Services as the webhook would admit them, compared with the cluster
  webhook check -f service.yaml -o yaml | kubectl diff -f -`,
		Args: noArgs("; name inputs with -f"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(opts.Paths) == 0 {
				return usageErrorf("no input: name files or folders with -f, or -f - for standard input")
			}
			p, err := pf.parse()
			if err != nil {
				return usageError{err}
			}
			if opts.DefaultMode, err = mode.Parse(defaultMode); err != nil {
				return usageErrorf("invalid --default-mode: %w", err)
			}
			if err := checkNamespaceName("--namespace", opts.Namespace); err != nil {
				return usageError{err}
			}
			opts.NamespaceModes, opts.Format, opts.Quiet = p.modes, p.format, pf.quiet
			opts.ExcludedNamespaces, opts.WaypointName = pf.excluded, pf.waypointName
			opts.Color = p.colored(cmd.OutOrStdout(), cmd.ErrOrStderr())
			opts.Stdin = cmd.InOrStdin()

			summary, err := check.Run(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if cause := context.Cause(cmd.Context()); err != nil && cause != nil {
				// Stopped: exit 2, as for input that could not be read,
				// so that no script reads an interrupted run as a verdict.
				if !errors.Is(err, cause) { // not already said, as "reading FILE: ..."
					err = fmt.Errorf("%w before all input was judged", cause)
				}
				return inputError{err}
			}
			var input *check.InputError
			if errors.As(err, &input) {
				return inputError{err}
			}
			if err != nil {
				return err
			}
			return p.failure(summary)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Paths, "filename", "f", nil, "file, folder (recursively: *.yaml, *.yml, *.json) or - for standard input; repeatable")
	f.StringVarP(&opts.Namespace, "namespace", "n", "default", "namespace of objects that set no metadata.namespace")
	f.StringVar(&defaultMode, "default-mode", string(mode.Enforce), "mode of namespaces that neither a Namespace object in the input nor --namespace-mode gives one: enforce, warn, audit or off")
	f.BoolVar(&opts.ShowMutations, "show-mutations", false, "also print each Service the webhook would change, as it would admit it (YAML; in -o json, under mutatedServices)")
	f.BoolVar(&opts.AllowEmpty, "allow-empty", false, "exit 0 when no document is read (empty files, folders without manifests, empty standard input) instead of 2, \"nothing to check\"")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "say on standard error which documents and objects were skipped, and why")
	pf.bind(cmd)
	return cmd
}

// deniedError is the outcome of a run that found objects the webhook would
// deny, or nil.
func deniedError(denied int) error {
	switch denied {
	case 0:
		return nil
	case 1:
		return errors.New("1 object would be denied")
	}
	return fmt.Errorf("%d objects would be denied", denied)
}
