package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestKilledInEverySelfUpgradePhase: a console "Update" of castware-operator 0.1.0 → 0.2.0 (the operator's
// release is the test-hooks chart, its pods on a node of their own) is held in each in-progress phase of
// status.operatorUpgrade, and the leader is SIGKILLed there. The restarted old version resumes from the
// recorded phase; when the upgrade reaches HandingOver, the old process is replaced by one of the new
// version (as the rollout replaces the old pod), which finishes it. Each ends final, reported once.
func TestKilledInEverySelfUpgradePhase(t *testing.T) {
	tests := []struct {
		phase castwarev1.OperatorUpgradePhase
		// hold is how the phase is held: the chart download delayed (Pending), the pre-upgrade hook gate
		// closed (Upgrading), the pods' node cordoned (RollingOut), nothing (HandingOver: the old version
		// waits for the new one), the node cordoned with a short ready timeout and the pre-rollback hook
		// gate closed (RollingBack).
		hold string
		want castwarev1.OperatorUpgradePhase
	}{
		{castwarev1.OperatorUpgradePending, "the chart download delayed", castwarev1.OperatorUpgradeSucceeded},
		{castwarev1.OperatorUpgradeUpgrading, "the pre-upgrade hook waiting on a closed gate", castwarev1.OperatorUpgradeRolledBack},
		{castwarev1.OperatorUpgradeRollingOut, "the new pods unschedulable (node cordoned)", castwarev1.OperatorUpgradeSucceeded},
		{castwarev1.OperatorUpgradeHandingOver, "new pods Ready, the old version waiting for the new one", castwarev1.OperatorUpgradeSucceeded},
		{castwarev1.OperatorUpgradeRollingBack, "the new pods never Ready, the pre-rollback hook waiting on a closed gate", castwarev1.OperatorUpgradeRolledBack},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) { killInSelfUpgradePhase(t, tt.phase, tt.hold, tt.want) })
	}
}

func killInSelfUpgradePhase(t *testing.T, phase castwarev1.OperatorUpgradePhase, hold string, want castwarev1.OperatorUpgradePhase) {
	ctx := context.Background()
	f := newFixture(t)
	f.createCluster()
	pool := f.poolNode()
	upGate, rbGate := gateOpen, gateOpen
	switch phase {
	case castwarev1.OperatorUpgradeUpgrading:
		upGate = "suu-" + f.ns
	case castwarev1.OperatorUpgradeRollingBack:
		rbGate = "sur-" + f.ns
	}
	if out, err := env.Helm(ctx, "install", "castware-operator", charts.URL()+"/charts/test-hooks-0.1.0.tgz", "-n", f.ns,
		"--set", "gates.preUpgrade="+upGate, "--set", "gates.preRollback="+rbGate, "--set", "nodeSelector.castware-test/pool="+f.ns,
		"--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	readyTimeout := "--ready-timeout=60s"
	switch phase {
	case castwarev1.OperatorUpgradePending:
		charts.SetDelay(30 * time.Second)
		t.Cleanup(func() { charts.SetDelay(0) })
	case castwarev1.OperatorUpgradeRollingOut:
		f.cordon(pool, true)
	case castwarev1.OperatorUpgradeRollingBack:
		f.cordon(pool, true)
		readyTimeout = "--ready-timeout=8s"
	}
	args := append([]string{"--self-upgrade-chart-repo=" + charts.URL(), readyTimeout}, fastLease...)
	self := func(v string) []string {
		return []string{"HELM_RELEASE_NAME=castware-operator", "OPERATOR_CHART_VERSION=" + v}
	}
	op := f.start("op-1", args, self("0.1.0")...)
	f.waitRegistered()
	id := f.api.EnqueueAction(clusterID, castai.Action{Upgrade: &castai.ChartAction{Component: "castware-operator", Version: "0.2.0"}})
	f.waitSelfUpgradePhase(phase, 2*time.Minute)
	if phase == castwarev1.OperatorUpgradeUpgrading { // Helm is inside the upgrade, not about to start it
		f.waitLatest("castware-operator", release.StatusPendingUpgrade, time.Minute)
	}

	op.kill()
	killed := time.Now()
	switch phase { // the hold ends, as the fault's cause would
	case castwarev1.OperatorUpgradePending:
		charts.SetDelay(0)
	case castwarev1.OperatorUpgradeUpgrading:
		openGate(t, upGate)
	case castwarev1.OperatorUpgradeRollingOut:
		f.cordon(pool, false)
	case castwarev1.OperatorUpgradeRollingBack:
		openGate(t, rbGate)
	}
	seen := []string{string(phase)}
	var op2 *operatorProc
	if phase != castwarev1.OperatorUpgradeHandingOver {
		op2 = f.start("op-2", args, self("0.1.0")...)
	}
	st := f.waitSelfUpgradeSettled(2*time.Minute, true)
	if st.Phase == castwarev1.OperatorUpgradeHandingOver {
		// The rollout replaces the old pod once a new one is Ready: the new version finishes.
		if seen[len(seen)-1] != string(st.Phase) {
			seen = append(seen, string(st.Phase))
		}
		if op2 != nil {
			op2.stopped.Store(true)
			op2.Stop()
		}
		f.start("op-new", args, self("0.2.0")...)
		st = f.waitSelfUpgradeSettled(2*time.Minute, false)
	}
	converged := time.Since(killed)
	seen = append(seen, string(st.Phase))
	if st.Phase != want || !st.Reported {
		t.Fatalf("self-upgrade ended %s (reported %v), want %s: %s", st.Phase, st.Reported, want, st.Message)
	}
	h := f.assertReleaseSane("castware-operator")
	wantImage := ":v0.2.0"
	if want == castwarev1.OperatorUpgradeRolledBack {
		wantImage = ":v0.1.0"
	}
	if img := f.image("castware-operator"); !strings.HasSuffix(img, wantImage) {
		t.Fatalf("operator image %s, want %s", img, wantImage)
	}
	f.waitAcked(time.Minute)
	if n := f.acks()[id]; n != 1 {
		t.Fatalf("upgrade action acknowledged %d times", n)
	}
	reports := "UPDATE/OK reported once"
	if want == castwarev1.OperatorUpgradeSucceeded {
		f.assertReportedOnce("castware-operator", castai.ActionUpdate, castai.StatusOK)
		if n := f.count("castware-operator", castai.ActionUpdate, castai.StatusError); n != 0 {
			t.Fatalf("a successful upgrade reported UPDATE/ERROR %d times: %v", n, f.results("castware-operator"))
		}
	} else {
		f.assertReportedOnce("castware-operator", castai.ActionUpdate, castai.StatusError)
		f.assertReportedOnce("castware-operator", castai.ActionRollback, castai.StatusOK)
		if n := f.count("castware-operator", castai.ActionUpdate, castai.StatusOK); n != 0 {
			t.Fatalf("a rolled-back upgrade reported UPDATE/OK %d times: %v", n, f.results("castware-operator"))
		}
		reports = "UPDATE/ERROR and ROLLBACK/OK reported once"
	}
	f.assertNoCrash()
	record(t, catKilled, fmt.Sprintf("SIGKILL during a self-upgrade 0.1.0 → 0.2.0 in phase %s (%s)", phase, hold),
		fmt.Sprintf("the restarted operator resumed from the recorded phase (phases seen: %s); history: %s; %s; the action acknowledged once: %s",
			strings.Join(seen, " → "), revs(h), reports, st.Message), converged)
}

// poolNode adds a node only the case's operator release runs on (label castware-test/pool=<namespace>).
func (f *fixture) poolNode() string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "pool-" + f.ns
	if err := env.AddNode(ctx, name, map[string]string{"castware-test/pool": f.ns}); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = k8s.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}) })
	return name
}

// cordon marks a node unschedulable (or schedulable again).
func (f *fixture) cordon(node string, on bool) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, "cordon "+node, func() error {
		n := &corev1.Node{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: node}, n); err != nil {
			return err
		}
		patch := client.MergeFrom(n.DeepCopy())
		n.Spec.Unschedulable = on
		return k8s.Patch(context.Background(), n, patch)
	})
}

// waitSelfUpgradePhase waits until status.operatorUpgrade is in phase.
func (f *fixture) waitSelfUpgradePhase(phase castwarev1.OperatorUpgradePhase, timeout time.Duration) {
	f.t.Helper()
	eventually(f.t, timeout, "self-upgrade phase "+string(phase), func() error {
		if st := f.cluster().Status.OperatorUpgrade; st == nil || st.Phase != phase {
			return fmt.Errorf("operator upgrade %+v", st)
		}
		return nil
	})
}

// waitSelfUpgradeSettled waits until the self-upgrade is final and reported, or (with handover) handed over
// to the new version (HandingOver, which only the new version finishes), and returns its status.
func (f *fixture) waitSelfUpgradeSettled(timeout time.Duration, handover bool) *castwarev1.OperatorUpgradeStatus {
	f.t.Helper()
	var st *castwarev1.OperatorUpgradeStatus
	eventually(f.t, timeout, "self-upgrade final and reported, or handed over", func() error {
		st = f.cluster().Status.OperatorUpgrade
		switch {
		case st == nil:
			return fmt.Errorf("no operator upgrade")
		case st.Phase == castwarev1.OperatorUpgradeHandingOver && handover:
			return nil
		case st.Phase == castwarev1.OperatorUpgradeSucceeded || st.Phase == castwarev1.OperatorUpgradeRolledBack || st.Phase == castwarev1.OperatorUpgradeFailed:
			if st.Reported {
				return nil
			}
		}
		return fmt.Errorf("operator upgrade %+v", st)
	})
	return st
}
