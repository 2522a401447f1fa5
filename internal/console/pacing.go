package console

import (
	"math"
	"time"
)

// Defaults of the poll pacing. Whether the real lifecycle-actions:poll holds requests is not documented, so
// the pacing is safe for both kinds of server:
//
//   - A server that holds an empty poll for at least the current interval is polled again at once: the hold
//     is the pause. With the 5-minute hold the operator asks for that is 0.2 calls a minute when idle, and an
//     action starts as soon as the server hands it out.
//   - A server that answers at once (or slowly, without holding) is polled once per interval, counted from
//     the start of one poll to the start of the next: DefaultActivePollInterval (1 s) for DefaultActiveFor
//     (1 min) after activity — an action arrived, a Component or Cluster spec changed — so the actions of a
//     user at work in the console start within about half a second, then doubling every quarter of
//     DefaultActiveFor (15 s) up to DefaultPollInterval (12 s; reached about 1 min 50 s after the last
//     activity). Idle, that is 5 polls a minute, under the documented operator's 6.5 calls a minute with
//     room left for the few other calls (an idle operator makes none; see docs/reliability.md), and an
//     action that arrives while idle waits 6 s on average.
//   - Every interval is jittered by ±DefaultPollJitter so that a fleet of clusters restarted together does
//     not poll in step.
//   - A failed poll (or one whose actions could not all be acknowledged) is retried after a growing,
//     jittered delay — a quarter of the idle interval (3 s) doubling up to DefaultPollMaxBackoff — and
//     never before the server's Retry-After. Actions are not lost meanwhile: the API keeps delivering an
//     action until it is acknowledged.
const (
	// DefaultPollInterval is the pause between the starts of two polls when the API answers at once and
	// nothing happened lately (the idle interval).
	DefaultPollInterval = 12 * time.Second
	// DefaultActivePollInterval is the pause between the starts of two polls right after activity.
	DefaultActivePollInterval = time.Second
	// DefaultActiveFor is how long polls stay at the active interval after activity; the interval then
	// doubles every quarter of it until it reaches the idle interval.
	DefaultActiveFor = time.Minute
	// DefaultPollJitter is the relative spread of every interval (±10 %).
	DefaultPollJitter = 0.1
	// DefaultPollMaxBackoff caps the delay after repeated poll failures.
	DefaultPollMaxBackoff = 5 * time.Minute
)

// pollPacing is the pacing policy of one poll loop; pure, so that it can be table-tested.
type pollPacing struct {
	// idle is the interval when nothing happened lately.
	idle time.Duration
	// active is the interval right after activity (at most idle).
	active time.Duration
	// activeFor is how long the active interval lasts after activity.
	activeFor time.Duration
	// jitter is the relative spread of intervals and backoff delays.
	jitter float64
	// errBase and errMax bound the backoff after failures.
	errBase, errMax time.Duration
}

// newPollPacing fills the defaults: idle, active and activeFor <= 0 take DefaultPollInterval,
// DefaultActivePollInterval and DefaultActiveFor; active is at most idle, and the first delay after a failure
// is a quarter of idle, but never less than active.
func newPollPacing(idle, active, activeFor time.Duration) pollPacing {
	if idle <= 0 {
		idle = DefaultPollInterval
	}
	if active <= 0 {
		active = DefaultActivePollInterval
	}
	if activeFor <= 0 {
		activeFor = DefaultActiveFor
	}
	active = min(active, idle)
	return pollPacing{idle: idle, active: active, activeFor: activeFor, jitter: DefaultPollJitter,
		errBase: max(active, idle/4), errMax: max(DefaultPollMaxBackoff, idle)}
}

// pollOutcome is what the loop knows after a poll.
type pollOutcome struct {
	// took is how long the poll took (how long the server held it, for a server that holds polls).
	took time.Duration
	// actions is how many actions it returned.
	actions int
	// failures counts the consecutive failed polls, this one included (a poll whose actions could not all
	// be acknowledged counts as failed); 0 when it succeeded.
	failures int
	// retryAfter is the wait the server asked for with its last failure (0: none).
	retryAfter time.Duration
	// sinceActivity is the time since the last activity (an action, a spec change); negative: none yet.
	sinceActivity time.Duration
}

// interval is the pause aimed for between the starts of two polls, sinceActivity after the last activity
// (negative: never), before jitter.
func (c pollPacing) interval(sinceActivity time.Duration) time.Duration {
	if sinceActivity < 0 {
		return c.idle
	}
	if sinceActivity < c.activeFor {
		return c.active
	}
	step := c.activeFor / 4
	if step <= 0 {
		return c.idle
	}
	doublings := float64(sinceActivity-c.activeFor) / float64(step)
	if doublings >= 62 {
		return c.idle
	}
	return min(c.idle, time.Duration(float64(c.active)*math.Exp2(doublings)))
}

// next is how long to wait before the next poll after o; u, uniform in [0, 1), draws the jitter.
func (c pollPacing) next(o pollOutcome, u float64) time.Duration {
	if o.failures > 0 {
		return max(c.backoff(o.failures, u), o.retryAfter)
	}
	if o.actions > 0 {
		return 0 // there may be more, and the user is at work
	}
	return max(0, c.spread(c.interval(o.sinceActivity), u)-o.took)
}

// backoff is the delay after n consecutive failures: errBase doubling up to errMax, drawn from the upper
// quarter [3/4 d, d], so that each delay is longer than the one before until the cap.
func (c pollPacing) backoff(n int, u float64) time.Duration {
	d := c.errBase
	for i := 1; i < n && d < c.errMax; i++ {
		d *= 2
	}
	d = min(d, c.errMax)
	return d - time.Duration(float64(d)/4*u)
}

// spread jitters d by ±jitter; u is uniform in [0, 1).
func (c pollPacing) spread(d time.Duration, u float64) time.Duration {
	return d + time.Duration(float64(d)*c.jitter*(2*u-1))
}
