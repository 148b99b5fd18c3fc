package servingcert

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestInjector(t *testing.T) {
	now := time.Now()
	previous, current := newCA(t, now.Add(-time.Hour), 24*time.Hour), newCA(t, now, 24*time.Hour)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "failover-webhook-system", Name: "failover-webhook-ca"},
		Data:       map[string][]byte{"ca.crt": encode(current), "tls.crt": encode(current)},
	}
	mutating := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "m"},
		Webhooks: []admv1.MutatingWebhook{
			{Name: "a.example.com", ClientConfig: admv1.WebhookClientConfig{CABundle: encode(previous)}},
			{Name: "b.example.com"},
		},
	}
	validating := &admv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "v"},
		Webhooks:   []admv1.ValidatingWebhook{{Name: "c.example.com"}},
	}
	tests := map[string]struct {
		objects []client.Object
		// wantBundles are the CAs of each webhook afterwards, by name.
		wantBundles map[string][]*x509.Certificate
		// trusted says whether a certificate of the current CA may be served.
		trusted bool
	}{
		"the CA is added to every webhook, next to the CAs already there": {
			objects: []client.Object{secret, mutating, validating},
			wantBundles: map[string][]*x509.Certificate{
				"a.example.com": {previous, current}, "b.example.com": {current}, "c.example.com": {current},
			},
			// Written now: the API server has not applied it yet.
			trusted: false,
		},
		"a CA every caBundle carried before start-up is trusted at once": {
			objects: []client.Object{secret, withBundle(mutating, encode(previous, current)), withBundle(validating, encode(current))},
			wantBundles: map[string][]*x509.Certificate{
				"a.example.com": {previous, current}, "b.example.com": {previous, current}, "c.example.com": {current},
			},
			trusted: true,
		},
		"without the Secret nothing is written, and nothing is trusted": {
			objects:     []client.Object{mutating, validating},
			wantBundles: map[string][]*x509.Certificate{"a.example.com": {previous}, "b.example.com": nil, "c.example.com": nil},
		},
		"without the configurations any CA will do": {
			objects: []client.Object{secret}, trusted: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objects := make([]client.Object, len(tc.objects))
			for i, o := range tc.objects {
				objects[i] = o.DeepCopyObject().(client.Object)
			}
			c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objects...).Build()
			r := &injector{client: c, secret: types.NamespacedName{Namespace: secret.Namespace, Name: secret.Name},
				mutating: "m", validating: "v", trust: newTrust(time.Minute), retiredGrace: retiredCAGrace(time.Hour)}
			ctx := context.Background()
			if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
				t.Fatal(err)
			}
			got := map[string][]*x509.Certificate{}
			var m admv1.MutatingWebhookConfiguration
			if err := c.Get(ctx, client.ObjectKey{Name: "m"}, &m); err == nil {
				for _, w := range m.Webhooks {
					got[w.Name] = parse(t, w.ClientConfig.CABundle)
				}
			}
			var v admv1.ValidatingWebhookConfiguration
			if err := c.Get(ctx, client.ObjectKey{Name: "v"}, &v); err == nil {
				for _, w := range v.Webhooks {
					got[w.Name] = parse(t, w.ClientConfig.CABundle)
				}
			}
			for webhook, want := range tc.wantBundles {
				if len(got[webhook]) != len(want) {
					t.Errorf("%s: %d CAs, want %d", webhook, len(got[webhook]), len(want))
					continue
				}
				for i := range want {
					if !got[webhook][i].Equal(want[i]) {
						t.Errorf("%s: CA %d differs", webhook, i)
					}
				}
			}
			if err := r.trust.check(current); (err == nil) != tc.trusted {
				t.Errorf("trust check of the current CA: %v, want trusted %v", err, tc.trusted)
			}

			// A second pass changes nothing.
			before := m.ResourceVersion
			if _, err := r.Reconcile(ctx, reconcile.Request{}); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(ctx, client.ObjectKey{Name: "m"}, &m); err == nil && m.ResourceVersion != before {
				t.Error("reconciling again updated the configuration")
			}
		})
	}
}

// withBundle returns a copy of a configuration with bundle in every webhook.
func withBundle(obj client.Object, bundle []byte) client.Object {
	switch c := obj.DeepCopyObject().(type) {
	case *admv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			c.Webhooks[i].ClientConfig.CABundle = bundle
		}
		return c
	case *admv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			c.Webhooks[i].ClientConfig.CABundle = bundle
		}
		return c
	}
	panic("not a webhook configuration")
}
