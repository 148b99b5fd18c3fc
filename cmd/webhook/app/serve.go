package app

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/pkg/servingcert"
)

// ServeConfig is everything `webhook serve` needs, parsed and checked.
type ServeConfig struct {
	Server     server.Options
	Kubeconfig string
	Log        zap.Options
}

// ServeFunc runs the webhook until ctx is done.
type ServeFunc func(ctx context.Context, cfg ServeConfig) error

var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// NewServeCommand returns `webhook serve`, which calls run with the parsed
// configuration.
func NewServeCommand(run ServeFunc) *cobra.Command {
	defaults := server.DefaultOptions()
	cfg := ServeConfig{Server: defaults, Log: zap.Options{}}
	tlsMinVersion := "1.2"
	certMode := string(defaults.CertMode)
	serviceName := server.DefaultServiceName

	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the mutating and validating webhooks over TLS",
		Long: `Serve the webhooks: /mutate-service and /validate-destinationrule over TLS on
--port, /healthz and /readyz on --health-probe-bind-address, /metrics on
--metrics-bind-address.

The serving certificate comes from one of two sources (--cert-mode):
  files         read from --cert-dir and reloaded when it changes, so a
                cert-manager Secret mounted there rotates without a restart;
  self-managed  for clusters without cert-manager: a CA kept in the Secret
                --self-managed-secret-name, a serving certificate for the
                Service --self-managed-service-name signed by it in memory,
                both renewed before they expire, and the CA written into the
                caBundle of the two webhook configurations. A new CA is
                served only after it has been in every caBundle for
                --self-managed-ca-propagation-delay.

/readyz fails until the webhook server completes TLS handshakes with the
certificate its source holds, and from SIGTERM on. After SIGTERM the webhook
keeps serving for --shutdown-delay, so endpoints stop sending it requests,
then stops and gives in-flight requests --graceful-shutdown-timeout.

Namespace labels are read through the API server given by --kubeconfig, the
KUBECONFIG variable, or the in-cluster service account, in that order.
All configuration is by flags; no environment variables are read except
KUBECONFIG.`,
		Example: `  # Serve with a local certificate against the current kubeconfig context
  webhook serve --cert-dir certs/out --kubeconfig ~/.kube/config

  # Manage the certificates without cert-manager, as manifests/self-managed-certs does
  webhook serve --cert-mode=self-managed --shutdown-delay=5s`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := tlsVersions[tlsMinVersion]
			if !ok {
				return usageErrorf("invalid --tls-min-version %q: want 1.2 or 1.3", tlsMinVersion)
			}
			cfg.Server.TLSMinVersion = v
			cfg.Server.CertMode = server.CertMode(certMode)
			cfg.Server.SelfManaged.DNSNames = server.ServiceDNSNames(serviceName, cfg.Server.SelfManaged.SecretNamespace)
			if err := checkCertModeFlags(cmd, cfg.Server.CertMode); err != nil {
				return usageError{err}
			}
			if err := checkServeConfig(cfg); err != nil {
				return usageError{err}
			}
			return run(cmd.Context(), cfg)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// Positional arguments are an error in how serve was called.
	cmd.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("serve takes no arguments, got %q", strings.Join(args, " "))
		}
		return nil
	}

	f := cmd.Flags()
	o := &cfg.Server
	f.IntVar(&o.Port, "port", defaults.Port, "port the webhook server listens on (TLS)")
	f.StringVar(&certMode, "cert-mode", certMode, fmt.Sprintf("where the serving certificate comes from: %s (from --cert-dir) or %s (a CA in a Secret, injected into the webhook configurations)", server.CertModeFiles, server.CertModeSelfManaged))
	f.StringVar(&o.CertDir, "cert-dir", defaults.CertDir, "folder holding the serving certificate and key; changes are picked up without a restart")
	f.StringVar(&o.CertName, "cert-name", defaults.CertName, "file name of the PEM serving certificate in --cert-dir")
	f.StringVar(&o.KeyName, "key-name", defaults.KeyName, "file name of the PEM private key in --cert-dir")
	f.StringVar(&o.WaypointName, "waypoint-name", defaults.WaypointName, "waypoint given to opted-in Services when neither the Service nor its namespace sets "+keys.UseWaypoint)
	f.StringVar(&o.MetricsBindAddress, "metrics-bind-address", defaults.MetricsBindAddress, `address serving /metrics; "0" disables it`)
	f.BoolVar(&o.MetricsSecure, "metrics-secure", false, "serve /metrics over HTTPS, allowing only clients the API server authenticates and authorizes for GET /metrics")
	f.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", defaults.HealthProbeBindAddress, "address serving /healthz and /readyz")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; default: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config")
	f.StringVar(&tlsMinVersion, "tls-min-version", tlsMinVersion, "lowest TLS version accepted: 1.2 or 1.3")
	f.DurationVar(&o.ShutdownDelay, "shutdown-delay", defaults.ShutdownDelay, "time the webhook keeps serving after SIGTERM, reporting not ready, before it stops (5s in the shipped manifests)")
	f.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", defaults.GracefulShutdownTimeout, "time in-flight requests get to finish after --shutdown-delay")

	sm := &o.SelfManaged
	f.StringVar(&sm.SecretNamespace, "self-managed-namespace", sm.SecretNamespace, "self-managed: namespace of the CA Secret and of the webhook Service")
	f.StringVar(&sm.SecretName, "self-managed-secret-name", sm.SecretName, "self-managed: Secret holding the CA; filled when empty, created when missing if RBAC allows; emptying it rotates the CA")
	f.StringVar(&serviceName, "self-managed-service-name", serviceName, "self-managed: webhook Service; the certificate names <service>.<namespace>.svc and <service>.<namespace>.svc.cluster.local")
	f.StringVar(&sm.MutatingWebhookConfiguration, "mutating-webhook-configuration", sm.MutatingWebhookConfiguration, "self-managed: MutatingWebhookConfiguration whose caBundles get the CA")
	f.StringVar(&sm.ValidatingWebhookConfiguration, "validating-webhook-configuration", sm.ValidatingWebhookConfiguration, "self-managed: ValidatingWebhookConfiguration whose caBundles get the CA")
	f.DurationVar(&sm.CADuration, "self-managed-ca-duration", sm.CADuration, "self-managed: lifetime of the CA; a new one is made at two thirds of it")
	f.DurationVar(&sm.CertDuration, "self-managed-cert-duration", sm.CertDuration, "self-managed: lifetime of the serving certificate; it is renewed at two thirds of it")
	f.DurationVar(&sm.PropagationDelay, "self-managed-ca-propagation-delay", sm.PropagationDelay, "self-managed: how long a new CA must be in every caBundle before a certificate it signed is served")

	logFlags := flag.NewFlagSet("log", flag.ContinueOnError)
	cfg.Log.BindFlags(logFlags)
	f.AddGoFlagSet(logFlags)
	return cmd
}

func checkServeConfig(cfg ServeConfig) error {
	o := cfg.Server
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("invalid --port %d: want 1-65535", o.Port)
	}
	for flagName, v := range map[string]string{"--cert-dir": o.CertDir, "--cert-name": o.CertName, "--key-name": o.KeyName, "--health-probe-bind-address": o.HealthProbeBindAddress, "--metrics-bind-address": o.MetricsBindAddress} {
		if v == "" {
			return fmt.Errorf("%s must not be empty", flagName)
		}
	}
	if err := checkWaypointName(o.WaypointName); err != nil {
		return err
	}
	if o.GracefulShutdownTimeout < 0 {
		return fmt.Errorf("invalid --graceful-shutdown-timeout %s: must not be negative", o.GracefulShutdownTimeout)
	}
	if o.ShutdownDelay < 0 {
		return fmt.Errorf("invalid --shutdown-delay %s: must not be negative", o.ShutdownDelay)
	}
	if o.CertMode == server.CertModeSelfManaged {
		return checkSelfManaged(o.SelfManaged)
	}
	return nil
}

// selfManagedFlags apply only with --cert-mode=self-managed, and fileFlags
// only with files.
var (
	selfManagedFlags = []string{"self-managed-namespace", "self-managed-secret-name", "self-managed-service-name",
		"mutating-webhook-configuration", "validating-webhook-configuration",
		"self-managed-ca-duration", "self-managed-cert-duration", "self-managed-ca-propagation-delay"}
	fileFlags = []string{"cert-dir", "cert-name", "key-name"}
)

// checkCertModeFlags rejects an unknown mode, and flags of the other mode:
// they would be ignored, which is never what was meant.
func checkCertModeFlags(cmd *cobra.Command, mode server.CertMode) error {
	ignored := selfManagedFlags
	switch mode {
	case server.CertModeFiles:
	case server.CertModeSelfManaged:
		ignored = fileFlags
	default:
		return fmt.Errorf("invalid --cert-mode %q: want %s or %s", mode, server.CertModeFiles, server.CertModeSelfManaged)
	}
	for _, name := range ignored {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s does not apply with --cert-mode=%s", name, mode)
		}
	}
	return nil
}

func checkSelfManaged(o servingcert.SelfManagedOptions) error {
	for flagName, v := range map[string]string{
		"--self-managed-secret-name":         o.SecretName,
		"--mutating-webhook-configuration":   o.MutatingWebhookConfiguration,
		"--validating-webhook-configuration": o.ValidatingWebhookConfiguration,
	} {
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			return fmt.Errorf("invalid %s %q: %s", flagName, v, strings.Join(errs, "; "))
		}
	}
	if errs := validation.IsDNS1123Label(o.SecretNamespace); len(errs) > 0 {
		return fmt.Errorf("invalid --self-managed-namespace %q: %s", o.SecretNamespace, strings.Join(errs, "; "))
	}
	for _, n := range o.DNSNames {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Errorf("invalid --self-managed-service-name: the certificate would name %q: %s", n, strings.Join(errs, "; "))
		}
	}
	switch {
	case o.CertDuration <= 0:
		return fmt.Errorf("invalid --self-managed-cert-duration %s: must be positive", o.CertDuration)
	case o.CADuration <= o.CertDuration:
		return fmt.Errorf("invalid --self-managed-ca-duration %s: must be longer than --self-managed-cert-duration %s", o.CADuration, o.CertDuration)
	case o.PropagationDelay < 0:
		return fmt.Errorf("invalid --self-managed-ca-propagation-delay %s: must not be negative", o.PropagationDelay)
	case o.PropagationDelay >= o.CertDuration/3:
		return fmt.Errorf("invalid --self-managed-ca-propagation-delay %s: must be shorter than a third of --self-managed-cert-duration %s, the time left when a certificate is renewed",
			o.PropagationDelay, o.CertDuration)
	}
	return nil
}

// checkWaypointName checks a --waypoint-name, which every command that
// applies the Service rules takes.
func checkWaypointName(name string) error {
	if name == keys.NoWaypoint {
		return fmt.Errorf("invalid --waypoint-name %q: %q means no waypoint, and failover needs one", name, keys.NoWaypoint)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid --waypoint-name %q: a waypoint is named like a Kubernetes Gateway: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// RunServe starts the webhook manager and blocks until ctx is done.
func RunServe(ctx context.Context, cfg ServeConfig) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&cfg.Log)))
	log := ctrl.Log.WithName("serve")

	restConfig, err := loadKubeconfig(cfg.Kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := server.NewManager(restConfig, cfg.Server)
	if err != nil {
		return err
	}
	log.Info("starting", "port", cfg.Server.Port, "certMode", cfg.Server.CertMode, "waypoint", cfg.Server.WaypointName)
	start := time.Now()
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("stopped", "uptime", time.Since(start).Round(time.Second).String())
	return nil
}

func loadKubeconfig(path string) (*rest.Config, error) {
	if path == "" {
		c, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("finding the API server: %w (pass --kubeconfig, set KUBECONFIG, or run in a cluster)", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading --kubeconfig %q: %w", path, err)
	}
	return c, nil
}
