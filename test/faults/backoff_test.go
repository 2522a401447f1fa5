package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
)

// TestBackoffMeasured: an upgrade whose chart archive the repository keeps answering 404 for fails on every
// attempt, and nothing else wakes the Component up. Each attempt downloads the archive again (a failure is
// not cached), so the repository's request log is the list of attempts. docs/reliability.md claims the
// controller's exponential backoff (5 ms doubling up to 16 min). A pause between two attempts is the backoff
// plus the attempt's own time (reads, the status write; longer on a starved machine), so the case checks the
// growth from one pause to the next: with the backoff doubling, each growth is twice the one before and at
// least half the pause before it. A constant retry loop (or one restarted by its own status writes) grows
// by nothing and fails this case.
func TestBackoffMeasured(t *testing.T) {
	f := newFixture(t)
	f.createCluster()
	f.start("op-1", nil)
	f.waitRegistered()
	f.createComponent("hooked", "0.1.0", nil)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)

	repo := newHostileRepo(t, "127.0.0.1")
	repo.publish(t, "test-hooks-0.2.0.tgz", packTestHooks(t, "0.2.0"), "")
	repo.remove("/test-hooks-0.2.0.tgz")
	f.patchCluster(func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = repo.URL() })
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })

	// Wait for three pauses of at least 4.5 s, the last of them over 16 s (about 45 s of attempts). A pause is
	// the backoff plus the attempt's own time, which on a starved machine varies by more than half a second
	// from one attempt to the next: that swamped the doubling of the 1.28 s and 2.56 s steps (a stress run saw
	// pauses of 1.91 s and 2.86 s), so only the steps from 5.12 s on are compared. A pause that does not grow
	// as the backoff promises fails the case at once.
	var gaps []time.Duration
	var ratios []string
	eventually(t, 3*time.Minute, "attempts spaced out to 16 s", func() error {
		times := repo.times("/test-hooks-0.2.0.tgz")
		if len(longGaps(times, 1800*time.Millisecond)) == 0 && len(times) >= 15 { // 5 ms doubling reaches 2.56 s by the 11th attempt
			t.Fatalf("%d attempts without a pause of 1.8 s: a retry loop, not a backoff (%v to %v)", len(times), times[0], times[len(times)-1])
		}
		gaps = longGaps(times, comparedPause)
		var err error
		if ratios, err = checkDoubling(gaps); err != nil {
			t.Fatalf("%v; pauses %v", err, gaps)
		}
		if len(gaps) < 3 || gaps[len(gaps)-1] < 16*time.Second {
			return fmt.Errorf("pauses so far: %v", gaps)
		}
		return nil
	})
	attempts := len(repo.times("/test-hooks-0.2.0.tgz"))
	c := f.waitChartUnavailable("hooked", 1, "0.2.0", "404")
	f.assertNoCrash()
	var shown []string
	for _, g := range gaps {
		shown = append(shown, fmt.Sprintf("%.2f s", g.Seconds()))
	}
	record(t, catCharts, "the archive of 0.2.0 answers 404 on every attempt (nothing else wakes the Component)",
		fmt.Sprintf("%d attempts, each a download of the archive; the pauses once longer than %.1f s were %s (each growth x%s the growth before: the controller's exponential backoff, 5 ms doubling, no jitter); Progressing=False/%s throughout, the running 0.1.0 untouched",
			attempts, comparedPause.Seconds(), strings.Join(shown, ", "), strings.Join(ratios, ", x"), condition(c.Status.Conditions, castwarev1.ConditionProgressing).Reason), 0)
}

// comparedPause is the shortest pause TestBackoffMeasured compares: above the 2.56 s step plus any
// attempt's own time seen under stress, so the first pause compared is the 5.12 s step.
const comparedPause = 4500 * time.Millisecond

// checkDoubling checks that each pause grew from the one before by at least half of it (the backoff doubles;
// a constant overhead per attempt only narrows that) and by 1.5 to 2.7 times the growth before; it returns
// those growth ratios.
func checkDoubling(gaps []time.Duration) ([]string, error) {
	var ratios []string
	for i := 1; i < len(gaps); i++ {
		grew := gaps[i] - gaps[i-1]
		if grew < gaps[i-1]/2 {
			return nil, fmt.Errorf("pause %v after %v: grew by %v, the backoff doubles", gaps[i], gaps[i-1], grew)
		}
		if i >= 2 {
			r := float64(grew) / float64(gaps[i-1]-gaps[i-2])
			ratios = append(ratios, fmt.Sprintf("%.2f", r))
			if r < 1.5 || r > 2.7 {
				return nil, fmt.Errorf("pause %v after %v: grew x%.2f the growth before, not the doubling the backoff promises", gaps[i], gaps[i-1], r)
			}
		}
	}
	return ratios, nil
}

// longGaps returns the pauses between consecutive times that are at least min long, in order, once the
// first such pause has come (the short ones before are the backoff's first steps, shorter than an attempt).
func longGaps(times []time.Time, min time.Duration) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(times); i++ {
		if g := times[i].Sub(times[i-1]); g >= min || len(out) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// TestPollBackoffMeasured: the first three console polls are answered with truncated JSON. docs/reliability.md
// and internal/console/pacing.go promise a growing, jittered delay after each failed poll: 3 s doubling,
// each drawn from the upper quarter [3/4 d, d]. The fake API's call log gives each poll's start; every pause
// after a failure must fall in its range (a constant retry loop, or one without the doubling, does not).
func TestPollBackoffMeasured(t *testing.T) {
	f, _ := apiCase(t, fake.Fault{PathContains: "lifecycle-actions:poll", MalformedJSON: true, Count: 3})
	var polls []fake.Call
	eventually(t, 2*time.Minute, "a poll after the three failed ones", func() error {
		if polls = f.calls("lifecycle-actions:poll"); len(polls) < 4 {
			return fmt.Errorf("%d polls", len(polls))
		}
		return nil
	})
	var shown []string
	for i := 1; i <= 3; i++ {
		if !polls[i-1].Fault {
			t.Fatalf("poll %d was not a faulted one: %+v", i, polls[i-1])
		}
		d := 3 * time.Second << (i - 1)
		gap := polls[i].Time.Sub(polls[i-1].Time)
		// Slack for a loaded machine: 300 ms early (the clock of the fake and the timer), 1 s late.
		if gap < d*3/4-300*time.Millisecond || gap > d+time.Second {
			t.Fatalf("pause after failed poll %d: %v, want within [%v, %v] (3 s doubling, jittered down by up to a quarter)", i, gap, d*3/4, d)
		}
		shown = append(shown, fmt.Sprintf("%.2f s of [%.2f, %.0f]", gap.Seconds(), (d*3/4).Seconds(), d.Seconds()))
	}
	f.assertNoCrash()
	record(t, catCastAI, "three polls answered 200 with truncated JSON: the pauses measured",
		fmt.Sprintf("the next polls started after %s: each within its jittered range (3 s doubling, each delay drawn from its upper quarter, so it always grows)", strings.Join(shown, ", ")), 0)
}
