package metrics

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ServingCertificateExpiryName is the gauge operators alert on before the
// serving certificate expires (manifests/monitoring).
const ServingCertificateExpiryName = "failover_webhook_serving_certificate_expiry_timestamp_seconds"

// servingCertificateExpiry reports the NotAfter of the certificate the
// webhook server would present now, read at each scrape from the same
// GetCertificate the server's TLS configuration uses. Reading it there
// rather than setting a gauge on each reload keeps every reload path of
// both certificate modes (files rewritten by cert-manager, self-managed
// renewals and CA rotations) covered by construction. Nothing is reported
// until there is a certificate.
type servingCertificateExpiry struct {
	desc    *prometheus.Desc
	current atomic.Pointer[func(*tls.ClientHelloInfo) (*tls.Certificate, error)]
}

var certificateExpiry = &servingCertificateExpiry{
	desc: prometheus.NewDesc(ServingCertificateExpiryName,
		"Expiry time (Unix seconds) of the serving certificate the webhook presents now.", nil, nil),
}

func init() {
	ctrlmetrics.Registry.MustRegister(certificateExpiry)
}

// ObserveServingCertificate makes the expiry gauge follow the certificate
// getCertificate returns. A process serves one webhook, so the last call
// wins.
func ObserveServingCertificate(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	certificateExpiry.current.Store(&getCertificate)
}

func (e *servingCertificateExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

func (e *servingCertificateExpiry) Collect(ch chan<- prometheus.Metric) {
	get := e.current.Load()
	if get == nil {
		return
	}
	pair, err := (*get)(nil)
	if err != nil || pair == nil || len(pair.Certificate) == 0 {
		return
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return
		}
	}
	ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
}
