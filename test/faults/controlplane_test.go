package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// Control-plane faults in the middle of a reconcile: an upgrade is held inside Helm (its pre-upgrade hook
// waits on a closed gate) while kube-apiserver restarts or etcd freezes. The operator must ride it out
// without restarting (default leader-election lease) and finish the upgrade.

// upgradeInFlight starts an operator, installs hooked 0.1.0 and starts an upgrade to 0.2.0 that waits on a
// closed gate; it returns the operator and the gate.
func upgradeInFlight(t *testing.T, f *fixture) (*operatorProc, string) {
	t.Helper()
	// The default ready timeout: kube-controller-manager and kwok need a while after a restart of the API server.
	op, gate := f.runningHooked([]string{"--ready-timeout=5m"}, "cp", gateUpgrade)
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	f.waitLatest("hooked", release.StatusPendingUpgrade, time.Minute)
	// Helm records the pending revision before it creates the hook Job: the fault is injected once Helm waits
	// for the Job, not while it is still creating it (a create refused by a stopped API server fails the
	// upgrade, which is a different fault).
	eventually(t, time.Minute, "the pre-upgrade hook Job created", func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "hooked-pre-upgrade"}, &batchv1.Job{})
	})
	return op, gate
}

// finishedUpgrade asserts the held upgrade completed as one revision and was reported once.
func finishedUpgrade(t *testing.T, f *fixture, op *operatorProc) []*release.Release {
	t.Helper()
	h := f.assertReleaseSane("hooked")
	if len(h) != 2 || h[1].Info.Status != release.StatusDeployed || h[1].Chart.Metadata.Version != "0.2.0" {
		t.Fatalf("history %s: want the upgrade to finish as revision 2", revs(h))
	}
	f.waitReported(op, "hooked")
	f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusOK)
	f.assertNoCrash()
	return h
}

// TestAPIServerRestart restarts kube-apiserver (same port, certificates and etcd) while Helm waits for a
// pre-upgrade hook.
func TestAPIServerRestart(t *testing.T) {
	f := newFixture(t)
	op, gate := upgradeInFlight(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	down, err := env.RestartAPIServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	openGate(t, gate)
	f.waitAvailable("hooked", "0.2.0", 5*time.Minute)
	converged := time.Since(back)
	h := finishedUpgrade(t, f, op)
	record(t, catControlPlane, fmt.Sprintf("kube-apiserver restarted (SIGTERM, down %.1f s) while Helm waits for a pre-upgrade hook", down.Seconds()),
		fmt.Sprintf("no operator restart; Helm's wait survived the restart and the upgrade finished once the hook ran (history: %s); UPDATE/OK reported once", revs(h)), converged)
}

// TestEtcdPause freezes etcd for 10 s (SIGSTOP, SIGCONT) while Helm waits for a pre-upgrade hook: every API
// request that needs storage hangs meanwhile.
func TestEtcdPause(t *testing.T) {
	f := newFixture(t)
	op, gate := upgradeInFlight(t, f)
	resume, err := env.PauseEtcd()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resume() }()
	const pause = 10 * time.Second
	// The fault lasts a fixed time (it is the fault's length, not a wait for the operator).
	time.Sleep(pause)
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	openGate(t, gate)
	f.waitAvailable("hooked", "0.2.0", 2*time.Minute)
	converged := time.Since(back)
	h := finishedUpgrade(t, f, op)
	record(t, catControlPlane, fmt.Sprintf("etcd frozen for %s (SIGSTOP/SIGCONT) while Helm waits for a pre-upgrade hook", pause),
		fmt.Sprintf("no operator restart (the leader kept its lease); requests hung and resumed; the upgrade finished once the hook ran (history: %s); UPDATE/OK reported once", revs(h)), converged)
}
