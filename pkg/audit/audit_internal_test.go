package audit

import (
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestPatchCommand(t *testing.T) {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "helloworld"}}
	const od = `{"baseEjectionTime":"1m","consecutive5xxErrors":1,"interval":"1s"}`
	tests := map[string]struct {
		violations field.ErrorList
		want       string
	}{
		"a top-level failover": {
			violations: field.ErrorList{field.Forbidden(field.NewPath("spec", "trafficPolicy", "loadBalancer", "localityLbSetting", "failoverPriority"), "")},
			want:       `kubectl patch destinationrules.networking.istio.io helloworld -n sample --type=json -p '[{"op":"add","path":"/spec/trafficPolicy/outlierDetection","value":` + od + `}]'`,
		},
		"a subset's port entry, and the same place twice": {
			violations: field.ErrorList{
				field.Forbidden(field.NewPath("spec").Child("subsets").Index(1).Child("trafficPolicy", "portLevelSettings").Index(0).Child("loadBalancer", "localityLbSetting", "failover"), ""),
				field.Forbidden(field.NewPath("spec").Child("subsets").Index(1).Child("trafficPolicy", "portLevelSettings").Index(0).Child("loadBalancer", "localityLbSetting", "failoverPriority"), ""),
				field.Forbidden(field.NewPath("spec", "trafficPolicy", "loadBalancer", "zoneAwareLbSetting", "failoverPriority"), ""),
			},
			want: `kubectl patch destinationrules.networking.istio.io helloworld -n sample --type=json -p '[` +
				`{"op":"add","path":"/spec/subsets/1/trafficPolicy/portLevelSettings/0/outlierDetection","value":` + od + `},` +
				`{"op":"add","path":"/spec/trafficPolicy/outlierDetection","value":` + od + `}]'`,
		},
		"a field no outlierDetection fixes": {
			violations: field.ErrorList{field.Forbidden(field.NewPath("spec", "host"), "")},
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
