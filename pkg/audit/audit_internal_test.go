package audit

import (
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

func TestPatchCommand(t *testing.T) {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "helloworld"}}
	const od = `{"baseEjectionTime":"1m","consecutive5xxErrors":1,"interval":"1s"}`
	tests := map[string]struct {
		violations []verdict.Entry
		want       string
	}{
		"a top-level failover": {
			violations: []verdict.Entry{{Field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority", Fix: "spec.trafficPolicy.outlierDetection"}},
			want:       `kubectl patch destinationrules.networking.istio.io helloworld -n sample --type=json -p '[{"op":"add","path":"/spec/trafficPolicy/outlierDetection","value":` + od + `}]'`,
		},
		"a subset's port entry, and the same place twice": {
			violations: []verdict.Entry{
				{Field: "spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failover", Fix: "spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection"},
				{Field: "spec.subsets[1].trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failoverPriority", Fix: "spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection"},
				{Field: "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority", Fix: "spec.trafficPolicy.outlierDetection"},
			},
			want: `kubectl patch destinationrules.networking.istio.io helloworld -n sample --type=json -p '[` +
				`{"op":"add","path":"/spec/subsets/1/trafficPolicy/portLevelSettings/0/outlierDetection","value":` + od + `},` +
				`{"op":"add","path":"/spec/trafficPolicy/outlierDetection","value":` + od + `}]'`,
		},
		"a violation no one field fixes": {
			violations: []verdict.Entry{{Field: "spec", Message: "too many scopes"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := patchCommand(dr, tc.violations); got != tc.want {
				t.Errorf("patchCommand =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
