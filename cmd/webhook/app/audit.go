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
	"github.com/failover-webhook/failover-webhook/pkg/kinds"
	"github.com/failover-webhook/failover-webhook/pkg/report"
)

// NewAuditCommand returns `webhook audit`.
func NewAuditCommand() *cobra.Command {
	var (
		opts         audit.Options
		pf           policyFlags
		kubeconfigs  []string
		kubecontexts []string
	)
	cmd := &cobra.Command{
		Use:   "audit [--kubeconfig FILE] [--context NAME ...] [--fix]",
		Short: "Judge the objects in a cluster as the webhook would admit them, and add missing Service labels",
		Long: `Judge what a cluster already holds as the webhook would admit it: every
DestinationRule (networking.istio.io v1, v1beta1 and v1alpha3 are one
resource, listed through the version the cluster serves) and every Service
labeled ` + keys.Trigger + `=` + keys.TriggerValue + `, each in its namespace's mode (label
` + keys.Enforcement + `). This finds what was created before the
webhook was installed, or while its namespace was off: DestinationRules that
violate the rule, and Services missing the labels the webhook adds.

It also checks what the webhook cannot see at admission, as warnings:
  - the waypoint each opted-in Service will use exists, is global and has a
    ready replica (FW404-FW406);
  - a waypoint Gateway labeled failover=cluster or istio.io/global=true that
    sets spec.infrastructure.labels without that label: Istio then copies
    those labels, not the Gateway's own, onto the waypoint's Service, so
    'kubectl label gateways.gateway.networking.k8s.io' does nothing (FW412;
    the fix is a kubectl patch of spec.infrastructure.labels);
  - a Service that is not global behind a global waypoint: Istio never makes
    a Service global through its waypoint (FW413).

Output and exit status are those of 'webhook check', without FILE:LINE:COL:

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
destinationrules.networking.istio.io, get on services and deployments (the
waypoints; their readiness is skipped with a note without it), list and get on
gateways.gateway.networking.k8s.io (skipped when the Gateway API is not
served), and, for --fix, patch on services.

Several clusters at once: give --context more than once (contexts of one
kubeconfig), or --kubeconfig more than once (each file's current context,
or, with as many --context flags, the context given in the same position).
Each cluster is audited as above, each finding prefixed with its cluster,
and then the clusters are compared: Istio ambient multicluster failover
needs the same configuration in every cluster, and no admission policy
sees more than one. Every difference that changes failover is a "drift"
finding naming the clusters, the object and the fix:

  - a Service labeled ` + keys.Trigger + `=` + keys.TriggerValue + ` or ` + keys.Global + `=` + keys.GlobalValue + ` in one cluster
    and not in another, or missing from one;
  - a Service using differently named waypoints, or a waypoint that is
    missing, not global, or has no ready replica in one cluster;
  - a DestinationRule for a host in one cluster and not another, or with
    a different effective failover or outlier detection for some
    (subset, port), after Istio's merge rules;
  - a namespace in different enforcement modes.

Memory holds one page plus a few labels per Service and namespace and the
DestinationRules that declare a failover policy. Several clusters are only
read: --fix is refused. The user also needs get on services (waypoints
outside -n) and on deployments (the waypoints' readiness, skipped with a
note without it).

Exit status: 0 when the webhook would admit everything (and, with several
clusters, they agree), 1 when it would deny at least one object or the
clusters differ (or an API server could not be read, or a fix failed),
2 for bad flags.`,
		Example: `  # What would enforce mode deny, and which Services lack their labels?
  webhook audit

  # One namespace, judged as if it were already enforced
  webhook audit -n sample --namespace-mode sample=enforce

  # Add the missing Service labels (try it first with --dry-run)
  webhook audit --fix --dry-run
  webhook audit --fix

  # Both clusters of Istio's multicluster guide: every step missed in one
  webhook audit --context "${CTX_CLUSTER1}" --context "${CTX_CLUSTER2}"

  # The same, each cluster with its own kubeconfig
  webhook audit --kubeconfig cluster1.yaml --kubeconfig cluster2.yaml`,
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
			if p.format == report.YAML {
				return usageErrorf("-o yaml writes the Services webhook check would change; to see what webhook audit would change, run webhook audit --fix --dry-run")
			}
			opts.NamespaceModes, opts.Format, opts.Quiet = p.modes, p.format, pf.quiet
			opts.ExcludedNamespaces, opts.WaypointName = pf.excluded, pf.waypointName
			opts.Color = p.colored(cmd.OutOrStdout(), cmd.ErrOrStderr())

			targets, err := audit.Targets(kubeconfigs, kubecontexts)
			if err != nil {
				return usageError{err}
			}
			if len(targets) == 1 {
				c, err := auditClient(targets[0])
				if err != nil {
					return usageError{err}
				}
				summary, err := audit.Run(cmd.Context(), c, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				return p.failure(summary)
			}
			if opts.Fix {
				return usageError{audit.ErrFixSeveralClusters}
			}
			clusters, err := auditClusters(targets)
			if err != nil {
				return usageError{err}
			}
			summary, err := audit.RunClusters(cmd.Context(), clusters, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return p.failure(summary)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.StringArrayVar(&kubeconfigs, "kubeconfig", nil, "path to a kubeconfig; default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account. Repeat to audit and compare several clusters")
	f.StringArrayVar(&kubecontexts, "context", nil, "kubeconfig context to use; default: the current context. Repeat to audit and compare several clusters")
	f.StringSliceVarP(&opts.Namespaces, "namespace", "n", nil, "audit only these namespaces (comma-separated or repeated); default: all")
	f.BoolVar(&opts.Fix, "fix", false, "patch the labels and annotation the webhook would set onto Services lacking them; DestinationRules are never changed")
	f.BoolVar(&opts.DryRun, "dry-run", false, "with --fix: send the patches as server-side dry runs, which the API server checks and does not store")
	f.Int64Var(&opts.ChunkSize, "chunk-size", audit.DefaultChunkSize, "objects per list request")
	pf.bind(cmd)
	return cmd
}

// auditClusters connects to each target and names it by its context; when
// two contexts share a name, by its kubeconfig and context.
func auditClusters(targets []audit.Target) ([]audit.Cluster, error) {
	clusters := make([]audit.Cluster, len(targets))
	count := map[string]int{}
	for i, t := range targets {
		cfg, context, err := restConfig(t)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", t, err)
		}
		c, err := newAuditClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", t, err)
		}
		t.Context = context
		clusters[i] = audit.Cluster{Name: context, Kubectl: t.String(), Server: cfg.Host, Client: c}
		count[context]++
	}
	for i := range clusters {
		if count[clusters[i].Name] > 1 {
			clusters[i].Name = targets[i].Kubeconfig + ":" + clusters[i].Name
		}
	}
	return clusters, audit.DistinctServers(clusters)
}

// auditClient returns a client of the API server of t.
func auditClient(t audit.Target) (client.Client, error) {
	cfg, _, err := restConfig(t)
	if err != nil {
		return nil, err
	}
	return newAuditClient(cfg)
}

// restConfig loads t's kubeconfig and returns the configuration of its
// context and the context's name.
func restConfig(t audit.Target) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = t.Kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: t.Context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("finding the API server: no kubeconfig (pass --kubeconfig, set KUBECONFIG, or run in a cluster)")
		}
		return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
	}
	context := t.Context
	if context == "" {
		if raw, err := loader.RawConfig(); err == nil {
			context = raw.CurrentContext
		}
	}
	if context == "" {
		context = cfg.Host
	}
	return cfg, context, nil
}

func newAuditClient(cfg *rest.Config) (client.Client, error) {
	// The findings already say what the webhook warns about.
	cfg.WarningHandler = rest.NoWarnings{}
	// client-go's own default (5 requests a second, bursts of 10) made the
	// paged lists of a large cluster wait on the client, not the server:
	// 10,000 Services took 2.1 s to audit in one cluster, 8.8 s in two
	// (0.3 s and 1.1 s with these limits, kubectl's for its discovery
	// client). The API server's priority and fairness still applies.
	if cfg.QPS == 0 && cfg.Burst == 0 {
		cfg.QPS, cfg.Burst = 50, 300
	}
	scheme, err := kinds.Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return c, nil
}

// driftError is the outcome of a comparison that found differences
// between clusters, or nil.
func driftError(differences int) error {
	switch differences {
	case 0:
		return nil
	case 1:
		return errors.New("the clusters differ in 1 place")
	}
	return fmt.Errorf("the clusters differ in %d places", differences)
}
