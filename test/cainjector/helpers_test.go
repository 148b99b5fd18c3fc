package cainjector_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	cminjector "github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	cmpki "github.com/cert-manager/cert-manager/pkg/util/pki"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/certs/pki"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// waitTimeout bounds every wait of the test, and attemptTimeout each
// request made while waiting (the webhooks' own timeout is 5 s).
const (
	waitTimeout    = 30 * time.Second
	attemptTimeout = 10 * time.Second
)

// logs collects controller-runtime's log lines (the webhook's and the
// injector's); a failing test prints them.
var (
	logs      controlplane.SyncBuffer
	setLogger sync.Once
)

func captureLogs(t *testing.T) {
	setLogger.Do(func() { ctrllog.SetLogger(zap.New(zap.WriteTo(&logs))) })
	logs.Take()
	t.Cleanup(func() {
		if out := logs.Take(); t.Failed() {
			t.Logf("controller-runtime logs:\n%s", out)
		}
	})
}

// startControlPlane starts kube-apiserver and etcd with the Istio CRDs and
// cert-manager's CRDs, both read in place from the module cache, and stops
// them when the test ends.
func startControlPlane(t *testing.T, root string, scheme *runtime.Scheme) *rest.Config {
	t.Helper()
	certManagerCRDs, err := controlplane.CertManagerCRDPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	env, err := controlplane.NewEnvironment(root, scheme, certManagerCRDs...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cfg
}

// installation holds the objects of manifests/default the test applies.
type installation struct {
	Namespace   *corev1.Namespace
	Certificate *cmapi.Certificate
	Mutating    *admv1.MutatingWebhookConfiguration
	Validating  *admv1.ValidatingWebhookConfiguration
}

// renderDefault builds manifests/default as `kustomize build` does and
// decodes the objects the test applies.
func renderDefault(t *testing.T, root string) installation {
	t.Helper()
	dir := filepath.Join(root, "manifests", "default")
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var in installation
	for _, res := range resMap.Resources() {
		var into any
		switch {
		case res.GetKind() == "Namespace" && res.GetName() == installNamespace:
			in.Namespace = new(corev1.Namespace)
			into = in.Namespace
		case res.GetKind() == "Certificate" && res.GetName() == servingCertificate:
			in.Certificate = new(cmapi.Certificate)
			into = in.Certificate
		case res.GetKind() == "MutatingWebhookConfiguration" && res.GetName() == mutatingConfig:
			in.Mutating = new(admv1.MutatingWebhookConfiguration)
			into = in.Mutating
		case res.GetKind() == "ValidatingWebhookConfiguration" && res.GetName() == validatingConfig:
			in.Validating = new(admv1.ValidatingWebhookConfiguration)
			into = in.Validating
		default:
			continue
		}
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			t.Fatalf("decoding %s: %v\n%s", res.CurId(), err, b)
		}
	}
	if in.Namespace == nil || in.Certificate == nil || in.Mutating == nil || in.Validating == nil {
		t.Fatalf("%s rendered without Namespace %s, Certificate %s, %s or %s: %+v",
			dir, installNamespace, servingCertificate, mutatingConfig, validatingConfig, in)
	}
	return in
}

// pointAtHost replaces the in-cluster Service reference of a rendered
// webhook by https://<address><path>: the API server under test runs on the
// host, where the webhook listens.
func pointAtHost(t *testing.T, webhook string, cc *admv1.WebhookClientConfig, address string) string {
	t.Helper()
	if cc.Service == nil || cc.Service.Path == nil || cc.URL != nil {
		t.Fatalf("%s: rendered clientConfig is not a Service reference with a path: %+v", webhook, cc)
	}
	if len(cc.CABundle) != 0 {
		t.Fatalf("%s: rendered with a caBundle; the injector is meant to fill it", webhook)
	}
	url := "https://" + address + *cc.Service.Path
	cc.Service, cc.URL = nil, &url
	return url
}

// issuedSecret returns the Secret cert-manager v1.21 writes for crt once
// issued with bundle: type kubernetes.io/tls; tls.crt, tls.key and ca.crt;
// the certificate's and issuer's names and the certificate's details as
// annotations (pkg/controller/certificates/issuing/internal/secret.go and
// internal/controller/certificates/secrets.go in cert-manager); and the
// label marking Secrets cert-manager's controller writes.
func issuedSecret(crt *cmapi.Certificate, bundle *pki.Bundle) (*corev1.Secret, error) {
	cert, err := cmpki.DecodeX509CertificateBytes(bundle.Cert)
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{
		cmapi.CertificateNameKey:       crt.Name,
		cmapi.IssuerNameAnnotationKey:  crt.Spec.IssuerRef.Name,
		cmapi.IssuerKindAnnotationKey:  crt.Spec.IssuerRef.Kind,
		cmapi.IssuerGroupAnnotationKey: crt.Spec.IssuerRef.Group,
		cmapi.CommonNameAnnotationKey:  cert.Subject.CommonName,
	}
	// cert-manager always writes these three, empty or not, and the others
	// only when the certificate has values for them.
	csv := []struct {
		key       string
		values    []string
		keepEmpty bool
	}{
		{cmapi.SubjectOrganizationsAnnotationKey, cert.Subject.Organization, false},
		{cmapi.SubjectOrganizationalUnitsAnnotationKey, cert.Subject.OrganizationalUnit, false},
		{cmapi.EmailsAnnotationKey, cert.EmailAddresses, false},
		{cmapi.AltNamesAnnotationKey, cert.DNSNames, true},
		{cmapi.IPSANAnnotationKey, cmpki.IPAddressesToString(cert.IPAddresses), true},
		{cmapi.URISANAnnotationKey, cmpki.URLsToString(cert.URIs), true},
	}
	for _, a := range csv {
		if len(a.values) == 0 && !a.keepEmpty {
			continue
		}
		if annotations[a.key], err = cmutil.JoinWithEscapeCSV(a.values); err != nil {
			return nil, err
		}
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   crt.Namespace,
			Name:        crt.Spec.SecretName,
			Annotations: annotations,
			Labels:      map[string]string{cmapi.PartOfCertManagerControllerLabelKey: "true"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       bundle.Cert,
			corev1.TLSPrivateKeyKey: bundle.Key,
			cmmeta.TLSCAKey:         bundle.CACert,
		},
	}, nil
}

// mountSecret writes the Secret's serving certificate and key into dir, as
// the kubelet projects the Secret into the webhook's --cert-dir.
func mountSecret(dir string, s *corev1.Secret) error {
	for _, key := range []string{corev1.TLSPrivateKeyKey, corev1.TLSCertKey} {
		if err := os.WriteFile(filepath.Join(dir, key), s.Data[key], 0o600); err != nil {
			return err
		}
	}
	return nil
}

// startCAInjector runs cert-manager's cainjector controllers in this
// process, set up as cert-manager's cainjector binary sets them up
// (cmd/cainjector/app/controller.go): a manager with cert-manager's scheme,
// Secrets read from the API server rather than cached, and
// RegisterAllInjectors with the Certificate data source. Only the webhook
// configuration injectors are enabled; APIServices and CRDs are not what
// this test is about. It stops when the test ends.
func startCAInjector(t *testing.T, cfg *rest.Config) {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		kscheme.AddToScheme, cmscheme.AddToScheme, apiextv1.AddToScheme, apiregv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	// A process may run the test more than once (-count); controller
	// names must then be allowed to repeat.
	skipNameValidation := true
	mgr, err := ctrl.NewManager(cmutil.RestConfigWithUserAgent(cfg, "cainjector"), ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{ReaderFailOnMissingInformer: true},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		// controller-runtime's metrics registry is global; nothing serves it.
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
		Logger:     ctrllog.Log.WithName("cainjector"),
	})
	if err != nil {
		t.Fatalf("creating the cainjector manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = cminjector.RegisterAllInjectors(ctx, mgr, cminjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cminjector.MutatingWebhookConfigurationName:   true,
			cminjector.ValidatingWebhookConfigurationName: true,
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("registering cert-manager's injectors: %v", err)
	}
	runManager(ctx, cancel, t, "cainjector", mgr.Start)
}

// startWebhook runs the webhook as `webhook serve` does, on address with the
// certificate in certDir, and returns once it completes a TLS handshake
// verified against ca. It stops when the test ends.
func startWebhook(t *testing.T, cfg *rest.Config, address, certDir string, ca []byte) {
	t.Helper()
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	opts := server.DefaultOptions()
	opts.Host, opts.Port, opts.CertDir = host, port, certDir
	opts.MetricsBindAddress, opts.HealthProbeBindAddress = "0", "0"
	opts.GracefulShutdownTimeout = 5 * time.Second
	mgr, err := server.NewManager(rest.CopyConfig(cfg), opts)
	if err != nil {
		t.Fatalf("creating the webhook manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := runManager(ctx, cancel, t, "webhook", mgr.Start)

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in the CA PEM")
	}
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{Timeout: time.Second}
	deadline := time.Now().Add(waitTimeout)
	for {
		conn, err := tls.DialWithDialer(dialer, "tcp", address, tlsConfig)
		if err == nil {
			_ = conn.Close()
			return
		}
		select {
		case <-done:
			t.Fatal("the webhook stopped before serving")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook did not answer TLS on %s within %s: %v", address, waitTimeout, err)
		}
	}
}

// runManager starts a manager with ctx and, when the test ends, cancels
// ctx and reports how the manager ended. The returned channel is closed
// once it has stopped.
func runManager(ctx context.Context, cancel context.CancelFunc, t *testing.T, name string, start func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = start(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("the %s manager: %v", name, runErr)
			}
		case <-time.After(waitTimeout):
			t.Errorf("the %s manager did not stop within %s", name, waitTimeout)
		}
	})
	return done
}

// freeAddress returns a loopback address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// caBundles returns the caBundle of every webhook of the two
// configurations, by webhook name.
func caBundles(ctx context.Context, c client.Client) (map[string][]byte, error) {
	var m admv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: mutatingConfig}, &m); err != nil {
		return nil, err
	}
	var v admv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: validatingConfig}, &v); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, w := range m.Webhooks {
		out[w.Name] = w.ClientConfig.CABundle
	}
	for _, w := range v.Webhooks {
		out[w.Name] = w.ClientConfig.CABundle
	}
	return out, nil
}

// waitForCABundles waits until every webhook's caBundle satisfies ok, and
// fails the test with what it last saw otherwise.
func waitForCABundles(t *testing.T, c client.Client, what string, ok func([]byte) bool) {
	t.Helper()
	var last map[string][]byte
	var lastErr error
	err := poll(t.Context(), func(ctx context.Context) bool {
		bundles, err := caBundles(ctx, c)
		if lastErr = err; err != nil {
			return false
		}
		if last = bundles; len(last) != 2 {
			return false
		}
		for _, b := range last {
			if !ok(b) {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("the caBundles did not become %s within %s (last error %v); they are:\n%s", what, waitTimeout, lastErr, describeBundles(last))
	}
}

// describeBundles names the certificates of each caBundle.
func describeBundles(bundles map[string][]byte) string {
	var b strings.Builder
	for name, pemData := range bundles {
		fmt.Fprintf(&b, "  %s: %s\n", name, describePEM(pemData))
	}
	return b.String()
}

func describePEM(data []byte) string {
	if len(data) == 0 {
		return "empty"
	}
	var certs []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			certs = append(certs, "unparsable: "+err.Error())
			continue
		}
		certs = append(certs, fmt.Sprintf("%q serial %s", cert.Subject.CommonName, cert.SerialNumber))
	}
	if len(bytes.TrimSpace(data)) > 0 {
		certs = append(certs, fmt.Sprintf("%d trailing bytes", len(data)))
	}
	return strings.Join(certs, ", ")
}

// poll calls done every 100 ms until it returns true, for at most
// waitTimeout. Each call gets its own context bounded by attemptTimeout, so
// the last attempt's outcome is a real one rather than an expired deadline.
func poll(ctx context.Context, done func(context.Context) bool) error {
	deadline := time.Now().Add(waitTimeout)
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ok := done(attemptCtx)
		cancel()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", waitTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
