package servingcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"time"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// MaxBundledCAs bounds a caBundle: the current CA and the most recent
// earlier ones that have not expired. Earlier CAs stay so that replicas
// still serving a certificate they signed keep working through a rotation.
const MaxBundledCAs = 4

// resyncInterval is how often the caBundles are checked even without a
// change, dropping CAs that expired in the meantime.
const resyncInterval = 10 * time.Minute

// fieldOwner names the webhook as the writer of the caBundles.
const fieldOwner = client.FieldOwner("failover-webhook")

// injector keeps the CA of the self-managed Secret in the caBundle of every
// webhook of the two configurations, and records which CAs they all carry.
type injector struct {
	client     client.Client
	secret     types.NamespacedName
	mutating   string
	validating string
	trust      *trust
	// retiredGrace is how long a CA stays in the caBundles after a newer
	// one was issued: see retiredCAGrace.
	retiredGrace time.Duration
}

// Reconcile implements reconcile.Reconciler. Every event leads to the same
// work, whatever object it came from.
func (r *injector) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	ca, err := r.currentCA(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	m := &admv1.MutatingWebhookConfiguration{}
	mBefore, mAfter, err := r.inject(ctx, m, r.mutating, ca, func() []*[]byte {
		out := make([]*[]byte, len(m.Webhooks))
		for i := range m.Webhooks {
			out[i] = &m.Webhooks[i].ClientConfig.CABundle
		}
		return out
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	v := &admv1.ValidatingWebhookConfiguration{}
	vBefore, vAfter, err := r.inject(ctx, v, r.validating, ca, func() []*[]byte {
		out := make([]*[]byte, len(v.Webhooks))
		for i := range v.Webhooks {
			out[i] = &v.Webhooks[i].ClientConfig.CABundle
		}
		return out
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	after := append(mAfter, vAfter...)
	common, err := commonCAs(after)
	if err != nil {
		return reconcile.Result{}, err
	}
	// What was in place before this pass is what the API server may
	// already have applied.
	preexisting, _ := commonCAs(append(mBefore, vBefore...))
	if len(after) == 0 {
		log.FromContext(ctx).Info("neither webhook configuration exists; nothing calls the webhook, so any CA will do",
			"mutating", r.mutating, "validating", r.validating)
	}
	r.trust.observe(common, preexisting, len(after) == 0)
	return reconcile.Result{RequeueAfter: resyncInterval}, nil
}

// currentCA returns the CA in the self-managed Secret, or nil while there
// is none (the authority creates it).
func (r *injector) currentCA(ctx context.Context) (*x509.Certificate, error) {
	var s corev1.Secret
	if err := r.client.Get(ctx, r.secret, &s); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading the CA Secret %s: %w", r.secret, err)
	}
	cas, err := parseBundle(s.Data[cmmeta.TLSCAKey])
	if err != nil || len(cas) != 1 || !cas[0].IsCA {
		// The authority replaces a Secret it cannot use; wait for that.
		log.FromContext(ctx).Info("the CA Secret holds no usable CA yet", "secret", r.secret.String(), "error", err)
		return nil, nil
	}
	return cas[0], nil
}

// inject adds ca to every caBundle of the named configuration, read into
// obj, whose caBundles bundlesOf points at. It returns the caBundles as
// they were and as they are stored now, none if the configuration does not
// exist.
func (r *injector) inject(ctx context.Context, obj client.Object, name string, ca *x509.Certificate, bundlesOf func() []*[]byte) (before, after [][]byte, err error) {
	if err := r.client.Get(ctx, client.ObjectKey{Name: name}, obj); apierrors.IsNotFound(err) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	changed := false
	now := time.Now()
	for _, b := range bundlesOf() {
		before = append(before, *b)
		if ca == nil {
			continue
		}
		if merged := mergeBundle(*b, ca, now, r.retiredGrace); !bytes.Equal(merged, *b) {
			*b, changed = merged, true
		}
	}
	if changed {
		if err := r.client.Update(ctx, obj, fieldOwner); err != nil {
			return nil, nil, fmt.Errorf("injecting the CA into %s: %w", name, err)
		}
		log.FromContext(ctx).Info("injected the CA into the caBundles", "configuration", name, "ca", describe(ca))
	}
	for _, b := range bundlesOf() {
		after = append(after, *b)
	}
	return before, after, nil
}

// mergeBundle returns bundle with ca added, the CAs that expired or were
// retired more than grace ago removed, and at most MaxBundledCAs kept (ca
// and the most recently issued others). Certificates keep their order, so
// an unchanged bundle compares equal.
func mergeBundle(bundle []byte, ca *x509.Certificate, now time.Time, grace time.Duration) []byte {
	existing, _ := parseBundle(bundle) // an unreadable bundle is replaced
	var kept []*x509.Certificate
	for _, c := range existing {
		if c.Equal(ca) || (now.Before(c.NotAfter) && !retired(c, ca, existing, now, grace)) {
			if !slices.ContainsFunc(kept, c.Equal) {
				kept = append(kept, c)
			}
		}
	}
	if !slices.ContainsFunc(kept, ca.Equal) {
		kept = append(kept, ca)
	}
	for len(kept) > MaxBundledCAs {
		oldest := -1
		for i, c := range kept {
			if !c.Equal(ca) && (oldest < 0 || c.NotBefore.Before(kept[oldest].NotBefore)) {
				oldest = i
			}
		}
		kept = slices.Delete(kept, oldest, oldest+1)
	}
	var out bytes.Buffer
	for _, c := range kept {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return out.Bytes()
}

// retired reports whether c is a CA that ca replaced more than grace ago:
// c was issued before ca, and the first CA issued after c (in bundle, or ca
// itself) was issued more than grace before now. From then on c signs
// nothing, so once every certificate it signed has expired it has nothing
// left to vouch for. CAs issued after ca (by a replica that rotated first)
// are never retired here.
func retired(c, ca *x509.Certificate, bundle []*x509.Certificate, now time.Time, grace time.Duration) bool {
	if !c.NotBefore.Before(ca.NotBefore) {
		return false
	}
	successor := ca.NotBefore
	for _, other := range bundle {
		if other.NotBefore.After(c.NotBefore) && other.NotBefore.Before(successor) {
			successor = other.NotBefore
		}
	}
	return now.Sub(successor) > grace
}

// parseBundle decodes the PEM certificates of a caBundle.
func parseBundle(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// commonCAs returns the certificates present in every bundle.
func commonCAs(bundles [][]byte) ([]*x509.Certificate, error) {
	var common []*x509.Certificate
	for i, b := range bundles {
		cas, err := parseBundle(b)
		if err != nil {
			return nil, fmt.Errorf("reading a caBundle: %w", err)
		}
		if i == 0 {
			common = cas
			continue
		}
		common = slices.DeleteFunc(common, func(c *x509.Certificate) bool { return !slices.ContainsFunc(cas, c.Equal) })
	}
	return common, nil
}

// describe names a CA in logs.
func describe(ca *x509.Certificate) string {
	return fmt.Sprintf("%s serial %s, valid until %s", ca.Subject.CommonName, ca.SerialNumber, ca.NotAfter.UTC().Format(time.RFC3339))
}
