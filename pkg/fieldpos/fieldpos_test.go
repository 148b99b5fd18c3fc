package fieldpos

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
  labels:
    istio.io/global: "true"
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        failoverPriority: [topology.istio.io/network]
  subsets:
  - name: v1
  - name: v2
    trafficPolicy:
      portLevelSettings:
      - port: {number: 5000}
        loadBalancer:
          localityLbSetting:
            failoverPriority:
            - topology.kubernetes.io/region
`

const destinationRuleJSON = `{
  "kind": "DestinationRule",
  "spec": {
    "trafficPolicy": {"loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "b"}]}}}
  }
}`

func TestLocate(t *testing.T) {
	spec := field.NewPath("spec")
	tests := map[string]struct {
		doc       string
		path      string
		want      Position
		wantExact bool
	}{
		"a top-level failover declaration": {
			doc: destinationRule, path: spec.Child("trafficPolicy", "loadBalancer", "localityLbSetting", "failoverPriority").String(),
			want: Position{12, 9}, wantExact: true,
		},
		"a declaration inside a subset's port entry": {
			doc:  destinationRule,
			path: spec.Child("subsets").Index(1).Child("trafficPolicy", "portLevelSettings").Index(0).Child("loadBalancer", "localityLbSetting", "failoverPriority").String(),
			want: Position{21, 13}, wantExact: true,
		},
		"a sequence element without a key points at the element": {
			doc: destinationRule, path: spec.Child("subsets").Index(1).String(), want: Position{15, 5}, wantExact: true,
		},
		"a label key with a slash": {
			doc: destinationRule, path: field.NewPath("metadata", "labels").Key("istio.io/global").String(), want: Position{6, 5}, wantExact: true,
		},
		"a field the fix would add points at its deepest existing parent": {
			doc: destinationRule, path: spec.Child("subsets").Index(0).Child("trafficPolicy", "outlierDetection").String(), want: Position{14, 5},
		},
		"an index past the end points at the sequence": {
			doc: destinationRule, path: spec.Child("subsets").Index(7).String(), want: Position{13, 3},
		},
		"snake_case fields, which Istio reads too, are found by their camelCase path": {
			doc:  "spec:\n  traffic_policy:\n    load_balancer:\n      locality_lb_setting: {failover_priority: [x]}\n",
			path: spec.Child("trafficPolicy", "loadBalancer", "localityLbSetting", "failoverPriority").String(),
			want: Position{4, 29}, wantExact: true,
		},
		"JSON documents give their positions too": {
			doc: destinationRuleJSON, path: spec.Child("trafficPolicy", "loadBalancer", "localityLbSetting", "failover").String(),
			want: Position{4, 62}, wantExact: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, exact, err := d.Locate(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || exact != tc.wantExact {
				t.Errorf("Locate(%s) = %v exact=%v, want %v exact=%v", tc.path, got, exact, tc.want, tc.wantExact)
			}
		})
	}
}

func TestLocateRejectsMalformedPaths(t *testing.T) {
	d, err := Parse([]byte(destinationRule))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "spec.subsets[1"} {
		if _, _, err := d.Locate(p); err == nil {
			t.Errorf("Locate(%q) gave no error", p)
		}
	}
}
