package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// historyWatch samples a release's history every 50 ms while a case runs, to prove from the history that no
// two Helm operations ran on the release at once: never two pending revisions, revisions strictly sequential.
type historyWatch struct {
	mu         sync.Mutex
	maxPending int
	violations []string
	// firstChange is when each revision was first seen in each status.
	firstSeen map[string]time.Time
	stop      chan struct{}
	done      chan struct{}
}

func (f *fixture) watchHistory(name string) *historyWatch {
	w := &historyWatch{firstSeen: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if h, err := env.History(context.Background(), f.ns, name); err == nil {
				w.observe(h)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	f.t.Cleanup(w.end)
	return w
}

func (w *historyWatch) observe(h []*release.Release) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pending := 0
	for i, r := range h {
		if r.Info.Status.IsPending() {
			pending++
		}
		if i > 0 && r.Version != h[i-1].Version+1 {
			w.violations = append(w.violations, "revisions not sequential: "+revs(h))
		}
		key := fmt.Sprintf("%d/%s", r.Version, r.Info.Status)
		if _, ok := w.firstSeen[key]; !ok {
			w.firstSeen[key] = time.Now()
		}
	}
	if pending > 1 {
		w.violations = append(w.violations, "two pending revisions at once: "+revs(h))
	}
	w.maxPending = max(w.maxPending, pending)
}

func (w *historyWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// seen returns when revision rev was first seen with status st (zero if never).
func (w *historyWatch) seen(rev int, st release.Status) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstSeen[fmt.Sprintf("%d/%s", rev, st)]
}

func (w *historyWatch) check(t *testing.T) {
	t.Helper()
	w.end()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("concurrent Helm operations on one release: %s", strings.Join(w.violations, "; "))
	}
}

// leaseHolder returns the holder of the operator's leader-election Lease.
func (f *fixture) leaseHolder() string {
	l := &coordinationv1.Lease{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: operator.DefaultLeaderElectionID}, l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestLeaderKilledMidUpgrade runs two replicas with leader election and SIGKILLs the leader while Helm runs
// an upgrade: the standby takes over within the lease time, recovers the release, and at no moment do two
// Helm operations run on it.
func TestLeaderKilledMidUpgrade(t *testing.T) {
	const lease, retry = 15 * time.Second, 2 * time.Second
	f := newFixture(t)
	f.createCluster()
	a := f.start("op-a", fastLease)
	f.waitRegistered()
	var leaderA string
	eventually(t, 30*time.Second, "op-a holds the lease", func() error {
		if leaderA = f.leaseHolder(); leaderA == "" {
			return fmt.Errorf("no holder")
		}
		return nil
	})
	b := f.start("op-b", fastLease)
	watch := f.watchHistory("hooked")
	gate := "lead-" + f.ns
	f.createComponent("hooked", "0.1.0", gates(gateOpen, gate, gateOpen))
	f.waitAvailable("hooked", "0.1.0", 90*time.Second)
	if h := f.leaseHolder(); h != leaderA {
		t.Fatalf("the standby took the lease from a live leader: %s -> %s", leaderA, h)
	}
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	pending := f.waitLatest("hooked", release.StatusPendingUpgrade, time.Minute)

	a.kill()
	killed := time.Now()
	openGate(t, gate)
	var took time.Duration
	eventually(t, lease+retry+30*time.Second, "op-b takes the lease", func() error {
		if h := f.leaseHolder(); h == "" || h == leaderA {
			return fmt.Errorf("holder %q", h)
		}
		took = time.Since(killed)
		return nil
	})
	if took > lease+retry+5*time.Second {
		t.Fatalf("op-b took over %s after the kill; the lease is %s (retry %s)", took.Round(100*time.Millisecond), lease, retry)
	}
	f.waitComponent("hooked", "interrupted upgrade rolled back by op-b", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if c.Status.CurrentVersion != "0.1.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonUpgradeFailed ||
			condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	converged := time.Since(killed)
	watch.check(t)
	if unlocked := watch.seen(pending.Version, release.StatusFailed); unlocked.IsZero() || unlocked.Before(killed.Add(took-retry)) {
		t.Fatalf("revision %d was recovered at %v, before op-b could have taken the lease (kill %v, lease taken %s later)", pending.Version, unlocked, killed, took)
	}
	h := f.assertReleaseSane("hooked")
	f.waitResult("hooked", castai.ActionRollback, castai.StatusOK, time.Minute)
	f.settle(b, "hooked")
	f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusError)
	f.assertReportedOnce("hooked", castai.ActionRollback, castai.StatusOK)
	f.assertNoCrash()
	record(t, catLeader, "two replicas; the leader SIGKILLed during an upgrade (pre-upgrade hook running, release pending-upgrade)",
		fmt.Sprintf("the standby acquired the lease %.1f s after the kill (lease %s, retry %s), marked the leader's revision %d failed and rolled back (history: %s); sampling the history every 50 ms never showed two pending revisions or a gap; UPDATE/ERROR and ROLLBACK/OK reported once",
			took.Seconds(), lease, retry, pending.Version, revs(h)), converged)
}
