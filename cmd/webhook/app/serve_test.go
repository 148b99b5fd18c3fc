package app_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/pkg/servingcert"
)

// selfManagedDefaults are the self-managed mode's defaults: the names
// manifests/self-managed-certs renders, spelled out.
func selfManagedDefaults() servingcert.SelfManagedOptions {
	return servingcert.SelfManagedOptions{
		SecretNamespace: "failover-webhook-system",
		SecretName:      "failover-webhook-ca",
		DNSNames: []string{
			"failover-webhook-webhook-service.failover-webhook-system.svc",
			"failover-webhook-webhook-service.failover-webhook-system.svc.cluster.local",
		},
		MutatingWebhookConfiguration:   "failover-webhook-mutating-webhook-configuration",
		ValidatingWebhookConfiguration: "failover-webhook-validating-webhook-configuration",
		CADuration:                     365 * 24 * time.Hour,
		CertDuration:                   7 * 24 * time.Hour,
		PropagationDelay:               10 * time.Second,
	}
}

func TestServeCertModeAndShutdownFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		want func(*server.Options)
	}{
		"files is the default mode": {
			args: []string{"serve"},
		},
		"--cert-mode=files with its flags": {
			args: []string{"serve", "--cert-mode=files", "--cert-dir=/certs"},
			want: func(o *server.Options) { o.CertDir = "/certs" },
		},
		"--cert-mode=self-managed with its defaults": {
			args: []string{"serve", "--cert-mode=self-managed"},
			want: func(o *server.Options) { o.CertMode = server.CertModeSelfManaged },
		},
		"--cert-mode=self-managed with every one of its flags": {
			args: []string{"serve", "--cert-mode", "self-managed",
				"--self-managed-namespace=mesh-admission", "--self-managed-secret-name=webhook-ca", "--self-managed-service-name=webhook",
				"--mutating-webhook-configuration=m", "--validating-webhook-configuration=v",
				"--self-managed-ca-duration=720h", "--self-managed-cert-duration=24h", "--self-managed-ca-propagation-delay=3s"},
			want: func(o *server.Options) {
				o.CertMode = server.CertModeSelfManaged
				o.SelfManaged = servingcert.SelfManagedOptions{
					SecretNamespace: "mesh-admission", SecretName: "webhook-ca",
					DNSNames:                     []string{"webhook.mesh-admission.svc", "webhook.mesh-admission.svc.cluster.local"},
					MutatingWebhookConfiguration: "m", ValidatingWebhookConfiguration: "v",
					CADuration: 720 * time.Hour, CertDuration: 24 * time.Hour, PropagationDelay: 3 * time.Second,
				}
			},
		},
		"--shutdown-delay sets the delay after SIGTERM": {
			args: []string{"serve", "--shutdown-delay=5s"},
			want: func(o *server.Options) { o.ShutdownDelay = 5 * time.Second },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr, rec := run(tc.args...)
			if code != app.ExitOK {
				t.Fatalf("exit %d, want 0; stderr: %s", code, stderr)
			}
			want := designDefaults()
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(rec.cfg.Server, want) {
				t.Errorf("server options\n got %+v\nwant %+v", rec.cfg.Server, want)
			}
		})
	}
}

func TestServeRejectsBadCertModeCombinations(t *testing.T) {
	tests := map[string]struct {
		args        []string
		wantMessage string
	}{
		"an unknown mode": {
			args: []string{"serve", "--cert-mode=cert-manager"}, wantMessage: `invalid --cert-mode "cert-manager": want files or self-managed`,
		},
		"a self-managed flag in files mode": {
			args: []string{"serve", "--self-managed-secret-name=ca"}, wantMessage: "--self-managed-secret-name does not apply with --cert-mode=files",
		},
		"a configuration name in files mode": {
			args: []string{"serve", "--validating-webhook-configuration=v"}, wantMessage: "--validating-webhook-configuration does not apply with --cert-mode=files",
		},
		"--cert-dir in self-managed mode": {
			args: []string{"serve", "--cert-mode=self-managed", "--cert-dir=/certs"}, wantMessage: "--cert-dir does not apply with --cert-mode=self-managed",
		},
		"--key-name in self-managed mode": {
			args: []string{"serve", "--cert-mode=self-managed", "--key-name=k.pem"}, wantMessage: "--key-name does not apply with --cert-mode=self-managed",
		},
		"a Secret name that is not a Kubernetes name": {
			args: []string{"serve", "--cert-mode=self-managed", "--self-managed-secret-name=Webhook_CA"}, wantMessage: `invalid --self-managed-secret-name "Webhook_CA"`,
		},
		"a namespace that is not a Kubernetes name": {
			args: []string{"serve", "--cert-mode=self-managed", "--self-managed-namespace=a.b"}, wantMessage: `invalid --self-managed-namespace "a.b"`,
		},
		"an empty configuration name": {
			args: []string{"serve", "--cert-mode=self-managed", "--mutating-webhook-configuration="}, wantMessage: `invalid --mutating-webhook-configuration ""`,
		},
		"a CA that does not outlive its certificates": {
			args:        []string{"serve", "--cert-mode=self-managed", "--self-managed-ca-duration=24h", "--self-managed-cert-duration=24h"},
			wantMessage: "invalid --self-managed-ca-duration 24h0m0s: must be longer than --self-managed-cert-duration 24h0m0s",
		},
		"a zero certificate lifetime": {
			args: []string{"serve", "--cert-mode=self-managed", "--self-managed-cert-duration=0s"}, wantMessage: "invalid --self-managed-cert-duration 0s: must be positive",
		},
		"a propagation delay the previous certificate would not outlive": {
			args:        []string{"serve", "--cert-mode=self-managed", "--self-managed-cert-duration=30s", "--self-managed-ca-propagation-delay=10s"},
			wantMessage: "must be shorter than a third of --self-managed-cert-duration 30s",
		},
		"a negative shutdown delay": {
			args: []string{"serve", "--shutdown-delay=-1s"}, wantMessage: "invalid --shutdown-delay -1s: must not be negative",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr, rec := run(tc.args...)
			if code != app.ExitUsage {
				t.Errorf("exit %d, want %d", code, app.ExitUsage)
			}
			if rec.calls != 0 {
				t.Error("serve ran")
			}
			if !strings.Contains(stderr, tc.wantMessage) || !strings.Contains(stderr, "webhook serve --help") {
				t.Errorf("stderr %q, want %q and the help hint", stderr, tc.wantMessage)
			}
		})
	}
}

func TestServeHelpDescribesTheCertificateModesAndShutdown(t *testing.T) {
	code, stdout, stderr, _ := run("serve", "--help")
	if code != app.ExitOK {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	for _, want := range []string{
		"--cert-mode", "self-managed", "--self-managed-namespace", "--self-managed-secret-name", "--self-managed-service-name",
		"--mutating-webhook-configuration", "--validating-webhook-configuration", "--self-managed-ca-duration",
		"--self-managed-cert-duration", "--self-managed-ca-propagation-delay", "--shutdown-delay", "SIGTERM",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("serve --help does not mention %s", want)
		}
	}
}
