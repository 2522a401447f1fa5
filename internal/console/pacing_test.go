package console

import (
	"testing"
	"time"
)

func TestPollPacingDefaults(t *testing.T) {
	tests := []struct {
		name                    string
		idle, active, activeFor time.Duration
		want                    pollPacing
	}{
		{"defaults", 0, 0, 0, pollPacing{idle: 12 * time.Second, active: time.Second, activeFor: time.Minute, jitter: 0.1,
			errBase: 3 * time.Second, errMax: 5 * time.Minute}},
		{"tests: one small interval is both", 200 * time.Millisecond, 0, 0, pollPacing{idle: 200 * time.Millisecond, active: 200 * time.Millisecond,
			activeFor: time.Minute, jitter: 0.1, errBase: 200 * time.Millisecond, errMax: 5 * time.Minute}},
		{"idle longer than the backoff cap", time.Hour, 2 * time.Second, 10 * time.Second, pollPacing{idle: time.Hour, active: 2 * time.Second,
			activeFor: 10 * time.Second, jitter: 0.1, errBase: 15 * time.Minute, errMax: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newPollPacing(tt.idle, tt.active, tt.activeFor); got != tt.want {
				t.Fatalf("newPollPacing = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPollPacingInterval: the active interval for activeFor after activity, then doubling every quarter of
// activeFor up to the idle interval; idle when there was no activity.
func TestPollPacingInterval(t *testing.T) {
	c := newPollPacing(0, 0, 0)
	tests := []struct {
		since time.Duration
		want  time.Duration
	}{
		{-1, 12 * time.Second},
		{0, time.Second},
		{59 * time.Second, time.Second},
		{time.Minute, time.Second},
		{time.Minute + 15*time.Second, 2 * time.Second},
		{time.Minute + 30*time.Second, 4 * time.Second},
		{time.Minute + 45*time.Second, 8 * time.Second},
		{2 * time.Minute, 12 * time.Second},
		{24 * time.Hour, 12 * time.Second},
		{time.Duration(1<<63 - 1), 12 * time.Second},
	}
	for _, tt := range tests {
		if got := c.interval(tt.since); got != tt.want {
			t.Errorf("interval(%v) = %v, want %v", tt.since, got, tt.want)
		}
	}
	prev := time.Duration(0)
	for s := time.Duration(0); s < 3*time.Minute; s += time.Second {
		d := c.interval(s)
		if d < prev || d < c.active || d > c.idle {
			t.Fatalf("interval(%v) = %v after %v: not growing from active to idle", s, d, prev)
		}
		prev = d
	}
}

func TestPollPacingNext(t *testing.T) {
	c := newPollPacing(0, 0, 0)
	const mid = 0.5 // no jitter
	idle := pollOutcome{sinceActivity: -1}
	tests := []struct {
		name string
		o    pollOutcome
		u    float64
		want time.Duration
	}{
		// A server that answers at once: paced from the start of one poll to the start of the next.
		{"idle, answered at once", idle, mid, 12 * time.Second},
		{"idle, answered in 300 ms", pollOutcome{took: 300 * time.Millisecond, sinceActivity: -1}, mid, 11700 * time.Millisecond},
		{"idle, jitter low", idle, 0, 10800 * time.Millisecond},
		{"idle, jitter high", idle, 0.999999, 13200*time.Millisecond - 2400*time.Nanosecond},
		{"right after activity", pollOutcome{took: 20 * time.Millisecond}, mid, 980 * time.Millisecond},
		{"slowing down after activity", pollOutcome{sinceActivity: time.Minute + 30*time.Second}, mid, 4 * time.Second},
		// A server that holds polls: a hold at least as long as the interval is the pause.
		{"held for the whole long poll", pollOutcome{took: 5 * time.Minute, sinceActivity: -1}, mid, 0},
		{"held as long as the idle interval", pollOutcome{took: 12 * time.Second, sinceActivity: -1}, mid, 0},
		{"held 2 s after activity", pollOutcome{took: 2 * time.Second}, mid, 0},
		{"slow, not holding, idle", pollOutcome{took: 3 * time.Second, sinceActivity: -1}, mid, 9 * time.Second},
		// Actions: poll again at once, whatever the pace was.
		{"actions", pollOutcome{actions: 3, sinceActivity: -1}, mid, 0},
		{"actions after a long hold", pollOutcome{actions: 1, took: time.Minute}, mid, 0},
		// Failures: growing, jittered delays from a quarter of the idle interval up to 5 minutes.
		{"first failure", pollOutcome{failures: 1}, 0, 3 * time.Second},
		{"first failure, jitter high", pollOutcome{failures: 1}, 0.999999, 2250*time.Millisecond + 750*time.Nanosecond},
		{"second failure", pollOutcome{failures: 2}, 0, 6 * time.Second},
		{"fifth failure", pollOutcome{failures: 5}, 0, 48 * time.Second},
		{"capped", pollOutcome{failures: 30}, 0, 5 * time.Minute},
		{"failure after activity is not hurried", pollOutcome{failures: 1, sinceActivity: 0}, 0, 3 * time.Second},
		{"failure after a long hold", pollOutcome{failures: 1, took: time.Minute, sinceActivity: -1}, 0, 3 * time.Second},
		// Retry-After is a floor.
		{"Retry-After longer than the backoff", pollOutcome{failures: 1, retryAfter: 30 * time.Second}, 0, 30 * time.Second},
		{"Retry-After shorter than the backoff", pollOutcome{failures: 3, retryAfter: time.Second}, 0, 12 * time.Second},
		{"Retry-After beyond the cap", pollOutcome{failures: 30, retryAfter: time.Hour}, 0, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.next(tt.o, tt.u); got != tt.want {
				t.Fatalf("next(%+v, %v) = %v, want %v", tt.o, tt.u, got, tt.want)
			}
		})
	}
}

// TestPollPacingBackoffGrows: whatever the jitter draws, each delay after a failure is longer than the one
// before until the cap, and at least the server's Retry-After.
func TestPollPacingBackoffGrows(t *testing.T) {
	c := newPollPacing(0, 0, 0)
	for _, u := range [][2]float64{{0, 0.999999}, {0.999999, 0}, {0.5, 0.5}} {
		prev := time.Duration(0)
		for n := 1; n <= 12; n++ {
			lo, hi := c.next(pollOutcome{failures: n}, u[0]), c.next(pollOutcome{failures: n}, u[1])
			if d := min(lo, hi); d <= prev && d < c.errMax*3/4 {
				t.Fatalf("failure %d: delay %v not longer than %v", n, d, prev)
			}
			prev = max(lo, hi)
			if d := c.next(pollOutcome{failures: n, retryAfter: 7 * time.Minute}, u[0]); d < 7*time.Minute {
				t.Fatalf("failure %d: %v before Retry-After", n, d)
			}
		}
	}
}

// TestPollPacingIdleBudget: idle, an API that answers at once is polled at most 5 times a minute on average
// (the documented operator makes 6.5 calls a minute), and an action arriving at a random moment waits about
// half the idle interval.
func TestPollPacingIdleBudget(t *testing.T) {
	c := newPollPacing(0, 0, 0)
	var total time.Duration
	const n = 1000
	for i := range n {
		total += c.next(pollOutcome{took: 50 * time.Millisecond, sinceActivity: -1}, float64(i)/n) + 50*time.Millisecond
	}
	perMin := float64(n) / total.Minutes()
	if perMin > 5.01 {
		t.Fatalf("%.2f idle polls a minute, want at most 5", perMin)
	}
}
