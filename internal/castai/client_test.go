package castai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sk-test-0123456789abcdef"

// sleepRecorder is an injected SleepFunc that records delays and returns at once.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// newTestClient builds a client for h with an instant sleep.
func newTestClient(t *testing.T, h http.Handler, opts ...Option) (*Client, *sleepRecorder) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rec := &sleepRecorder{}
	c, err := New(srv.URL, StaticKey(testKey), append([]Option{WithSleep(rec.sleep)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// scripted answers each request with the next status/body, repeating the last one.
type scripted struct {
	mu      sync.Mutex
	steps   []step
	n       int
	lastReq *http.Request
	body    []byte
}

type step struct {
	status int
	body   string
	header map[string]string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.lastReq = r.Clone(context.Background())
	s.body, _ = io.ReadAll(r.Body)
	s.mu.Unlock()
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		keys    KeySource
		opts    []Option
		wantErr bool
	}{
		{"default base", "", StaticKey("k"), nil, false},
		{"with prefix", "https://api.example.com/prefix/", StaticKey("k"), nil, false},
		{"nil keys", "https://api.example.com", nil, nil, true},
		{"bad scheme", "ftp://x", StaticKey("k"), nil, true},
		{"no host", "https://", StaticKey("k"), nil, true},
		{"credentials", "https://u:p@x", StaticKey("k"), nil, true},
		{"zero attempts", "https://x", StaticKey("k"), []Option{WithMaxAttempts(0)}, true},
		{"bad backoff", "https://x", StaticKey("k"), []Option{WithBackoff(time.Second, time.Millisecond)}, true},
		{"zero timeout", "https://x", StaticKey("k"), []Option{WithTimeout(0)}, true},
		{"negative ttl", "https://x", StaticKey("k"), []Option{WithComponentCacheTTL(-1)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.base, tt.keys, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New() err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && tt.base == "" && c.BaseURL() != DefaultBaseURL {
				t.Fatalf("BaseURL() = %q", c.BaseURL())
			}
		})
	}
}

func TestURLJoin(t *testing.T) {
	c, err := New("https://api.example.com/prefix/", StaticKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.url("cluster-management/v1/components:getByName", map[string][]string{"name": {"a b"}})
	want := "https://api.example.com/prefix/cluster-management/v1/components:getByName?name=a+b"
	if got != want {
		t.Fatalf("url = %q, want %q", got, want)
	}
}

func TestHeadersAndUserAgent(t *testing.T) {
	s := &scripted{steps: []step{{200, `{"id":"u1","username":"me@x"}`, nil}}}
	c, _ := newTestClient(t, s, WithVersion("v1.2.3"))
	me, err := c.Me(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != "u1" || me.Username != "me@x" {
		t.Fatalf("Me = %+v", me)
	}
	if got := s.lastReq.Header.Get("X-API-Key"); got != testKey {
		t.Fatalf("X-API-Key = %q", got)
	}
	if got := s.lastReq.Header.Get("User-Agent"); got != "castware-operator/v1.2.3" {
		t.Fatalf("User-Agent = %q", got)
	}

	c2, _ := newTestClient(t, s, WithUserAgent("custom/1"))
	if _, err := c2.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.lastReq.Header.Get("User-Agent"); got != "custom/1" {
		t.Fatalf("User-Agent = %q", got)
	}
}

func TestKeyTrimmedAndEmptyKey(t *testing.T) {
	s := &scripted{steps: []step{{200, `{}`, nil}}}
	srv := httptest.NewServer(s)
	defer srv.Close()

	c, err := New(srv.URL, StaticKey("  \n"+testKey+"\t\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.lastReq.Header.Get("X-API-Key"); got != testKey {
		t.Fatalf("X-API-Key = %q, want trimmed", got)
	}

	for _, ks := range []KeySource{StaticKey(""), StaticKey(" \n "),
		KeyFunc(func(context.Context) (string, error) { return "", errors.New("secret missing") })} {
		before := s.count()
		c, err := New(srv.URL, ks)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Me(t.Context())
		if err == nil {
			t.Fatal("want error")
		}
		if s.count() != before {
			t.Fatal("a request was sent without a key")
		}
		if _, isStatic := ks.(StaticKey); isStatic && !errors.Is(err, ErrNoAPIKey) {
			t.Fatalf("err = %v, want ErrNoAPIKey", err)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name       string
		steps      []step
		wantErr    bool
		wantCalls  int
		wantStatus int
	}{
		{"500 then ok", []step{{500, `{"message":"boom"}`, nil}, {200, `{"id":"x"}`, nil}}, false, 2, 0},
		{"503 burst then ok", []step{{503, ``, nil}, {502, `<html>`, nil}, {504, ``, nil}, {200, `{"id":"x"}`, nil}}, false, 4, 0},
		{"429 then ok", []step{{429, `{"message":"slow down"}`, nil}, {200, `{"id":"x"}`, nil}}, false, 2, 0},
		{"5xx exhausts attempts", []step{{500, `{"message":"down"}`, nil}}, true, 4, 500},
		{"400 not retried", []step{{400, `{"message":"bad","fieldViolations":[{"field":"name","description":"required"}]}`, nil}}, true, 1, 400},
		{"401 not retried", []step{{401, `{"message":"Unauthorized"}`, nil}}, true, 1, 401},
		{"403 not retried", []step{{403, `{"message":"Forbidden"}`, nil}}, true, 1, 403},
		{"404 not retried", []step{{404, `{"message":"nope"}`, nil}}, true, 1, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: tt.steps}
			c, rec := newTestClient(t, s)
			_, err := c.Me(t.Context())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if s.count() != tt.wantCalls {
				t.Fatalf("requests = %d, want %d", s.count(), tt.wantCalls)
			}
			if got := len(rec.get()); got != tt.wantCalls-1 {
				t.Fatalf("sleeps = %d, want %d", got, tt.wantCalls-1)
			}
			if tt.wantStatus != 0 && StatusCode(err) != tt.wantStatus {
				t.Fatalf("StatusCode(%v) = %d, want %d", err, StatusCode(err), tt.wantStatus)
			}
			st := c.Stats()[EndpointMe]
			if st.Attempts != uint64(tt.wantCalls) || st.Retries != uint64(tt.wantCalls-1) || st.Calls != 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	tests := []struct {
		status               int
		unauth, forbid, nf   bool
		wantMessageSubstring string
	}{
		{401, true, false, false, "Unauthorized"},
		{403, false, true, false, "Forbidden"},
		{404, false, false, true, "not here"},
		{400, false, false, false, "name: required"},
	}
	for _, tt := range tests {
		body := `{"message":"not here","fieldViolations":[{"field":"name","description":"required"}]}`
		if tt.status != 404 && tt.status != 400 {
			body = `{"message":"` + http.StatusText(tt.status) + `"}`
		}
		s := &scripted{steps: []step{{tt.status, body, nil}}}
		c, _ := newTestClient(t, s)
		_, err := c.GetCluster(t.Context(), "c1")
		if IsUnauthorized(err) != tt.unauth || IsForbidden(err) != tt.forbid || IsNotFound(err) != tt.nf {
			t.Fatalf("%d: helpers wrong for %v", tt.status, err)
		}
		if tt.nf && !errors.Is(err, ErrNotFound) {
			t.Fatalf("errors.Is(ErrNotFound) false for %v", err)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != tt.status {
			t.Fatalf("errors.As APIError failed: %v", err)
		}
		if !strings.Contains(err.Error(), tt.wantMessageSubstring) {
			t.Fatalf("error %q lacks %q", err, tt.wantMessageSubstring)
		}
	}
}

func TestBackoffDelays(t *testing.T) {
	s := &scripted{steps: []step{{500, ``, nil}}}
	c, rec := newTestClient(t, s, WithMaxAttempts(6), WithBackoff(100*time.Millisecond, 500*time.Millisecond))
	if _, err := c.Me(t.Context()); err == nil {
		t.Fatal("want error")
	}
	caps := []time.Duration{100, 200, 400, 500, 500}
	delays := rec.get()
	if len(delays) != len(caps) {
		t.Fatalf("delays = %v", delays)
	}
	for i, d := range delays {
		hi := caps[i] * time.Millisecond
		if d < hi/2 || d > hi {
			t.Fatalf("delay %d = %v, want in [%v, %v]", i, d, hi/2, hi)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	s := &scripted{steps: []step{{503, ``, map[string]string{"Retry-After": "2"}}, {200, `{}`, nil}}}
	c, rec := newTestClient(t, s)
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := rec.get(); len(d) != 1 || d[0] != 2*time.Second {
		t.Fatalf("delays = %v, want [2s]", d)
	}
	s2 := &scripted{steps: []step{{429, ``, map[string]string{"Retry-After": "120"}}, {200, `{}`, nil}}}
	c2, rec2 := newTestClient(t, s2)
	if _, err := c2.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := rec2.get(); len(d) != 1 || d[0] != DefaultMaxDelay {
		t.Fatalf("delays = %v, want capped at %v", d, DefaultMaxDelay)
	}
}

// TestPollWaitsOutRetryAfter: a poll the API asks to wait longer than the client's max delay is not retried
// sooner inside the call; the error carries the wait (RetryAfter) for the poll loop. A short Retry-After is
// waited for and retried as for every call.
func TestPollWaitsOutRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		steps      []step
		wantCalls  int
		wantErr    bool
		wantAfter  time.Duration
		wantSleeps []time.Duration
	}{
		{"long Retry-After ends the call", []step{{429, `{"message":"slow down"}`, map[string]string{"Retry-After": "120"}}, {200, `{"actions":[]}`, nil}},
			1, true, 2 * time.Minute, nil},
		{"short Retry-After is retried after it", []step{{503, ``, map[string]string{"Retry-After": "2"}}, {200, `{"actions":[]}`, nil}},
			2, false, 0, []time.Duration{2 * time.Second}},
		{"5xx without Retry-After exhausts attempts", []step{{500, ``, nil}}, DefaultMaxAttempts, true, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: tt.steps}
			c, rec := newTestClient(t, s)
			_, err := c.PollActions(t.Context(), "c1", PollOptions{})
			if (err != nil) != tt.wantErr || s.count() != tt.wantCalls {
				t.Fatalf("err = %v after %d requests, want error %v after %d", err, s.count(), tt.wantErr, tt.wantCalls)
			}
			if got := RetryAfter(err); got != tt.wantAfter {
				t.Fatalf("RetryAfter = %v, want %v", got, tt.wantAfter)
			}
			if tt.wantSleeps != nil && !slices.Equal(rec.get(), tt.wantSleeps) {
				t.Fatalf("sleeps = %v, want %v", rec.get(), tt.wantSleeps)
			}
		})
	}
	if RetryAfter(errors.New("plain")) != 0 || RetryAfter(nil) != 0 {
		t.Fatal("RetryAfter of an error without an API answer must be 0")
	}
}

func TestTimeoutRetriedThenSucceeds(t *testing.T) {
	var n atomic.Int32
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = io.WriteString(w, `{"id":"x"}`)
	})
	c, rec := newTestClient(t, h, WithTimeout(50*time.Millisecond))
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || len(rec.get()) != 1 {
		t.Fatalf("requests = %d, sleeps = %d", n.Load(), len(rec.get()))
	}
}

func TestConnectionErrorRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	rec := &sleepRecorder{}
	c, err := New("http://"+addr, StaticKey(testKey), WithSleep(rec.sleep), WithMaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Me(t.Context())
	if err == nil {
		t.Fatal("want error")
	}
	if len(rec.get()) != 2 {
		t.Fatalf("sleeps = %d, want 2 (connection errors are retried)", len(rec.get()))
	}
	if !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	s := &scripted{steps: []step{{503, ``, nil}}}
	ctx, cancel := context.WithCancel(t.Context())
	c, _ := newTestClient(t, s, WithSleep(func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}))
	_, err := c.Me(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if s.count() != 1 {
		t.Fatalf("requests = %d, want 1", s.count())
	}
}

func TestMalformedResponses(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"truncated", `{"id": "abc`},
		{"html", `<html><body>gateway</body></html>`},
		{"wrong type", `{"id": 42}`},
		{"empty", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: []step{{200, tt.body, nil}}}
			c, _ := newTestClient(t, s)
			_, err := c.Me(t.Context())
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("err = %v, want ErrMalformedResponse", err)
			}
			if s.count() != 1 {
				t.Fatalf("malformed answers must not be retried; requests = %d", s.count())
			}
		})
	}
}

func TestErrorsNeverContainKey(t *testing.T) {
	echo := `{"message":"bad key ` + testKey + `","fieldViolations":[{"field":"` + testKey + `","description":"is ` + testKey + `"}]}`
	tests := []struct {
		name  string
		steps []step
		call  func(c *Client) error
	}{
		{"api error echo", []step{{401, echo, nil}}, func(c *Client) error { _, err := c.Me(context.Background()); return err }},
		{"plain body echo", []step{{400, "key=" + testKey, nil}}, func(c *Client) error { _, err := c.Me(context.Background()); return err }},
		{"malformed echo", []step{{200, "{" + testKey, nil}}, func(c *Client) error { _, err := c.Me(context.Background()); return err }},
		{"5xx echo", []step{{500, echo, nil}}, func(c *Client) error { _, err := c.Me(context.Background()); return err }},
		{"validate echo", []step{{400, `{"message":"` + testKey + `"}`, nil}}, func(c *Client) error {
			_, err := c.ValidateUpgrade(context.Background(), "c", "x", "1")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: tt.steps}
			c, _ := newTestClient(t, s)
			err := tt.call(c)
			if err == nil {
				t.Fatal("want error")
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatalf("error leaks the key: %v", err)
			}
			if !strings.Contains(err.Error(), redactedMark) {
				t.Fatalf("error not marked as redacted: %v", err)
			}
		})
	}
}

func TestKeySourceAskedEveryRequest(t *testing.T) {
	s := &scripted{steps: []step{{200, `{}`, nil}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var mu sync.Mutex
	key := "key-one-aaaaaaaa"
	c, err := New(srv.URL, KeyFunc(func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return key, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	key = "key-two-bbbbbbbb"
	mu.Unlock()
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.lastReq.Header.Get("X-API-Key"); got != "key-two-bbbbbbbb" {
		t.Fatalf("X-API-Key = %q after rotation", got)
	}
}

func TestRegisterClusterBody(t *testing.T) {
	tests := []struct {
		name    string
		req     RegisterClusterRequest
		want    string
		wantErr bool
	}{
		{
			name: "eks new",
			req:  RegisterClusterRequest{Name: "prod", EKS: &EKSParams{ClusterName: "prod", Region: "eu-west-1", AccountID: "123"}},
			want: `{"id":"00000000-0000-0000-0000-000000000000","name":"prod","eks":{"clusterName":"prod","region":"eu-west-1","accountId":"123"},"castware_install_method":1}`,
		},
		{
			name: "gke existing id",
			req:  RegisterClusterRequest{ID: "abc", Name: "g", GKE: &GKEParams{Region: "r", ProjectID: "p", ClusterName: "g", Location: "r-a"}},
			want: `{"id":"abc","name":"g","gke":{"region":"r","projectId":"p","clusterName":"g","location":"r-a"},"castware_install_method":1}`,
		},
		{
			name: "aks",
			req:  RegisterClusterRequest{AKS: &AKSParams{Region: "westeurope", NodeResourceGroup: "MC_x", SubscriptionID: "s"}},
			want: `{"id":"00000000-0000-0000-0000-000000000000","aks":{"region":"westeurope","nodeResourceGroup":"MC_x","subscriptionId":"s"},"castware_install_method":1}`,
		},
		{name: "no provider", req: RegisterClusterRequest{Name: "x"}, wantErr: true},
		{name: "two providers", req: RegisterClusterRequest{EKS: &EKSParams{}, AKS: &AKSParams{}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: []step{{200, `{"id":"new-id","organizationId":"org"}`, nil}}}
			c, _ := newTestClient(t, s)
			resp, err := c.RegisterCluster(t.Context(), tt.req)
			if tt.wantErr {
				if err == nil || s.count() != 0 {
					t.Fatalf("err = %v, requests = %d", err, s.count())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.ID != "new-id" || resp.OrganizationID != "org" {
				t.Fatalf("resp = %+v", resp)
			}
			if string(s.body) != tt.want {
				t.Fatalf("body:\n got %s\nwant %s", s.body, tt.want)
			}
			if s.lastReq.Method != http.MethodPost || s.lastReq.URL.Path != "/v1/kubernetes/external-clusters" {
				t.Fatalf("%s %s", s.lastReq.Method, s.lastReq.URL.Path)
			}
		})
	}
}

func TestRequestShapes(t *testing.T) {
	tests := []struct {
		name       string
		call       func(c *Client) error
		answer     string
		wantMethod string
		wantPath   string
		wantQuery  string
		wantBody   string
	}{
		{
			name:       "get cluster",
			call:       func(c *Client) error { _, err := c.GetCluster(context.Background(), "c/1"); return err },
			answer:     `{"id":"c/1","organization_id":"o","created_at":"2026-01-02T03:04:05Z","agent_status":"online"}`,
			wantMethod: "GET", wantPath: "/v1/kubernetes/external-clusters/c/1",
		},
		{
			name: "record action result",
			call: func(c *Client) error {
				return c.RecordActionResult(context.Background(), "c1", ActionResult{
					Name: "castai-agent", Action: ActionEnable, CurrentVersion: "", Version: "1.0.0",
					Status: StatusOK, ReleaseName: "castai-agent", Message: "installed",
					ImageVersions: map[string]string{"agent": "v1"}, ComponentParams: map[string]string{"extendedPermissions": "true"},
				})
			},
			answer:     `{}`,
			wantMethod: "POST", wantPath: "/cluster-management/v1/clusters/c1/components:recordActionResult",
			wantBody: `{"name":"castai-agent","action":"ENABLE","version":"1.0.0","status":"OK","image_versions":{"agent":"v1"},"release_name":"castai-agent","message":"installed","component_params":{"extendedPermissions":"true"}}`,
		},
		{
			name:       "ack ok",
			call:       func(c *Client) error { return c.AckAction(context.Background(), "c1", "a1", nil) },
			answer:     `{}`,
			wantMethod: "POST", wantPath: "/cluster-management/v1/clusters/c1/lifecycle-actions/a1:ack",
			wantBody: `{"error":null}`,
		},
		{
			name:       "ack error",
			call:       func(c *Client) error { return c.AckAction(context.Background(), "c1", "a1", errors.New("boom")) },
			answer:     ``,
			wantMethod: "POST", wantPath: "/cluster-management/v1/clusters/c1/lifecycle-actions/a1:ack",
			wantBody: `{"error":"boom"}`,
		},
		{
			name: "ack error redacted",
			call: func(c *Client) error {
				return c.AckAction(context.Background(), "c1", "a1", errors.New("used "+testKey))
			},
			answer:     `{}`,
			wantMethod: "POST", wantPath: "/cluster-management/v1/clusters/c1/lifecycle-actions/a1:ack",
			wantBody: `{"error":"used [REDACTED]"}`,
		},
		{
			name: "validate upgrade",
			call: func(c *Client) error {
				r, err := c.ValidateUpgrade(context.Background(), "c1", "castai-agent", "1.2.3")
				if err == nil && (!r.Allowed || r.BlockReason != "") {
					return errors.New("unexpected answer")
				}
				return err
			},
			answer:     `{"allowed":true}`,
			wantMethod: "POST", wantPath: "/cluster-management/v1/clusters/c1/components:validateUpgrade",
			wantBody: `{"cluster_id":"c1","component_name":"castai-agent","target_version":"1.2.3"}`,
		},
		{
			name: "poll",
			call: func(c *Client) error {
				_, err := c.PollActions(context.Background(), "c1", PollOptions{MaxActions: 3})
				return err
			},
			answer:     `{"actions":[]}`,
			wantMethod: "GET", wantPath: "/cluster-management/v1/clusters/c1/lifecycle-actions:poll", wantQuery: "max_actions=3",
		},
		{
			name:       "poll default max",
			call:       func(c *Client) error { _, err := c.PollActions(context.Background(), "c1", PollOptions{}); return err },
			answer:     `{}`,
			wantMethod: "GET", wantPath: "/cluster-management/v1/clusters/c1/lifecycle-actions:poll", wantQuery: "max_actions=10",
		},
		{
			name: "get by name",
			call: func(c *Client) error {
				_, err := c.GetComponentByName(context.Background(), "spot-handler")
				return err
			},
			answer:     `{"id":"1","name":"spot-handler","helmChart":"castai-spot-handler","dependencies":[],"latestVersion":"0.35.5","releaseName":"castai-spot-handler"}`,
			wantMethod: "GET", wantPath: "/cluster-management/v1/components:getByName", wantQuery: "name=spot-handler",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: []step{{200, tt.answer, nil}}}
			c, _ := newTestClient(t, s)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			r := s.lastReq
			if r.Method != tt.wantMethod || r.URL.Path != tt.wantPath || r.URL.RawQuery != tt.wantQuery {
				t.Fatalf("got %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
			}
			if tt.wantBody != "" && string(s.body) != tt.wantBody {
				t.Fatalf("body:\n got %s\nwant %s", s.body, tt.wantBody)
			}
			if tt.wantBody != "" && r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type = %q", r.Header.Get("Content-Type"))
			}
		})
	}
}

func TestClientSideValidation(t *testing.T) {
	s := &scripted{steps: []step{{200, `{}`, nil}}}
	c, _ := newTestClient(t, s)
	ctx := t.Context()
	calls := map[string]func() error{
		"get cluster empty": func() error { _, err := c.GetCluster(ctx, ""); return err },
		"poll empty":        func() error { _, err := c.PollActions(ctx, " ", PollOptions{}); return err },
		"ack empty action":  func() error { return c.AckAction(ctx, "c", "", nil) },
		"record bad action": func() error {
			return c.RecordActionResult(ctx, "c", ActionResult{Name: "x", Action: "INSTALL", Status: StatusOK})
		},
		"record bad status": func() error {
			return c.RecordActionResult(ctx, "c", ActionResult{Name: "x", Action: ActionEnable, Status: "FINE"})
		},
		"record no name": func() error {
			return c.RecordActionResult(ctx, "c", ActionResult{Action: ActionEnable, Status: StatusOK})
		},
		"validate no comp":     func() error { _, err := c.ValidateUpgrade(ctx, "c", "", "1"); return err },
		"get by name empty":    func() error { _, err := c.GetComponentByName(ctx, ""); return err },
		"ship logs no cluster": func() error { return c.ShipLogs(ctx, "", LogBatch{Entries: []LogEntry{{Message: "m"}}}) },
	}
	for name, f := range calls {
		if err := f(); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	if s.count() != 0 {
		t.Fatalf("requests sent for invalid calls: %d", s.count())
	}
}

func TestValidateUpgradeErrorBodies(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantAllowed bool
		wantReason  string
		wantErr     bool
	}{
		{"blocked 200", 200, `{"allowed":false,"blockReason":"too old"}`, false, "too old", false},
		{"blocked 412 with body", 412, `{"allowed":false,"blockReason":"needs phase 2"}`, false, "needs phase 2", false},
		{"400 plain error", 400, `{"message":"bad"}`, false, "", true},
		{"200 not json", 200, `nope`, false, "", true},
		{"500 with body retried then fails", 500, `{"allowed":false,"blockReason":"x"}`, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{steps: []step{{tt.status, tt.body, nil}}}
			c, _ := newTestClient(t, s)
			r, err := c.ValidateUpgrade(t.Context(), "c1", "castai-agent", "2.0.0")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (r.Allowed != tt.wantAllowed || r.BlockReason != tt.wantReason) {
				t.Fatalf("resp = %+v", r)
			}
		})
	}
}

func TestPollDecodesActionsAndWaitHint(t *testing.T) {
	body := `{"actions":[
	 {"id":"a1","createTime":"2026-08-01T10:00:00.123Z","install":{"version":"1.0.0","component":"castai-agent","upsert":true,"valuesOverrides":{"a.b":"c"},"resetThenReuseValues":false,"releaseName":"castai-agent"}},
	 {"id":"a2","createTime":"2026-08-01T10:00:01Z","upgrade":{"version":"1.1.0","component":"spot-handler","valuesOverrides":{},"resetThenReuseValues":true,"releaseName":"castai-spot-handler"}},
	 {"id":"a3","createTime":"2026-08-01T10:00:02Z","rollback":{"component":"castai-agent"}},
	 {"id":"a4","createTime":"2026-08-01T10:00:03Z","uninstall":{"component":"spot-handler"}},
	 {"id":"a5","createTime":"2026-08-01T10:00:04Z","somethingNew":{"component":"x"}}
	]}`
	s := &scripted{steps: []step{{200, body, nil}}}
	c, _ := newTestClient(t, s)
	acts, err := c.PollActions(t.Context(), "c1", PollOptions{Wait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.lastReq.Header.Get(PollWaitHeader); got != "30s" {
		t.Fatalf("wait hint = %q", got)
	}
	want := []struct {
		kind      ActionKind
		component string
		valid     bool
	}{
		{ActionKindInstall, "castai-agent", true},
		{ActionKindUpgrade, "spot-handler", true},
		{ActionKindRollback, "castai-agent", true},
		{ActionKindUninstall, "spot-handler", true},
		{ActionKindNone, "", false},
	}
	if len(acts) != len(want) {
		t.Fatalf("actions = %d", len(acts))
	}
	for i, w := range want {
		a := acts[i]
		if a.Kind() != w.kind || a.ComponentName() != w.component || (a.Validate() == nil) != w.valid {
			t.Fatalf("action %d: kind %q component %q validate %v", i, a.Kind(), a.ComponentName(), a.Validate())
		}
	}
	if !acts[0].Install.Upsert || acts[0].Install.ValuesOverrides["a.b"] != "c" || acts[0].CreateTime.IsZero() {
		t.Fatalf("install payload = %+v", acts[0].Install)
	}
	if !acts[1].Upgrade.ResetThenReuseValues || acts[1].Upgrade.ReleaseName != "castai-spot-handler" {
		t.Fatalf("upgrade payload = %+v", acts[1].Upgrade)
	}
}

func TestActionValidate(t *testing.T) {
	tests := []struct {
		name string
		a    Action
		ok   bool
	}{
		{"ok", Action{ID: "1", Uninstall: &ComponentTarget{Component: "x"}}, true},
		{"no id", Action{Uninstall: &ComponentTarget{Component: "x"}}, false},
		{"two payloads", Action{ID: "1", Rollback: &ComponentTarget{Component: "x"}, Uninstall: &ComponentTarget{Component: "x"}}, false},
		{"no component", Action{ID: "1", Install: &ChartAction{}}, false},
		{"none", Action{ID: "1"}, false},
	}
	for _, tt := range tests {
		if err := tt.a.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}

func TestPollTimeoutNotRetried(t *testing.T) {
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		<-r.Context().Done()
	})
	c, rec := newTestClient(t, h, WithPollTimeout(30*time.Millisecond))
	_, err := c.PollActions(t.Context(), "c1", PollOptions{})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 1 || len(rec.get()) != 0 {
		t.Fatalf("requests = %d, sleeps = %d; a long-poll timeout must not be retried", n.Load(), len(rec.get()))
	}
}

func TestComponentCache(t *testing.T) {
	s := &scripted{steps: []step{
		{200, `{"id":"1","name":"castai-agent","helmChart":"castai-agent","dependencies":["x"],"latestVersion":"1.0.0","releaseName":"castai-agent"}`, nil},
	}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	c, _ := newTestClient(t, s, WithClock(clock))
	ctx := t.Context()

	first, err := c.GetComponentByName(ctx, "castai-agent")
	if err != nil {
		t.Fatal(err)
	}
	first.Dependencies[0] = "mutated" // callers get copies
	for range 5 {
		info, err := c.GetComponentByName(ctx, "castai-agent")
		if err != nil {
			t.Fatal(err)
		}
		if info.Dependencies[0] != "x" || info.LatestVersion != "1.0.0" {
			t.Fatalf("cached info = %+v", info)
		}
	}
	if s.count() != 1 {
		t.Fatalf("requests = %d, want 1 (cached)", s.count())
	}
	st := c.Stats()[EndpointGetComponentByName]
	if st.CacheHits != 5 || st.Calls != 6 || st.Attempts != 1 {
		t.Fatalf("stats = %+v", st)
	}

	advance(DefaultComponentCacheTTL - time.Second)
	_, _ = c.GetComponentByName(ctx, "castai-agent")
	if s.count() != 1 {
		t.Fatal("refetched before TTL")
	}
	advance(2 * time.Second)
	_, _ = c.GetComponentByName(ctx, "castai-agent")
	if s.count() != 2 {
		t.Fatalf("requests = %d, want refetch after TTL", s.count())
	}

	c.InvalidateComponentCache("castai-agent")
	_, _ = c.GetComponentByName(ctx, "castai-agent")
	if s.count() != 3 {
		t.Fatalf("requests = %d, want refetch after invalidation", s.count())
	}
	c.InvalidateComponentCache()
	_, _ = c.GetComponentByName(ctx, "castai-agent")
	if s.count() != 4 {
		t.Fatalf("requests = %d, want refetch after full invalidation", s.count())
	}
}

func TestComponentCacheSkipsErrorsAndCanBeDisabled(t *testing.T) {
	s := &scripted{steps: []step{{404, `{"message":"no such component"}`, nil}, {200, `{"name":"x"}`, nil}}}
	c, _ := newTestClient(t, s)
	if _, err := c.GetComponentByName(t.Context(), "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if _, err := c.GetComponentByName(t.Context(), "x"); err != nil {
		t.Fatalf("a 404 must not be cached: %v", err)
	}
	if _, err := c.GetComponentByName(t.Context(), "x"); err != nil || s.count() != 2 {
		t.Fatalf("err = %v, requests = %d", err, s.count())
	}

	s2 := &scripted{steps: []step{{200, `{"name":"x"}`, nil}}}
	c2, _ := newTestClient(t, s2, WithComponentCacheTTL(0))
	for range 3 {
		if _, err := c2.GetComponentByName(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if s2.count() != 3 {
		t.Fatalf("requests = %d with cache disabled", s2.count())
	}
}

func TestComponentCacheSharesInflight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		entered <- struct{}{}
		<-release
		_ = json.NewEncoder(w).Encode(ComponentInfo{Name: "x", LatestVersion: "1"})
	})
	c, _ := newTestClient(t, h)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.GetComponentByName(context.Background(), "x")
			errs <- err
		})
	}
	<-entered // the leader's request is in the handler; the others share it or hit the cache
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("requests = %d for 8 concurrent calls", n.Load())
	}
}
