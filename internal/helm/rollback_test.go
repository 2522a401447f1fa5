package helm

import (
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// TestRollbackRevisionCarriesTheSession: the pending-rollback record a rollback creates names the process
// that runs the rollback, not whoever made the target revision (whose labels Helm copies), and the target's
// labels are left as they were; other records are stored unchanged.
func TestRollbackRevisionCarriesTheSession(t *testing.T) {
	mem := driver.NewMemory()
	d := sessionDriver{Driver: mem, session: "me"}
	target := map[string]string{LabelSession: "", LabelHealthy: "true"}
	rb := &release.Release{Name: "agent", Version: 3, Info: &release.Info{Status: release.StatusPendingRollback}, Labels: target}
	if err := d.Create("sh.helm.release.v1.agent.v3", rb); err != nil {
		t.Fatal(err)
	}
	got, err := mem.Get("sh.helm.release.v1.agent.v3")
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[LabelSession] != "me" || got.Labels[LabelHealthy] != "true" {
		t.Fatalf("stored labels %v", got.Labels)
	}
	if target[LabelSession] != "" {
		t.Fatalf("the target revision's labels were modified: %v", target)
	}
	up := &release.Release{Name: "agent", Version: 4, Info: &release.Info{Status: release.StatusPendingUpgrade}, Labels: map[string]string{LabelSession: "other"}}
	if err := d.Create("sh.helm.release.v1.agent.v4", up); err != nil {
		t.Fatal(err)
	}
	if got, _ := mem.Get("sh.helm.release.v1.agent.v4"); got.Labels[LabelSession] != "other" {
		t.Fatalf("an upgrade record was relabelled: %v", got.Labels)
	}
}
