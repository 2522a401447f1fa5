package helm

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"

	"github.com/castware-operator/castware-operator/internal/values"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type relOpt func(*release.Release)

// healthy and session write the labels as the engine does: stamped with the revision they belong to.
func healthy(r *release.Release) { r.Labels[LabelHealthy] = "true"; stamp(r) }
func session(s string) relOpt {
	return func(r *release.Release) { r.Labels[LabelSession] = s; stamp(r) }
}
func stamp(r *release.Release) { r.Labels[LabelRevision] = strconv.Itoa(r.Version) }
func deployedAt(d time.Duration) relOpt {
	return func(r *release.Release) { r.Info.LastDeployed = helmtime.Time{Time: t0.Add(-d)} }
}
func withValues(v map[string]any) relOpt { return func(r *release.Release) { r.Config = v } }
func described(s string) relOpt          { return func(r *release.Release) { r.Info.Description = s } }
func chartNamed(n string) relOpt         { return func(r *release.Release) { r.Chart.Metadata.Name = n } }

func rel(rev int, status release.Status, version string, opts ...relOpt) *release.Release {
	r := &release.Release{
		Name: "agent", Namespace: "castai-agent", Version: rev,
		Info:   &release.Info{Status: status, LastDeployed: helmtime.Time{Time: t0.Add(-time.Hour)}},
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "castai-agent", Version: version}},
		Config: map[string]any{"a": "1"},
		Labels: map[string]string{},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

var wantValuesHash = values.Hash(map[string]any{"a": "1"})

func TestDecide(t *testing.T) {
	policy := Policy{Now: t0, Session: "me", PendingTimeout: 5 * time.Minute, ReadyTimeout: 5 * time.Minute}
	want := func(version string) Want {
		return Want{Enabled: true, Chart: "castai-agent", Version: version, ValuesHash: wantValuesHash}
	}
	ready := Readiness{Ready: true}
	notReady := Readiness{Workloads: []WorkloadStatus{{Kind: "Deployment", Name: "castai-agent", Detail: "0/2 replicas ready"}}}
	failedJob := Readiness{Workloads: []WorkloadStatus{{Kind: "Job", Name: "migrate", Failed: true, Detail: "failed: BackoffLimitExceeded"}}}

	tests := []struct {
		name     string
		want     Want
		hist     []*release.Release
		ready    Readiness
		inflight bool
		step     Step
		to       int
		failed   bool
		msg      string
	}{
		{"no release: install", want("1.0.0"), nil, ready, false, StepInstall, 0, false, "installing castai-agent 1.0.0"},
		{"disabled and absent: nothing", Want{Enabled: false}, nil, ready, false, StepNone, 0, false, "not installed"},
		{"disabled and present: uninstall", Want{Enabled: false}, []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy)}, ready, false, StepUninstall, 0, false, "uninstalling"},
		{"matches, healthy, ready: nothing", want("1.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy)}, ready, false, StepNone, 0, false, "deployed and ready"},
		{"matches, new, ready: mark healthy", want("1.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", session("me"))}, ready, false, StepMarkHealthy, 0, false, "ready"},
		{"matches, new, not ready within timeout: wait", want("1.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", session("me"), deployedAt(time.Minute))}, notReady, false, StepWaitReady, 0, false, "0/2 replicas ready"},
		{"first install never ready: not ready, no rollback", want("1.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", session("me"), deployedAt(10*time.Minute))}, notReady, false, StepNotReady, 0, false, "not ready after 10m0s"},
		{"upgrade never ready: roll back to last good", want("2.0.0"),
			[]*release.Release{rel(2, release.StatusDeployed, "2.0.0", session("me"), deployedAt(10*time.Minute)), rel(1, release.StatusSuperseded, "1.0.0", healthy)},
			notReady, false, StepRollback, 1, true, "rolling back to revision 1 (1.0.0)"},
		{"upgrade with failed job: roll back at once", want("2.0.0"),
			[]*release.Release{rel(2, release.StatusDeployed, "2.0.0", session("me"), deployedAt(time.Second)), rel(1, release.StatusSuperseded, "1.0.0", healthy)},
			failedJob, false, StepRollback, 1, true, "BackoffLimitExceeded"},
		{"healthy revision degraded: not ready, no rollback", want("2.0.0"),
			[]*release.Release{rel(2, release.StatusDeployed, "2.0.0", healthy), rel(1, release.StatusSuperseded, "1.0.0", healthy)},
			notReady, false, StepNotReady, 0, false, "not ready"},
		{"version changed: upgrade", want("2.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy)}, ready, false, StepUpgrade, 0, false, "1.0.0 -> 2.0.0"},
		{"values changed: upgrade", want("1.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy, withValues(map[string]any{"a": "2"}))}, ready, false, StepUpgrade, 0, false, "configuration change"},
		{"another chart's release: left alone", want("1.0.0"), []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy, chartNamed("other"))}, ready, false, StepForeign, 0, false, "holds chart other, not castai-agent"},
		{"another chart's release, disabled: not uninstalled", Want{Enabled: false, Chart: "castai-agent"}, []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy, chartNamed("castware-operator"))}, ready, false, StepForeign, 0, false, "left alone"},
		{"another chart's pending release: not unlocked", want("1.0.0"), []*release.Release{rel(1, release.StatusPendingUpgrade, "1.0.0", session("gone"), chartNamed("other"))}, ready, false, StepForeign, 0, false, "left alone"},
		{"chart changed by an explicit migration: upgrade", Want{Enabled: true, Chart: "castai-agent", Version: "1.0.0", ValuesHash: wantValuesHash, ChartChangeAllowed: true},
			[]*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy, chartNamed("other"))}, ready, false, StepUpgrade, 0, false, "chart other -> castai-agent"},
		{"failed attempt wanted again: blocked", Want{Enabled: true, Chart: "castai-agent", Version: "2.0.0", ValuesHash: wantValuesHash, Failed: &Attempt{Version: "2.0.0", ValuesHash: wantValuesHash}},
			[]*release.Release{rel(3, release.StatusDeployed, "1.0.0", healthy)}, ready, false, StepBlocked, 0, false, "failed before"},
		{"failed attempt, other version wanted: upgrade", Want{Enabled: true, Chart: "castai-agent", Version: "2.0.1", ValuesHash: wantValuesHash, Failed: &Attempt{Version: "2.0.0", ValuesHash: wantValuesHash}},
			[]*release.Release{rel(3, release.StatusDeployed, "1.0.0", healthy)}, ready, false, StepUpgrade, 0, false, "upgrading"},
		{"latest failed with good earlier: rollback to it, skipping failed ones", want("3.0.0"),
			[]*release.Release{rel(4, release.StatusFailed, "3.0.0", session("me"), described("apply error")), rel(3, release.StatusSuperseded, "2.0.0", session("me")), rel(2, release.StatusSuperseded, "1.0.0", healthy)},
			ready, false, StepRollback, 2, true, "apply error"},
		{"latest failed, nothing good: reinstall", want("1.0.0"), []*release.Release{rel(1, release.StatusFailed, "1.0.0", session("me"))}, ready, false, StepReinstall, 0, false, "reinstalling"},
		{"helm CLI revisions count as good", want("2.0.0"),
			[]*release.Release{rel(3, release.StatusFailed, "2.0.0", session("me")), rel(2, release.StatusDeployed, "1.5.0")},
			ready, false, StepRollback, 2, true, "revision 2 (1.5.0)"},
		{"uninstalled with history: reinstall", want("1.0.0"), []*release.Release{rel(1, release.StatusUninstalled, "1.0.0")}, ready, false, StepReinstall, 0, false, "uninstalled"},
		{"pending from a dead operator: unlock at once", want("1.0.0"), []*release.Release{rel(2, release.StatusPendingUpgrade, "1.0.0", session("old"), deployedAt(time.Second))}, ready, false, StepUnlock, 0, false, "no longer runs"},
		{"pending from helm CLI, recent: wait", want("1.0.0"), []*release.Release{rel(2, release.StatusPendingUpgrade, "1.0.0", deployedAt(time.Minute))}, ready, false, StepWaitPending, 0, false, "recovering it if still pending in 4m0s"},
		{"pending from helm CLI, old: unlock", want("1.0.0"), []*release.Release{rel(2, release.StatusPendingInstall, "1.0.0", deployedAt(time.Hour))}, ready, false, StepUnlock, 0, false, "left pending-install 1h0m0s ago"},
		{"pending and in flight here: wait", want("1.0.0"), []*release.Release{rel(2, release.StatusPendingUpgrade, "1.0.0", session("old"))}, ready, true, StepWaitPending, 0, false, "by this operator"},
		{"pending blocks uninstall", Want{Enabled: false}, []*release.Release{rel(2, release.StatusPendingRollback, "1.0.0", deployedAt(time.Second))}, ready, false, StepWaitPending, 0, false, "pending-rollback"},
		{"rollback requested", Want{Enabled: true, Chart: "castai-agent", Version: "2.0.0", ValuesHash: wantValuesHash, RollbackRequested: true},
			[]*release.Release{rel(2, release.StatusDeployed, "2.0.0", healthy), rel(1, release.StatusSuperseded, "1.0.0", healthy)}, ready, false, StepRollback, 1, false, "rollback requested"},
		{"adopted CLI revision stands for the wanted values: no upgrade, mark healthy", adoptedWant("1.0.0", 1, wantValuesHash),
			[]*release.Release{rel(1, release.StatusDeployed, "1.0.0", withValues(map[string]any{"legacy": "values"}))}, ready, false, StepMarkHealthy, 0, false, "deployed and ready"},
		{"adopted revision, healthy: nothing", adoptedWant("1.0.0", 1, wantValuesHash),
			[]*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy, withValues(map[string]any{"legacy": "values"}))}, ready, false, StepNone, 0, false, "deployed and ready"},
		{"adopted revision, values changed since: upgrade", adoptedWant("1.0.0", 1, "other-hash"),
			[]*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy, withValues(map[string]any{"legacy": "values"}))}, ready, false, StepUpgrade, 0, false, "configuration change"},
		{"adopted revision, version changed: upgrade", adoptedWant("2.0.0", 1, wantValuesHash),
			[]*release.Release{rel(1, release.StatusDeployed, "1.0.0", withValues(map[string]any{"legacy": "values"}))}, ready, false, StepUpgrade, 0, false, "1.0.0 -> 2.0.0"},
		{"adoption of an older revision does not cover a newer one", adoptedWant("1.0.0", 1, wantValuesHash),
			[]*release.Release{rel(2, release.StatusDeployed, "1.0.0", withValues(map[string]any{"edited": "by helm"})), rel(1, release.StatusSuperseded, "1.0.0")}, ready, false, StepUpgrade, 0, false, "configuration change"},
		{"rollback requested, nothing earlier", Want{Enabled: true, RollbackRequested: true}, []*release.Release{rel(1, release.StatusDeployed, "1.0.0", healthy)}, ready, false, StepNone, 0, false, "nothing to roll back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.want, Observed{State: NewState(tt.hist), Ready: tt.ready, InFlight: tt.inflight}, policy)
			if d.Step != tt.step {
				t.Fatalf("step = %s (%s), want %s", d.Step, d.Message, tt.step)
			}
			if d.RollbackTo != tt.to {
				t.Fatalf("rollback to %d, want %d", d.RollbackTo, tt.to)
			}
			if (d.FailedAttempt != nil) != tt.failed {
				t.Fatalf("failed attempt = %+v, want recorded=%v", d.FailedAttempt, tt.failed)
			}
			if !strings.Contains(d.Message, tt.msg) {
				t.Fatalf("message %q does not contain %q", d.Message, tt.msg)
			}
		})
	}
}

// adoptedWant wants version with the standard values, and says revision rev was adopted for values hash h.
func adoptedWant(version string, rev int, h string) Want {
	return Want{Enabled: true, Chart: "castai-agent", Version: version, ValuesHash: wantValuesHash, Adopted: &Adopted{Revision: rev, ValuesHash: h}}
}

func TestWaitPendingRequeuesAtTimeout(t *testing.T) {
	d := Decide(Want{Enabled: true}, Observed{State: NewState([]*release.Release{rel(2, release.StatusPendingUpgrade, "1.0.0", deployedAt(time.Minute))})},
		Policy{Now: t0, PendingTimeout: 5 * time.Minute})
	if d.RequeueAfter != 4*time.Minute {
		t.Fatalf("RequeueAfter = %s, want 4m", d.RequeueAfter)
	}
}
