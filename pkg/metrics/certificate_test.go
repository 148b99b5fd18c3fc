package metrics

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/failover-webhook/failover-webhook/certs/pki"
)

func TestServingCertificateExpiry(t *testing.T) {
	bundle, err := pki.Generate(pki.Options{Hosts: []string{"localhost"}, Validity: 90 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(bundle.Cert, bundle.Key)
	if err != nil {
		t.Fatal(err)
	}
	pair.Leaf = nil // as a key pair read from files comes
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		get  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
		want []float64 // the samples reported
	}{
		"a served certificate is reported by its NotAfter": {
			get:  func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil },
			want: []float64{float64(leaf.NotAfter.Unix())},
		},
		"no sample while the source has no certificate": {
			get: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errors.New("not ready") },
		},
		"no sample for an empty certificate": {
			get: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ObserveServingCertificate(tc.get)
			t.Cleanup(func() { certificateExpiry.current.Store(nil) })
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(certificateExpiry)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, f := range families {
				for _, m := range f.GetMetric() {
					got = append(got, m.GetGauge().GetValue())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("samples %v, want %v", got, tc.want)
			}
		})
	}
}
