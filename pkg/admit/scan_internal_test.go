package admit

import "testing"

// The scan must read the forms the API server sends, or DecodeInto falls
// back to a full decode on every request; what it declines is covered by
// TestDecodeIntoMatchesTwoPassDecode.
func TestScanTypeMetaReadsPlainObjects(t *testing.T) {
	tests := map[string]struct {
		raw              string
		apiVersion, kind string
	}{
		"the API server's order": {
			raw:        `{"kind":"Service","apiVersion":"v1","metadata":{"name":"a","labels":{"kind":"x"}},"spec":{"ports":[{"port":80,"name":"a\"b"}]},"status":{"loadBalancer":{}}}`,
			apiVersion: "v1", kind: "Service",
		},
		"a literal last":        {raw: `{"apiVersion":"v1","kind":"Service","n":1}`, apiVersion: "v1", kind: "Service"},
		"literals everywhere":   {raw: `{"a":true,"apiVersion":"v1","b":null,"kind":"Service","c":-1.5e3}`, apiVersion: "v1", kind: "Service"},
		"arrays and whitespace": {raw: " {\n \"a\" : [ 1 , [ ] , { } ] ,\t\"apiVersion\" : \"networking.istio.io/v1\" , \"kind\":\"DestinationRule\" }\n", apiVersion: "networking.istio.io/v1", kind: "DestinationRule"},
		"escapes in values":     {raw: `{"metadata":{"annotations":{"x":"{\"kind\":\"Pod\"}\\"}},"apiVersion":"v1","kind":"Service"}`, apiVersion: "v1", kind: "Service"},
		"the last key wins":     {raw: `{"kind":"Pod","apiVersion":"v1","KIND":"Service"}`, apiVersion: "v1", kind: "Service"},
		"an empty object":       {raw: `{}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			apiVersion, kind, ok := scanTypeMeta([]byte(tc.raw))
			if !ok || string(apiVersion) != tc.apiVersion || string(kind) != tc.kind {
				t.Errorf("scanTypeMeta = %q, %q, %v; want %q, %q, true", apiVersion, kind, ok, tc.apiVersion, tc.kind)
			}
		})
	}
}
