// Package cainjector_test installs the cert-manager flavour of
// manifests/default into a real kube-apiserver and runs cert-manager's CA
// injector (github.com/cert-manager/cert-manager/pkg/controller/cainjector)
// in the test process against it. It checks that the injector fills the
// caBundle of both shipped webhook configurations from the serving
// Certificate's Secret, and that the API server then calls the webhook over
// TLS verified against exactly that CA, and not without it.
package cainjector_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	istionetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/failover-webhook/failover-webhook/certs/pki"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// Names manifests/default renders, spelled out so that a rename fails here.
const (
	installNamespace   = "failover-webhook-system"
	servingCertificate = "failover-webhook-serving-cert"
	servingSecret      = "failover-webhook-webhook-server-cert"
	mutatingConfig     = "failover-webhook-mutating-webhook-configuration"
	validatingConfig   = "failover-webhook-validating-webhook-configuration"
	mutatingWebhook    = "mservice.failover-webhook.io"
	validatingWebhook  = "vdestinationrule.failover-webhook.io"
)

// The webhook's contract (docs/design.md §2).
const (
	trigger         = "failover"
	global          = "istio.io/global"
	useWaypoint     = "istio.io/use-waypoint"
	defaultWaypoint = "waypoint"
)

const (
	// injectorFieldManager is the field manager cert-manager's injector
	// applies caBundle with (its user agent's product name).
	injectorFieldManager = "cert-manager-cainjector"

	// unknownAuthority is how the API server's TLS client reports a
	// serving certificate no CA of its pool signed.
	unknownAuthority = "x509: certificate signed by unknown authority"
	// triedCandidate follows unknownAuthority when the pool holds a CA
	// with the issuer's name that did not sign the certificate: proof that
	// the API server verified against the injected CA, not its defaults.
	triedCandidate = "while trying to verify candidate authority certificate"
)

func TestCertManagerInjectsTheServingCAAndTheAPIServerVerifiesIt(t *testing.T) {
	controlplane.SkipIfShort(t)
	captureLogs(t)
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := server.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmapi.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}

	in := renderDefault(t, root)
	wantAnnotation := installNamespace + "/" + servingCertificate
	for _, obj := range []metav1.Object{in.Mutating, in.Validating} {
		if got := obj.GetAnnotations()[cmapi.WantInjectAnnotation]; got != wantAnnotation {
			t.Fatalf("%s: annotation %s = %q, want %q", obj.GetName(), cmapi.WantInjectAnnotation, got, wantAnnotation)
		}
	}
	if got := in.Certificate.Spec.SecretName; got != servingSecret {
		t.Fatalf("Certificate %s: secretName = %q, want %q", servingCertificate, got, servingSecret)
	}

	// The API server under test runs on the host, not in a cluster network
	// where the webhook Service resolves: each rendered clientConfig.service
	// becomes url: https://127.0.0.1:<port><path>, with caBundle left empty
	// and the injection annotation kept. The serving Certificate asks for
	// the loopback names next to the rendered Service names.
	address := freeAddress(t)
	urls := map[string]string{}
	for i := range in.Mutating.Webhooks {
		w := &in.Mutating.Webhooks[i]
		urls[w.Name] = pointAtHost(t, w.Name, &w.ClientConfig, address)
	}
	for i := range in.Validating.Webhooks {
		w := &in.Validating.Webhooks[i]
		urls[w.Name] = pointAtHost(t, w.Name, &w.ClientConfig, address)
	}
	if got, want := slices.Sorted(maps.Keys(urls)), []string{mutatingWebhook, validatingWebhook}; !slices.Equal(got, want) {
		t.Fatalf("rendered webhooks %v, want %v", got, want)
	}
	in.Certificate.Spec.DNSNames = append(in.Certificate.Spec.DNSNames, "localhost")
	in.Certificate.Spec.IPAddresses = append(in.Certificate.Spec.IPAddresses, "127.0.0.1")

	// Two issuances of the serving Certificate: by the CA the webhook's
	// certificate comes from, and by another CA of the same name.
	hosts := slices.Concat(in.Certificate.Spec.DNSNames, in.Certificate.Spec.IPAddresses)
	serving, err := pki.Generate(pki.Options{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.Generate(pki.Options{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	servingIssued, err := issuedSecret(in.Certificate, serving)
	if err != nil {
		t.Fatal(err)
	}
	otherIssued, err := issuedSecret(in.Certificate, other)
	if err != nil {
		t.Fatal(err)
	}

	cfg := startControlPlane(t, root, scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, obj := range []client.Object{in.Namespace, in.Certificate} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	certDir := t.TempDir()
	if err := mountSecret(certDir, servingIssued); err != nil {
		t.Fatal(err)
	}
	startWebhook(t, cfg, address, certDir, serving.CACert)
	startCAInjector(t, cfg)

	for _, obj := range []client.Object{in.Mutating, in.Validating} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s: %v", obj.GetName(), err)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cainjector-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	probes := newProbes(c, ns.Name)

	step(t, "with no Secret yet, nothing is injected and the API server rejects the webhook's certificate", func(t *testing.T) {
		for _, p := range probes {
			expectUntrusted(t, p, "")
		}
		bundles, err := caBundles(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range bundles {
			if len(b) != 0 {
				t.Errorf("%s: caBundle = %s, want it empty while the Secret does not exist", name, describePEM(b))
			}
		}
	})

	step(t, "a Secret issued by another CA is injected, and the API server still rejects the webhook's certificate", func(t *testing.T) {
		if err := c.Create(ctx, otherIssued); err != nil {
			t.Fatal(err)
		}
		waitForCABundles(t, c, "the other CA", func(b []byte) bool { return bytes.Equal(b, other.CACert) })
		for _, p := range probes {
			expectUntrusted(t, p, triedCandidate)
		}
	})

	step(t, "the Secret re-issued by the webhook's CA is injected into both configurations", func(t *testing.T) {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKeyFromObject(servingIssued), &s); err != nil {
			t.Fatal(err)
		}
		s.Data, s.Annotations = servingIssued.Data, servingIssued.Annotations
		if err := c.Update(ctx, &s); err != nil {
			t.Fatal(err)
		}
		waitForCABundles(t, c, "a bundle ending with the serving CA", func(b []byte) bool { return bytes.HasSuffix(b, serving.CACert) })

		// cert-manager merges (feature CAInjectorMerging, on by default):
		// CAs already in a caBundle stay until they expire, so a CA
		// rotation never breaks the webhook. Empty the caBundles, as an
		// operator retiring the other CA would, and let the injector fill
		// them again from the Secret alone.
		clearCABundles(t, c)
		waitForCABundles(t, c, "exactly the serving CA", func(b []byte) bool { return bytes.Equal(b, serving.CACert) })

		var m admv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: mutatingConfig}, &m); err != nil {
			t.Fatal(err)
		}
		var v admv1.ValidatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: validatingConfig}, &v); err != nil {
			t.Fatal(err)
		}
		for name, cc := range map[string]admv1.WebhookClientConfig{
			m.Webhooks[0].Name: m.Webhooks[0].ClientConfig,
			v.Webhooks[0].Name: v.Webhooks[0].ClientConfig,
		} {
			if cc.Service != nil || cc.URL == nil || *cc.URL != urls[name] {
				t.Errorf("%s: clientConfig = service %+v, url %v; want the url %s kept", name, cc.Service, deref(cc.URL), urls[name])
			}
		}
		for _, obj := range []metav1.Object{&m, &v} {
			want := []string{injectorFieldManager + "/" + string(metav1.ManagedFieldsOperationApply)}
			if got := caBundleManagers(obj); !slices.Equal(got, want) {
				t.Errorf("%s: caBundle is managed by %v, want %v", obj.GetName(), got, want)
			}
		}
	})

	step(t, "the API server calls the mutating webhook over TLS verified against the injected CA", func(t *testing.T) {
		expectReached(t, probes[0])
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "reviews", Labels: map[string]string{trigger: "cluster"}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
		}
		if err := c.Create(ctx, svc); err != nil {
			t.Fatalf("creating Service %s labelled %s=cluster: %v", svc.Name, trigger, err)
		}
		var got corev1.Service
		if err := c.Get(ctx, client.ObjectKeyFromObject(svc), &got); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]string{global: "true", useWaypoint: defaultWaypoint} {
			if got.Labels[key] != want {
				t.Errorf("stored Service label %s = %q, want %q; labels: %v", key, got.Labels[key], want, got.Labels)
			}
		}
	})

	step(t, "the API server calls the validating webhook over TLS verified against the injected CA", func(t *testing.T) {
		err := expectReached(t, probes[1])
		if !strings.Contains(err.Error(), "failoverPriority") || !strings.Contains(err.Error(), "outlierDetection") {
			t.Errorf("the denial does not explain the missing outlierDetection: %v", err)
		}
		dr := failoverDestinationRule(ns.Name, "reviews")
		dr.Spec.TrafficPolicy.OutlierDetection = &istionetworking.OutlierDetection{
			Consecutive_5XxErrors: wrapperspb.UInt32(1),
			Interval:              durationpb.New(time.Second),
			BaseEjectionTime:      durationpb.New(time.Minute),
		}
		if err := c.Create(ctx, dr); err != nil {
			t.Errorf("a DestinationRule with failover and outlierDetection was not admitted: %v", err)
		}
	})
}

// step runs one stage of the scenario; later stages build on it, so the
// test stops at the first failing one.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// probe is a dry-run request one webhook acts on.
type probe struct {
	webhook string
	// send makes the request; reached says the webhook answered it.
	send func(ctx context.Context) (reached bool, err error)
}

// newProbes returns the probes of the mutating webhook, then the
// validating one, in namespace ns (mode enforce).
func newProbes(c client.Client, ns string) []probe {
	denied := fmt.Sprintf("admission webhook %q denied the request", validatingWebhook)
	return []probe{
		{mutatingWebhook, func(ctx context.Context) (bool, error) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe", Labels: map[string]string{trigger: "cluster"}},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
			}
			err := c.Create(ctx, svc, client.DryRunAll)
			return err == nil && svc.Labels[global] == "true", err
		}},
		{validatingWebhook, func(ctx context.Context) (bool, error) {
			err := c.Create(ctx, failoverDestinationRule(ns, "probe"), client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), denied), err
		}},
	}
}

// failoverDestinationRule fails over by cluster and has no
// outlierDetection, which the validating webhook denies.
func failoverDestinationRule(ns, name string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	dr.Spec.Host = name + "." + ns + ".svc.cluster.local"
	dr.Spec.TrafficPolicy = &istionetworking.TrafficPolicy{LoadBalancer: &istionetworking.LoadBalancerSettings{
		LocalityLbSetting: &istionetworking.LocalityLoadBalancerSetting{FailoverPriority: []string{"topology.istio.io/cluster"}},
	}}
	return dr
}

// expectUntrusted waits until the API server, now applying the webhook's
// configuration, fails to call it because it does not trust the webhook's
// certificate, with also in the error when not empty. failurePolicy Fail
// turns that into a failed request.
func expectUntrusted(t *testing.T, p probe, also string) {
	t.Helper()
	failedCall := fmt.Sprintf("failed calling webhook %q", p.webhook)
	var last error
	err := poll(t.Context(), func(ctx context.Context) bool {
		var reached bool
		reached, last = p.send(ctx)
		if reached {
			t.Fatalf("the API server reached %s although it should not trust its certificate", p.webhook)
		}
		return last != nil && strings.Contains(last.Error(), failedCall) && strings.Contains(last.Error(), also)
	})
	if err != nil {
		t.Fatalf("the API server did not fail to call %s with %q within %s; last error: %v", p.webhook, also, waitTimeout, last)
	}
	if !strings.Contains(last.Error(), unknownAuthority) {
		t.Errorf("calling %s failed, but not for want of a trusted CA: %v", p.webhook, last)
	}
	t.Logf("as expected: %v", last)
}

// expectReached waits until the webhook answers the probe and returns the
// request's error (the validating webhook's denial).
func expectReached(t *testing.T, p probe) error {
	t.Helper()
	var reached bool
	var last error
	if err := poll(t.Context(), func(ctx context.Context) bool {
		reached, last = p.send(ctx)
		return reached
	}); err != nil {
		t.Fatalf("the API server did not reach %s within %s; last error: %v", p.webhook, waitTimeout, last)
	}
	return last
}

// clearCABundles empties the caBundle of every webhook of both
// configurations.
func clearCABundles(t *testing.T, c client.Client) {
	t.Helper()
	ctx := t.Context()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var m admv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: mutatingConfig}, &m); err != nil {
			return err
		}
		for i := range m.Webhooks {
			m.Webhooks[i].ClientConfig.CABundle = nil
		}
		return c.Update(ctx, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var v admv1.ValidatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: validatingConfig}, &v); err != nil {
			return err
		}
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig.CABundle = nil
		}
		return c.Update(ctx, &v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// caBundleManagers lists, as manager/operation, who manages a caBundle of
// the object.
func caBundleManagers(obj metav1.Object) []string {
	var out []string
	for _, mf := range obj.GetManagedFields() {
		if mf.FieldsV1 != nil && bytes.Contains(mf.FieldsV1.Raw, []byte(`"f:caBundle"`)) {
			out = append(out, mf.Manager+"/"+string(mf.Operation))
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
