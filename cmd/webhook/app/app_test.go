package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// designDefaults are the `webhook serve` defaults the design's contract
// lists, spelled out rather than read from the code under test.
func designDefaults() server.Options {
	return server.Options{
		Port:                    9443,
		CertMode:                server.CertModeFiles,
		CertDir:                 "/tmp/k8s-webhook-server/serving-certs",
		CertName:                "tls.crt",
		KeyName:                 "tls.key",
		SelfManaged:             selfManagedDefaults(),
		TLSMinVersion:           tls.VersionTLS12,
		Limits:                  server.DefaultLimits(),
		WaypointName:            "waypoint",
		MetricsBindAddress:      ":8080",
		HealthProbeBindAddress:  ":8081",
		GracefulShutdownTimeout: 30 * time.Second,
	}
}

// serveFlags are the `webhook serve` flags the design's contract names.
var serveFlags = []string{
	"--port", "--cert-dir", "--cert-name", "--key-name", "--waypoint-name", "--metrics-bind-address",
	"--health-probe-bind-address", "--kubeconfig", "--tls-min-version", "--metrics-secure",
}

// recorder is a ServeFunc that records what it was called with.
type recorder struct {
	calls int
	cfg   app.ServeConfig
	ctx   context.Context
	err   error
}

func (r *recorder) serve(ctx context.Context, cfg app.ServeConfig) error {
	r.calls++
	r.cfg, r.ctx = cfg, ctx
	return r.err
}

func run(args ...string) (code int, stdout, stderr string, rec *recorder) {
	rec = &recorder{}
	var out, errOut bytes.Buffer
	code = app.Main(args, &out, &errOut, rec.serve)
	return code, out.String(), errOut.String(), rec
}

func TestServeFlags(t *testing.T) {
	tests := map[string]struct {
		args           []string
		want           func(*server.Options)
		wantKubeconfig string
	}{
		"no flags give the design's defaults": {
			args: []string{"serve"},
		},
		"--port sets the webhook port": {
			args: []string{"serve", "--port", "8443"},
			want: func(o *server.Options) { o.Port = 8443 },
		},
		"--port accepts the highest port": {
			args: []string{"serve", "--port=65535"},
			want: func(o *server.Options) { o.Port = 65535 },
		},
		"--cert-dir sets the certificate folder": {
			args: []string{"serve", "--cert-dir", "/etc/webhook/certs"},
			want: func(o *server.Options) { o.CertDir = "/etc/webhook/certs" },
		},
		"--cert-name and --key-name set the file names": {
			args: []string{"serve", "--cert-name", "cert.pem", "--key-name", "key.pem"},
			want: func(o *server.Options) { o.CertName, o.KeyName = "cert.pem", "key.pem" },
		},
		"--waypoint-name sets the default waypoint": {
			args: []string{"serve", "--waypoint-name", "east-waypoint"},
			want: func(o *server.Options) { o.WaypointName = "east-waypoint" },
		},
		"--metrics-bind-address sets the metrics address": {
			args: []string{"serve", "--metrics-bind-address", "127.0.0.1:9090"},
			want: func(o *server.Options) { o.MetricsBindAddress = "127.0.0.1:9090" },
		},
		"--metrics-bind-address 0 disables metrics": {
			args: []string{"serve", "--metrics-bind-address", "0"},
			want: func(o *server.Options) { o.MetricsBindAddress = "0" },
		},
		"--metrics-secure serves metrics over HTTPS": {
			args: []string{"serve", "--metrics-secure"},
			want: func(o *server.Options) { o.MetricsSecure = true },
		},
		"--health-probe-bind-address sets the probe address": {
			args: []string{"serve", "--health-probe-bind-address", ":18081"},
			want: func(o *server.Options) { o.HealthProbeBindAddress = ":18081" },
		},
		"--tls-min-version 1.3 raises the TLS floor": {
			args: []string{"serve", "--tls-min-version", "1.3"},
			want: func(o *server.Options) { o.TLSMinVersion = tls.VersionTLS13 },
		},
		"--tls-min-version 1.2 keeps the default": {
			args: []string{"serve", "--tls-min-version=1.2"},
		},
		"--graceful-shutdown-timeout sets the drain time": {
			args: []string{"serve", "--graceful-shutdown-timeout", "5s"},
			want: func(o *server.Options) { o.GracefulShutdownTimeout = 5 * time.Second },
		},
		"--kubeconfig is passed on": {
			args:           []string{"serve", "--kubeconfig", "/home/admin/.kube/config"},
			wantKubeconfig: "/home/admin/.kube/config",
		},
		"every flag at once": {
			args: []string{"serve", "--port=10250", "--cert-dir=/certs", "--cert-name=c", "--key-name=k", "--waypoint-name=wp",
				"--metrics-bind-address=:9000", "--metrics-secure=true", "--health-probe-bind-address=:9001", "--tls-min-version=1.3",
				"--kubeconfig=/kc", "--graceful-shutdown-timeout=1m"},
			want: func(o *server.Options) {
				*o = server.Options{Port: 10250, CertDir: "/certs", CertName: "c", KeyName: "k", WaypointName: "wp",
					MetricsBindAddress: ":9000", MetricsSecure: true, HealthProbeBindAddress: ":9001", TLSMinVersion: tls.VersionTLS13, Limits: server.DefaultLimits(),
					GracefulShutdownTimeout: time.Minute, CertMode: server.CertModeFiles, SelfManaged: selfManagedDefaults()}
			},
			wantKubeconfig: "/kc",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, rec := run(tc.args...)
			if code != app.ExitOK {
				t.Fatalf("exit %d, want 0; stderr: %s", code, stderr)
			}
			if rec.calls != 1 {
				t.Fatalf("serve ran %d times, want once", rec.calls)
			}
			if rec.ctx == nil {
				t.Error("serve got a nil context")
			}
			want := designDefaults()
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(rec.cfg.Server, want) {
				t.Errorf("server options\n got %+v\nwant %+v", rec.cfg.Server, want)
			}
			if rec.cfg.Kubeconfig != tc.wantKubeconfig {
				t.Errorf("kubeconfig = %q, want %q", rec.cfg.Kubeconfig, tc.wantKubeconfig)
			}
			if stdout != "" || stderr != "" {
				t.Errorf("parsing printed stdout %q stderr %q, want nothing", stdout, stderr)
			}
		})
	}
}

func TestServeLogFlags(t *testing.T) {
	code, _, stderr, rec := run("serve", "--zap-devel", "--zap-log-level=debug")
	if code != app.ExitOK {
		t.Fatalf("exit %d, want 0; stderr: %s", code, stderr)
	}
	if !rec.cfg.Log.Development || rec.cfg.Log.Level == nil {
		t.Errorf("log options %+v, want development mode and a level", rec.cfg.Log)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := map[string]struct {
		args        []string
		wantMessage string
		wantHint    string
	}{
		"an unknown serve flag": {
			args: []string{"serve", "--bogus"}, wantMessage: "unknown flag: --bogus", wantHint: "webhook serve --help",
		},
		"an unknown root flag": {
			args: []string{"--bogus"}, wantMessage: "unknown flag: --bogus", wantHint: "webhook --help",
		},
		"an unknown shorthand flag": {
			args: []string{"serve", "-x"}, wantMessage: "unknown shorthand flag: 'x' in -x", wantHint: "webhook serve --help",
		},
		"port 0": {
			args: []string{"serve", "--port", "0"}, wantMessage: "invalid --port 0: want 1-65535",
		},
		"port 70000": {
			args: []string{"serve", "--port", "70000"}, wantMessage: "invalid --port 70000: want 1-65535",
		},
		"a negative port": {
			args: []string{"serve", "--port=-1"}, wantMessage: "invalid --port -1: want 1-65535",
		},
		"a port that is not a number": {
			args: []string{"serve", "--port", "https"}, wantMessage: `invalid argument "https" for "--port" flag`,
		},
		"TLS 1.1": {
			args: []string{"serve", "--tls-min-version", "1.1"}, wantMessage: `invalid --tls-min-version "1.1": want 1.2 or 1.3`,
		},
		"a TLS version spelled as a constant name": {
			args: []string{"serve", "--tls-min-version", "VersionTLS12"}, wantMessage: `invalid --tls-min-version "VersionTLS12"`,
		},
		"waypoint name none": {
			args: []string{"serve", "--waypoint-name", "none"}, wantMessage: `invalid --waypoint-name "none": "none" means no waypoint`,
		},
		"a waypoint name that is not a DNS label": {
			args: []string{"serve", "--waypoint-name", "Bad_Name"}, wantMessage: `invalid --waypoint-name "Bad_Name"`,
		},
		"an empty waypoint name": {
			args: []string{"serve", "--waypoint-name="}, wantMessage: `invalid --waypoint-name ""`,
		},
		"an empty cert dir": {
			args: []string{"serve", "--cert-dir="}, wantMessage: "--cert-dir must not be empty",
		},
		"an empty metrics address": {
			args: []string{"serve", "--metrics-bind-address="}, wantMessage: "--metrics-bind-address must not be empty",
		},
		"a negative shutdown timeout": {
			args: []string{"serve", "--graceful-shutdown-timeout=-1s"}, wantMessage: "invalid --graceful-shutdown-timeout -1s: must not be negative",
		},
		"a bad log level": {
			args: []string{"serve", "--zap-log-level=loud"}, wantMessage: `invalid argument "loud" for "--zap-log-level" flag`,
		},
		"a positional argument to serve": {
			args: []string{"serve", "extra"}, wantMessage: `serve takes no arguments, got "extra"`,
		},
		"an unknown subcommand": {
			args: []string{"bogus"}, wantMessage: `unknown command "bogus" for "webhook"`, wantHint: "webhook --help",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, rec := run(tc.args...)
			if code != app.ExitUsage {
				t.Errorf("exit %d, want %d", code, app.ExitUsage)
			}
			if rec.calls != 0 {
				t.Errorf("serve ran with %+v, want it not to run", rec.cfg)
			}
			if !strings.Contains(stderr, "error: "+tc.wantMessage) {
				t.Errorf("stderr %q, want it to contain %q", stderr, "error: "+tc.wantMessage)
			}
			hint := tc.wantHint
			if hint == "" {
				hint = "webhook serve --help"
			}
			if !strings.Contains(stderr, "Run '"+hint+"' for usage.") {
				t.Errorf("stderr %q, want the hint to run %q", stderr, hint)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestServeFailure(t *testing.T) {
	rec := &recorder{err: errors.New("serving: listen tcp :9443: bind: address already in use")}
	var out, errOut bytes.Buffer
	code := app.Main([]string{"serve"}, &out, &errOut, rec.serve)
	if code != app.ExitFailure {
		t.Errorf("exit %d, want %d", code, app.ExitFailure)
	}
	if want := "error: serving: listen tcp :9443: bind: address already in use\n"; errOut.String() != want {
		t.Errorf("stderr %q, want exactly %q (no usage hint: the call was right)", errOut.String(), want)
	}
}

func TestHelp(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string
	}{
		"webhook --help lists the serve command": {
			args: []string{"--help"},
			want: []string{"failover=cluster", "failover-webhook.io/enforcement", "serve"},
		},
		"webhook without arguments shows the help": {
			args: []string{},
			want: []string{"Usage:", "serve"},
		},
		"webhook serve --help names every serve flag": {
			args: []string{"serve", "--help"},
			want: append([]string{"/mutate-service", "/validate-destinationrule", "/healthz", "/readyz", "/metrics"}, serveFlags...),
		},
		"webhook help serve names every serve flag": {
			args: []string{"help", "serve"},
			want: serveFlags,
		},
		"webhook serve -h names every serve flag": {
			args: []string{"serve", "-h"},
			want: serveFlags,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, rec := run(tc.args...)
			if code != app.ExitOK {
				t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
			}
			if rec.calls != 0 {
				t.Error("help ran serve")
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help does not mention %q:\n%s", w, stdout)
				}
			}
			if stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
		})
	}
}

func TestServeHelpShowsDefaults(t *testing.T) {
	_, stdout, _, _ := run("serve", "--help")
	for _, want := range []string{
		`--port int`, `(default 9443)`,
		`(default "/tmp/k8s-webhook-server/serving-certs")`,
		`(default "tls.crt")`, `(default "tls.key")`, `(default "waypoint")`,
		`(default ":8080")`, `(default ":8081")`, `(default "1.2")`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("serve --help does not show %q", want)
		}
	}
}
