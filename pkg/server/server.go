// Package server wires the admission handlers into a controller-runtime
// manager: the webhook server, the namespace cache, probes and metrics.
// `webhook serve` and the control-plane tests share it, so what is tested is
// what runs.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// Options configures a webhook manager. The zero value is not useful; start
// from DefaultOptions.
type Options struct {
	// Host and Port are where the webhook server listens; an empty Host
	// means every interface.
	Host string
	Port int
	// CertDir holds CertName and KeyName; they are reloaded when they change.
	CertDir  string
	CertName string
	KeyName  string
	// TLSMinVersion is the lowest TLS version the webhook server accepts.
	TLSMinVersion uint16

	// WaypointName is the waypoint given to opted-in Services when neither
	// they nor their namespace name one.
	WaypointName string

	// MetricsBindAddress serves /metrics; "0" disables it. MetricsSecure
	// serves it over HTTPS behind Kubernetes authentication and
	// authorization.
	MetricsBindAddress string
	MetricsSecure      bool
	// HealthProbeBindAddress serves /healthz and /readyz.
	HealthProbeBindAddress string

	// GracefulShutdownTimeout bounds how long in-flight requests may take
	// to finish after the process is told to stop.
	GracefulShutdownTimeout time.Duration
}

// DefaultOptions returns the defaults of `webhook serve`.
func DefaultOptions() Options {
	return Options{
		Port:                    9443,
		CertDir:                 "/tmp/k8s-webhook-server/serving-certs",
		CertName:                "tls.crt",
		KeyName:                 "tls.key",
		TLSMinVersion:           tls.VersionTLS12,
		WaypointName:            "waypoint",
		MetricsBindAddress:      ":8080",
		HealthProbeBindAddress:  ":8081",
		GracefulShutdownTimeout: 30 * time.Second,
	}
}

// NewScheme returns a scheme knowing core Kubernetes kinds and the three
// networking.istio.io versions of DestinationRule.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		networkingv1.AddToScheme,
		networkingv1beta1.AddToScheme,
		networkingv1alpha3.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

// NewManager returns a manager serving both webhooks on the paths of the
// shipped webhook configurations. Start it to serve.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	// HTTP/2 is off on every listener: its rapid-reset and stream
	// cancellation weaknesses (CVE-2023-44487, CVE-2023-39325) are not worth
	// the gain for an API server talking HTTP/1.1 with keep-alive.
	http1Only := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	minVersion := func(c *tls.Config) { c.MinVersion = opts.TLSMinVersion }

	metricsOpts := metricsserver.Options{
		BindAddress:   opts.MetricsBindAddress,
		SecureServing: opts.MetricsSecure,
		TLSOpts:       []func(*tls.Config){http1Only, minVersion},
	}
	if opts.MetricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	gracefulShutdown := opts.GracefulShutdownTimeout
	mgr, err := manager.New(cfg, manager.Options{
		Scheme: scheme,
		Cache: cache.Options{
			// Only namespace labels are read; managed fields are dead weight.
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		GracefulShutdownTimeout: &gracefulShutdown,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:     opts.Host,
			Port:     opts.Port,
			CertDir:  opts.CertDir,
			CertName: opts.CertName,
			KeyName:  opts.KeyName,
			TLSOpts:  []func(*tls.Config){http1Only, minVersion},
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}

	// Register the namespace informer now so it starts and syncs with the
	// cache, before the first admission needs it.
	if _, err := mgr.GetCache().GetInformer(context.Background(), namespaces.NewMetadata()); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	nsLabels := namespaces.CacheFirst{Cache: mgr.GetCache(), API: mgr.GetAPIReader()}

	hookServer := mgr.GetWebhookServer()
	hookServer.Register(mutate.Path, &webhook.Admission{Handler: mutate.NewHandler(scheme, nsLabels, opts.WaypointName)})
	hookServer.Register(validate.Path, &webhook.Admission{Handler: validate.NewHandler(scheme, nsLabels)})

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	// Ready only once the webhook server completes TLS handshakes, so no
	// endpoint receives admissions it cannot answer.
	if err := mgr.AddReadyzCheck("webhook-tls", hookServer.StartedChecker()); err != nil {
		return nil, err
	}
	return mgr, nil
}
