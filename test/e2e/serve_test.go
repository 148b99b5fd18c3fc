// Package e2e runs the built `webhook serve` binary, as a Deployment would,
// against a real API server.
package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

func buildWebhook(t *testing.T) string {
	t.Helper()
	bin, err := controlplane.BuildWebhook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestServeBinaryAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	bin := buildWebhook(t)
	log := &controlplane.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c, err := controlplane.Start(ctx, controlplane.Options{Name: "serve", WebhookBinary: bin, WebhookLog: log, WaypointName: "east-waypoint"})
	if err != nil {
		t.Fatalf("%v\nwebhook output:\n%s", err, log.String())
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	t.Run("probes answer once the webhook serves TLS", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get("http://" + c.WebhookProbeAddress + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
			}
		}
	})

	t.Run("the API server's Service create is mutated by the binary", func(t *testing.T) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: "default", Labels: map[string]string{keys.Trigger: keys.TriggerValue}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5000}}},
		}
		if err := c.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if svc.Labels[keys.Global] != "true" || svc.Labels[keys.UseWaypoint] != "east-waypoint" {
			t.Errorf("labels = %v, want %s=true and %s=east-waypoint (from --waypoint-name)", svc.Labels, keys.Global, keys.UseWaypoint)
		}
	})

	t.Run("the API server's DestinationRule create is denied by the binary", func(t *testing.T) {
		dr := &networkingv1.DestinationRule{
			ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: "default"},
		}
		dr.Spec.Host = "helloworld.default.svc.cluster.local"
		dr.Spec.TrafficPolicy = &networking.TrafficPolicy{LoadBalancer: &networking.LoadBalancerSettings{
			LocalityLbSetting: &networking.LocalityLoadBalancerSetting{FailoverPriority: []string{"topology.istio.io/cluster"}},
		}}
		err := c.Client.Create(ctx, dr)
		if err == nil || !strings.Contains(err.Error(), "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority") {
			t.Errorf("create error = %v, want a denial naming the failoverPriority field", err)
		}
	})

	t.Run("metrics count the requests and the decisions", func(t *testing.T) {
		resp, err := http.Get("http://" + c.WebhookMetricsAddress + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`controller_runtime_webhook_requests_total{code="200",webhook="/mutate-service"}`,
			`controller_runtime_webhook_requests_total{code="200",webhook="/validate-destinationrule"}`,
			`failover_webhook_decisions_total{decision="denied",dry_run="false",mode="enforce",webhook="validate-destinationrule"}`,
			`failover_webhook_decisions_total{decision="mutated",dry_run="false",mode="enforce",webhook="mutate-service"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("the webhook port refuses TLS 1.1 and HTTP/2", func(t *testing.T) {
		addr := c.Webhook.LocalServingHost + ":" + itoa(c.Webhook.LocalServingPort)
		if conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
			conn.Close()
			t.Errorf("a TLS 1.1 handshake succeeded")
		}
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("negotiated %q, want HTTP/1.1 only", p)
		}
	})

	// SIGTERM, as the kubelet sends it: the binary drains and exits 0.
	stopped = true
	if err := c.Stop(); err != nil {
		t.Errorf("stopping: %v\nwebhook output:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "stopped") {
		t.Errorf("the webhook did not log a clean stop; output:\n%s", log.String())
	}
	if os.Getenv("E2E_VERBOSE") != "" {
		t.Log(log.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
