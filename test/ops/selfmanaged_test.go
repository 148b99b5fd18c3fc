package ops_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/server"
	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// The self-managed mode's timings in this test: short enough for a
// serving-certificate renewal (at two thirds of certDuration) within the
// test, with propagationDelay well under the third of it that is left.
const (
	certDuration     = 15 * time.Second
	propagationDelay = 2 * time.Second
)

// TestSelfManagedRenewalAndCARotationThroughTheAPIServer installs
// manifests/self-managed-certs (its RBAC, and its webhook configurations
// pointed at this host), runs the webhook in self-managed mode as the
// overlay's ServiceAccount, and has the API server send admissions
// continuously while the serving certificate is renewed and then the CA is
// rotated by emptying its Secret.
func TestSelfManagedRenewalAndCARotationThroughTheAPIServer(t *testing.T) {
	controlplane.SkipIfShort(t)
	captureLogs(t)
	ctx := t.Context()
	c := cluster.Client
	address, port := freeAddress(t)
	in := installSelfManagedOverlay(t, "https://localhost:"+fmt.Sprint(port))

	probes, _ := freeAddress(t)
	opts := server.DefaultOptions()
	opts.CertMode = server.CertModeSelfManaged
	opts.Host, opts.Port = "127.0.0.1", port
	opts.MetricsBindAddress, opts.HealthProbeBindAddress = "0", probes
	opts.SelfManaged.DNSNames = []string{"localhost"}
	opts.SelfManaged.CADuration = time.Hour
	opts.SelfManaged.CertDuration = certDuration
	opts.SelfManaged.PropagationDelay = propagationDelay
	sm := opts.SelfManaged
	for _, check := range []struct{ what, got, want string }{
		{"CA Secret", sm.SecretNamespace + "/" + sm.SecretName, in.secret},
		{"MutatingWebhookConfiguration", sm.MutatingWebhookConfiguration, in.mutating},
		{"ValidatingWebhookConfiguration", sm.ValidatingWebhookConfiguration, in.validating},
	} {
		if check.got != check.want {
			t.Fatalf("the default %s is %q, the overlay manages %q", check.what, check.got, check.want)
		}
	}

	// The webhook's own RBAC, as the overlay grants it, is all it gets.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: in.serviceAccount}
	startManager(t, cfg, opts)

	waitFor(t, "the webhook is ready", func() error { return ready(probes) })
	waitFor(t, "the API server calls the webhook", func() error { return admit(ctx, c, 0) })
	first, err := servedLeaf(address)
	if err != nil {
		t.Fatal(err)
	}
	ca0 := currentCA(t)
	if first.CheckSignatureFrom(ca0) != nil {
		t.Fatal("the served certificate is not signed by the CA in the Secret")
	}
	checkBundles(t, ca0)

	l := startLoad(workers, func(ctx context.Context, _, i int) error { return admit(ctx, c, i) })

	renewal := waitFor(t, "the serving certificate is renewed", func() error {
		leaf, err := servedLeaf(address)
		if err != nil {
			return err
		}
		if leaf.Equal(first) {
			return errors.New("still the first certificate")
		}
		if leaf.CheckSignatureFrom(ca0) != nil {
			return errors.New("renewed by another CA")
		}
		return nil
	})
	t.Logf("the serving certificate was renewed after %s of load", renewal.Round(time.Millisecond))

	// The overlay ships the Secret and grants no create: emptying it is
	// how an operator rotates the CA.
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: sm.SecretNamespace, Name: sm.SecretName}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = nil
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	var ca1 *x509.Certificate
	waitFor(t, "a new CA is in the Secret", func() error {
		ca1 = currentCAOrNil(ctx)
		if ca1 == nil || ca1.Equal(ca0) {
			return errors.New("no new CA yet")
		}
		return nil
	})
	waitFor(t, "a certificate of the new CA is served", func() error {
		leaf, err := servedLeaf(address)
		if err != nil {
			return err
		}
		return leaf.CheckSignatureFrom(ca1)
	})
	sinceRotation := time.Since(rotated)
	t.Logf("the new CA's certificate was served %s after the CA Secret was emptied", sinceRotation.Round(time.Millisecond))
	if sinceRotation < propagationDelay {
		t.Errorf("the new CA's certificate was served %s after the rotation, before the propagation delay %s", sinceRotation, propagationDelay)
	}
	checkBundles(t, ca0, ca1)
	time.Sleep(2 * time.Second)
	l.Stop(t, "self-managed renewal and CA rotation")

	if err := ready(probes); err != nil {
		t.Errorf("not ready after the rotation: %v", err)
	}
	t.Run("the caBundles are written by the webhook", func(t *testing.T) {
		var m admv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: in.mutating}, &m); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range m.ManagedFields {
			found = found || mf.Manager == "failover-webhook" && bytes.Contains(mf.FieldsV1.GetRawBytes(), []byte("f:caBundle"))
		}
		if !found {
			t.Errorf("no managedFields entry of failover-webhook owns caBundle: %+v", m.ManagedFields)
		}
	})
}

// admit makes the API server send admission i to the webhook, as a dry
// run in namespace default: a Service, which must come back mutated, or a
// DestinationRule without outlier detection, which must be denied.
func admit(ctx context.Context, c client.Client, i int) error {
	name := fmt.Sprintf("load-%d", i)
	if i%2 == 0 {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: name, Labels: map[string]string{keys.Trigger: keys.TriggerValue}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 9080}}},
		}
		if err := c.Create(ctx, svc, client.DryRunAll); err != nil {
			return stopped(ctx, err)
		}
		if svc.Labels[keys.Global] != "true" {
			return fmt.Errorf("the Service was not mutated: %v", svc.Labels)
		}
		return nil
	}
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: name}}
	dr.Spec.Host = name
	dr.Spec.TrafficPolicy = &networking.TrafficPolicy{LoadBalancer: &networking.LoadBalancerSettings{
		LocalityLbSetting: &networking.LocalityLoadBalancerSetting{FailoverPriority: []string{"topology.istio.io/cluster"}},
	}}
	err := c.Create(ctx, dr, client.DryRunAll)
	if err != nil && strings.Contains(err.Error(), `admission webhook "vdestinationrule.failover-webhook.io" denied the request`) {
		return nil
	}
	if err == nil {
		return errors.New("the DestinationRule was not denied")
	}
	return stopped(ctx, err)
}

// stopped forgives an error caused by the test stopping the load.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// selfManagedInstall is what installSelfManagedOverlay installed.
type selfManagedInstall struct {
	secret               string // namespace/name
	mutating, validating string
	serviceAccount       string // as a user name
}

// installSelfManagedOverlay renders manifests/self-managed-certs, applies
// its Namespace, ServiceAccount and RBAC, and its webhook configurations
// with each Service reference replaced by url plus the webhook's path. The
// configurations are removed when the test ends.
func installSelfManagedOverlay(t *testing.T, url string) selfManagedInstall {
	t.Helper()
	ctx := t.Context()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "manifests", "self-managed-certs"))
	if err != nil {
		t.Fatal(err)
	}
	var in selfManagedInstall
	var configurations []client.Object
	for _, res := range resMap.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var obj client.Object
		switch res.GetKind() {
		case "Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Secret",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			obj = &unstructured.Unstructured{}
		case "Deployment":
			var d struct {
				Spec struct {
					Template struct {
						Spec corev1.PodSpec
					}
				}
			}
			if err := yaml.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			in.serviceAccount = "system:serviceaccount:" + res.GetNamespace() + ":" + d.Spec.Template.Spec.ServiceAccountName
			for _, a := range d.Spec.Template.Spec.Containers[0].Args {
				if v, ok := strings.CutPrefix(a, "--self-managed-secret-name="); ok {
					in.secret = res.GetNamespace() + "/" + v
				}
			}
			continue
		case "MutatingWebhookConfiguration":
			m := &admv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(b, m); err != nil {
				t.Fatal(err)
			}
			for i := range m.Webhooks {
				pointAt(&m.Webhooks[i].ClientConfig, url)
			}
			in.mutating = m.Name
			configurations = append(configurations, m)
			continue
		case "ValidatingWebhookConfiguration":
			v := &admv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(b, v); err != nil {
				t.Fatal(err)
			}
			for i := range v.Webhooks {
				pointAt(&v.Webhooks[i].ClientConfig, url)
			}
			in.validating = v.Name
			configurations = append(configurations, v)
			continue
		default:
			continue
		}
		if err := yaml.Unmarshal(b, &obj.(*unstructured.Unstructured).Object); err != nil {
			t.Fatal(err)
		}
		if err := cluster.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.(*unstructured.Unstructured)), client.FieldOwner("ops-test"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s: %v", res.GetKind(), res.GetName(), err)
		}
	}
	for _, obj := range configurations {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, obj := range configurations {
			if err := cluster.Client.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
				t.Error(err)
			}
		}
	})
	if in.secret == "" || in.mutating == "" || in.validating == "" || in.serviceAccount == "" {
		t.Fatalf("the overlay rendered without some of what the test needs: %+v", in)
	}
	return in
}

// pointAt replaces a Service reference by url plus its path; the API server
// under test runs on this host, not in a cluster network.
func pointAt(cc *admv1.WebhookClientConfig, url string) {
	u := url + *cc.Service.Path
	cc.Service, cc.URL = nil, &u
}

// currentCA returns the CA in the self-managed Secret.
func currentCA(t *testing.T) *x509.Certificate {
	t.Helper()
	ca := currentCAOrNil(t.Context())
	if ca == nil {
		t.Fatal("no CA in the self-managed Secret")
	}
	return ca
}

func currentCAOrNil(ctx context.Context) *x509.Certificate {
	o := server.DefaultOptions().SelfManaged
	var s corev1.Secret
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: o.SecretNamespace, Name: o.SecretName}, &s); err != nil {
		return nil
	}
	block, _ := pem.Decode(s.Data["ca.crt"])
	if block == nil {
		return nil
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return ca
}

// checkBundles waits until the caBundle of every webhook of both
// configurations holds exactly cas.
func checkBundles(t *testing.T, cas ...*x509.Certificate) {
	t.Helper()
	o := server.DefaultOptions().SelfManaged
	waitFor(t, fmt.Sprintf("every caBundle holds exactly %d CAs", len(cas)), func() error {
		var m admv1.MutatingWebhookConfiguration
		var v admv1.ValidatingWebhookConfiguration
		if err := cluster.Client.Get(t.Context(), client.ObjectKey{Name: o.MutatingWebhookConfiguration}, &m); err != nil {
			return err
		}
		if err := cluster.Client.Get(t.Context(), client.ObjectKey{Name: o.ValidatingWebhookConfiguration}, &v); err != nil {
			return err
		}
		bundles := [][]byte{}
		for _, w := range m.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, w := range v.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, b := range bundles {
			var got []*x509.Certificate
			for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
				c, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return err
				}
				got = append(got, c)
			}
			if len(got) != len(cas) {
				return fmt.Errorf("a caBundle holds %d CAs", len(got))
			}
			for _, ca := range cas {
				if !slices.ContainsFunc(got, ca.Equal) {
					return fmt.Errorf("a caBundle lacks CA serial %s", ca.SerialNumber)
				}
			}
		}
		return nil
	})
}
