// Package server wires the admission handlers into a controller-runtime
// manager: the webhook server and its certificate source, the namespace
// cache, probes, metrics and the shutdown sequence. `webhook serve` and the
// control-plane tests share it, so what is tested is what runs.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/failover-webhook/failover-webhook/pkg/kinds"
	"github.com/failover-webhook/failover-webhook/pkg/metrics"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/namespaces"
	"github.com/failover-webhook/failover-webhook/pkg/services"
	"github.com/failover-webhook/failover-webhook/pkg/servingcert"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// CertMode says where the serving certificate comes from.
type CertMode string

const (
	// CertModeFiles reads the certificate and key from CertDir (a
	// cert-manager Secret mounted there) and reloads them when they change.
	CertModeFiles CertMode = "files"
	// CertModeSelfManaged keeps a CA in a Secret, serves a certificate it
	// signs, and injects the CA into the webhook configurations.
	CertModeSelfManaged CertMode = "self-managed"
)

// CertModes lists the modes, for messages.
var CertModes = []CertMode{CertModeFiles, CertModeSelfManaged}

// Options configures a webhook manager. The zero value is not useful; start
// from DefaultOptions.
type Options struct {
	// Host and Port are where the webhook server listens; an empty Host
	// means every interface.
	Host string
	Port int
	// CertMode chooses the certificate source.
	CertMode CertMode
	// CertDir holds CertName and KeyName (files mode); they are reloaded
	// when they change.
	CertDir  string
	CertName string
	KeyName  string
	// SelfManaged configures the self-managed mode.
	SelfManaged servingcert.SelfManagedOptions
	// TLSMinVersion is the lowest TLS version the webhook server accepts.
	TLSMinVersion uint16
	// Limits bound what clients can make the webhook server hold.
	Limits Limits

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

	// ShutdownDelay is how long the webhook keeps serving, reporting not
	// ready, after it is told to stop (the Start context ends): time for
	// the endpoints to drop the pod before its listener closes.
	ShutdownDelay time.Duration
	// GracefulShutdownTimeout bounds how long in-flight requests may take
	// to finish after the delay.
	GracefulShutdownTimeout time.Duration
}

// Names manifests/self-managed-certs gives the objects the self-managed
// mode manages, the defaults of DefaultOptions.
const (
	DefaultNamespace                      = "failover-webhook-system"
	DefaultServiceName                    = "failover-webhook-webhook-service"
	DefaultCASecretName                   = "failover-webhook-ca"
	DefaultMutatingWebhookConfiguration   = "failover-webhook-mutating-webhook-configuration"
	DefaultValidatingWebhookConfiguration = "failover-webhook-validating-webhook-configuration"
)

// ServiceDNSNames are the names the API server may verify the webhook's
// certificate against when it calls the Service name in namespace.
func ServiceDNSNames(name, namespace string) []string {
	return []string{name + "." + namespace + ".svc", name + "." + namespace + ".svc.cluster.local"}
}

// DefaultOptions returns the defaults of `webhook serve`.
func DefaultOptions() Options {
	return Options{
		Port:     9443,
		CertMode: CertModeFiles,
		CertDir:  "/tmp/k8s-webhook-server/serving-certs",
		CertName: "tls.crt",
		KeyName:  "tls.key",
		SelfManaged: servingcert.SelfManagedOptions{
			SecretNamespace:                DefaultNamespace,
			SecretName:                     DefaultCASecretName,
			DNSNames:                       ServiceDNSNames(DefaultServiceName, DefaultNamespace),
			MutatingWebhookConfiguration:   DefaultMutatingWebhookConfiguration,
			ValidatingWebhookConfiguration: DefaultValidatingWebhookConfiguration,
			CADuration:                     365 * 24 * time.Hour,
			CertDuration:                   7 * 24 * time.Hour,
			PropagationDelay:               10 * time.Second,
		},
		TLSMinVersion:           tls.VersionTLS12,
		Limits:                  DefaultLimits(),
		WaypointName:            "waypoint",
		MetricsBindAddress:      ":8080",
		HealthProbeBindAddress:  ":8081",
		GracefulShutdownTimeout: 30 * time.Second,
	}
}

// aeadSuites are the TLS 1.2 suites offered: forward secret and
// authenticated (no CBC, no SHA-1 MAC), as Kubernetes' own recommended set.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// NewManager returns a manager serving both webhooks on the paths of the
// shipped webhook configurations. Start it to serve. When its Start context
// ends, it reports not ready and asks clients to close their connections,
// keeps serving for ShutdownDelay, then stops, letting in-flight requests
// finish within GracefulShutdownTimeout.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	scheme, err := kinds.Scheme()
	if err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	// HTTP/2 is off on every listener: its rapid-reset and stream
	// cancellation weaknesses (CVE-2023-44487, CVE-2023-39325) are not worth
	// the gain for an API server talking HTTP/1.1 with keep-alive.
	http1Only := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	minVersion := func(c *tls.Config) {
		c.MinVersion = opts.TLSMinVersion
		// TLS 1.2 without its CBC and SHA-1 suites: the API server and
		// Prometheus speak ECDHE with AES-GCM or ChaCha20. TLS 1.3 suites
		// are all AEAD and not configurable.
		c.CipherSuites = aeadSuites
	}

	metricsOpts := metricsserver.Options{
		BindAddress:   opts.MetricsBindAddress,
		SecureServing: opts.MetricsSecure,
		TLSOpts:       []func(*tls.Config){http1Only, minVersion},
	}
	if opts.MetricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	cacheOpts := cache.Options{
		// Only labels and CAs are read; managed fields are dead weight.
		DefaultTransform: cache.TransformStripManagedFields(),
	}
	var source servingcert.Source
	var selfManaged *servingcert.SelfManaged
	switch opts.CertMode {
	case CertModeFiles:
		if source, err = servingcert.NewFiles(opts.CertDir, opts.CertName, opts.KeyName); err != nil {
			return nil, err
		}
	case CertModeSelfManaged:
		selfManaged = servingcert.NewSelfManaged(rest.CopyConfig(cfg), opts.SelfManaged)
		source = selfManaged
		cacheOpts.ByObject = selfManaged.CacheOptions()
	default:
		return nil, fmt.Errorf("unknown certificate mode %q: want one of %v", opts.CertMode, CertModes)
	}
	useSource := func(c *tls.Config) { c.GetCertificate = source.GetCertificate }
	metrics.ObserveServingCertificate(source.GetCertificate)

	gracefulShutdown := opts.GracefulShutdownTimeout
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		GracefulShutdownTimeout: &gracefulShutdown,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    opts.Host,
			Port:    opts.Port,
			TLSOpts: []func(*tls.Config){http1Only, minVersion, useSource},
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if selfManaged != nil {
		err = selfManaged.SetupWithManager(mgr)
	} else {
		err = mgr.Add(source)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the certificate source: %w", err)
	}

	// Register the namespace informer now so it starts and syncs with the
	// cache, before the first admission needs it.
	if _, err := mgr.GetCache().GetInformer(context.Background(), namespaces.NewMetadata()); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	nsLabels := namespaces.NewCacheFirst(mgr.GetCache(), mgr.GetAPIReader())

	m := &drainingManager{Manager: mgr, delay: opts.ShutdownDelay}
	// One limiter for both paths: memory and in-flight admissions are the
	// replica's, whichever webhook they are for.
	limits := newLimiter(opts.Limits)
	hookServer := mgr.GetWebhookServer()
	hookServer.Register(mutate.Path, m.edge(limits.wrap(NewAdmission(mutate.NewHandler(nsLabels, opts.WaypointName)))))
	hookServer.Register(validate.Path, m.edge(limits.wrap(NewAdmission(validate.NewHandler(nsLabels).WithServices(services.NewReader(mgr.GetAPIReader()))))))

	// Liveness stays cheap: a stuck process is the only thing a restart
	// fixes. Readiness says whether admissions should be sent here.
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("shutdown", m.notDraining); err != nil {
		return nil, err
	}
	// Ready only once the webhook server completes TLS handshakes with the
	// certificate its source holds, so no endpoint receives admissions it
	// cannot answer, and a missed rotation shows.
	address := net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
	if err := mgr.AddReadyzCheck("serving-certificate", servingcert.ServesCurrent(source, address)); err != nil {
		return nil, err
	}
	return m, nil
}
