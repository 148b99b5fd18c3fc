package servingcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"

	cmtls "github.com/cert-manager/cert-manager/pkg/server/tls"
	cmauthority "github.com/cert-manager/cert-manager/pkg/server/tls/authority"
	"github.com/go-logr/logr"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// SelfManagedOptions configures the self-managed mode.
type SelfManagedOptions struct {
	// SecretNamespace and SecretName name the Secret holding the CA; it is
	// created when missing and replaced when the CA nears expiry. Deleting
	// it rotates the CA at once.
	SecretNamespace, SecretName string
	// DNSNames are the names in the serving certificate: the webhook
	// Service's <name>.<namespace>.svc, which the API server verifies.
	DNSNames []string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration name
	// the configurations whose webhooks get the CA in their caBundle.
	MutatingWebhookConfiguration, ValidatingWebhookConfiguration string
	// CADuration and CertDuration are the lifetimes of the CA and of the
	// serving certificate; each is renewed at two thirds of its lifetime.
	CADuration, CertDuration time.Duration
	// PropagationDelay is how long a new CA must have been in every
	// caBundle before a serving certificate it signed is served, so that
	// the API server applies the caBundle first.
	PropagationDelay time.Duration
}

// caCommonName names the self-managed CA.
const caCommonName = "failover-webhook-ca"

// SelfManaged serves a certificate signed by a CA it keeps in a Secret,
// using cert-manager's DynamicSource and DynamicAuthority, and injects that
// CA into the webhook configurations.
//
// A CA rotation never breaks admissions: the new CA is added to the
// caBundles next to the previous ones, and the serving certificate switches
// to one the new CA signed only once every caBundle has carried it for
// PropagationDelay. Until then the previous certificate is served.
type SelfManaged struct {
	opts   SelfManagedOptions
	trust  *trust
	gate   *gatedAuthority
	source *cmtls.DynamicSource
}

var _ Source = (*SelfManaged)(nil)

// NewSelfManaged returns the self-managed source; cfg reaches the API
// server. Call SetupWithManager before starting the manager.
func NewSelfManaged(cfg *rest.Config, opts SelfManagedOptions) *SelfManaged {
	t := newTrust(opts.PropagationDelay)
	gate := &gatedAuthority{
		DynamicAuthority: &cmauthority.DynamicAuthority{
			SecretNamespace: opts.SecretNamespace,
			SecretName:      opts.SecretName,
			SecretLabels:    map[string]string{"app.kubernetes.io/name": "failover-webhook"},
			RESTConfig:      cfg,
			CommonName:      caCommonName,
			CADuration:      opts.CADuration,
			LeafDuration:    opts.CertDuration,
		},
		trust: t,
		log:   logr.Discard(),
	}
	return &SelfManaged{
		opts:   opts,
		trust:  t,
		gate:   gate,
		source: &cmtls.DynamicSource{DNSNames: opts.DNSNames, Authority: gate},
	}
}

// gatedAuthority signs with cert-manager's DynamicAuthority, but hands out
// a certificate only once the API server trusts the CA that signed it.
// DynamicSource keeps serving its previous certificate meanwhile, and asks
// again every second.
type gatedAuthority struct {
	*cmauthority.DynamicAuthority
	trust *trust
	log   logr.Logger
}

func (a *gatedAuthority) Sign(template *x509.Certificate) (*x509.Certificate, error) {
	cert, err := a.DynamicAuthority.Sign(template)
	if err != nil {
		return nil, err
	}
	// Each call signs anew, so the wait is here: DynamicSource keeps
	// serving its previous certificate meanwhile.
	time.Sleep(untilValidEverywhere(cert, time.Now()))
	if err := a.trust.check(cert); err != nil {
		a.log.Info("not serving a certificate of this CA yet", "reason", err.Error())
		return nil, err
	}
	return cert, nil
}

// ClockSkewAllowance is how far behind this node's clock an API server's
// may be. cert-manager's authority signs a certificate valid from the
// moment it is signed, so a certificate is served only once it is this old.
const ClockSkewAllowance = 5 * time.Second

// untilValidEverywhere is how long from now until an API server whose
// clock is up to ClockSkewAllowance behind accepts cert.
func untilValidEverywhere(cert *x509.Certificate, now time.Time) time.Duration {
	return max(cert.NotBefore.Add(ClockSkewAllowance).Sub(now), 0)
}

// retiredCAGrace is how long a CA stays in the caBundles after the next
// one was issued: the serving certificate's lifetime, since the last
// certificate the retired CA signed was signed about when the next CA was
// issued and expires within that lifetime, plus resyncInterval for a
// replica that learns of the new CA late and signs with the old one a
// little longer. A retired CA is thus never pruned while a certificate it
// signed can still be served, and never trusted long after.
func retiredCAGrace(certDuration time.Duration) time.Duration {
	return certDuration + resyncInterval
}

// CacheOptions restricts the manager's cache to the objects the mode reads,
// by name, which is all its RBAC allows: the CA Secret and the two
// configurations.
func (s *SelfManaged) CacheOptions() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{s.opts.SecretNamespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", s.opts.SecretName),
		},
		&admv1.MutatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", s.opts.MutatingWebhookConfiguration),
		},
		&admv1.ValidatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", s.opts.ValidatingWebhookConfiguration),
		},
	}
}

// SetupWithManager adds the CA injector and the certificate source to mgr,
// whose cache must be restricted by CacheOptions.
func (s *SelfManaged) SetupWithManager(mgr manager.Manager) error {
	r := &injector{
		client:     mgr.GetClient(),
		secret:     types.NamespacedName{Namespace: s.opts.SecretNamespace, Name: s.opts.SecretName},
		mutating:   s.opts.MutatingWebhookConfiguration,
		validating: s.opts.ValidatingWebhookConfiguration,
		trust:      s.trust,

		retiredGrace: retiredCAGrace(s.opts.CertDuration),
	}
	// Whatever changed, the same work follows: one key for everything.
	everything := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: r.secret}}
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("ca-injection").
		// Every replica injects: the result is the same, and a replica
		// must see its own CA in place before serving from it.
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), SkipNameValidation: ptr.To(true)}).
		Watches(&corev1.Secret{}, everything).
		Watches(&admv1.MutatingWebhookConfiguration{}, everything).
		Watches(&admv1.ValidatingWebhookConfiguration{}, everything).
		Complete(r)
	if err != nil {
		return err
	}
	return mgr.Add(s)
}

// Start implements Source.
func (s *SelfManaged) Start(ctx context.Context) error {
	// cert-manager's source and authority log through the context's logger.
	logger := log.FromContext(ctx).WithName("self-managed-certs")
	s.gate.log = logger
	return s.source.Start(log.IntoContext(ctx, logger))
}

// NeedLeaderElection tells the manager that every replica runs the source.
func (s *SelfManaged) NeedLeaderElection() bool { return false }

// GetCertificate implements Source.
func (s *SelfManaged) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.source.GetCertificate(hello)
}

// Healthy implements Source.
func (s *SelfManaged) Healthy() bool { return s.source.Healthy() }

// Current implements Source.
func (s *SelfManaged) Current() (*x509.Certificate, error) {
	c, err := s.source.GetCertificate(nil)
	if err != nil {
		return nil, ErrNoCertificate
	}
	return leaf(c)
}
