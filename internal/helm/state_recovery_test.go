package helm

import (
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
)

// TestDecideRecoversInterruptedRollback: the revision of a rollback that failed or was interrupted (marked
// failed by Unlock) holds what its target holds. It is rolled back to the same target again, never recorded as
// a failed attempt (which would let the version really rolled away from be applied again), and a revision
// the user rolled back from on request is never a rollback target.
func TestDecideRecoversInterruptedRollback(t *testing.T) {
	policy := Policy{Now: t0, Session: "new", PendingTimeout: 5 * time.Minute, ReadyTimeout: 5 * time.Minute}
	failed020 := &Attempt{Version: "0.2.0", ValuesHash: wantValuesHash}
	for _, tc := range []struct {
		name   string
		want   Want
		hist   []*release.Release
		to     int
		failed bool
	}{
		{"interrupted rollback after a failed upgrade", Want{Enabled: true, Chart: "castai-agent", Version: "0.2.0", ValuesHash: wantValuesHash, Failed: failed020},
			[]*release.Release{rel(3, release.StatusFailed, "0.1.0", session("old"), healthy, described("interrupted while pending-rollback")),
				rel(2, release.StatusDeployed, "0.2.0", session("old")), rel(1, release.StatusSuperseded, "0.1.0", healthy)}, 1, false},
		{"interrupted rollback requested from a healthy revision", Want{Enabled: true, Chart: "castai-agent", Version: "0.2.0", ValuesHash: wantValuesHash, Failed: failed020},
			[]*release.Release{rel(3, release.StatusFailed, "0.1.0", session("old"), healthy, described("interrupted while pending-rollback")),
				rel(2, release.StatusDeployed, "0.2.0", session("old"), healthy), rel(1, release.StatusSuperseded, "0.1.0", healthy)}, 1, false},
		{"failed rollback, failed attempt not recorded (status lost)", Want{Enabled: true, Chart: "castai-agent", Version: "0.2.0", ValuesHash: wantValuesHash},
			[]*release.Release{rel(3, release.StatusFailed, "0.1.0", session("old"), healthy),
				rel(2, release.StatusSuperseded, "0.2.0", session("old")), rel(1, release.StatusSuperseded, "0.1.0", healthy)}, 1, false},
		{"a failed upgrade is still recorded", Want{Enabled: true, Chart: "castai-agent", Version: "0.2.0", ValuesHash: wantValuesHash},
			[]*release.Release{rel(2, release.StatusFailed, "0.2.0", session("old")), rel(1, release.StatusSuperseded, "0.1.0", healthy)}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.want, Observed{State: NewState(tc.hist), Ready: Readiness{Ready: true}}, policy)
			if d.Step != StepRollback || d.RollbackTo != tc.to {
				t.Fatalf("decision %s to %d (%s), want rollback to %d", d.Step, d.RollbackTo, d.Message, tc.to)
			}
			if (d.FailedAttempt != nil) != tc.failed {
				t.Fatalf("failed attempt %+v, want recorded=%v", d.FailedAttempt, tc.failed)
			}
		})
	}

	// A second rollback request never rolls "back" to the version rolled away from before.
	d := Decide(Want{Enabled: true, Chart: "castai-agent", Version: "0.2.0", ValuesHash: wantValuesHash, RollbackRequested: true, Failed: failed020},
		Observed{State: NewState([]*release.Release{rel(3, release.StatusDeployed, "0.1.0", healthy),
			rel(2, release.StatusSuperseded, "0.2.0", healthy), rel(1, release.StatusSuperseded, "0.0.9", healthy)}), Ready: Readiness{Ready: true}}, policy)
	if d.Step != StepRollback || d.RollbackTo != 1 {
		t.Fatalf("decision %s to %d (%s), want rollback to revision 1", d.Step, d.RollbackTo, d.Message)
	}
}

// TestDecideUnlocksOwnPendingNotInFlight: a pending revision of this very process that no Helm action of the
// process is running any more (the action returned before it could record the outcome) is recovered at once,
// not after the pending timeout meant for other clients; while the action runs, it is waited for.
func TestDecideUnlocksOwnPendingNotInFlight(t *testing.T) {
	policy := Policy{Now: t0, Session: "me", PendingTimeout: 5 * time.Minute, ReadyTimeout: 5 * time.Minute}
	st := NewState([]*release.Release{rel(2, release.StatusPendingUpgrade, "2.0.0", session("me"), deployedAt(time.Second)),
		rel(1, release.StatusDeployed, "1.0.0", healthy)})
	want := Want{Enabled: true, Chart: "castai-agent", Version: "2.0.0", ValuesHash: wantValuesHash}
	if d := Decide(want, Observed{State: st, InFlight: false}, policy); d.Step != StepUnlock {
		t.Fatalf("not in flight: %s (%s), want Unlock", d.Step, d.Message)
	}
	if d := Decide(want, Observed{State: st, InFlight: true}, policy); d.Step != StepWaitPending {
		t.Fatalf("in flight: %s (%s), want WaitPending", d.Step, d.Message)
	}
}
