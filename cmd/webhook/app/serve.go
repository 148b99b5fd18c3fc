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

	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the mutating and validating webhooks over TLS",
		Long: `Serve the webhooks: /mutate-service and /validate-destinationrule over TLS on
--port, /healthz and /readyz on --health-probe-bind-address, /metrics on
--metrics-bind-address.

The serving certificate and key are read from --cert-dir and reloaded when
they change (a cert-manager Secret mounted there rotates without a restart).
Namespace labels are read through the API server given by --kubeconfig, the
KUBECONFIG variable, or the in-cluster service account, in that order.
All configuration is by flags; no environment variables are read except
KUBECONFIG.`,
		Example: `  # Serve with a local certificate against the current kubeconfig context
  webhook serve --cert-dir certs/out --kubeconfig ~/.kube/config`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := tlsVersions[tlsMinVersion]
			if !ok {
				return usageErrorf("invalid --tls-min-version %q: want 1.2 or 1.3", tlsMinVersion)
			}
			cfg.Server.TLSMinVersion = v
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
	f.StringVar(&o.CertDir, "cert-dir", defaults.CertDir, "folder holding the serving certificate and key; changes are picked up without a restart")
	f.StringVar(&o.CertName, "cert-name", defaults.CertName, "file name of the PEM serving certificate in --cert-dir")
	f.StringVar(&o.KeyName, "key-name", defaults.KeyName, "file name of the PEM private key in --cert-dir")
	f.StringVar(&o.WaypointName, "waypoint-name", defaults.WaypointName, "waypoint given to opted-in Services when neither the Service nor its namespace sets "+keys.UseWaypoint)
	f.StringVar(&o.MetricsBindAddress, "metrics-bind-address", defaults.MetricsBindAddress, `address serving /metrics; "0" disables it`)
	f.BoolVar(&o.MetricsSecure, "metrics-secure", false, "serve /metrics over HTTPS, allowing only clients the API server authenticates and authorizes for GET /metrics")
	f.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", defaults.HealthProbeBindAddress, "address serving /healthz and /readyz")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; default: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config")
	f.StringVar(&tlsMinVersion, "tls-min-version", tlsMinVersion, "lowest TLS version accepted: 1.2 or 1.3")
	f.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", defaults.GracefulShutdownTimeout, "time in-flight requests get to finish after SIGTERM")

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
	if o.WaypointName == keys.NoWaypoint {
		return fmt.Errorf("invalid --waypoint-name %q: %q means no waypoint, and failover needs one", o.WaypointName, keys.NoWaypoint)
	}
	if errs := validation.IsDNS1123Label(o.WaypointName); len(errs) > 0 {
		return fmt.Errorf("invalid --waypoint-name %q: a waypoint is named like a Kubernetes Gateway: %s", o.WaypointName, strings.Join(errs, "; "))
	}
	if o.GracefulShutdownTimeout < 0 {
		return fmt.Errorf("invalid --graceful-shutdown-timeout %s: must not be negative", o.GracefulShutdownTimeout)
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
	log.Info("starting", "port", cfg.Server.Port, "certDir", cfg.Server.CertDir, "waypoint", cfg.Server.WaypointName)
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
