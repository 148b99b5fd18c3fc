package app

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/pkg/audit"
	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// NewAuditCommand returns `webhook audit`.
func NewAuditCommand() *cobra.Command {
	var (
		opts        audit.Options
		pf          policyFlags
		kubeconfig  string
		kubecontext string
	)
	cmd := &cobra.Command{
		Use:   "audit [--kubeconfig FILE] [--fix]",
		Short: "Judge the objects in a cluster as the webhook would admit them, and add missing Service labels",
		Long: `Judge what a cluster already holds as the webhook would admit it: every
DestinationRule (networking.istio.io v1, v1beta1 and v1alpha3 are one
resource, listed through the version the cluster serves) and every Service
labeled ` + keys.Trigger + `=` + keys.TriggerValue + `, each in its namespace's mode (label
` + keys.Enforcement + `). This finds what was created before the
webhook was installed, or while its namespace was off: DestinationRules that
violate the rule, and Services missing the labels the webhook adds.

Output and exit status are those of 'webhook check', without FILE:DOC:

  KIND NAMESPACE/NAME: field.path: message

--fix patches the missing labels and the ` + keys.ManagedLabels + `
annotation onto those Services (a merge patch of exactly those keys) and
reports each change as "fixed:". DestinationRules are never changed: --fix
prints a kubectl patch command under each violation instead, to apply or,
better, to carry into the DestinationRule's source.

Lists are read --chunk-size objects at a time, so clusters of any size
audit in bounded memory. The API server is the one --kubeconfig (or
$KUBECONFIG, then ~/.kube/config, then the in-cluster service account)
and --context name. The user needs list on namespaces, services and
destinationrules.networking.istio.io, and, for --fix, patch on services.

Exit status: 0 when the webhook would admit everything, 1 when it would
deny at least one object (or the API server could not be read, or a fix
failed), 2 for bad flags.`,
		Example: `  # What would enforce mode deny, and which Services lack their labels?
  webhook audit

  # One namespace, judged as if it were already enforced
  webhook audit -n sample --namespace-mode sample=enforce

  # Add the missing Service labels (try it first with --dry-run)
  webhook audit --fix --dry-run
  webhook audit --fix`,
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := pf.parse()
			if err != nil {
				return usageError{err}
			}
			for _, ns := range opts.Namespaces {
				if err := checkNamespaceName("--namespace", ns); err != nil {
					return usageError{err}
				}
			}
			if opts.ChunkSize < 1 {
				return usageErrorf("invalid --chunk-size %d: want 1 or more", opts.ChunkSize)
			}
			if opts.DryRun && !opts.Fix {
				return usageErrorf("--dry-run only applies to --fix")
			}
			opts.NamespaceModes, opts.Format = p.modes, p.format
			opts.ExcludedNamespaces, opts.WaypointName = pf.excluded, pf.waypointName

			c, err := auditClient(kubeconfig, kubecontext)
			if err != nil {
				return usageError{err}
			}
			summary, err := audit.Run(cmd.Context(), c, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return deniedError(summary.Denied)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig; default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account")
	f.StringVar(&kubecontext, "context", "", "kubeconfig context to use; default: the current context")
	f.StringSliceVarP(&opts.Namespaces, "namespace", "n", nil, "audit only these namespaces (comma-separated or repeated); default: all")
	f.BoolVar(&opts.Fix, "fix", false, "patch the labels and annotation the webhook would set onto Services lacking them; DestinationRules are never changed")
	f.BoolVar(&opts.DryRun, "dry-run", false, "with --fix: send the patches as server-side dry runs, which the API server checks and does not store")
	f.Int64Var(&opts.ChunkSize, "chunk-size", audit.DefaultChunkSize, "objects per list request")
	pf.bind(cmd)
	return cmd
}

// auditClient returns a client of the API server the kubeconfig and
// context name.
func auditClient(kubeconfig, kubecontext string) (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubecontext}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("finding the API server: no kubeconfig (pass --kubeconfig, set KUBECONFIG, or run in a cluster)")
		}
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	// The findings already say what the webhook warns about.
	cfg.WarningHandler = rest.NoWarnings{}
	scheme, err := server.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return c, nil
}
