package metricsauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// fakeTokens authenticates the tokens of users; err fails every review.
type fakeTokens struct {
	users map[string]string
	err   error
	calls int
}

func (f *fakeTokens) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := tr.DeepCopy()
	if name, ok := f.users[tr.Spec.Token]; ok {
		out.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: name, UID: "uid-" + name,
			Groups: []string{"system:serviceaccounts"}, Extra: map[string]authnv1.ExtraValue{"k": {"v"}}}}
	}
	return out, nil
}

// fakeAccess allows GET of the paths in allowed to the users named there; err fails every review.
type fakeAccess struct {
	allowed map[string]string // user → path
	err     error
	calls   int
	last    authzv1.SubjectAccessReviewSpec
}

func (f *fakeAccess) Create(_ context.Context, sar *authzv1.SubjectAccessReview, _ metav1.CreateOptions) (*authzv1.SubjectAccessReview, error) {
	f.calls++
	f.last = sar.Spec
	if f.err != nil {
		return nil, f.err
	}
	out := sar.DeepCopy()
	na := sar.Spec.NonResourceAttributes
	out.Status.Allowed = na != nil && na.Verb == "get" && f.allowed[sar.Spec.User] == na.Path
	return out, nil
}

type fixture struct {
	tokens *fakeTokens
	access *fakeAccess
	now    time.Time
	h      http.Handler
	served int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{tokens: &fakeTokens{users: map[string]string{"good": "scraper", "other": "stranger"}},
		access: &fakeAccess{allowed: map[string]string{"scraper": "/metrics"}}, now: time.Unix(1_700_000_000, 0)}
	g := &guard{tokens: f.tokens, access: f.access, users: newTTLCache[authnv1.UserInfo](), decisions: newTTLCache[bool](),
		now: func() time.Time { return f.now }}
	h, err := g.wrap(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("the token reached the metrics handler")
		}
		f.served++
		_, _ = w.Write([]byte("metrics"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func (f *fixture) get(path, auth string) int {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code
}

func TestStatusCodes(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, path, auth string
		want             int
	}{
		{"no header", "/metrics", "", http.StatusUnauthorized},
		{"not bearer", "/metrics", "Basic Z29vZA==", http.StatusUnauthorized},
		{"empty token", "/metrics", "Bearer ", http.StatusUnauthorized},
		{"rejected token", "/metrics", "Bearer nope", http.StatusUnauthorized},
		{"user without access", "/metrics", "Bearer other", http.StatusForbidden},
		{"allowed user, other path", "/debug", "Bearer good", http.StatusForbidden},
		{"allowed user", "/metrics", "Bearer good", http.StatusOK},
		{"scheme in lower case", "/metrics", "bearer good", http.StatusOK},
	}
	for _, c := range cases {
		if got := f.get(c.path, c.auth); got != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.name, got, c.want)
		}
	}
	if f.served != 2 {
		t.Errorf("handler served %d requests, want 2", f.served)
	}
}

func TestReviewSpec(t *testing.T) {
	f := newFixture(t)
	f.get("/metrics", "Bearer good")
	s := f.access.last
	if s.User != "scraper" || s.UID != "uid-scraper" || s.NonResourceAttributes == nil || s.NonResourceAttributes.Verb != "get" ||
		s.NonResourceAttributes.Path != "/metrics" || s.ResourceAttributes != nil {
		t.Errorf("SubjectAccessReview spec %+v", s)
	}
	if len(s.Groups) != 2 || s.Groups[1] != authenticatedGroup || s.Extra["k"][0] != "v" {
		t.Errorf("groups %v, extra %v: want the token's plus %s", s.Groups, s.Extra, authenticatedGroup)
	}
}

func TestCaching(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		f.get("/metrics", "Bearer good")
		f.get("/metrics", "Bearer other")
		f.get("/metrics", "Bearer nope")
	}
	if f.tokens.calls != 3 || f.access.calls != 2 {
		t.Fatalf("%d TokenReviews and %d SubjectAccessReviews, want 3 and 2", f.tokens.calls, f.access.calls)
	}
	f.now = f.now.Add(DenyTTL)
	f.get("/metrics", "Bearer good")
	f.get("/metrics", "Bearer other")
	if f.tokens.calls != 3 || f.access.calls != 3 {
		t.Errorf("after the deny TTL: %d TokenReviews and %d SubjectAccessReviews, want 3 and 3 (only the denial asked again)", f.tokens.calls, f.access.calls)
	}
	f.now = f.now.Add(TokenTTL)
	f.get("/metrics", "Bearer good")
	if f.tokens.calls != 4 {
		t.Errorf("after the token TTL: %d TokenReviews, want 4", f.tokens.calls)
	}
}

func TestReviewErrors(t *testing.T) {
	f := newFixture(t)
	f.tokens.err = errors.New("apiserver down")
	if got := f.get("/metrics", "Bearer good"); got != http.StatusInternalServerError {
		t.Errorf("TokenReview failing: HTTP %d, want 500", got)
	}
	f.tokens.err = nil
	f.access.err = errors.New("apiserver down")
	if got := f.get("/metrics", "Bearer good"); got != http.StatusInternalServerError {
		t.Errorf("SubjectAccessReview failing: HTTP %d, want 500", got)
	}
	f.access.err = nil
	if got := f.get("/metrics", "Bearer good"); got != http.StatusOK {
		t.Errorf("after the API server recovered: HTTP %d, want 200 (errors are not cached)", got)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newTTLCache[bool]()
	now := time.Unix(0, 0)
	for i := 0; i < 3*maxEntries; i++ {
		c.put(string(rune(i)), true, now, time.Hour)
	}
	if n := len(c.m); n > maxEntries {
		t.Errorf("cache holds %d entries, want at most %d", n, maxEntries)
	}
}

func TestFilterBuildsClients(t *testing.T) {
	if _, err := Filter(&rest.Config{Host: "https://127.0.0.1:1"}, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
}
