// Package metricsauth guards the metrics endpoint: a scraper's bearer token is checked with a TokenReview
// and its access to the requested path with a SubjectAccessReview, the way controller-runtime's
// filters.WithAuthenticationAndAuthorization does. That filter builds on k8s.io/apiserver, whose CEL,
// gRPC and OpenTelemetry dependencies made up 10 MB of the operator binary and its resident pages; this
// package needs only client-go's typed clients, which the operator links anyway.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long answers are remembered (controller-runtime's values) and how long one review may take.
const (
	TokenTTL      = time.Minute
	AllowTTL      = 5 * time.Minute
	DenyTTL       = 30 * time.Second
	ReviewTimeout = 10 * time.Second
	// maxEntries bounds each cache; scrapers are few, so reaching it means someone is trying tokens.
	maxEntries = 1024
)

// authenticatedGroup is added to every authenticated user's groups, as the API server's authenticators do.
const authenticatedGroup = "system:authenticated"

// Filter is a metricsserver.FilterProvider: it admits a request only when its bearer token authenticates
// (401 otherwise) and the token's user may <method> the request's path (403 otherwise); a review that
// fails answers 500.
func Filter(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	authn, err := authnclient.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("tokenreviews client: %w", err)
	}
	authz, err := authzclient.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("subjectaccessreviews client: %w", err)
	}
	g := &guard{tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(), users: newTTLCache[authnv1.UserInfo](),
		decisions: newTTLCache[bool](), now: time.Now}
	return g.wrap, nil
}

// tokenReviewer and accessReviewer are the two API calls the guard makes.
type (
	tokenReviewer interface {
		Create(context.Context, *authnv1.TokenReview, metav1.CreateOptions) (*authnv1.TokenReview, error)
	}
	accessReviewer interface {
		Create(context.Context, *authzv1.SubjectAccessReview, metav1.CreateOptions) (*authzv1.SubjectAccessReview, error)
	}
)

// guard authenticates and authorizes requests, remembering the API server's answers for a while.
type guard struct {
	tokens    tokenReviewer
	access    accessReviewer
	users     *ttlCache[authnv1.UserInfo] // by token hash; a zero UserInfo means the token was rejected
	decisions *ttlCache[bool]             // by user, verb and path
	now       func() time.Time
}

// wrap is the metricsserver.Filter.
func (g *guard) wrap(log logr.Logger, next http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := bearerToken(req)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, ok, err := g.authenticate(req.Context(), token)
		if err != nil {
			log.Error(err, "Authentication failed")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if !ok {
			log.V(4).Info("Authentication failed: the token was rejected")
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		req.Header.Del("Authorization") // nothing behind the filter needs the token
		verb := strings.ToLower(req.Method)
		allowed, err := g.authorize(req.Context(), user, verb, req.URL.Path)
		if err != nil {
			msg := fmt.Sprintf("Authorization for user %s failed", user.Username)
			log.Error(err, msg)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		if !allowed {
			msg := fmt.Sprintf("Authorization denied for user %s", user.Username)
			log.V(4).Info(msg, "verb", verb, "path", req.URL.Path)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	}), nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(req *http.Request) (string, bool) {
	parts := strings.SplitN(strings.TrimSpace(req.Header.Get("Authorization")), " ", 3)
	if len(parts) < 2 || !strings.EqualFold(parts[0], "bearer") || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// authenticate returns the token's user from a TokenReview (or the cache); ok is false when the API
// server rejects the token.
func (g *guard) authenticate(ctx context.Context, token string) (authnv1.UserInfo, bool, error) {
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	if u, hit := g.users.get(key, g.now()); hit {
		return u, u.Username != "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReviewTimeout)
	defer cancel()
	tr, err := g.tokens.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return authnv1.UserInfo{}, false, fmt.Errorf("TokenReview: %w", err)
	}
	user := authnv1.UserInfo{}
	if tr.Status.Authenticated {
		if tr.Status.User.Username == "" {
			return authnv1.UserInfo{}, false, errors.New("TokenReview authenticated the token but named no user")
		}
		user = withAuthenticatedGroup(tr.Status.User)
	}
	g.users.put(key, user, g.now(), TokenTTL)
	return user, user.Username != "", nil
}

// withAuthenticatedGroup adds system:authenticated to the user's groups when missing.
func withAuthenticatedGroup(u authnv1.UserInfo) authnv1.UserInfo {
	for _, g := range u.Groups {
		if g == authenticatedGroup {
			return u
		}
	}
	u.Groups = append(append([]string(nil), u.Groups...), authenticatedGroup)
	return u
}

// authorize asks whether user may verb the non-resource path, with a SubjectAccessReview (or the cache).
func (g *guard) authorize(ctx context.Context, user authnv1.UserInfo, verb, path string) (bool, error) {
	key := strings.Join([]string{user.Username, user.UID, strings.Join(user.Groups, ","), verb, path}, "\x00")
	if allowed, hit := g.decisions.get(key, g.now()); hit {
		return allowed, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReviewTimeout)
	defer cancel()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: user.Username, UID: user.UID, Groups: user.Groups,
		Extra: extra(user.Extra), NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb}}}
	res, err := g.access.Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview: %w", err)
	}
	allowed := res.Status.Allowed && !res.Status.Denied
	ttl := DenyTTL
	if allowed {
		ttl = AllowTTL
	}
	g.decisions.put(key, allowed, g.now(), ttl)
	return allowed, nil
}

// extra converts a TokenReview's extra user information to a SubjectAccessReview's.
func extra(in map[string]authnv1.ExtraValue) map[string]authzv1.ExtraValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]authzv1.ExtraValue, len(in))
	for k, v := range in {
		out[k] = authzv1.ExtraValue(v)
	}
	return out
}

// ttlCache is a small map whose entries expire; when full it drops the expired entries, and all of them
// if none had expired.
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any]() *ttlCache[V] { return &ttlCache[V]{m: map[string]ttlEntry[V]{}} }

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(key string, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxEntries {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxEntries {
			clear(c.m)
		}
	}
	c.m[key] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
}
