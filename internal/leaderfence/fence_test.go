package leaderfence

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestFence(window time.Duration) (*Fence, *clock) {
	c := &clock{t: time.Unix(1000, 0)}
	f := New(window)
	f.now = c.now
	return f, c
}

// fakeLock records the leader-election writes; err fails them.
type fakeLock struct {
	id  string
	err error
}

func (l *fakeLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	return &resourcelock.LeaderElectionRecord{}, nil, nil
}
func (l *fakeLock) Create(context.Context, resourcelock.LeaderElectionRecord) error { return l.err }
func (l *fakeLock) Update(context.Context, resourcelock.LeaderElectionRecord) error { return l.err }
func (l *fakeLock) RecordEvent(string)                                              {}
func (l *fakeLock) Identity() string                                                { return l.id }
func (l *fakeLock) Describe() string                                                { return "fake" }

func TestCheck(t *testing.T) {
	const window = 10 * time.Second
	me := resourcelock.LeaderElectionRecord{HolderIdentity: "me"}
	tests := []struct {
		name string
		// steps run against the fence and its lock before Check.
		steps func(t *testing.T, l resourcelock.Interface, fl *fakeLock, c *clock)
		allow bool
	}{
		{name: "never led", steps: func(*testing.T, resourcelock.Interface, *fakeLock, *clock) {}, allow: false},
		{name: "acquired", steps: func(t *testing.T, l resourcelock.Interface, _ *fakeLock, _ *clock) {
			mustNil(t, l.Create(context.Background(), me))
		}, allow: true},
		{name: "renewed just inside the window", steps: func(t *testing.T, l resourcelock.Interface, _ *fakeLock, c *clock) {
			mustNil(t, l.Update(context.Background(), me))
			c.add(window - time.Millisecond)
		}, allow: true},
		{name: "window closed (frozen past the renew deadline)", steps: func(t *testing.T, l resourcelock.Interface, _ *fakeLock, c *clock) {
			mustNil(t, l.Update(context.Background(), me))
			c.add(window)
		}, allow: false},
		{name: "failed renewal does not extend", steps: func(t *testing.T, l resourcelock.Interface, fl *fakeLock, c *clock) {
			mustNil(t, l.Update(context.Background(), me))
			c.add(window - time.Second)
			fl.err = errors.New("conflict")
			if l.Update(context.Background(), me) == nil {
				t.Fatal("the failing update succeeded")
			}
			c.add(time.Second)
		}, allow: false},
		{name: "successful renewal extends", steps: func(t *testing.T, l resourcelock.Interface, _ *fakeLock, c *clock) {
			mustNil(t, l.Update(context.Background(), me))
			c.add(window - time.Second)
			mustNil(t, l.Update(context.Background(), me))
			c.add(time.Second)
		}, allow: true},
		{name: "lease given up", steps: func(t *testing.T, l resourcelock.Interface, _ *fakeLock, _ *clock) {
			mustNil(t, l.Update(context.Background(), me))
			mustNil(t, l.Update(context.Background(), resourcelock.LeaderElectionRecord{}))
		}, allow: false},
		{name: "a record naming another holder does not renew", steps: func(t *testing.T, l resourcelock.Interface, _ *fakeLock, _ *clock) {
			mustNil(t, l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "other"}))
		}, allow: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newTestFence(window)
			fl := &fakeLock{id: "me"}
			tt.steps(t, f.Lock(fl), fl, c)
			err := f.Check()
			if (err == nil) != tt.allow {
				t.Fatalf("Check() = %v, want allowed=%v", err, tt.allow)
			}
			if err != nil && !errors.Is(err, ErrFenced) {
				t.Fatalf("Check() = %v, not ErrFenced", err)
			}
		})
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestIsWrite(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{http.MethodGet, "/api/v1/namespaces/ns/secrets", false},
		{http.MethodHead, "/api/v1/namespaces/ns/secrets/x", false},
		{http.MethodPost, "/api/v1/namespaces/ns/secrets", true},
		{http.MethodPut, "/api/v1/namespaces/ns/secrets/sh.helm.release.v1.x.v2", true},
		{http.MethodPatch, "/apis/castware.cast.ai/v1alpha1/namespaces/ns/components/x/status", true},
		{http.MethodDelete, "/apis/apps/v1/namespaces/ns/deployments/x", true},
		{http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", false},
		{http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", false},
	}
	for _, tt := range tests {
		if got := IsWrite(tt.method, tt.path); got != tt.want {
			t.Errorf("IsWrite(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

// TestTransport sends requests through a fenced transport to a server that counts what reaches it.
func TestTransport(t *testing.T) {
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	f, c := newTestFence(10 * time.Second)
	var refusals []string
	f.OnRefuse(func(method, path string, _ error) { refusals = append(refusals, method+" "+path) })
	hc := &http.Client{Transport: f.Wrap(http.DefaultTransport)}
	send := func(method, path string) error {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.ReadAll(resp.Body)
		return resp.Body.Close()
	}
	steps := []struct {
		name         string
		before       func()
		method, path string
		wantErr      bool
	}{
		{"read before leading", nil, http.MethodGet, "/api/v1/secrets", false},
		{"write before leading", nil, http.MethodPut, "/api/v1/namespaces/ns/secrets/a", true},
		{"review before leading", nil, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", false},
		{"write while leading", func() {
			mustNil(t, f.Lock(&fakeLock{id: "me"}).Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"}))
		},
			http.MethodPatch, "/api/v1/namespaces/ns/secrets/a", false},
		{"write after the window closed", func() { c.add(11 * time.Second) }, http.MethodPost, "/api/v1/namespaces/ns/secrets", true},
		{"read after the window closed", nil, http.MethodGet, "/api/v1/namespaces/ns/secrets/a", false},
	}
	want := int64(0)
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		err := send(s.method, s.path)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: err %v, want error %v", s.name, err, s.wantErr)
		}
		if err != nil && !errors.Is(err, ErrFenced) {
			t.Fatalf("%s: %v is not ErrFenced", s.name, err)
		}
		if !s.wantErr {
			want++
		}
		if got := reached.Load(); got != want {
			t.Fatalf("%s: %d requests reached the server, want %d", s.name, got, want)
		}
	}
	if len(refusals) != 2 || f.Refused() != 2 {
		t.Fatalf("refusals %v (%d counted), want the two fenced writes", refusals, f.Refused())
	}
}

// TestTransportCancelsAtExpiry: a write allowed near the end of the window is cancelled when it closes
// instead of landing later.
func TestTransportCancelsAtExpiry(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	f := New(200 * time.Millisecond)
	mustNil(t, f.Lock(&fakeLock{id: "me"}).Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"}))
	hc := &http.Client{Transport: f.Wrap(http.DefaultTransport)}
	req, err := http.NewRequest(http.MethodPut, srv.URL+"/api/v1/namespaces/ns/secrets/a", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("the write outlived the lease window")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the window's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled after %s", d)
	}
}

// TestWatch returns once the window of a held lease closes, and not while renewals keep coming.
func TestWatch(t *testing.T) {
	f := New(300 * time.Millisecond)
	l := f.Lock(&fakeLock{id: "me"})
	renew := func() {
		mustNil(t, l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"}))
	}
	renew()
	done := make(chan error, 1)
	go func() { done <- f.Watch(context.Background()) }()
	// Renewed every 100 ms for a second: Watch must not return.
	for range 10 {
		select {
		case err := <-done:
			t.Fatalf("Watch returned while the lease was renewed: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		renew()
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("Watch = %v, want ErrFenced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after renewals stopped")
	}
	// A process that never led (or gave the lease up) has nothing to watch.
	if err := New(time.Second).Watch(context.Background()); err != nil {
		t.Fatalf("Watch without a lease = %v", err)
	}
}
