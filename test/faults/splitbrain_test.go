package faults

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/leaderfence"
)

// TestSplitBrain runs two replicas and freezes the leader (SIGSTOP) while Helm runs an upgrade, for longer
// than its lease: the standby takes over and recovers the release. Then the old leader runs again
// (SIGCONT) with its Helm upgrade still in flight and the hook it waited for finished: it must not write a
// release record, a workload or a status, and must stop (exit or stand by). The old leader talks to
// kube-apiserver through a recording proxy, so the case knows every request it sent after SIGCONT.
func TestSplitBrain(t *testing.T) {
	const lease, retry = 15 * time.Second, 2 * time.Second
	f := newFixture(t)
	f.createCluster()
	proxy, err := env.StartRecordingProxy(f.ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	a := f.start("op-a", fastLease, "KUBECONFIG="+proxy.Kubeconfig)
	f.waitRegistered()
	leaderA := f.waitLeader("")
	b := f.start("op-b", fastLease)
	watch := f.watchHistory("hooked")
	gate := "sb-" + f.ns
	f.createComponent("hooked", "0.1.0", gateUpgrade(gate))
	f.waitAvailable("hooked", "0.1.0", 90*time.Second)
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	pending := f.waitLatest("hooked", release.StatusPendingUpgrade, time.Minute)

	a.freeze(t)
	frozen := time.Now()
	openGate(t, gate) // the hook the frozen leader waits for finishes while it sleeps
	f.waitLeader(leaderA)
	took := time.Since(frozen)
	f.waitRolledBack("hooked", 2*time.Minute)
	converged := time.Since(frozen)
	f.waitResult("hooked", castai.ActionRollback, castai.StatusOK, time.Minute)
	f.settle(b, "hooked")
	before := f.releaseSecrets("hooked")
	histBefore := revs(f.history("hooked"))
	depBefore := f.deployment("hooked")

	resumed := a.thaw(t)
	exited := f.waitStale(a, 90*time.Second)
	// The old leader is gone or standing by; give any write it might still have made time to show.
	f.settle(b, "hooked")
	writes := writesSince(proxy.Requests(), resumed)
	if len(writes) > 0 {
		t.Fatalf("the old leader wrote after SIGCONT: %s", strings.Join(writes, "; "))
	}
	if after := f.releaseSecrets("hooked"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("release records changed after SIGCONT: %v -> %v", before, after)
	}
	h := f.assertReleaseSane("hooked")
	if revs(h) != histBefore {
		t.Fatalf("history changed after SIGCONT: %s -> %s", histBefore, revs(h))
	}
	if dep := f.deployment("hooked"); dep.Generation != depBefore.Generation || !strings.HasSuffix(dep.Spec.Template.Spec.Containers[0].Image, ":v0.1.0") {
		t.Fatalf("the workload changed after SIGCONT: generation %d -> %d, image %s", depBefore.Generation, dep.Generation, dep.Spec.Template.Spec.Containers[0].Image)
	}
	watch.check(t)
	if h := f.leaseHolder(); h == leaderA || h == "" {
		t.Fatalf("lease holder after SIGCONT: %q", h)
	}
	f.assertReportedOnce("hooked", castai.ActionUpdate, castai.StatusError)
	f.assertReportedOnce("hooked", castai.ActionRollback, castai.StatusOK)
	if n := f.count("hooked", castai.ActionUpdate, castai.StatusOK); n != 0 {
		t.Fatalf("the interrupted upgrade was reported UPDATE/OK %d times: %v", n, f.results("hooked"))
	}
	f.assertNoCrash()
	refused := f.fenceRefusals(a)
	record(t, catLeader, fmt.Sprintf("two replicas; the leader frozen (SIGSTOP) for %.0f s during an upgrade (pre-upgrade hook running, release pending-upgrade), the hook finished meanwhile, then resumed (SIGCONT)", resumed.Sub(frozen).Seconds()),
		fmt.Sprintf("the standby acquired the lease %.1f s after the freeze (lease %s, retry %s) and rolled back the frozen leader's revision %d (history: %s); after SIGCONT the old leader %s and sent %d requests, none of them a write (its fence refused %d: %s); release records, workload and history unchanged; UPDATE/ERROR and ROLLBACK/OK reported once, no UPDATE/OK",
			took.Seconds(), lease, retry, pending.Version, revs(h), exited, len(requestsSince(proxy.Requests(), resumed)), len(refused), strings.Join(refused, ", ")), converged)
}

// waitLeader waits until the Lease has a holder other than prev and returns it.
func (f *fixture) waitLeader(prev string) string {
	f.t.Helper()
	var holder string
	eventually(f.t, 60*time.Second, "a lease holder other than "+fmt.Sprintf("%q", prev), func() error {
		if holder = f.leaseHolder(); holder == "" || holder == prev {
			return fmt.Errorf("holder %q", holder)
		}
		return nil
	})
	return holder
}

// waitRolledBack waits until an interrupted upgrade of the Component is rolled back to 0.1.0.
func (f *fixture) waitRolledBack(name string, timeout time.Duration) *castwarev1.Component {
	f.t.Helper()
	return f.waitComponent(name, "interrupted upgrade rolled back", timeout, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if c.Status.CurrentVersion != "0.1.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonUpgradeFailed ||
			condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// freeze stops the process (SIGSTOP); its exit after thaw is expected, not a crash.
func (p *operatorProc) freeze(t *testing.T) {
	t.Helper()
	p.stopped.Store(true)
	if err := syscall.Kill(p.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.Pid(), syscall.SIGCONT) })
}

// thaw resumes a frozen process (SIGCONT) and returns when.
func (p *operatorProc) thaw(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := syscall.Kill(p.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	return at
}

// waitStale waits until a resumed old leader exited (a replica that lost its lease stops; its pod restarts
// as a standby) and says after how long.
func (f *fixture) waitStale(p *operatorProc, timeout time.Duration) string {
	f.t.Helper()
	start := time.Now()
	select {
	case <-p.Exited():
		return fmt.Sprintf("exited %.1f s after SIGCONT", time.Since(start).Seconds())
	case <-time.After(timeout):
		f.t.Fatalf("the old leader still runs %s after SIGCONT", timeout)
	}
	return ""
}

// releaseSecrets returns the release records of a release: Secret name -> resourceVersion.
func (f *fixture) releaseSecrets(name string) map[string]string {
	f.t.Helper()
	l := &corev1.SecretList{}
	if err := k8s.List(context.Background(), l, client.InNamespace(f.ns), client.MatchingLabels{"owner": "helm", "name": name}); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range l.Items {
		out[s.Name] = s.ResourceVersion
	}
	return out
}

// requestsSince returns the requests a proxy forwarded from at on.
func requestsSince(reqs []testharness.ProxiedRequest, at time.Time) []testharness.ProxiedRequest {
	var out []testharness.ProxiedRequest
	for _, r := range reqs {
		if !r.At.Before(at) {
			out = append(out, r)
		}
	}
	return out
}

// writesSince lists the writes (leader-election renewal attempts aside, which the Lease's own optimistic
// lock refuses) a proxy forwarded from at on, as "METHOD path -> status".
func writesSince(reqs []testharness.ProxiedRequest, at time.Time) []string {
	var out []string
	for _, r := range requestsSince(reqs, at) {
		if !leaderfence.IsWrite(r.Method, r.Path) || strings.Contains(r.Path, "/coordination.k8s.io/") {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s -> %d", r.Method, r.Path, r.Status))
	}
	sort.Strings(out)
	return out
}

// fenceRefusals returns the writes an operator process's fence refused, from its log: "METHOD path".
func (f *fixture) fenceRefusals(p *operatorProc) []string {
	var out []string
	for _, line := range strings.Split(tail(p.LogPath, 100000), "\n") {
		if !strings.Contains(line, "write refused: not a leader with a fresh lease") {
			continue
		}
		m := refusedRE.FindStringSubmatch(line)
		if m == nil {
			out = append(out, "?")
			continue
		}
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// refusedRE picks the method and path out of a fence's log line.
var refusedRE = regexp.MustCompile(`"method":\s*"([A-Z]+)".*"path":\s*"([^"]+)"`)
