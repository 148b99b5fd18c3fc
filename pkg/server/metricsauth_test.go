package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// reviewAPI is an API server that answers TokenReviews and
// SubjectAccessReviews from fixed tables and records what it was asked.
type reviewAPI struct {
	mu    sync.Mutex
	calls []string
}

func (a *reviewAPI) record(call string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, call)
}

func (a *reviewAPI) takeCalls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	calls := a.calls
	a.calls = nil
	return calls
}

func (a *reviewAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		var review authenticationv1.TokenReview
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.record(fmt.Sprintf("TokenReview %s %v", review.Spec.Token, review.Spec.Audiences))
		switch review.Spec.Token {
		case "alice-token":
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
				Username: "alice", UID: "a-1", Groups: []string{"monitoring"}, Extra: map[string]authenticationv1.ExtraValue{"scopes": {"metrics"}},
			}}
		case "bob-token":
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "bob"}}
		case "carol-token":
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "carol", Groups: []string{"system:authenticated"}}}
		case "dave-token":
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "dave"}}
		case "expired-token":
			review.Status = authenticationv1.TokenReviewStatus{Error: "token has expired"}
		case "forbidden-token":
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden, Message: "tokenreviews are forbidden"})
			return
		}
		_ = json.NewEncoder(w).Encode(review)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		var review authorizationv1.SubjectAccessReview
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		spec, _ := json.Marshal(review.Spec)
		a.record("SubjectAccessReview " + string(spec))
		nr := review.Spec.NonResourceAttributes
		switch {
		case nr == nil:
		case review.Spec.User == "carol":
			review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Denied: true}
		case review.Spec.User == "dave":
			review.Status = authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: "dave may not"}
		case slices.Contains(review.Spec.Groups, "system:authenticated") && nr.Path == "/metrics" && nr.Verb == "get":
			review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "RBAC: allowed"}
		}
		_ = json.NewEncoder(w).Encode(review)
	default:
		http.NotFound(w, r)
	}
}

// TestMetricsFilterAnswersAsControllerRuntimes runs the same requests through
// the webhook's metrics filter and through controller-runtime's
// filters.WithAuthenticationAndAuthorization, each against its own API
// server, and checks they answer the same and make the same API calls,
// caching included.
func TestMetricsFilterAnswersAsControllerRuntimes(t *testing.T) {
	type request struct {
		name    string
		method  string
		path    string
		headers map[string]string
	}
	bearer := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
	ws := func(protocols string) map[string]string {
		return map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Protocol": protocols}
	}
	wsToken := "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("alice-token"))
	requests := []request{
		{name: "no credentials", path: "/metrics"},
		{name: "basic credentials", path: "/metrics", headers: map[string]string{"Authorization": "Basic YWxpY2U6cHc="}},
		{name: "an empty bearer token", path: "/metrics", headers: map[string]string{"Authorization": "Bearer  alice-token"}},
		{name: "a user allowed", path: "/metrics", headers: bearer("alice-token")},
		{name: "the same user again, from the caches", path: "/metrics", headers: bearer("alice-token")},
		{name: "a lower-case scheme", path: "/metrics", headers: map[string]string{"Authorization": "bearer alice-token"}},
		{name: "a user allowed, on another path", path: "/other", headers: bearer("alice-token")},
		{name: "a user allowed, with another verb", method: http.MethodPost, path: "/metrics", headers: bearer("alice-token")},
		{name: "a user with no opinion", path: "/metrics", headers: bearer("bob-token")},
		{name: "a user with no opinion again", path: "/metrics", headers: bearer("bob-token")},
		{name: "a user both allowed and denied", path: "/metrics", headers: bearer("carol-token")},
		{name: "a user denied", path: "/metrics", headers: bearer("dave-token")},
		{name: "an unknown token", path: "/metrics", headers: bearer("unknown-token")},
		{name: "an unknown token again, from the cache", path: "/metrics", headers: bearer("unknown-token")},
		{name: "a token the API server reports an error for", path: "/metrics", headers: bearer("expired-token")},
		{name: "that token again, not cached", path: "/metrics", headers: bearer("expired-token")},
		{name: "a token review the API server forbids", path: "/metrics", headers: bearer("forbidden-token")},
		{name: "a WebSocket token", path: "/metrics", headers: ws(wsToken + ", v4.channel.k8s.io")},
		{name: "a WebSocket token without another subprotocol", path: "/metrics", headers: ws(wsToken)},
		{name: "two WebSocket tokens", path: "/metrics", headers: ws(wsToken + "," + wsToken + ",v4")},
		{name: "a WebSocket token badly encoded", path: "/metrics", headers: ws("base64url.bearer.authorization.k8s.io.!!,v4")},
		{name: "a WebSocket token that is not UTF-8", path: "/metrics", headers: ws("base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte{0xff}) + ",v4")},
		{name: "a WebSocket subprotocol without a token", path: "/metrics", headers: ws("v4.channel.k8s.io")},
		{name: "a WebSocket token on a request that is no upgrade", path: "/metrics", headers: map[string]string{"Sec-WebSocket-Protocol": wsToken + ",v4"}},
	}

	type answer struct {
		Code           int
		Body           string
		Authorization  string
		WebSocketProto string
		Calls          []string
	}
	run := func(t *testing.T, provider func(*rest.Config, *http.Client) (metricsserver.Filter, error)) []answer {
		api := &reviewAPI{}
		srv := httptest.NewServer(api)
		defer srv.Close()
		cfg := &rest.Config{Host: srv.URL}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		filter, err := provider(cfg, hc)
		if err != nil {
			t.Fatal(err)
		}
		var seen http.Header
		handler, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = r.Header.Clone()
			_, _ = io.WriteString(w, "metrics\n")
		}))
		if err != nil {
			t.Fatal(err)
		}
		var answers []answer
		for _, r := range requests {
			method := r.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, r.path, nil)
			for k, v := range r.headers {
				req.Header.Set(k, v)
			}
			seen = nil
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			a := answer{Code: rec.Code, Body: rec.Body.String(), Calls: api.takeCalls()}
			if seen != nil {
				a.Authorization, a.WebSocketProto = seen.Get("Authorization"), seen.Get("Sec-WebSocket-Protocol")
			}
			answers = append(answers, a)
		}
		return answers
	}

	got := run(t, server.WithAuthenticationAndAuthorization)
	want := run(t, filters.WithAuthenticationAndAuthorization)
	for i, r := range requests {
		g, w := got[i], want[i]
		if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) {
			t.Errorf("%s:\n got %+v\nwant %+v", r.name, g, w)
		}
	}
	// The table must reach every answer.
	codes := map[int]bool{}
	for _, a := range want {
		codes[a.Code] = true
	}
	for _, code := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError} {
		if !codes[code] {
			t.Errorf("no request answered %d", code)
		}
	}
	if !strings.Contains(want[3].Body, "metrics") {
		t.Errorf("an allowed user got %+v, want the metrics", want[3])
	}
}

// TestWebhookDoesNotLinkTheAPIServer keeps k8s.io/apiserver, and the CEL,
// OpenTelemetry and gRPC packages it brings, out of the webhook binary:
// linking them doubled its code and kept `webhook serve` above 50 MiB
// resident (docs/benchmarks.md).
func TestWebhookDoesNotLinkTheAPIServer(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the binary's packages")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/failover-webhook/failover-webhook/cmd/webhook").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, unwanted := range []string{"k8s.io/apiserver/", "github.com/google/cel-go/", "google.golang.org/grpc", "go.opentelemetry.io/otel/sdk"} {
			if strings.HasPrefix(pkg, unwanted) {
				t.Errorf("the webhook binary links %s", pkg)
			}
		}
	}
}
