package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// Operator SIGKILLed in the middle of a Helm operation. The operation is held open deterministically: a
// test-hooks hook Job waits on a closed gate, so Helm sits in pending-install / pending-upgrade /
// pending-rollback until the case has seen that revision in Helm's storage and killed the process. The gate
// is then opened and the operator restarted, as a Deployment would restart its pod.

// TestKilledDuringInstall: the restarted operator recovers the pending-install release, installs it and
// reports the install once.
func TestKilledDuringInstall(t *testing.T) {
	f := newFixture(t)
	f.createCluster()
	op := f.start("op-1", fastLease)
	f.waitRegistered()
	gate := "inst-" + f.ns
	f.createComponent("hooked", "0.1.0", gates(gate, gateOpen, gateOpen))
	pending := f.waitLatest("hooked", release.StatusPendingInstall, time.Minute)

	op.kill()
	killed := time.Now()
	openGate(t, gate)
	op2 := f.start("op-2", fastLease)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	converged := time.Since(killed)

	h := f.assertReleaseSane("hooked")
	if last := h[len(h)-1]; last.Info.Status != release.StatusDeployed || last.Chart.Metadata.Version != "0.1.0" {
		t.Fatalf("history after recovery: %s", revs(h))
	}
	eventually(t, time.Minute, "a ReleaseRecovered event for the pending-install revision", func() error {
		if ev := f.events(castwarev1.ReasonReleaseRecovered); len(ev) == 0 || !strings.Contains(ev[0], "pending-install") {
			return fmt.Errorf("events: %v", ev)
		}
		return nil
	})
	f.waitReported(op2, "hooked")
	f.assertReportedOnce("hooked", castai.ActionEnable, castai.StatusOK)
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during install (pre-install hook running, release pending-install)",
		fmt.Sprintf("the restarted operator marked revision %d (pending-install, left by the dead process) failed at once, reinstalled it (history now: %s), Available at 0.1.0; ENABLE/OK reported once",
			pending.Version, revs(h)), converged)
}

// TestKilledDuringUpgrade: the restarted operator recovers the pending-upgrade release by rolling back to
// the last good revision (the interrupted upgrade is reported failed once, not retried behind the user's
// back), and the component keeps running throughout.
func TestKilledDuringUpgrade(t *testing.T) {
	f := newFixture(t)
	op, gate := f.runningHooked(fastLease, "up", gateUpgrade)
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	pending := f.waitLatest("hooked", release.StatusPendingUpgrade, time.Minute)

	op.kill()
	killed := time.Now()
	openGate(t, gate)
	op2 := f.start("op-2", fastLease)
	c := f.waitComponent("hooked", "interrupted upgrade rolled back", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if c.Status.CurrentVersion != "0.1.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonUpgradeFailed ||
			condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue || c.Status.ObservedGeneration != c.Generation {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	converged := time.Since(killed)
	if msg := condition(c.Status.Conditions, castwarev1.ConditionProgressing).Message; !strings.Contains(msg, "interrupted") {
		t.Fatalf("the condition does not say the upgrade was interrupted: %q", msg)
	}
	h := f.assertReleaseSane("hooked")
	last := h[len(h)-1]
	if last.Chart.Metadata.Version != "0.1.0" || last.Version != pending.Version+1 {
		t.Fatalf("history after recovery: %s (want the interrupted revision %d followed by one rollback to 0.1.0)", revs(h), pending.Version)
	}
	if img := f.image("hooked"); !strings.HasSuffix(img, ":v0.1.0") {
		t.Fatalf("running image %s, want v0.1.0", img)
	}
	f.waitResult("hooked", castai.ActionRollback, castai.StatusOK, time.Minute)
	f.settle(op2, "hooked")
	f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusError)
	f.assertReportedOnce("hooked", castai.ActionRollback, castai.StatusOK)
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during upgrade 0.1.0 → 0.2.0 (pre-upgrade hook running, release pending-upgrade)",
		fmt.Sprintf("the restarted operator marked revision %d failed (interrupted), rolled back to the last good revision (history: %s); 0.1.0 kept running; Progressing=False/UpgradeFailed says the upgrade was interrupted; UPDATE/ERROR and ROLLBACK/OK reported once",
			pending.Version, revs(h)), converged)
}

// TestKilledDuringRollback: an upgrade whose pods never become Ready is rolled back; the operator is killed
// while that rollback runs. The restarted operator finishes the rollback to the same revision, does not
// try the failed version again, and reports the failure and the rollback once.
func TestKilledDuringRollback(t *testing.T) {
	f := newFixture(t)
	args := append([]string{"--ready-timeout=8s"}, fastLease...)
	op, gate := f.runningHooked(args, "rb", gateRollback)
	bad := gates(gateOpen, gateOpen, gate)
	bad["neverReady"] = true
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0"; c.Spec.Values = rawJSON(t, bad) })
	pending := f.waitLatest("hooked", release.StatusPendingRollback, 2*time.Minute)

	op.kill()
	killed := time.Now()
	openGate(t, gate)
	op2 := f.start("op-2", args)
	c := f.waitComponent("hooked", "rolled back to 0.1.0", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if c.Status.CurrentVersion != "0.1.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonUpgradeFailed ||
			condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue || c.Status.ObservedGeneration != c.Generation {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	converged := time.Since(killed)
	if fa := c.Status.FailedAttempt; fa == nil || fa.Version != "0.2.0" {
		t.Fatalf("the failed 0.2.0 is not recorded as the failed attempt: %+v", fa)
	}
	f.waitResult("hooked", castai.ActionRollback, castai.StatusOK, time.Minute)
	f.settle(op2, "hooked")
	h := f.assertReleaseSane("hooked")
	last := h[len(h)-1]
	if last.Chart.Metadata.Version != "0.1.0" || last.Version != pending.Version+1 {
		t.Fatalf("history %s: want the interrupted rollback %d followed by one rollback to 0.1.0 and no new attempt at 0.2.0", revs(h), pending.Version)
	}
	f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusError)
	f.assertReportedOnce("hooked", castai.ActionRollback, castai.StatusOK)
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during the rollback of a failed upgrade (pre-rollback hook running, release pending-rollback)",
		fmt.Sprintf("the restarted operator marked revision %d failed and rolled back to the same last good revision again (history: %s); the failed 0.2.0 stays recorded and is not retried; UPDATE/ERROR and ROLLBACK/OK reported once",
			pending.Version, revs(h)), converged)
}

// TestKilledDuringConsoleRollback: a console "Rollback" (0.2.0 back to 0.1.0) is interrupted. The restarted
// operator finishes that rollback (to 0.1.0, not back to 0.2.0), keeps 0.2.0 from being re-applied, and
// reports the rollback once; the action is acknowledged once.
func TestKilledDuringConsoleRollback(t *testing.T) {
	f := newFixture(t)
	op, gate := f.runningHooked(fastLease, "crb", gateRollback)
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	f.waitAvailable("hooked", "0.2.0", 90*time.Second)
	id := f.api.EnqueueAction(clusterID, castai.Action{Rollback: &castai.ComponentTarget{Component: "hooked"}})
	pending := f.waitLatest("hooked", release.StatusPendingRollback, time.Minute)

	op.kill()
	killed := time.Now()
	openGate(t, gate)
	op2 := f.start("op-2", fastLease)
	c := f.waitComponent("hooked", "rolled back to 0.1.0", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if c.Status.CurrentVersion != "0.1.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonRolledBack ||
			condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	converged := time.Since(killed)
	if fa := c.Status.FailedAttempt; fa == nil || fa.Version != "0.2.0" || fa.Reason != castwarev1.ReasonRolledBack {
		t.Fatalf("0.2.0 is not kept from being re-applied: failed attempt %+v", fa)
	}
	f.waitAcked(time.Minute)
	f.waitResult("hooked", castai.ActionRollback, castai.StatusOK, time.Minute)
	f.settle(op2, "hooked")
	h := f.assertReleaseSane("hooked")
	if last := h[len(h)-1]; last.Chart.Metadata.Version != "0.1.0" || last.Version != pending.Version+1 {
		t.Fatalf("history %s: want the interrupted rollback %d followed by one rollback to 0.1.0", revs(h), pending.Version)
	}
	if img := f.image("hooked"); !strings.HasSuffix(img, ":v0.1.0") {
		t.Fatalf("running image %s, want v0.1.0", img)
	}
	if n := f.acks()[id]; n != 1 {
		t.Fatalf("rollback action acknowledged %d times", n)
	}
	f.assertReportedOnce("hooked", castai.ActionRollback, castai.StatusOK)
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during a console Rollback 0.2.0 → 0.1.0 (pre-rollback hook running, release pending-rollback)",
		fmt.Sprintf("the restarted operator marked revision %d failed and finished the requested rollback to 0.1.0 (history: %s); 0.2.0 is not re-applied until the spec changes; the action was acknowledged once and ROLLBACK/OK reported once",
			pending.Version, revs(h)), converged)
}

// TestKilledDuringMigration: a component installed from plain YAML is taken over by a Helm install with
// take-ownership (migration, write mode); the operator is killed during that install. The restarted operator
// recovers the pending-install release, takes the installation over again and finishes: the same Deployment
// (same UID) now belongs to the release, the Component is not left readonly, the install is reported once.
func TestKilledDuringMigration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createCluster(func(c *castwarev1.Cluster) { c.Spec.MigrationMode = castwarev1.MigrationModeWrite })
	// Old manifests put the key into a literal API_KEY variable: the takeover removes it while the Deployment
	// is paused, so the kill leaves a paused Deployment behind.
	manifest, err := env.Helm(ctx, "template", "migrated", charts.URL()+"/charts/test-hooks-0.1.0.tgz", "-n", f.ns, "--no-hooks",
		"--set", "additionalEnv.API_KEY=legacy-literal-key")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, "migrated.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := env.Kubectl(ctx, "apply", "-n", f.ns, "-f", path); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	eventually(t, time.Minute, "YAML install ready", func() error {
		if d := f.deployment("migrated"); d.Status.ReadyReplicas != 1 {
			return fmt.Errorf("ready replicas %d", d.Status.ReadyReplicas)
		}
		return nil
	})
	before := f.deployment("migrated")

	op := f.start("op-1", fastLease)
	pending := f.waitLatest("migrated", release.StatusPendingInstall, 2*time.Minute)
	op.kill()
	killed := time.Now()
	openGate(t, "mig-"+f.ns)
	op2 := f.start("op-2", fastLease)
	c := f.waitAvailable("migrated", "0.1.0", 2*time.Minute)
	converged := time.Since(killed)

	if c.Spec.Readonly || condition(c.Status.Conditions, castwarev1.ConditionDegraded).Status == metav1.ConditionTrue {
		t.Fatalf("the interrupted takeover left the Component readonly/degraded: %s", describe(c))
	}
	if a := c.Status.Adoption; a == nil || a.Source != castwarev1.MigrationYAML || a.Revision == 0 || a.WorkloadUID != string(before.UID) {
		t.Fatalf("adoption not recorded: %+v", c.Status.Adoption)
	}
	after := f.deployment("migrated")
	if after.UID != before.UID || after.Annotations["meta.helm.sh/release-name"] != "migrated" {
		t.Fatalf("the Deployment was not taken over in place: UID %s -> %s, annotations %v", before.UID, after.UID, after.Annotations)
	}
	if after.Spec.Paused || after.Status.UpdatedReplicas != after.Status.Replicas {
		t.Fatalf("the Deployment was left paused or not rolled out: paused=%v, %d/%d updated", after.Spec.Paused, after.Status.UpdatedReplicas, after.Status.Replicas)
	}
	for _, e := range after.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "API_KEY" {
			t.Fatal("the legacy API_KEY variable is still set")
		}
	}
	h := f.assertReleaseSane("migrated")
	f.waitReported(op2, "migrated")
	f.assertReportedOnce("migrated", castai.ActionEnable, castai.StatusOK)
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during the takeover of a YAML install (migration: Helm install with take-ownership, pre-install hook running, release pending-install)",
		fmt.Sprintf("the restarted operator marked revision %d failed, forgot it and took the installation over again (history: %s); the same Deployment (same UID) kept running, was resumed (the takeover had paused it to drop a literal API_KEY) and now belongs to the release; the Component is not left readonly; ENABLE/OK reported once",
			pending.Version, revs(h)), converged)
}

// TestKilledDuringSelfUpgrade: a console "Update" of castware-operator makes the leader `helm upgrade` its
// own release; the operator is killed while that upgrade runs. The restarted (old) operator rolls its release
// back to the revision the upgrade started from, and reports the failure once; the action is acknowledged once.
func TestKilledDuringSelfUpgrade(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createCluster()
	gate := "su-" + f.ns
	if out, err := env.Helm(ctx, "install", "castware-operator", charts.URL()+"/charts/test-hooks-0.1.0.tgz", "-n", f.ns,
		"--set", "gates.preUpgrade="+gate, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	self := []string{"HELM_RELEASE_NAME=castware-operator", "OPERATOR_CHART_VERSION=0.1.0"}
	// The operator's own chart comes from its pinned source (the chart's selfUpgrade.chartRepository).
	suArgs := append([]string{"--self-upgrade-chart-repo=" + charts.URL()}, fastLease...)
	op := f.start("op-1", suArgs, self...)
	f.waitRegistered()
	id := f.api.EnqueueAction(clusterID, castai.Action{Upgrade: &castai.ChartAction{Component: "castware-operator", Version: "0.2.0"}})
	pending := f.waitLatest("castware-operator", release.StatusPendingUpgrade, 2*time.Minute)

	op.kill()
	killed := time.Now()
	op2 := f.start("op-2", suArgs, self...)
	var st *castwarev1.OperatorUpgradeStatus
	eventually(t, 2*time.Minute, "self-upgrade rolled back and reported", func() error {
		st = f.cluster().Status.OperatorUpgrade
		if st == nil || st.Phase != castwarev1.OperatorUpgradeRolledBack || !st.Reported {
			return fmt.Errorf("operator upgrade %+v", st)
		}
		return nil
	})
	converged := time.Since(killed)
	_ = op2
	h := f.assertReleaseSane("castware-operator")
	if last := h[len(h)-1]; last.Chart.Metadata.Version != "0.1.0" || last.Version != pending.Version+1 {
		t.Fatalf("operator release history %s: want the interrupted upgrade %d followed by the rollback", revs(h), pending.Version)
	}
	if img := f.image("castware-operator"); !strings.HasSuffix(img, ":v0.1.0") {
		t.Fatalf("operator image %s, want v0.1.0", img)
	}
	f.waitAcked(time.Minute)
	if n := f.acks()[id]; n != 1 {
		t.Fatalf("upgrade action acknowledged %d times", n)
	}
	f.assertReportedOnce("castware-operator", castai.ActionUpdate, castai.StatusError)
	f.assertReportedOnce("castware-operator", castai.ActionRollback, castai.StatusOK)
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during a self-upgrade 0.1.0 → 0.2.0 (the leader's `helm upgrade` of its own release, pre-upgrade hook running)",
		fmt.Sprintf("the restarted operator found status.operatorUpgrade in phase Upgrading with revision %d pending, marked it failed and rolled its release back to the revision it started from (history: %s); UPDATE/ERROR and ROLLBACK/OK reported once; the action acknowledged once: %s",
			pending.Version, revs(h), st.Message), converged)
}

// TestKilledDuringRollbackToCLIRevision: the last good revision was made with the helm CLI (someone ran
// `helm upgrade --reuse-values` by hand), a later upgrade fails and is rolled back to it, and the operator is
// killed during that rollback. Helm copies the target revision's labels onto the rollback revision, so it
// would carry no operator session and look like another client's operation (recovered only after the
// 5-minute pending timeout); the operator stamps its session on it, so it is recovered at once.
func TestKilledDuringRollbackToCLIRevision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	args := append([]string{"--ready-timeout=8s"}, fastLease...)
	op, gate := f.runningHooked(args, "cli", gateRollback)
	if out, err := env.Helm(ctx, "upgrade", "hooked", charts.URL()+"/charts/test-hooks-0.1.0.tgz", "-n", f.ns, "--reuse-values"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f.waitComponent("hooked", "the CLI revision taken as healthy", time.Minute, func(c *castwarev1.Component) error {
		if c.Status.Revision != 2 || c.Status.CurrentVersion != "0.1.0" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	// The revision someone else made is reported to Cast AI (seen through the release records, not a periodic pass).
	f.waitResult("hooked", castai.ActionUpdate, castai.StatusOK, 30*time.Second)
	bad := gates(gateOpen, gateOpen, gate)
	bad["neverReady"] = true
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0"; c.Spec.Values = rawJSON(t, bad) })
	pending := f.waitLatest("hooked", release.StatusPendingRollback, 2*time.Minute)

	op.kill()
	killed := time.Now()
	openGate(t, gate)
	f.start("op-2", args)
	f.waitComponent("hooked", "rolled back to the CLI revision's 0.1.0", 90*time.Second, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if c.Status.CurrentVersion != "0.1.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonUpgradeFailed ||
			condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	converged := time.Since(killed)
	if converged > time.Minute {
		t.Fatalf("recovered %s after the kill: the rollback revision was treated as another client's", converged)
	}
	h := f.assertReleaseSane("hooked")
	if last := h[len(h)-1]; last.Chart.Metadata.Version != "0.1.0" || last.Version != pending.Version+1 {
		t.Fatalf("history %s", revs(h))
	}
	f.assertNoCrash()
	record(t, catKilled, "SIGKILL during the rollback of a failed upgrade to a revision made with the helm CLI (release pending-rollback)",
		fmt.Sprintf("the rollback revision carried the operator's session (Helm would have copied the CLI revision's labels, leaving it to the 5 min pending timeout), so the restarted operator recovered it at once and rolled back to the CLI revision again (history: %s)", revs(h)), converged)
}
