package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
)

// Cast AI API faults. test/integration/console_test.go covers poll 5xx bursts, a malformed recordActionResult
// answer and slow getByName (TestConsoleAPIFaults), a rejected and rotated key (TestConsoleKeyRotationAndRejectedKey)
// and redelivery after a restart with a failed ack (TestConsoleActionAppliedOnceAcrossRestart) with the
// operator in-process; these cases add the faults those do not inject, against the operator process.

// apiCase starts a Cluster and an operator and waits until the cluster is registered; faults are injected
// before the operator starts.
func apiCase(t *testing.T, faults ...fake.Fault) (*fixture, *operatorProc) {
	t.Helper()
	f := newFixture(t)
	for _, fl := range faults {
		f.api.InjectFault(fl)
	}
	f.createCluster()
	op := f.start("op-1", nil)
	f.waitRegistered()
	return f, op
}

// calls returns the recorded calls whose path contains sub.
func (f *fixture) calls(sub string) []fake.Call {
	var out []fake.Call
	for _, c := range f.api.Calls() {
		if strings.Contains(c.Path, sub) {
			out = append(out, c)
		}
	}
	return out
}

// assertBackoff fails when a faulted call to an endpoint was sent again (same path and body) sooner than
// minGap after it failed (no backoff), and returns how many faulted calls there were. Different calls (another
// report, another action's ack) may follow each other at any pace.
func (f *fixture) assertBackoff(sub string, minGap time.Duration) int {
	f.t.Helper()
	last := map[string]time.Time{}
	n := 0
	for _, c := range f.calls(sub) {
		if !c.Fault {
			continue
		}
		key := c.Path + " " + c.BodyDigest
		if prev, ok := last[key]; ok && c.Time.Sub(prev) < minGap {
			f.t.Fatalf("%s retried %s after a failure: no backoff", sub, c.Time.Sub(prev))
		}
		last[key] = c.Time
		n++
	}
	return n
}

// assertAppliedOnce checks that an install action of hooked was applied once: one release revision, one
// handled record, ENABLE/OK reported once, and every delivery acknowledged.
func (f *fixture) assertAppliedOnce(op *operatorProc, id string) {
	f.t.Helper()
	f.waitAcked(2 * time.Minute)
	h := f.assertReleaseSane("hooked")
	if len(h) != 1 {
		f.t.Fatalf("the action was applied more than once: %s", revs(h))
	}
	n := 0
	for _, ha := range f.cluster().Status.HandledActions {
		if ha.ID == id {
			n++
			if ha.Error != "" {
				f.t.Fatalf("action recorded with error %q", ha.Error)
			}
		}
	}
	if n != 1 {
		f.t.Fatalf("action recorded %d times in status.handledActions", n)
	}
	f.waitReported(op, "hooked")
	f.assertReportedOnce("hooked", castai.ActionEnable, castai.StatusOK)
	if c := f.component("hooked"); c.Annotations[castwarev1.AnnotationActionID] != id {
		f.t.Fatalf("component not created by the action: %v", c.Annotations)
	}
	f.assertNoCrash()
}

func installAction(version string) castai.Action {
	return castai.Action{Install: &castai.ChartAction{Component: "hooked", Version: version}}
}

// TestAPI5xxBurst: every endpoint answers 503 for a burst of requests while an install action is delivered,
// applied, acknowledged and reported.
func TestAPI5xxBurst(t *testing.T) {
	f, op := apiCase(t)
	f.api.InjectFault(fake.Fault{PathContains: ":ack", Status: http.StatusServiceUnavailable, Count: 6})
	f.api.InjectFault(fake.Fault{PathContains: "recordActionResult", Status: http.StatusInternalServerError, Count: 6})
	start := time.Now()
	id := f.api.EnqueueAction(clusterID, installAction("0.1.0"))
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	f.assertAppliedOnce(op, id)
	converged := time.Since(start)
	acks := f.assertBackoff(":ack", 90*time.Millisecond)
	reports := f.assertBackoff("recordActionResult", 90*time.Millisecond)
	if acks != 6 || reports != 6 {
		t.Fatalf("faulted calls: %d acks, %d reports; want 6 each", acks, reports)
	}
	record(t, catCastAI, "503 on 6 consecutive acks and 500 on 6 consecutive recordActionResult calls while an install action is handled",
		fmt.Sprintf("the action was applied once (one release revision, one status.handledActions record); the ack was retried with jittered exponential backoff (never two attempts closer than 90 ms), then redelivered by the next poll and acknowledged from the recorded result; the report waited in its queue and arrived once; %d calls answered 5xx", acks+reports), converged)
}

// TestAPIHangs: acks and reports hang for 30 s (longer than the client's 10 s request timeout).
func TestAPIHangs(t *testing.T) {
	f, op := apiCase(t)
	f.api.InjectFault(fake.Fault{PathContains: ":ack", Delay: 30 * time.Second, Count: 1})
	f.api.InjectFault(fake.Fault{PathContains: "recordActionResult", Delay: 30 * time.Second, Count: 1})
	start := time.Now()
	id := f.api.EnqueueAction(clusterID, installAction("0.1.0"))
	// Components are managed meanwhile.
	f.createComponent("castai-agent", "0.1.0", nil)
	f.waitAvailable("castai-agent", "0.1.0", 2*time.Minute)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	f.assertAppliedOnce(op, id)
	converged := time.Since(start)
	// The client gave up on the hung ack after its request timeout and sent it again.
	var hung, retried fake.Call
	for _, c := range f.calls(":ack") {
		if !c.Fault && retried.Time.IsZero() {
			retried = c
		}
	}
	eventually(t, 30*time.Second, "the hung ack recorded (the fake answers it after 30 s)", func() error {
		for _, c := range f.calls(":ack") {
			if c.Fault {
				hung = c
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	if gap := retried.Time.Sub(hung.Time); gap < 9*time.Second || gap > 16*time.Second {
		t.Fatalf("the ack was sent again %s after the hung one; want the client's 10 s timeout plus a backoff", gap)
	}
	record(t, catCastAI, "acknowledgement and recordActionResult hang for 30 s",
		fmt.Sprintf("each hung request was abandoned after the client's 10 s request timeout and sent again (the ack %.1f s after the hung one); meanwhile another Component was installed; the action was applied once and acknowledged, the report arrived once", retried.Time.Sub(hung.Time).Seconds()), converged)
}

// TestAPIMalformedPoll: polls answer 200 with truncated JSON three times.
func TestAPIMalformedPoll(t *testing.T) {
	// Injected before the operator starts: its first three polls get truncated JSON.
	f, op := apiCase(t, fake.Fault{PathContains: "lifecycle-actions:poll", MalformedJSON: true, Count: 3})
	start := time.Now()
	id := f.api.EnqueueAction(clusterID, installAction("0.1.0"))
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	f.assertAppliedOnce(op, id)
	converged := time.Since(start)
	if n := f.assertBackoff("lifecycle-actions:poll", time.Second); n != 3 {
		t.Fatalf("%d malformed polls, want 3", n)
	}
	if !f.logHas("polling console actions failed") {
		t.Fatal("the malformed answers were not logged")
	}
	record(t, catCastAI, "three polls answered 200 with truncated JSON",
		"each was a logged poll failure retried with growing delays (3 s, 6 s, ...), not a crash; the action was applied once and acknowledged", converged)
}

// TestAPIKeyRotatedWithActionPending: Cast AI rotates the key before the Secret has the new one (every call
// answers 401); an action queued meanwhile is applied once the Secret is updated, without a restart.
func TestAPIKeyRotatedWithActionPending(t *testing.T) {
	f, op := apiCase(t)
	ctx := context.Background()
	newKey := "rotated-" + f.key
	f.api.SetKeys(newKey)
	eventually(t, 2*time.Minute, "cluster says the key is rejected", func() error {
		c := condition(f.cluster().Status.Conditions, castwarev1.ConditionAvailable)
		if c.Status == metav1.ConditionFalse && c.Reason == "APIKeyRejected" && strings.Contains(c.Message, "castware-api-key") {
			return nil
		}
		return fmt.Errorf("%+v", c)
	})
	id := f.api.EnqueueAction(clusterID, installAction("0.1.0"))
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "castware-api-key"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data = map[string][]byte{"API_KEY": []byte(newKey)}
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	f.assertAppliedOnce(op, id)
	converged := time.Since(rotated)
	var rejected []string
	polls := 0
	for _, c := range f.api.Calls() {
		if c.Status == http.StatusUnauthorized {
			rejected = append(rejected, fmt.Sprintf("%s %s", c.Time.Format("15:04:05.000"), c.Path))
			if strings.Contains(c.Path, "lifecycle-actions:poll") {
				polls++
			}
		}
	}
	if polls > 2 || len(rejected) > 6 {
		t.Fatalf("%d requests (%d polls) with the rejected key: the operator hammers the API:\n%s", len(rejected), polls, strings.Join(rejected, "\n"))
	}
	if converged > 30*time.Second {
		t.Fatalf("the queued action was applied %s after the Secret got the new key", converged)
	}
	record(t, catCastAI, "401 after Cast AI rotated the key, with an install action queued",
		fmt.Sprintf("Cluster Available=False/APIKeyRejected naming the Secret; %d requests with the old key in all (%d polls; no retry storm); when the Secret got the new key the poll loop resumed at once, applied the action once and acknowledged it, without a restart", len(rejected), polls), converged)
}

// TestAPIDuplicateDelivery: one poll delivers the same action twice, and the API delivers it again after it
// was acknowledged.
func TestAPIDuplicateDelivery(t *testing.T) {
	f, op := apiCase(t)
	a := installAction("0.1.0")
	a.ID = "4e0c3a2b-dup0-4c1d-8e2f-3a4b5c6d7e8f"
	start := time.Now()
	f.api.EnqueueActions(clusterID, a, a)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	f.waitAcked(time.Minute)
	if !f.api.Redeliver(clusterID, a.ID) {
		t.Fatal("nothing to redeliver")
	}
	f.assertAppliedOnce(op, a.ID)
	converged := time.Since(start)
	if n := f.acks()[a.ID]; n != 3 {
		t.Fatalf("action acknowledged %d times, want once per delivery (3)", n)
	}
	record(t, catCastAI, "the same action delivered twice in one poll, and again after its acknowledgement",
		"applied once (one release revision, one handled record); each delivery was acknowledged with the recorded result, so the API stops delivering it", converged)
}

// TestAPIOutOfOrder: one poll delivers two upgrades of the same component newest first. The operator applies
// them in createTime order, so the newest wish wins; an even older action delivered afterwards is not applied
// over it. Every action is acknowledged once.
func TestAPIOutOfOrder(t *testing.T) {
	f, op := apiCase(t)
	install := f.api.EnqueueAction(clusterID, installAction("0.1.0"))
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	t0 := time.Now().UTC()
	older := castai.Action{CreateTime: t0, Upgrade: &castai.ChartAction{Component: "hooked", Version: "0.1.0", ValuesOverrides: map[string]string{"replicaCount": "2"}}}
	newer := castai.Action{CreateTime: t0.Add(time.Second), Upgrade: &castai.ChartAction{Component: "hooked", Version: "0.2.0"}}
	start := time.Now()
	ids := f.api.EnqueueActions(clusterID, newer, older)
	f.waitAcked(time.Minute)
	f.waitAvailable("hooked", "0.2.0", 2*time.Minute)
	// An action created before both, delivered late.
	stale := f.api.EnqueueAction(clusterID, castai.Action{CreateTime: t0.Add(-time.Minute), Upgrade: &castai.ChartAction{Component: "hooked", Version: "0.1.0"}})
	f.waitAcked(time.Minute)
	c := f.waitAvailable("hooked", "0.2.0", time.Minute)
	converged := time.Since(start)
	if c.Annotations[castwarev1.AnnotationActionID] != ids[0] {
		t.Fatalf("the Component carries action %s, want the newest %s", c.Annotations[castwarev1.AnnotationActionID], ids[0])
	}
	acks := f.acks()
	for _, id := range []string{install, ids[0], ids[1], stale} {
		if acks[id] != 1 {
			t.Fatalf("action %s acknowledged %d times", id, acks[id])
		}
	}
	var staleErr string
	for _, a := range f.api.Acks(clusterID) {
		if a.ActionID == stale && a.Error != nil {
			staleErr = *a.Error
		}
	}
	if !strings.Contains(staleErr, "superseded") {
		t.Fatalf("the stale action was not refused as superseded: %q", staleErr)
	}
	f.settle(op, "hooked")
	if h := f.assertReleaseSane("hooked"); h[len(h)-1].Chart.Metadata.Version != "0.2.0" {
		t.Fatalf("history %s", revs(h))
	}
	f.assertNoCrash()
	record(t, catCastAI, "two upgrade actions delivered in one poll newest first, then an older one delivered late",
		"applied in createTime order, so the newest (0.2.0) is what runs; the late older action was acknowledged with \"superseded\" and not applied; each action acknowledged once", converged)
}
