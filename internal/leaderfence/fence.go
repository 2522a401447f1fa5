// Package leaderfence keeps a replica that may have lost its leader-election lease from writing to the API
// server. A leader frozen (SIGSTOP, a paused VM, a stalled node) past its lease is replaced by a standby;
// when it runs again, its goroutines resume where they stopped, before its leader elector has noticed the
// loss, and a Helm action or a status update in flight would land on top of the new leader's work. The fence
// refuses every write once the last successful renewal of the lease is older than its window (the operator
// uses the lease duration less half a retry period, never less than the renew deadline: shorter than the
// lease, so a standby cannot have taken over yet while writes are allowed).
package leaderfence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ErrFenced is returned for a write refused because this process does not hold a fresh lease.
var ErrFenced = errors.New("write refused: this replica does not hold a fresh leader-election lease")

// Fence tracks this process's leader-election renewals and refuses writes outside a fresh lease.
type Fence struct {
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	// renewed is when the last successful acquire or renew of the lease by this process started (zero: it
	// does not lead).
	renewed time.Time
	// refused counts the writes refused.
	refused int64
	// onRefuse is called for every refused write (logging).
	onRefuse func(method, path string, err error)
}

// New returns a fence that allows writes for window (shorter than the lease duration) after each
// successful renewal.
func New(window time.Duration) *Fence {
	return &Fence{window: window, now: time.Now}
}

// OnRefuse registers fn, called for every refused write; it must not block.
func (f *Fence) OnRefuse(fn func(method, path string, err error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onRefuse = fn
}

// Expiry returns when writes stop being allowed (zero when this process does not lead).
func (f *Fence) Expiry() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewed.IsZero() {
		return time.Time{}
	}
	return f.renewed.Add(f.window)
}

// Check returns nil while this process holds a fresh lease, ErrFenced (wrapped with the reason) otherwise.
func (f *Fence) Check() error {
	exp := f.Expiry()
	switch now := f.now(); {
	case exp.IsZero():
		return fmt.Errorf("%w (not the leader)", ErrFenced)
	case !now.Before(exp):
		return fmt.Errorf("%w (last renewal %s ago, fence window %s)", ErrFenced, now.Sub(exp.Add(-f.window)).Round(time.Millisecond), f.window)
	}
	return nil
}

// Refused returns how many writes the fence refused.
func (f *Fence) Refused() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *Fence) renew(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.renewed) {
		f.renewed = at
	}
}

func (f *Fence) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = time.Time{}
}

func (f *Fence) refuse(method, path string, err error) {
	f.mu.Lock()
	f.refused++
	fn := f.onRefuse
	f.mu.Unlock()
	if fn != nil {
		fn(method, path, err)
	}
}

// Lock wraps the leader-election lock: every successful Create or Update that makes this process the holder
// renews the fence from the moment the request started; an Update that gives the lease up drops it.
func (f *Fence) Lock(inner resourcelock.Interface) resourcelock.Interface {
	return &lock{Interface: inner, fence: f}
}

type lock struct {
	resourcelock.Interface
	fence *Fence
}

func (l *lock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.write(ler, func() error { return l.Interface.Create(ctx, ler) })
}

func (l *lock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.write(ler, func() error { return l.Interface.Update(ctx, ler) })
}

func (l *lock) write(ler resourcelock.LeaderElectionRecord, do func() error) error {
	start := l.fence.now()
	if ler.HolderIdentity != l.Identity() {
		l.fence.drop() // giving the lease up (release on cancel): no more writes from here on
		return do()
	}
	if err := do(); err != nil {
		return err
	}
	l.fence.renew(start)
	return nil
}

// Wrap returns a transport that passes reads, lets writes through only while Check allows them, and
// cancels an allowed write still in flight when the lease window closes. It guards kube-apiserver and the
// Cast AI API alike (a stale leader must not report or acknowledge either). Kubernetes access reviews
// (TokenReview, SubjectAccessReview, self reviews) are POSTs that change nothing and every replica makes
// them, so they pass.
func (f *Fence) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &transport{next: rt, fence: f}
}

type transport struct {
	next  http.RoundTripper
	fence *Fence
}

// IsWrite reports whether a request to the API server changes anything the fence guards.
func IsWrite(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	for _, p := range []string{"/apis/authentication.k8s.io/", "/apis/authorization.k8s.io/"} {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !IsWrite(req.Method, req.URL.Path) {
		return t.next.RoundTrip(req)
	}
	if err := t.fence.Check(); err != nil {
		t.fence.refuse(req.Method, req.URL.Path, err)
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.fence.Expiry().Sub(t.fence.now()))
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases the write's deadline when the response is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Watch returns an error wrapping ErrFenced as soon as the window of a lease this process held closes
// without a renewal, so the process can stop instead of running on as a stale leader; it returns nil when
// ctx ends or the lease was given up. Run it only while leading (a leader-election runnable).
func (f *Fence) Watch(ctx context.Context) error {
	for {
		exp := f.Expiry()
		if exp.IsZero() {
			return nil
		}
		wait := exp.Sub(f.now())
		if wait <= 0 {
			err := f.Check()
			if err == nil {
				continue
			}
			return fmt.Errorf("leadership lost: %w", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// Unwrap returns the wrapped lock.
func (l *lock) Unwrap() resourcelock.Interface { return l.Interface }
