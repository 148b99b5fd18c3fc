package app

import (
	"testing"

	"k8s.io/client-go/rest"
)

// The audit's paged lists must not wait on client-go's default client-side
// rate limit (5 a second, bursts of 10); a limit the caller set is kept.
func TestAuditClientRateLimit(t *testing.T) {
	tests := map[string]struct {
		qps       float32
		burst     int
		wantQPS   float32
		wantBurst int
	}{
		"client-go's default replaced":   {wantQPS: 50, wantBurst: 300},
		"a limit set by the caller kept": {qps: 7, burst: 9, wantQPS: 7, wantBurst: 9},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := &rest.Config{Host: "https://127.0.0.1:1", QPS: tc.qps, Burst: tc.burst}
			if _, err := newAuditClient(cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst {
				t.Errorf("QPS %v, burst %d; want %v, %d", cfg.QPS, cfg.Burst, tc.wantQPS, tc.wantBurst)
			}
		})
	}
}
