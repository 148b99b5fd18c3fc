package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/httpstream"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// WithAuthenticationAndAuthorization is the metrics filter of
// --metrics-secure: it does what controller-runtime's
// filters.WithAuthenticationAndAuthorization does, with the same settings,
// answers and log messages. A request's bearer token (from its
// Authorization header, or its WebSocket subprotocol) is authenticated with
// a TokenReview, cached for a minute; the user, in the group
// system:authenticated, is authorized for the request's lower-cased method
// on its path with a SubjectAccessReview, cached for 5 minutes when allowed
// and 30 seconds when not; API calls are retried on transient errors.
//
// It does not use controller-runtime's filter because that builds on
// k8s.io/apiserver's delegating authenticator and authorizer, which link
// the API server's CEL, audit, OpenTelemetry and gRPC packages into the
// binary (228 packages, half of its code) and initialise them in every
// process, though TokenReview and SubjectAccessReview calls are all the
// filter needs: that alone kept `webhook serve` above 50 MiB resident.
func WithAuthenticationAndAuthorization(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authnClient, err := reviewClient(config, httpClient, authenticationv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	authzClient, err := reviewClient(config, httpClient, authorizationv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	authn, err := newTokenAuthenticator(authnClient)
	if err != nil {
		return nil, fmt.Errorf("failed to create authenticator: %w", err)
	}
	authz := newAccessReviewer(authzClient)

	return func(log logr.Logger, handler http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			u, ok, err := authn.authenticateRequest(log, req)
			if err != nil {
				log.Error(err, "Authentication failed")
				http.Error(w, "Authentication failed", http.StatusInternalServerError)
				return
			}
			if !ok {
				log.V(4).Info("Authentication failed")
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}

			allowed, reason, err := authz.authorize(req.Context(), log, u, strings.ToLower(req.Method), req.URL.Path)
			if err != nil {
				msg := fmt.Sprintf("Authorization for user %s failed", u.name)
				log.Error(err, msg)
				http.Error(w, msg, http.StatusInternalServerError)
				return
			}
			if !allowed {
				msg := fmt.Sprintf("Authorization denied for user %s", u.name)
				log.V(4).Info(fmt.Sprintf("%s: %s", msg, reason))
				http.Error(w, msg, http.StatusForbidden)
				return
			}

			handler.ServeHTTP(w, req)
		}), nil
	}, nil
}

// The settings controller-runtime's filter gives k8s.io/apiserver.
const (
	tokenCacheTTL       = time.Minute // for authenticated and unauthenticated tokens alike
	tokenReviewTimeout  = 10 * time.Second
	sharedLookupTimeout = 30 * time.Second // a lookup shared by concurrent requests outlives each
	allowCacheTTL       = 5 * time.Minute
	denyCacheTTL        = 30 * time.Second
	accessCacheSize     = 8192
	// Requests whose path and verb are this long or longer are not cached:
	// they could fill the cache.
	maxCachedAttributesSize = 10000
)

// reviewBackoff is how API calls are retried on transient errors.
var reviewBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// reviewClient returns a REST client for the API group of TokenReviews or
// SubjectAccessReviews, configured as client-go's typed clients configure
// theirs.
func reviewClient(config *rest.Config, httpClient *http.Client, gv schema.GroupVersion) (rest.Interface, error) {
	c := *config
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	c.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(clientgoscheme.Scheme, clientgoscheme.Codecs).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientForConfigAndClient(&c, httpClient)
}

// withExponentialBackoff calls fn until it succeeds, fails with an error
// that is not transient, or reviewBackoff runs out, and returns fn's last
// error.
func withExponentialBackoff(ctx context.Context, fn func() error) error {
	var fnErr error
	err := wait.ExponentialBackoffWithContext(ctx, reviewBackoff, func(context.Context) (bool, error) {
		fnErr = fn()
		if shouldRetry(fnErr) {
			return false, nil
		}
		if fnErr != nil {
			return false, fnErr
		}
		return true, nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("webhook call failed: %s", err.Error())
	}
	return nil
}

// shouldRetry reports whether err is transient.
func shouldRetry(err error) bool {
	if utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) || apierrors.IsInternalError(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) {
		return true
	}
	_, retry := apierrors.SuggestsClientDelay(err)
	return retry
}

// userInfo is an authenticated user.
type userInfo struct {
	name   string
	uid    string
	groups []string
	extra  map[string][]string
}

const (
	allAuthenticated   = "system:authenticated"
	allUnauthenticated = "system:unauthenticated"
	anonymous          = "system:anonymous"
)

var (
	errInvalidToken  = errors.New("invalid bearer token")
	errLookupCrashed = apierrors.NewInternalError(errors.New("authentication failed unexpectedly"))
)

// tokenAuthenticator authenticates the bearer token of a request with
// TokenReviews, caching the answers.
type tokenAuthenticator struct {
	client  rest.Interface
	cache   *utilcache.Expiring
	hashKey []byte

	mu      sync.Mutex
	lookups map[string]*tokenLookup
}

// tokenLookup is one TokenReview, shared by the requests that wait for it.
type tokenLookup struct {
	done chan struct{}
	rec  tokenRecord
}

type tokenRecord struct {
	user *userInfo
	ok   bool
	err  error
}

func newTokenAuthenticator(client rest.Interface) (*tokenAuthenticator, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &tokenAuthenticator{client: client, cache: utilcache.NewExpiring(), hashKey: key, lookups: map[string]*tokenLookup{}}, nil
}

// authenticateRequest tries the Authorization header, then the WebSocket
// subprotocol; it fails only when neither authenticates and one of them
// failed, and adds system:authenticated to the user's groups.
func (a *tokenAuthenticator) authenticateRequest(log logr.Logger, req *http.Request) (*userInfo, bool, error) {
	var errs []error
	for _, authenticate := range []func(logr.Logger, *http.Request) (*userInfo, bool, error){a.bearerToken, a.webSocketToken} {
		u, ok, err := authenticate(log, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return withAuthenticatedGroup(u), true, nil
		}
	}
	return nil, false, utilerrors.NewAggregate(errs)
}

func withAuthenticatedGroup(u *userInfo) *userInfo {
	if u.name == anonymous {
		return u
	}
	for _, g := range u.groups {
		if g == allAuthenticated || g == allUnauthenticated {
			return u
		}
	}
	groups := make([]string, 0, len(u.groups)+1)
	groups = append(append(groups, u.groups...), allAuthenticated)
	return &userInfo{name: u.name, uid: u.uid, groups: groups, extra: u.extra}
}

// bearerToken authenticates "Authorization: Bearer <token>" and removes
// the header once it has.
func (a *tokenAuthenticator) bearerToken(log logr.Logger, req *http.Request) (*userInfo, bool, error) {
	auth := strings.TrimSpace(req.Header.Get("Authorization"))
	if auth == "" {
		return nil, false, nil
	}
	parts := strings.SplitN(auth, " ", 3)
	if len(parts) < 2 || strings.ToLower(parts[0]) != "bearer" {
		return nil, false, nil
	}
	token := parts[1]
	if token == "" {
		return nil, false, nil
	}
	u, ok, err := a.authenticateToken(req.Context(), log, token)
	if ok {
		req.Header.Del("Authorization")
	}
	if !ok && err == nil {
		err = errInvalidToken
	}
	return u, ok, err
}

const bearerProtocolPrefix = "base64url.bearer.authorization.k8s.io."

var protocolHeader = textproto.CanonicalMIMEHeaderKey("Sec-WebSocket-Protocol")

// webSocketToken authenticates the token a WebSocket request carries as
// the subprotocol base64url.bearer.authorization.k8s.io.<base64url token>,
// and removes that subprotocol once it has.
func (a *tokenAuthenticator) webSocketToken(log logr.Logger, req *http.Request) (*userInfo, bool, error) {
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || !httpstream.IsUpgradeRequest(req) {
		return nil, false, nil
	}
	token := ""
	sawToken := false
	filtered := []string{}
	for _, header := range req.Header[protocolHeader] {
		for _, protocol := range strings.Split(header, ",") {
			protocol = strings.TrimSpace(protocol)
			if !strings.HasPrefix(protocol, bearerProtocolPrefix) {
				filtered = append(filtered, protocol)
				continue
			}
			if sawToken {
				return nil, false, errors.New("multiple base64.bearer.authorization tokens specified")
			}
			sawToken = true
			decoded, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(protocol, bearerProtocolPrefix))
			if err != nil {
				return nil, false, errors.New("invalid base64.bearer.authorization token encoding")
			}
			if !utf8.Valid(decoded) {
				return nil, false, errors.New("invalid base64.bearer.authorization token")
			}
			token = string(decoded)
		}
	}
	if token != "" && len(filtered) == 0 {
		return nil, false, errors.New("missing additional subprotocol")
	}
	if token == "" {
		return nil, false, nil
	}
	u, ok, err := a.authenticateToken(req.Context(), log, token)
	if ok {
		req.Header.Set(protocolHeader, strings.Join(filtered, ","))
	}
	if !ok && err == nil {
		err = errInvalidToken
	}
	return u, ok, err
}

// authenticateToken answers from the cache, or from one TokenReview shared
// by every request asking about the same token meanwhile. Answers are
// cached, errors are not; the cache is keyed by a keyed hash of the token,
// so tokens are not kept.
func (a *tokenAuthenticator) authenticateToken(ctx context.Context, log logr.Logger, token string) (*userInfo, bool, error) {
	mac := hmac.New(sha256.New, a.hashKey)
	mac.Write([]byte(token))
	key := string(mac.Sum(nil))

	var rec tokenRecord
	if cached, ok := a.cache.Get(key); ok {
		rec = cached.(tokenRecord)
	} else {
		lookup := a.lookup(log, key, token)
		select {
		case <-lookup.done:
			rec = lookup.rec
		case <-ctx.Done():
			rec = tokenRecord{err: ctx.Err()}
		}
	}
	if !rec.ok || rec.err != nil {
		return nil, false, rec.err
	}
	return rec.user, true, nil
}

// lookup returns the TokenReview under way for key, starting one if none is.
func (a *tokenAuthenticator) lookup(log logr.Logger, key, token string) *tokenLookup {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l, ok := a.lookups[key]; ok {
		return l
	}
	l := &tokenLookup{done: make(chan struct{})}
	a.lookups[key] = l
	go func() {
		defer func() {
			if r := recover(); r != nil {
				l.rec = tokenRecord{err: errLookupCrashed}
				log.Error(fmt.Errorf("%v", r), "Token lookup panicked", "stack", string(debug.Stack()))
			}
			a.mu.Lock()
			delete(a.lookups, key)
			a.mu.Unlock()
			close(l.done)
		}()
		if cached, ok := a.cache.Get(key); ok {
			l.rec = cached.(tokenRecord)
			return
		}
		// Not the context of the request that started it: the lookup
		// is shared.
		ctx, cancel := context.WithTimeout(context.Background(), sharedLookupTimeout)
		defer cancel()
		l.rec = a.review(ctx, log, token)
		if l.rec.err == nil {
			a.cache.Set(key, l.rec, tokenCacheTTL)
		}
	}()
	return l
}

// review asks the API server who token belongs to.
func (a *tokenAuthenticator) review(ctx context.Context, log logr.Logger, token string) tokenRecord {
	ctx, cancel := context.WithTimeout(ctx, tokenReviewTimeout)
	defer cancel()
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}
	result := &authenticationv1.TokenReview{}
	if err := withExponentialBackoff(ctx, func() error {
		result = &authenticationv1.TokenReview{}
		return a.client.Post().
			Resource("tokenreviews").
			VersionedParams(&metav1.CreateOptions{}, clientgoscheme.ParameterCodec).
			Body(review).
			Do(ctx).
			Into(result)
	}); err != nil {
		log.Error(err, "Failed to make webhook authenticator request")
		return tokenRecord{err: err}
	}
	status := result.Status
	if !status.Authenticated {
		if status.Error != "" {
			return tokenRecord{err: errors.New(status.Error)}
		}
		return tokenRecord{}
	}
	var extra map[string][]string
	if status.User.Extra != nil {
		extra = map[string][]string{}
		for k, v := range status.User.Extra {
			extra[k] = v
		}
	}
	return tokenRecord{ok: true, user: &userInfo{name: status.User.Username, uid: status.User.UID, groups: status.User.Groups, extra: extra}}
}

// accessReviewer authorizes requests with SubjectAccessReviews, caching the
// answers.
type accessReviewer struct {
	client rest.Interface
	cache  *utilcache.LRUExpireCache
}

func newAccessReviewer(client rest.Interface) *accessReviewer {
	return &accessReviewer{client: client, cache: utilcache.NewLRUExpireCache(accessCacheSize)}
}

// authorize reports whether u may use verb on the non-resource path; the
// reason is the API server's.
func (r *accessReviewer) authorize(ctx context.Context, log logr.Logger, u *userInfo, verb, path string) (allowed bool, reason string, err error) {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  u.name,
		UID:                   u.uid,
		Groups:                u.groups,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}
	if u.extra != nil {
		review.Spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range u.extra {
			review.Spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	key, err := json.Marshal(review.Spec)
	if err != nil {
		return false, "", err
	}
	if cached, ok := r.cache.Get(string(key)); ok {
		review.Status = cached.(authorizationv1.SubjectAccessReviewStatus)
	} else {
		result := &authorizationv1.SubjectAccessReview{}
		if err := withExponentialBackoff(ctx, func() error {
			result = &authorizationv1.SubjectAccessReview{}
			return r.client.Post().
				Resource("subjectaccessreviews").
				VersionedParams(&metav1.CreateOptions{}, clientgoscheme.ParameterCodec).
				Body(review).
				Do(ctx).
				Into(result)
		}); err != nil {
			log.Error(err, "Failed to make webhook authorizer request")
			return false, "", err
		}
		review.Status = result.Status
		if len(verb)+len(path) < maxCachedAttributesSize {
			ttl := denyCacheTTL
			if review.Status.Allowed {
				ttl = allowCacheTTL
			}
			r.cache.Add(string(key), review.Status, ttl)
		}
	}
	switch status := review.Status; {
	case status.Denied && status.Allowed:
		return false, status.Reason, fmt.Errorf("webhook subject access review returned both allow and deny response")
	case status.Allowed:
		return true, status.Reason, nil
	default:
		return false, status.Reason, nil
	}
}
