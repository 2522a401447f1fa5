package helm

import (
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// TestStampDriver: every pending record the engine creates names this session and its own revision; a
// new install or upgrade is not healthy whatever it copied; a rollback is healthy only when its target was;
// the labels it copied from are left as they were, and records that are not pending are stored unchanged.
func TestStampDriver(t *testing.T) {
	healthyTarget := map[string]string{LabelSession: "old", LabelHealthy: "true", LabelRevision: "3", "user": "x"}
	for _, tc := range []struct {
		name            string
		status          release.Status
		labels          map[string]string
		rollbackHealthy bool
		wantHealthy     bool
	}{
		{"upgrade drops a copied healthy mark", release.StatusPendingUpgrade, healthyTarget, false, false},
		{"install", release.StatusPendingInstall, nil, false, false},
		{"rollback to a healthy revision", release.StatusPendingRollback, healthyTarget, true, true},
		{"rollback to a revision never seen healthy", release.StatusPendingRollback, healthyTarget, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := driver.NewMemory()
			d := stampDriver{Driver: mem, session: "me", rollbackHealthy: tc.rollbackHealthy}
			rls := &release.Release{Name: "agent", Version: 4, Info: &release.Info{Status: tc.status}, Labels: tc.labels}
			if err := d.Create("sh.helm.release.v1.agent.v4", rls); err != nil {
				t.Fatal(err)
			}
			got, err := mem.Get("sh.helm.release.v1.agent.v4")
			if err != nil {
				t.Fatal(err)
			}
			if SessionOf(got) != "me" || got.Labels[LabelRevision] != "4" || HealthyOf(got) != tc.wantHealthy {
				t.Fatalf("stored labels %v: session %q healthy %v", got.Labels, SessionOf(got), HealthyOf(got))
			}
			if tc.labels != nil && got.Labels["user"] != "x" {
				t.Fatalf("a user label was lost: %v", got.Labels)
			}
		})
	}
	if healthyTarget[LabelSession] != "old" || healthyTarget[LabelRevision] != "3" {
		t.Fatalf("the copied-from labels were modified: %v", healthyTarget)
	}
	mem := driver.NewMemory()
	done := &release.Release{Name: "agent", Version: 5, Info: &release.Info{Status: release.StatusDeployed}, Labels: map[string]string{LabelSession: "other"}}
	if err := (stampDriver{Driver: mem, session: "me"}).Create("sh.helm.release.v1.agent.v5", done); err != nil {
		t.Fatal(err)
	}
	if got, _ := mem.Get("sh.helm.release.v1.agent.v5"); got.Labels[LabelSession] != "other" || got.Labels[LabelRevision] != "" {
		t.Fatalf("a record that is not pending was relabelled: %v", got.Labels)
	}
}

// TestCopiedLabelsDoNotCount: a revision made by `helm upgrade` from the CLI carries the labels of the
// operator's revision before it; they name another revision, so it has no session (it is another client's:
// recovered only after the pending timeout) and is not healthy until seen ready.
func TestCopiedLabelsDoNotCount(t *testing.T) {
	cli := &release.Release{Name: "agent", Version: 2, Info: &release.Info{Status: release.StatusPendingUpgrade},
		Labels: map[string]string{LabelSession: "me", LabelHealthy: "true", LabelRevision: "1"}}
	if SessionOf(cli) != "" || HealthyOf(cli) {
		t.Fatalf("copied labels counted: session %q healthy %v", SessionOf(cli), HealthyOf(cli))
	}
	d := Decide(Want{Enabled: true}, Observed{State: NewState([]*release.Release{cli})}, Policy{Session: "me", PendingTimeout: DefaultPendingTimeout})
	if d.Step != StepWaitPending {
		t.Fatalf("a pending upgrade by the CLI carrying the operator's copied session: step %s (%s), want to wait", d.Step, d.Message)
	}
}
