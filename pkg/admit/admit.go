// Package admit holds the request checks and bookkeeping both admission
// handlers share, so policy packages only hold policy.
package admit

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/failover-webhook/failover-webhook/pkg/metrics"
)

// CheckResource returns an error response when the request is for none of
// want: a misconfigured webhook rule must fail loudly, never allow silently.
func CheckResource(req admission.Request, webhookKind string, want ...schema.GroupVersionResource) *admission.Response {
	got := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
	if slices.Contains(want, got) {
		return nil
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = describe(w)
	}
	resp := admission.Errored(http.StatusBadRequest, fmt.Errorf(
		"this webhook admits %s, not %s; check the rules of the %s webhook configuration",
		strings.Join(names, " or "), describe(got), webhookKind))
	return &resp
}

func describe(r schema.GroupVersionResource) string {
	if r.Resource == "" {
		return "a request without a resource"
	}
	if r.Group == "" {
		return r.Version + "/" + r.Resource
	}
	return r.Resource + "." + r.Group + "/" + r.Version
}

// Outcome classifies a response for the decisions metric.
func Outcome(resp admission.Response) metrics.Decision {
	switch {
	case resp.Allowed && len(resp.Patches) > 0:
		return metrics.Mutated
	case resp.Allowed && len(resp.AuditAnnotations) > 0:
		return metrics.Audited
	case resp.Allowed && len(resp.Warnings) > 0:
		return metrics.Warned
	case resp.Allowed:
		return metrics.Allowed
	case resp.Result != nil && resp.Result.Reason == metav1.StatusReasonInvalid:
		return metrics.Denied
	}
	return metrics.Errored
}

// IsDryRun reports whether the request will not be persisted.
func IsDryRun(req admission.Request) bool {
	return req.DryRun != nil && *req.DryRun
}

// CheckTypeMeta returns an error unless raw declares exactly the apiVersion
// and kind want. The API server always sends both; an object without them
// would otherwise decode silently as whatever type it is decoded into.
func CheckTypeMeta(raw []byte, want schema.GroupVersionKind) error {
	got, err := kjson.DefaultMetaFactory.Interpret(raw)
	if err != nil {
		return fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	switch {
	case got.Kind == "":
		return fmt.Errorf("the object has no kind; want kind %s, apiVersion %s", want.Kind, want.GroupVersion())
	case got.Version == "":
		return fmt.Errorf("the object has no apiVersion; want apiVersion %s", want.GroupVersion())
	case *got != want:
		return fmt.Errorf("the object is a %s %s, want %s %s", got.GroupVersion(), got.Kind, want.GroupVersion(), want.Kind)
	}
	return nil
}

// DecodeInto checks that raw, an object of an admission request, declares
// want, and decodes it into the typed object into: what controller-runtime's
// decoder does for a registered type (the same case-sensitive JSON decoding
// as the API machinery), without reading apiVersion and kind a second time.
//
// It decodes first and then reads apiVersion and kind from the top level of
// raw with a scan that allocates nothing, instead of a second full JSON
// decode: a successful decode has already proved raw is valid JSON. Anything
// the scan does not read exactly as CheckTypeMeta would (escapes, non-ASCII,
// null or non-string values) falls back to CheckTypeMeta, and so does a
// failed decode, so the errors and their precedence are CheckTypeMeta's.
func DecodeInto(raw []byte, want schema.GroupVersionKind, into runtime.Object) error {
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, into); err != nil {
		if typeErr := CheckTypeMeta(raw, want); typeErr != nil {
			return typeErr
		}
		return err
	}
	if apiVersion, kind, ok := scanTypeMeta(raw); ok && declares(apiVersion, kind, want) {
		return nil
	}
	// Every other case, including a mismatch, gets CheckTypeMeta's verdict
	// and message.
	return CheckTypeMeta(raw, want)
}

// declares reports whether apiVersion and kind are exactly want's; all it
// accepts, CheckTypeMeta accepts.
func declares(apiVersion, kind []byte, want schema.GroupVersionKind) bool {
	if want.Version == "" || want.Kind == "" || string(kind) != want.Kind {
		return false
	}
	if want.Group == "" {
		return string(apiVersion) == want.Version
	}
	return len(apiVersion) == len(want.Group)+1+len(want.Version) &&
		string(apiVersion[:len(want.Group)]) == want.Group &&
		apiVersion[len(want.Group)] == '/' &&
		string(apiVersion[len(want.Group)+1:]) == want.Version
}

// scanTypeMeta returns the top-level apiVersion and kind of valid JSON as
// encoding/json decodes them into SimpleMetaFactory's struct: keys matched
// without regard to ASCII case, the last one winning. ok is false when that
// cannot be told without a full decode.
func scanTypeMeta(raw []byte) (apiVersion, kind []byte, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, nil, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return nil, nil, true
	}
	for i < len(raw) {
		key, next, simple := scanString(raw, i)
		if !simple {
			return nil, nil, false
		}
		i = skipSpace(raw, next)
		if i >= len(raw) || raw[i] != ':' {
			return nil, nil, false
		}
		i = skipSpace(raw, i+1)
		isVersion, isKind := bytes.EqualFold(key, apiVersionKey), bytes.EqualFold(key, kindKey)
		if isVersion || isKind {
			value, next, simple := scanString(raw, i)
			if !simple {
				return nil, nil, false
			}
			if isVersion {
				apiVersion = value
			} else {
				kind = value
			}
			i = next
		} else if i = skipValue(raw, i); i < 0 {
			return nil, nil, false
		}
		i = skipSpace(raw, i)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = skipSpace(raw, i+1)
		case i < len(raw) && raw[i] == '}':
			return apiVersion, kind, true
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

var apiVersionKey, kindKey = []byte("apiVersion"), []byte("kind")

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the JSON string at raw[i]. simple is false unless it is
// a string of printable ASCII without escapes, which decodes to its bytes.
func scanString(raw []byte, i int) (s []byte, next int, simple bool) {
	if i >= len(raw) || raw[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, j, false
		}
	}
	return nil, len(raw), false
}

// skipValue returns the index after the JSON value at raw[i], or -1. raw is
// known to be valid JSON, so only strings and nesting need care.
func skipValue(raw []byte, i int) int {
	depth := 0
	for ; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			end := skipStringBody(raw, i+1)
			if end < 0 {
				return -1
			}
			if depth == 0 {
				return end
			}
			i = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object ends a literal
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}

// skipStringBody returns the index after the closing quote of the string
// whose contents start at raw[i], or -1.
func skipStringBody(raw []byte, i int) int {
	for i < len(raw) {
		j := bytes.IndexAny(raw[i:], `"\\`)
		if j < 0 {
			return -1
		}
		i += j
		if raw[i] == '"' {
			return i + 1
		}
		i += 2 // an escape: the backslash and the byte it escapes
	}
	return -1
}
