package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// Control-plane faults at the moments that matter most: while Helm writes a release record, and an etcd
// stall longer than the leader's renew deadline.

// TestAPIServerDownAtReleaseWrite kills kube-apiserver at the instant Helm sends the release record that
// finishes an upgrade (the update of the pending-upgrade revision's Secret, after the hook ran and the
// manifests were applied), so that write fails. The operator talks through a recording proxy, which holds
// that one request until the API server is gone.
func TestAPIServerDownAtReleaseWrite(t *testing.T) {
	f := newFixture(t)
	proxy, err := env.StartRecordingProxy(f.ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	f.createCluster()
	op := f.start("op-1", []string{"--ready-timeout=5m"}, "KUBECONFIG="+proxy.Kubeconfig)
	f.waitRegistered()
	gate := "rw-" + f.ns
	f.createComponent("hooked", "0.1.0", gateUpgrade(gate))
	f.waitAvailable("hooked", "0.1.0", 90*time.Second)
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	pending := f.waitLatest("hooked", release.StatusPendingUpgrade, time.Minute)
	f.waitJob("hooked-pre-upgrade")

	recordPath := fmt.Sprintf("/secrets/sh.helm.release.v1.hooked.v%d", pending.Version)
	var once sync.Once
	killed := make(chan func(context.Context) error, 1)
	var killErr error
	proxy.Before(func(method, path string) {
		if method != http.MethodPut || !strings.HasSuffix(path, recordPath) {
			return
		}
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start, err := env.StopAPIServer(ctx)
			if err != nil {
				killErr = err
			}
			killed <- start
		})
	})
	openGate(t, gate)
	var start func(context.Context) error
	select {
	case start = <-killed:
	case <-time.After(2 * time.Minute):
		t.Fatalf("Helm never wrote the release record %s", recordPath)
	}
	down := time.Now()
	if killErr != nil {
		t.Fatal(killErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := start(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	failed := 0
	for _, r := range proxy.Requests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Path, recordPath) && r.Status >= 500 {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("the release-record write %s did not fail: the fault was not injected", recordPath)
	}
	c := f.waitSettled("hooked", 5*time.Minute)
	converged := time.Since(back)
	h := f.assertReleaseSane("hooked")
	outcome := f.assertUpgradeOutcome(op, c)
	f.assertNoCrash()
	record(t, catControlPlane, fmt.Sprintf("kube-apiserver SIGKILLed at the instant Helm writes the release record finishing an upgrade (PUT of revision %d after the hook ran; down %.1f s)", pending.Version, back.Sub(down).Seconds()),
		fmt.Sprintf("the write failed (%d attempt(s) answered 5xx); no operator restart; once the API server was back the operator %s (history: %s)", failed, outcome, revs(h)), converged)
}

// TestEtcdPausePastRenewDeadline freezes etcd for 25 s, longer than the leader's 10 s renew deadline (15 s
// lease), while Helm waits for a pre-upgrade hook. The leader cannot renew; it must stop leading (here:
// exit, as a pod that loses its lease restarts) rather than act on a lease it may no longer hold. Its
// restart (the one restart this case allows) recovers the upgrade.
func TestEtcdPausePastRenewDeadline(t *testing.T) {
	const pause = 25 * time.Second
	f := newFixture(t)
	op, gate := f.runningHooked(append([]string{"--ready-timeout=5m"}, fastLease...), "ep", gateUpgrade)
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	pending := f.waitLatest("hooked", release.StatusPendingUpgrade, time.Minute)
	f.waitJob("hooked-pre-upgrade")
	resume, err := env.PauseEtcd()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resume() }()
	paused := time.Now()
	exitedAfter := make(chan time.Duration, 1)
	go func() { <-op.Exited(); exitedAfter <- time.Since(paused) }()
	// The fault lasts a fixed time (it is the fault's length, not a wait for the operator).
	time.Sleep(pause)
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	var exited time.Duration
	select {
	case exited = <-exitedAfter:
	case <-time.After(30 * time.Second):
		t.Fatalf("the leader still runs %s after etcd froze, past its %s lease", time.Since(paused).Round(time.Second), "15s")
	}
	if !f.logHas("leader election lost") && !f.logHas("leadership lost") {
		t.Fatalf("the leader exited, but not because it lost its lease:\n%s", interesting(tail(op.LogPath, 40), 20))
	}
	op.crashed.Store(false) // the one allowed restart: the lease loss
	openGate(t, gate)
	op2 := f.start("op-2", append([]string{"--ready-timeout=5m"}, fastLease...))
	c := f.waitSettled("hooked", 3*time.Minute)
	converged := time.Since(back)
	h := f.assertReleaseSane("hooked")
	outcome := f.assertUpgradeOutcome(op2, c)
	f.assertNoCrash()
	record(t, catControlPlane, fmt.Sprintf("etcd frozen for %s (SIGSTOP/SIGCONT), past the leader's renew deadline (lease 15 s, renew deadline 10 s), while Helm waits for a pre-upgrade hook", pause),
		fmt.Sprintf("the leader stopped leading and exited %.1f s into the freeze (the one restart this case allows: a pod that loses its lease restarts); the restarted operator found revision %d pending and %s (history: %s)", exited.Seconds(), pending.Version, outcome, revs(h)), converged)
}

// waitJob waits until a Job exists in the case's namespace.
func (f *fixture) waitJob(name string) {
	f.t.Helper()
	eventually(f.t, time.Minute, "Job "+name+" created", func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &batchv1.Job{})
	})
}

// waitSettled waits until the Component is Available with nothing in progress, at whichever version.
func (f *fixture) waitSettled(name string, timeout time.Duration) *castwarev1.Component {
	f.t.Helper()
	return f.waitComponent(name, name+" settled", timeout, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if p.Status != metav1.ConditionFalse || condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue ||
			c.Status.ObservedGeneration != c.Generation || c.Status.CurrentVersion == "" {
			return fmt.Errorf("not yet")
		}
		if h := f.history(name); len(h) == 0 || h[len(h)-1].Info.Status.IsPending() {
			return fmt.Errorf("history %s", revs(h))
		}
		return nil
	})
}

// assertUpgradeOutcome checks that an upgrade 0.1.0 -> 0.2.0 disturbed by a fault ended in one of the two
// sane ways, each reported once, and says which: finished (UPDATE/OK), or failed and rolled back
// (UPDATE/ERROR, ROLLBACK/OK, 0.1.0 running).
func (f *fixture) assertUpgradeOutcome(op *operatorProc, c *castwarev1.Component) string {
	f.t.Helper()
	switch c.Status.CurrentVersion {
	case "0.2.0":
		f.waitReported(op, "hooked")
		f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusOK)
		return "finished the upgrade to 0.2.0; UPDATE/OK reported once"
	case "0.1.0":
		f.waitResult("hooked", castai.ActionRollback, castai.StatusOK, time.Minute)
		f.settle(op, "hooked")
		f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusError)
		f.assertReportedOnce("hooked", castai.ActionRollback, castai.StatusOK)
		if n := f.count("hooked", castai.ActionUpdate, castai.StatusOK); n != 0 {
			f.t.Fatalf("UPDATE/OK reported %d times for an upgrade that was rolled back: %v", n, f.results("hooked"))
		}
		if img := f.image("hooked"); !strings.HasSuffix(img, ":v0.1.0") {
			f.t.Fatalf("running image %s after the rollback, want v0.1.0", img)
		}
		return "marked the interrupted revision failed and rolled back to 0.1.0; UPDATE/ERROR and ROLLBACK/OK reported once"
	}
	f.t.Fatalf("component settled at %q: %s", c.Status.CurrentVersion, describe(c))
	return ""
}
