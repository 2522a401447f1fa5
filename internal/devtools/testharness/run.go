package testharness

import (
	"context"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// T is the part of testing.TB the harness's helpers use (the harness is also linked into make bench and
// make demo, which have no *testing.T).
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// RunManager starts mgr in the background. stop cancels it and returns once it has stopped (reporting an
// error it stopped with, or that it did not stop within 30 s); it runs when the test ends if not before.
func RunManager(t T, mgr manager.Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("operator stopped with error: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("operator did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Eventually polls fn every interval until it returns nil, failing the test after timeout with fn's last
// error.
func Eventually(t T, timeout, interval time.Duration, what string, fn func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Poll(ctx, interval, fn); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
