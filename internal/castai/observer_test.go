package castai

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestObserverSeesEveryAttempt: a retried call is observed once per HTTP request with its status code, and
// a request that gets no answer with code 0.
func TestObserverSeesEveryAttempt(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"organizationId":"o"}`))
	}))
	defer srv.Close()
	var mu sync.Mutex
	var seen []int
	obs := func(endpoint string, code int, latency time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if endpoint != string(EndpointMe) || latency < 0 {
			t.Errorf("observed endpoint %q latency %v", endpoint, latency)
		}
		seen = append(seen, code)
	}
	noSleep := func(context.Context, time.Duration) error { return nil }
	c, err := New(srv.URL, StaticKey("k"), WithObserver(obs), WithSleep(noSleep))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	dead, _ := New(srv.URL, StaticKey("k"), WithObserver(obs), WithMaxAttempts(1))
	if _, err := dead.Me(context.Background()); err == nil {
		t.Fatal("a closed server answered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != 503 || seen[1] != 200 || seen[2] != 0 {
		t.Errorf("observed codes %v, want [503 200 0]", seen)
	}
}
