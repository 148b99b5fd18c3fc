// Package controlplane starts a local Kubernetes control plane (kube-apiserver
// and etcd, through controller-runtime's envtest) with the Istio CRDs, the
// webhook configurations shipped in manifests/webhook, and the webhook served
// by the same setup as `webhook serve` (pkg/server). Tests and the local
// `make run` use it; several clusters can run in one process.
//
// The webhook logs through controller-runtime's global logger: call
// sigs.k8s.io/controller-runtime/pkg/log.SetLogger before Start to see it.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/failover-webhook/failover-webhook/pkg/kinds"
)

// Options configures Start.
type Options struct {
	// Name names the cluster in errors and in its kubeconfig (cluster,
	// user and context); default "cluster". Give each cluster of a process
	// its own name so their kubeconfigs can be merged.
	Name string
	// WebhookPaths are the files or folders the webhook configurations are
	// read from; default the repository's manifests/webhook.
	WebhookPaths []string
	// WaypointName is the webhook's --waypoint-name; default "waypoint".
	WaypointName string
	// NoWebhook starts the control plane without the webhook configurations
	// and without the webhook; InstallWebhook adds both later.
	NoWebhook bool
	// WebhookBinary, when set, runs the webhook as that `webhook` executable
	// (`webhook serve` with flags) in a child process, instead of running
	// pkg/server in this process; its output goes to WebhookLog.
	WebhookBinary string
	WebhookLog    io.Writer
	// WebhookEnv is added to the environment of the WebhookBinary process
	// ("NAME=value"), as a Deployment's env sets it (GOMEMLIMIT).
	WebhookEnv []string
	// AuditLog makes the API server write an audit log of DestinationRule
	// requests, at Metadata level (annotations included), to
	// Cluster.AuditLogPath.
	AuditLog bool
	// GatewayAPI installs the Gateway API's Gateway and GatewayClass CRDs,
	// which waypoints are made of.
	GatewayAPI bool
}

// Cluster is a running control plane.
type Cluster struct {
	Name string
	// Config authenticates as an admin (system:masters). Its warning
	// handler records the API server's warnings into contexts made by
	// CollectWarnings.
	Config *rest.Config
	// Client uses Config and Scheme.
	Client client.Client
	// Scheme knows the core kinds and the three networking.istio.io
	// versions of DestinationRule.
	Scheme *runtime.Scheme
	// KubeconfigPath is a kubeconfig file for the admin, for kubectl.
	KubeconfigPath string
	// KubectlPath is the kubectl matching the API server.
	KubectlPath string
	// AuditLogPath is the API server's audit log; empty unless
	// Options.AuditLog.
	AuditLogPath string
	// WebhookProbeAddress and WebhookMetricsAddress are where a webhook
	// run from Options.WebhookBinary serves /healthz, /readyz and /metrics.
	WebhookProbeAddress   string
	WebhookMetricsAddress string
	// Webhook says where the webhook serves and which configurations were
	// installed; zero until the webhook is installed.
	Webhook envtest.WebhookInstallOptions

	opts Options
	env  *envtest.Environment
	dir  string
	// adminConfig is Config without the recording warning handler, for
	// the webhook's own client.
	adminConfig *rest.Config
	// stopWebhook stops the webhook manager, whose Start result arrives
	// on webhookDone.
	stopWebhook context.CancelFunc
	webhookDone chan error
}

// Start starts a control plane and, unless opts.NoWebhook, the webhook. It
// returns once the API server sends admissions to the webhook. ctx bounds
// the start only; the cluster runs until Stop.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Name == "" {
		opts.Name = "cluster"
	}
	if opts.WaypointName == "" {
		opts.WaypointName = "waypoint"
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if len(opts.WebhookPaths) == 0 {
		opts.WebhookPaths = []string{filepath.Join(root, "manifests", "webhook")}
	}
	scheme, err := kinds.Scheme()
	if err != nil {
		return nil, err
	}
	var crds []string
	if opts.GatewayAPI {
		if crds, err = GatewayAPICRDPaths(root); err != nil {
			return nil, err
		}
	}
	env, err := NewEnvironment(root, scheme, crds...)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "failover-webhook-"+fileSafe(opts.Name)+"-")
	if err != nil {
		return nil, err
	}

	c := &Cluster{
		Name:        opts.Name,
		Scheme:      scheme,
		KubectlPath: filepath.Join(env.BinaryAssetsDirectory, "kubectl"),
		opts:        opts,
		dir:         dir,
		env:         env,
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("starting control plane %q: %w", opts.Name, err), c.Stop())
		}
	}()
	if opts.AuditLog {
		if err := c.configureAuditLog(); err != nil {
			return nil, err
		}
	}

	cfg, err := c.env.Start()
	if err != nil {
		return nil, err
	}
	c.adminConfig = rest.CopyConfig(cfg)
	c.Config = rest.CopyConfig(cfg)
	c.Config.WarningHandlerWithContext = ContextWarningHandler{}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	c.KubeconfigPath = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(c.KubeconfigPath, opts.Name, cfg); err != nil {
		return nil, err
	}

	if !opts.NoWebhook {
		if err := c.InstallWebhook(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Stop stops the webhook, then the control plane, and removes the files
// the cluster wrote. It may be called on a partly started cluster.
func (c *Cluster) Stop() error {
	var errs []error
	if c.stopWebhook != nil {
		c.stopWebhook()
		if err := <-c.webhookDone; err != nil {
			errs = append(errs, fmt.Errorf("stopping the webhook: %w", err))
		}
		c.stopWebhook = nil
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the control plane: %w", err))
		}
	}
	if err := c.Webhook.Cleanup(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// auditPolicy records DestinationRule requests with their annotations (the
// validating webhook's audit-mode findings among them) and nothing else, to
// keep the log small.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: networking.istio.io
    resources: [destinationrules]
- level: None
`

func (c *Cluster) configureAuditLog() error {
	policy := filepath.Join(c.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	c.AuditLogPath = filepath.Join(c.dir, "audit.log")
	c.env.ControlPlane.GetAPIServer().Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", c.AuditLogPath)
	return nil
}

// writeKubeconfig writes a kubeconfig for cfg whose cluster, user and
// context are all named name.
func writeKubeconfig(path, name string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	return clientcmd.WriteToFile(*kc, path)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func fileSafe(s string) string {
	return strings.Trim(unsafeFileChars.ReplaceAllString(s, "-"), "-")
}
