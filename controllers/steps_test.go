package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

func TestEveryStepHasAHandler(t *testing.T) {
	for _, s := range []helm.Step{helm.StepNone, helm.StepInstall, helm.StepReinstall, helm.StepUpgrade, helm.StepRollback, helm.StepUninstall,
		helm.StepUnlock, helm.StepWaitPending, helm.StepWaitReady, helm.StepMarkHealthy, helm.StepNotReady, helm.StepBlocked, helm.StepForeign} {
		if steps[s] == nil {
			t.Errorf("no handler for step %s", s)
		}
	}
	f := newFixture(t, nil)
	if _, _, err := f.r.execute(context.Background(), f.w, &helm.State{}, helm.Decision{Step: "Bogus"}); err == nil {
		t.Error("an unknown step must be an error")
	}
}

func TestEveryOutcomeIsInTheTable(t *testing.T) {
	for o := outInstallStarted; o < outCount; o++ {
		if _, ok := outcomes[o]; !ok {
			t.Errorf("outcome %d has no entry", o)
		}
	}
}

// stepCase is one step handler run: the Component, what the engine holds, the decision, and what must follow.
type stepCase struct {
	name    string
	comp    func(*castwarev1.Component)
	state   *helm.State
	after   *helm.State
	ready   bool
	fail    map[string]error
	d       helm.Decision
	again   bool
	wantErr bool
	// want is the fixture's summary; calls the engine's actions (reads left out).
	want  string
	calls string
	check func(t *testing.T, f *fixture)
}

var (
	deployed10  = rel(1, release.StatusDeployed, "1.0.0", true)
	deployed11  = rel(2, release.StatusDeployed, "1.1.0", false)
	failed11    = rel(2, release.StatusFailed, "1.1.0", false)
	pending11   = rel(2, release.StatusPendingUpgrade, "1.1.0", false)
	stateOf     = func(rs ...*helm.Release) *helm.State { return &helm.State{Latest: rs[0], History: rs} }
	running10   = func(c *castwarev1.Component) { c.Status.CurrentVersion = "1.0.0" }
	progressing = func(reason string) func(*castwarev1.Component) {
		return func(c *castwarev1.Component) {
			c.Status.Conditions = append(c.Status.Conditions, metav1.Condition{Type: castwarev1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: reason})
		}
	}
	both = func(fs ...func(*castwarev1.Component)) func(*castwarev1.Component) {
		return func(c *castwarev1.Component) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	boom = errors.New("boom")
)

func TestStepHandlers(t *testing.T) {
	tests := []stepCase{
		{name: "none: disabled", comp: func(c *castwarev1.Component) { c.Spec.Enabled = false; c.Status.CurrentVersion = "1.0.0" },
			state: &helm.State{}, d: helm.Decision{Step: helm.StepNone, Message: "nothing installed"},
			want: "Progressing=False/Disabled Available=False/Disabled events=[] reports=[]",
			check: func(t *testing.T, f *fixture) {
				if f.comp.Status.CurrentVersion != "" {
					t.Error("a disabled Component runs no version")
				}
			}},
		{name: "none: settled, revision reported", comp: func(c *castwarev1.Component) { running10(c); c.Status.LastReportedHelmRevision = 1 },
			state: stateOf(deployed10), d: helm.Decision{Step: helm.StepNone},
			want: "Progressing=False/Completed Available=True/Installed events=[] reports=[]"},
		{name: "none: a revision nobody reported", comp: func(c *castwarev1.Component) { running10(c); c.Status.LastReportedHelmRevision = 0 },
			state: stateOf(deployed10), d: helm.Decision{Step: helm.StepNone},
			want: "Progressing=False/Completed Available=True/Installed events=[] reports=[ENABLE/OK]"},
		{name: "none: someone else's upgrade", comp: func(c *castwarev1.Component) { running10(c); c.Status.LastReportedHelmRevision = 1 },
			state: stateOf(deployed11, deployed10), d: helm.Decision{Step: helm.StepNone},
			want: "Progressing=False/Completed Available=True/Installed events=[] reports=[UPDATE/OK]"},
		{name: "none: rollback asked with nothing to roll back", comp: func(c *castwarev1.Component) {
			running10(c)
			c.Status.LastReportedHelmRevision = 1
			c.Status.Rollback = true
		}, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepNone},
			want: "Progressing=False/Completed Available=True/Installed events=[Warning:RollbackFailed] reports=[ROLLBACK/OK]",
			check: func(t *testing.T, f *fixture) {
				if rollbackRequested(f.comp) {
					t.Error("the request must be acknowledged")
				}
			}},
		{name: "mark healthy: first install", state: stateOf(deployed11), d: helm.Decision{Step: helm.StepMarkHealthy}, again: true,
			want: "Progressing=False/Completed Available=True/Installed events=[Normal:Installed] reports=[ENABLE/OK]", calls: "MarkHealthy",
			check: func(t *testing.T, f *fixture) {
				if f.comp.Status.CurrentVersion != "1.1.0" || f.report.got[0].Revision != 2 {
					t.Errorf("current %q, reported revision %d", f.comp.Status.CurrentVersion, f.report.got[0].Revision)
				}
			}},
		{name: "mark healthy: upgrade", comp: running10, state: stateOf(deployed11, deployed10), d: helm.Decision{Step: helm.StepMarkHealthy}, again: true,
			want: "Progressing=False/Completed Available=True/Installed events=[Normal:Upgraded] reports=[UPDATE/OK]", calls: "MarkHealthy"},
		{name: "mark healthy: engine fails", state: stateOf(deployed11), fail: map[string]error{"MarkHealthy": boom}, d: helm.Decision{Step: helm.StepMarkHealthy},
			wantErr: true, want: "Progressing=/ Available=/ events=[] reports=[]", calls: "MarkHealthy"},
		{name: "wait ready: install", state: stateOf(deployed11), d: helm.Decision{Step: helm.StepWaitReady},
			want: "Progressing=True/Installing Available=False/Installing events=[] reports=[]"},
		{name: "wait ready: upgrade keeps Available", comp: running10, state: stateOf(deployed11), d: helm.Decision{Step: helm.StepWaitReady},
			want: "Progressing=True/Upgrading Available=/ events=[] reports=[]"},
		{name: "wait ready: rollback", comp: both(running10, progressing(castwarev1.ReasonRollingBack)), state: stateOf(deployed11), d: helm.Decision{Step: helm.StepWaitReady},
			want: "Progressing=True/RollingBack Available=/ events=[] reports=[]"},
		{name: "not ready: timed out while progressing", comp: progressing(castwarev1.ReasonInstalling), state: stateOf(deployed11), d: helm.Decision{Step: helm.StepNotReady},
			want: "Progressing=False/Failed Available=False/NotReady events=[Warning:NotReady] reports=[ENABLE/ERROR]"},
		{name: "not ready: a healthy revision lost readiness", comp: running10, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepNotReady},
			want: "Progressing=/ Available=False/NotReady events=[] reports=[]"},
		{name: "blocked: failed attempt, running ready", comp: func(c *castwarev1.Component) {
			running10(c)
			c.Status.FailedAttempt = &castwarev1.FailedAttempt{Version: "1.1.0", Message: "upgrade failed"}
		}, state: stateOf(deployed10), ready: true, d: helm.Decision{Step: helm.StepBlocked},
			want: "Progressing=False/UpgradeFailed Available=True/Installed events=[] reports=[]"},
		{name: "blocked: rollback done and ready", comp: func(c *castwarev1.Component) {
			both(running10, progressing(castwarev1.ReasonRollingBack))(c)
			c.Status.FailedAttempt = &castwarev1.FailedAttempt{Version: "1.1.0", Reason: castwarev1.ReasonRolledBack, Message: "rolled back on request"}
		}, state: stateOf(deployed10), ready: true, d: helm.Decision{Step: helm.StepBlocked},
			want: "Progressing=False/RolledBack Available=True/Installed events=[Normal:RolledBack] reports=[ROLLBACK/OK]"},
		{name: "blocked: rollback done, not ready yet", comp: func(c *castwarev1.Component) {
			both(running10, progressing(castwarev1.ReasonRollingBack))(c)
			c.Status.FailedAttempt = &castwarev1.FailedAttempt{Version: "1.1.0", Message: "m"}
		}, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepBlocked},
			want: "Progressing=True/RollingBack Available=False/NotReady events=[] reports=[]"},
		{name: "wait pending", comp: progressing(castwarev1.ReasonUpgrading), state: stateOf(pending11), d: helm.Decision{Step: helm.StepWaitPending},
			want: "Progressing=True/Upgrading Available=/ events=[] reports=[]"},
		{name: "foreign release", comp: running10, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepForeign, Message: "release holds chart other"},
			want: "Progressing=False/ReleaseNotOwned Available=/ events=[Warning:ReleaseNotOwned] reports=[UPDATE/ERROR]"},
		{name: "unlock", state: stateOf(pending11), d: helm.Decision{Step: helm.StepUnlock}, again: true,
			want: "Progressing=True/ReleaseRecovered Available=/ events=[Warning:ReleaseRecovered] reports=[]", calls: "Unlock"},
		{name: "uninstall", comp: func(c *castwarev1.Component) { c.Spec.Enabled = false; running10(c) }, state: stateOf(deployed10),
			d: helm.Decision{Step: helm.StepUninstall}, again: true,
			want: "Progressing=True/Uninstalling Available=/ events=[Normal:Uninstalled] reports=[DISABLE/OK]", calls: "Uninstall"},
		{name: "uninstall fails", comp: func(c *castwarev1.Component) { c.Spec.Enabled = false; running10(c) }, state: stateOf(deployed10),
			fail: map[string]error{"Uninstall": boom}, d: helm.Decision{Step: helm.StepUninstall}, wantErr: true,
			want: "Progressing=False/Failed Available=/ events=[] reports=[DISABLE/ERROR]", calls: "Uninstall"},
		{name: "rollback of a failed upgrade", comp: running10, state: stateOf(failed11, deployed10),
			d: helm.Decision{Step: helm.StepRollback, RollbackTo: 1, FailedAttempt: &helm.Attempt{Version: "1.1.0", ValuesHash: "h"}}, again: true,
			want:  "Progressing=True/RollingBack Available=/ events=[Warning:UpgradeFailed Normal:RollbackStarted] reports=[UPDATE/ERROR ROLLBACK/PROGRESSING]",
			calls: "Rollback:1", check: persistedFailedAttempt("1.1.0")},
		{name: "rollback on request", comp: func(c *castwarev1.Component) { running10(c); c.Status.Rollback = true }, state: stateOf(deployed11, deployed10),
			d: helm.Decision{Step: helm.StepRollback, RollbackTo: 1}, again: true,
			want: "Progressing=True/RollingBack Available=/ events=[Normal:RollbackStarted] reports=[ROLLBACK/PROGRESSING]", calls: "Rollback:1",
			check: persistedFailedAttempt("1.1.0")},
		{name: "rollback fails", comp: running10, state: stateOf(failed11, deployed10), fail: map[string]error{"Rollback:1": boom},
			d: helm.Decision{Step: helm.StepRollback, RollbackTo: 1, FailedAttempt: &helm.Attempt{Version: "1.1.0"}}, wantErr: true,
			want:  "Progressing=False/Failed Available=/ events=[Warning:UpgradeFailed Normal:RollbackStarted Warning:RollbackFailed] reports=[UPDATE/ERROR ROLLBACK/PROGRESSING ROLLBACK/ERROR]",
			calls: "Rollback:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runStep(t, tt) })
	}
}

// persistedFailedAttempt checks that the rollback decision reached the API server before Helm ran.
func persistedFailedAttempt(version string) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) {
		stored := &castwarev1.Component{}
		if err := f.r.Client.Get(context.Background(), keyOf(f.comp), stored); err != nil {
			t.Fatal(err)
		}
		if fa := stored.Status.FailedAttempt; fa == nil || fa.Version != version || stored.Status.Rollback {
			t.Errorf("stored failed attempt %+v, rollback %v; want %s recorded and the request taken", fa, stored.Status.Rollback, version)
		}
	}
}

func runStep(t *testing.T, tt stepCase) {
	t.Helper()
	f := newFixture(t, tt.comp)
	f.engine.state, f.engine.after, f.engine.fail = tt.state, tt.after, tt.fail
	f.engine.ready = helm.Readiness{Ready: tt.ready}
	again, _, err := f.r.execute(context.Background(), f.w, tt.state, tt.d)
	if (err != nil) != tt.wantErr {
		t.Fatalf("err = %v, want error %v", err, tt.wantErr)
	}
	if again != tt.again {
		t.Errorf("again = %v, want %v", again, tt.again)
	}
	if got := f.summary(); got != tt.want {
		t.Errorf("got  %s\nwant %s", got, tt.want)
	}
	if got := strings.Join(actions(f.engine.calls), ","); got != tt.calls {
		t.Errorf("engine actions %q, want %q", got, tt.calls)
	}
	if tt.check != nil {
		tt.check(t, f)
	}
}

// actions drops the engine's reads from its calls.
func actions(calls []string) []string {
	var out []string
	for _, c := range calls {
		if c != "Observe" && c != "Readiness" && c != "RepairDrift" {
			out = append(out, c)
		}
	}
	return out
}
