package castai

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
)

func TestKeepKeyHome(t *testing.T) {
	req := func(raw string) *http.Request {
		u, _ := url.Parse(raw)
		return &http.Request{URL: u}
	}
	first := []*http.Request{req("https://api.cast.ai/v1/me")}
	tests := []struct {
		name string
		to   string
		via  []*http.Request
		ok   bool
	}{
		{"same host and scheme", "https://api.cast.ai/v1/other", first, true},
		{"another host", "https://evil.example/v1/me", first, false},
		{"another port is another host", "https://api.cast.ai:8443/v1/me", first, false},
		{"https to http on the same host", "http://api.cast.ai/v1/me", first, false},
		{"http to https on the same host", "https://127.0.0.1/v1/me", []*http.Request{req("http://127.0.0.1/v1/me")}, true},
		{"too many hops", "https://api.cast.ai/v1/me", []*http.Request{first[0], first[0], first[0], first[0], first[0], first[0]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := keepKeyHome(req(tt.to), tt.via)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrRedirectRefused) {
				t.Fatalf("err %v does not wrap ErrRedirectRefused", err)
			}
		})
	}
}

func TestRedirectToAnotherHostNeverSeesTheKey(t *testing.T) {
	var stolen atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "" {
			stolen.Add(1)
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(other.Close)
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	_, err := c.Me(context.Background())
	if !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("Me through a cross-host redirect: err = %v, want ErrRedirectRefused", err)
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the other host received the API key %d times", n)
	}
}

func TestRedirectOnTheSameHostIsFollowed(t *testing.T) {
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("moved") == "" {
			http.Redirect(w, r, r.URL.Path+"?moved=1", http.StatusTemporaryRedirect)
			return
		}
		_, _ = w.Write([]byte(`{"organizationId":"o"}`))
	}))
	if _, err := c.Me(context.Background()); err != nil {
		t.Fatalf("a redirect on the API's own host must be followed: %v", err)
	}
}
