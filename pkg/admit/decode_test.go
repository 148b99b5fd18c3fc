package admit_test

import (
	"fmt"
	"reflect"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	"github.com/failover-webhook/failover-webhook/pkg/admit"
)

// twoPassDecode is what DecodeInto must stay equivalent to: the declared
// type checked by a full decode of apiVersion and kind, then the typed
// decode.
func twoPassDecode(raw []byte, want schema.GroupVersionKind, into runtime.Object) error {
	if err := admit.CheckTypeMeta(raw, want); err != nil {
		return err
	}
	return sigsjson.UnmarshalCaseSensitivePreserveInts(raw, into)
}

var (
	serviceKind = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	drKind      = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
)

// decodeCases are objects whose apiVersion and kind are written every way
// JSON allows, including the ways only a full decode reads correctly.
var decodeCases = []string{
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","labels":{"kind":"x"}},"spec":{"ports":[{"port":80}]}}`,
	` { "kind" : "Service" , "apiVersion" : "v1" } `,
	`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","spec":{"host":"h","trafficPolicy":{"outlierDetection":{}}}}`,
	`{"apiVersion":"networking.istio.io/v1beta1","kind":"DestinationRule"}`,
	`{"apiVersion":"networking.istio.io/v1","kind":"Service"}`,
	`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[]}}`,
	`{"apiVersion":"v1"}`,
	`{"kind":"Service"}`,
	`{}`,
	`null`,
	`[]`,
	`"Service"`,
	`{"apiVersion":"v1","kind":"Service"`,
	`{"apiVersion":"v1","kind":"Service"} x`,
	`{"APIVERSION":"v1","KIND":"Service"}`,
	`{"apiversion":"v1","Kind":"Service"}`,
	`{"api_version":"v1","kind":"Service"}`,
	`{"apiVersion":"v1","kind":"Service","KIND":"Pod"}`,
	`{"apiVersion":"v2","kind":"Service","apiVersion":"v1"}`,
	`{"apiVersion":"v1","kind":null}`,
	`{"apiVersion":"v1","kind":"Service","kind":null}`,
	`{"apiVersion":"v1","kind":7}`,
	`{"apiVersion":"v1","kind":{"a":"Service"}}`,
	`{"apiVersion":"v1","kind":"Serv\u0069ce"}`,
	`{"apiVersion":"v1","\u006bind":"Service"}`,
	`{"apiVersion":"v1","\u212aind":"Service"}`,
	`{"apiVersion":"v1","kind":"Service\u0000"}`,
	`{"apiVersion":"/v1","kind":"Service"}`,
	`{"apiVersion":"networking.istio.io/v1/x","kind":"DestinationRule"}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"a\"b\\"},"x":[1,{"kind":"Pod"},"]"],"y":-1.5e3,"z":true}`,
	`{"apiVersion":"v1","kind":"Service","metadata":"not an object"}`,
	`{"apiVersion":"v1","kind":"Service","spec":{"ports":"80"}}`,
	`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","spec":{"host":7}}`,
	`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","spec":{"trafficPolicy":{"unknownField":1,"connection_pool":{}}}}`,
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"\xff\"}}",
	"{\"apiVersion\":\"v1\xff\",\"kind\":\"Service\"}",
}

func newObject(want schema.GroupVersionKind) runtime.Object {
	if want.Kind == "Service" {
		return &corev1.Service{}
	}
	return &networkingv1.DestinationRule{}
}

func checkSameAsTwoPass(t *testing.T, raw []byte, want schema.GroupVersionKind) {
	t.Helper()
	got, wantObj := newObject(want), newObject(want)
	gotErr := admit.DecodeInto(raw, want, got)
	wantErr := twoPassDecode(raw, want, wantObj)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s as %s: error %v, want %v", raw, want, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, wantObj) {
		t.Fatalf("%s as %s: decoded %+v, want %+v", raw, want, got, wantObj)
	}
}

func TestDecodeIntoMatchesTwoPassDecode(t *testing.T) {
	for _, raw := range decodeCases {
		for _, want := range []schema.GroupVersionKind{serviceKind, drKind} {
			checkSameAsTwoPass(t, []byte(raw), want)
		}
	}
}

func FuzzDecodeInto(f *testing.F) {
	for _, raw := range decodeCases {
		f.Add([]byte(raw), true)
		f.Add([]byte(raw), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, service bool) {
		want := drKind
		if service {
			want = serviceKind
		}
		checkSameAsTwoPass(t, raw, want)
	})
}

// apiVersion and kind are read case-sensitively, as the API machinery reads
// objects: keys spelled otherwise are not the object's type, and a later
// key spelled otherwise does not override the real one.
func TestDecodeIntoReadsTypeMetaCaseSensitively(t *testing.T) {
	tests := map[string]struct {
		raw     string
		wantErr string
	}{
		"keys in capitals are not apiVersion and kind": {
			raw: `{"APIVERSION":"v1","KIND":"Service"}`, wantErr: "the object has no kind; want kind Service, apiVersion v1",
		},
		"a key in capitals after kind does not replace it": {
			raw: `{"apiVersion":"v1","kind":"Service","KIND":"Pod"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := admit.DecodeInto([]byte(tc.raw), serviceKind, &corev1.Service{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("DecodeInto(%s) = %v, want no error", tc.raw, err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("DecodeInto(%s) = %v, want %q", tc.raw, err, tc.wantErr)
			}
		})
	}
}
