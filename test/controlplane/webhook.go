package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	istionetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// webhookStartTimeout bounds each wait of InstallWebhook beyond the
// caller's context: for TLS, and for the API server to use the configurations.
const webhookStartTimeout = 30 * time.Second

// InstallWebhook starts the webhook as `webhook serve` does, on a local
// port with a certificate envtest issues, then installs the webhook
// configurations from Options.WebhookPaths, pointed at it, and returns once
// the API server sends it admissions. A cluster started with NoWebhook uses
// it to add the webhook after objects exist.
func (c *Cluster) InstallWebhook(ctx context.Context) error {
	if c.stopWebhook != nil {
		return errors.New("the webhook is already installed")
	}
	c.Webhook = envtest.WebhookInstallOptions{Paths: c.opts.WebhookPaths, LocalServingHost: "127.0.0.1"}
	// Reads the configurations, issues the serving certificate and picks
	// the port, so the webhook can serve before the API server calls it.
	if err := c.Webhook.PrepWithoutInstalling(); err != nil {
		return fmt.Errorf("preparing the webhook configurations from %v: %w", c.opts.WebhookPaths, err)
	}
	if len(c.Webhook.MutatingWebhooks)+len(c.Webhook.ValidatingWebhooks) == 0 {
		return fmt.Errorf("no webhook configurations in %v", c.opts.WebhookPaths)
	}
	if err := c.startWebhook(ctx); err != nil {
		return err
	}
	if err := c.Webhook.Install(c.adminConfig); err != nil {
		return fmt.Errorf("installing the webhook configurations: %w", err)
	}
	return c.waitForAdmission(ctx)
}

// startWebhook runs pkg/server's manager, the one `webhook serve` runs, and
// waits until it completes a TLS handshake with the certificate the API
// server trusts.
func (c *Cluster) startWebhook(ctx context.Context) error {
	opts := server.DefaultOptions()
	opts.Host = c.Webhook.LocalServingHost
	opts.Port = c.Webhook.LocalServingPort
	opts.CertDir = c.Webhook.LocalServingCertDir
	opts.WaypointName = c.opts.WaypointName
	// controller-runtime's metrics registry is global to the process, so
	// no in-process cluster serves it; tests read the registry directly.
	opts.MetricsBindAddress = "0"
	opts.HealthProbeBindAddress = "0"
	opts.GracefulShutdownTimeout = 5 * time.Second

	var done chan error
	if c.opts.WebhookBinary != "" {
		var err error
		if done, err = c.execWebhook(opts); err != nil {
			return err
		}
	} else {
		mgr, err := server.NewManager(rest.CopyConfig(c.adminConfig), opts)
		if err != nil {
			return err
		}
		runCtx, stop := context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() { done <- mgr.Start(runCtx) }()
		c.stopWebhook, c.webhookDone = stop, done
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.Webhook.LocalServingCAData)
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: opts.Host, MinVersion: tls.VersionTLS12}
	address := net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
	dialer := &net.Dialer{Timeout: time.Second}

	ctx, cancel := context.WithTimeout(ctx, webhookStartTimeout)
	defer cancel()
	var lastErr error
	for {
		conn, err := tls.DialWithDialer(dialer, "tcp", address, tlsConfig)
		if err == nil {
			return conn.Close()
		}
		lastErr = err
		select {
		case err := <-done:
			done <- err // Stop reads it again.
			return fmt.Errorf("the webhook stopped before serving: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("the webhook did not answer TLS on %s: %w (last attempt: %v)", address, ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitForAdmission returns once the API server applies the installed
// configurations: it reads them through an informer, so a configuration
// that exists may not be in force yet. Each probe is a dry run in the
// default namespace (mode enforce) and persists nothing.
func (c *Cluster) waitForAdmission(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, webhookStartTimeout)
	defer cancel()
	var mutating, validating []string
	for _, cfg := range c.Webhook.MutatingWebhooks {
		for _, h := range cfg.Webhooks {
			mutating = append(mutating, h.Name)
		}
	}
	for _, cfg := range c.Webhook.ValidatingWebhooks {
		for _, h := range cfg.Webhooks {
			validating = append(validating, h.Name)
		}
	}

	var probes []admissionProbe
	if len(mutating) > 0 {
		probes = append(probes, admissionProbe{"a Service labeled " + keys.Trigger + "=" + keys.TriggerValue + " to " + strings.Join(mutating, ", "), func(ctx context.Context) bool {
			svc := probeService()
			err := c.Client.Create(ctx, svc, client.DryRunAll)
			return (err == nil && svc.Labels[keys.Global] != "") || errorNames(err, mutating)
		}})
	}
	if len(validating) > 0 {
		probes = append(probes, admissionProbe{"a DestinationRule with failover and no outlierDetection to " + strings.Join(validating, ", "), func(ctx context.Context) bool {
			return errorNames(c.Client.Create(ctx, probeDestinationRule(), client.DryRunAll), validating)
		}})
	}

	for _, p := range probes {
		for !p.inForce(ctx) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("the API server did not send %s within %s: check the rules, objectSelector and namespaceSelector of the configurations in %v",
					p.what, webhookStartTimeout, c.opts.WebhookPaths)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// admissionProbe is a request the API server sends to a webhook once its
// configuration is in force.
type admissionProbe struct {
	what string
	// inForce reports whether the API server consulted the webhook: the
	// object came back changed, or the webhook's name is in the error.
	inForce func(context.Context) bool
}

func errorNames(err error, names []string) bool {
	if err == nil {
		return false
	}
	for _, n := range names {
		if strings.Contains(err.Error(), n) {
			return true
		}
	}
	return false
}

func probeService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: metav1.NamespaceDefault,
			Name:      "failover-webhook-probe",
			Labels:    map[string]string{keys.Trigger: keys.TriggerValue},
		},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
}

func probeDestinationRule() *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{
		Namespace: metav1.NamespaceDefault,
		Name:      "failover-webhook-probe",
	}}
	dr.Spec.Host = "failover-webhook-probe.default.svc.cluster.local"
	dr.Spec.TrafficPolicy = &istionetworking.TrafficPolicy{LoadBalancer: &istionetworking.LoadBalancerSettings{
		LocalityLbSetting: &istionetworking.LocalityLoadBalancerSetting{FailoverPriority: []string{"topology.istio.io/cluster"}},
	}}
	return dr
}

// execWebhook runs `webhook serve` from Options.WebhookBinary with the
// flags a Deployment would pass, probes and metrics on free loopback ports.
// Stopping it sends SIGTERM, as the kubelet does; a non-zero exit is an error.
func (c *Cluster) execWebhook(opts server.Options) (chan error, error) {
	probe, err := FreeAddress()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := FreeAddress()
	if err != nil {
		return nil, err
	}
	c.WebhookProbeAddress, c.WebhookMetricsAddress = probe, metricsAddr
	cmd := exec.Command(c.opts.WebhookBinary, "serve",
		"--kubeconfig="+c.KubeconfigPath,
		"--cert-dir="+opts.CertDir,
		"--port="+strconv.Itoa(opts.Port),
		"--waypoint-name="+opts.WaypointName,
		"--health-probe-bind-address="+probe,
		"--metrics-bind-address="+metricsAddr,
		"--graceful-shutdown-timeout="+opts.GracefulShutdownTimeout.String(),
	)
	cmd.Stdout, cmd.Stderr = c.opts.WebhookLog, c.opts.WebhookLog
	if len(c.opts.WebhookEnv) > 0 {
		cmd.Env = append(os.Environ(), c.opts.WebhookEnv...)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.opts.WebhookBinary, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.webhookDone = done
	c.stopWebhook = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
	return done, nil
}

// FreeAddress returns a loopback address with a port free right now.
func FreeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
