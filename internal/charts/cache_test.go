package charts

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestArchiveLRU(t *testing.T) {
	t.Parallel()
	type op struct {
		add    string // key to add (value = key repeated size times)
		size   int
		get    string // key to get
		hit    bool
		total  int64
		checks bool
	}
	tests := []struct {
		name string
		max  int64
		ops  []op
	}{
		{"stores and returns", 10, []op{
			{add: "a", size: 4}, {get: "a", hit: true}, {get: "b"},
		}},
		{"evicts least recently used", 10, []op{
			{add: "a", size: 4}, {add: "b", size: 4}, {get: "a", hit: true},
			{add: "c", size: 4}, // evicts b, the least recently used
			{get: "b"}, {get: "a", hit: true}, {get: "c", hit: true},
			{total: 8, checks: true},
		}},
		{"skips items larger than capacity", 3, []op{
			{add: "big", size: 4}, {get: "big"}, {total: 0, checks: true},
		}},
		{"replacing a key updates size", 10, []op{
			{add: "a", size: 4}, {add: "a", size: 6}, {total: 6, checks: true}, {get: "a", hit: true},
		}},
		{"zero capacity disables", 0, []op{
			{add: "a", size: 1}, {get: "a"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newArchiveCache(tc.max)
			for i, o := range tc.ops {
				switch {
				case o.add != "":
					c.add(o.add, make([]byte, o.size))
				case o.get != "":
					if _, hit := c.get(o.get); hit != o.hit {
						t.Fatalf("op %d: get(%q) hit = %v, want %v", i, o.get, hit, o.hit)
					}
				case o.checks:
					if got := c.bytes(); got != o.total {
						t.Fatalf("op %d: total = %d, want %d", i, got, o.total)
					}
				}
			}
		})
	}
}

func TestFlightGroup(t *testing.T) {
	t.Parallel()

	t.Run("shares one call", func(t *testing.T) {
		var g flightGroup[int]
		var calls atomic.Int32
		release := make(chan struct{})
		results := make(chan int, 3)
		for range 3 {
			go func() {
				v, _ := g.do(context.Background(), "k", func(context.Context) (int, error) {
					calls.Add(1)
					<-release
					return 42, nil
				})
				results <- v
			}()
		}
		waitFor(t, "3 waiters", func() bool { return g.waiting("k") == 3 })
		close(release)
		for range 3 {
			if v := <-results; v != 42 {
				t.Fatalf("got %d", v)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("fn called %d times", calls.Load())
		}
	})

	t.Run("one caller giving up does not cancel the others", func(t *testing.T) {
		var g flightGroup[int]
		release := make(chan struct{})
		fnCtxErr := make(chan error, 1)
		fn := func(ctx context.Context) (int, error) {
			select {
			case <-release:
				fnCtxErr <- ctx.Err()
				return 7, nil
			case <-ctx.Done():
				fnCtxErr <- ctx.Err()
				return 0, ctx.Err()
			}
		}
		impatient, cancel := context.WithCancel(context.Background())
		impatientErr := make(chan error, 1)
		go func() { _, err := g.do(impatient, "k", fn); impatientErr <- err }()
		waitFor(t, "first waiter", func() bool { return g.waiting("k") == 1 })
		patient := make(chan int, 1)
		go func() { v, _ := g.do(context.Background(), "k", fn); patient <- v }()
		waitFor(t, "second waiter", func() bool { return g.waiting("k") == 2 })
		cancel()
		if err := <-impatientErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("impatient caller got %v", err)
		}
		close(release)
		if v := <-patient; v != 7 {
			t.Fatalf("patient caller got %d", v)
		}
		if err := <-fnCtxErr; err != nil {
			t.Fatalf("fn context was cancelled: %v", err)
		}
	})

	t.Run("last caller giving up cancels the call", func(t *testing.T) {
		var g flightGroup[int]
		fnDone := make(chan error, 1)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := g.do(ctx, "k", func(fctx context.Context) (int, error) {
				<-fctx.Done()
				fnDone <- fctx.Err()
				return 0, fctx.Err()
			})
			errc <- err
		}()
		waitFor(t, "waiter", func() bool { return g.waiting("k") == 1 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller got %v", err)
		}
		if err := <-fnDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("fn context: %v", err)
		}
	})

	t.Run("panic becomes an error", func(t *testing.T) {
		var g flightGroup[int]
		_, err := g.do(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
		if err == nil {
			t.Fatal("expected error from panicking fn")
		}
	})
}
