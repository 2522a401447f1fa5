package console

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	castaifake "github.com/castware-operator/castware-operator/internal/castai/fake"
)

const pollerClusterID = "0d3c9f5e-7a1b-4c2d-9e8f-112233445566"

var pollerKey = types.NamespacedName{Namespace: "ns", Name: "castai"}

// virtualPauses stands in for the pauses between polls: each pause the loop asks for is handed to the test,
// which lets it end (advancing a virtual offset of the clock by the pause) or nudges the loop. Real time
// runs on underneath, so a poll's duration is its real one; only the pauses are virtual.
type virtualPauses struct {
	mu     sync.Mutex
	offset time.Duration
	asked  chan time.Duration
	resume chan struct{}
}

func newVirtualPauses() *virtualPauses {
	return &virtualPauses{asked: make(chan time.Duration), resume: make(chan struct{})}
}

func (v *virtualPauses) now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return time.Now().Add(v.offset)
}

func (v *virtualPauses) wait(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	select {
	case v.asked <- d:
	case <-ctx.Done():
		return false
	}
	select {
	case <-v.resume:
		v.mu.Lock()
		v.offset += d
		v.mu.Unlock()
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}

// next returns the next pause the loop asks for.
func (v *virtualPauses) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-v.asked:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("the poll loop asked for no pause")
		return 0
	}
}

// pass lets the pause the loop is in run out.
func (v *virtualPauses) pass() { v.resume <- struct{}{} }

// startPoller runs p's loop for a registered Cluster talking to api; p gets the Cluster's clients.
func startPoller(t *testing.T, api *castaifake.Server, p *Poller, opts ...castai.Option) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctx = log.IntoContext(ctx, testr.New(t))
	api.AddCluster(castai.ExternalCluster{ID: pollerClusterID, Name: "poller"})
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: pollerKey.Name, Namespace: pollerKey.Namespace},
		Spec: castwarev1.ClusterSpec{API: castwarev1.APISpec{APIURL: api.URL()}, Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: pollerClusterID}}}
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = castwarev1.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(cl).WithStatusSubresource(&castwarev1.Cluster{}, &castwarev1.Component{}).Build()
	conns := NewConnections(opts...)
	if _, _, err := conns.SetKey(cl, "key"); err != nil {
		t.Fatal(err)
	}
	p.Client, p.APIReader, p.Conns = c, c, conns
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	p.Ensure(pollerKey, pollerClusterID)
}

func polls(api *castaifake.Server) int { return api.CallCount("lifecycle-actions:poll") }

func uninstall(id string) castai.Action {
	return castai.Action{ID: id, Uninstall: &castai.ComponentTarget{Component: "spot-handler"}}
}

func between(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Fatalf("%s: pause %v, want in [%v, %v]", what, d, lo, hi)
	}
}

// TestPollerPacesAnAPIThatAnswersAtOnce: idle, polls are one idle interval apart (start to start); an action
// makes the loop poll again at once and then at the active interval, slowing down to the idle interval once
// activity is over; a nudge (a spec changed) ends an idle pause early.
func TestPollerPacesAnAPIThatAnswersAtOnce(t *testing.T) {
	api := castaifake.NewServer(castaifake.WithKeys("key"))
	defer api.Close()
	v := newVirtualPauses()
	p := &Poller{Interval: 10 * time.Second, ActiveInterval: time.Second, ActiveFor: 20 * time.Second, LongPoll: time.Minute,
		now: v.now, wait: v.wait, rand: func() float64 { return 0.5 }}
	startPoller(t, api, p)

	for i := 1; i <= 2; i++ {
		between(t, "idle", v.next(t), 9*time.Second, 10*time.Second)
		if n := polls(api); n != i {
			t.Fatalf("%d polls before pause %d, want %d", n, i, i)
		}
		if i == 1 {
			v.pass()
		}
	}
	// An action arrives: applied and acknowledged, then polled again at once (one pause, two polls).
	api.EnqueueAction(pollerClusterID, uninstall("a1"))
	v.pass()
	between(t, "right after an action", v.next(t), 500*time.Millisecond, time.Second)
	if n, acks := polls(api), len(api.Acks(pollerClusterID)); n != 4 || acks != 1 {
		t.Fatalf("%d polls and %d acks after the action, want 4 and 1", n, acks)
	}
	// Active for 20 s of (virtual) time, then doubling every 5 s up to the idle interval.
	var pauses []time.Duration
	var elapsed time.Duration
	for d := time.Second; d < 9*time.Second; {
		v.pass()
		d = v.next(t)
		pauses = append(pauses, d)
		elapsed += d
		if elapsed > 5*time.Minute {
			t.Fatalf("never back to the idle interval: %v", pauses)
		}
	}
	active := 0
	for i, d := range pauses {
		if d <= time.Second {
			active++
		}
		if i > 0 && d < pauses[i-1]-100*time.Millisecond {
			t.Fatalf("the pace went up again without activity: %v", pauses)
		}
	}
	if active < 18 || active > 22 || len(pauses) > active+12 {
		t.Fatalf("%d pauses at the active interval (want about 20 s worth), %d in all: %v", active, len(pauses), pauses)
	}
	// A spec change while idle: the pause ends at once and the next one is short.
	p.Nudge(pollerKey)
	between(t, "after a nudge", v.next(t), 0, time.Second)
	// Nudging a Cluster without a loop records the activity and blocks nothing.
	p.Nudge(types.NamespacedName{Namespace: "ns", Name: "other"})
}

// TestPollerHonoursRetryAfterAndBacksOff: a 429 whose Retry-After is longer than the client's max delay is
// neither retried inside the call nor polled again before it has passed; 5xx answers are retried after
// growing delays; then pacing resumes and a queued action is applied.
func TestPollerHonoursRetryAfterAndBacksOff(t *testing.T) {
	api := castaifake.NewServer(castaifake.WithKeys("key"))
	defer api.Close()
	api.InjectFault(castaifake.Fault{PathContains: "lifecycle-actions:poll", Status: http.StatusTooManyRequests, RetryAfter: 45 * time.Second, Count: 1})
	api.InjectFault(castaifake.Fault{PathContains: "lifecycle-actions:poll", Status: http.StatusServiceUnavailable, Count: 3})
	api.EnqueueAction(pollerClusterID, uninstall("a1"))
	v := newVirtualPauses()
	p := &Poller{Interval: 10 * time.Second, ActiveInterval: time.Second, LongPoll: time.Minute,
		now: v.now, wait: v.wait, rand: func() float64 { return 0.5 }}
	// One attempt per call, so that every 5xx reaches the loop (the client's own retries are tested in castai).
	startPoller(t, api, p, castai.WithMaxAttempts(1))

	if d := v.next(t); d < 45*time.Second {
		t.Fatalf("polled again %v after a 429 asking for 45 s", d)
	}
	if n := polls(api); n != 1 {
		t.Fatalf("%d polls before Retry-After passed, want 1", n)
	}
	var backoff []time.Duration
	for i := range 3 {
		v.pass()
		backoff = append(backoff, v.next(t))
		if n := polls(api); n != i+2 {
			t.Fatalf("%d polls after %d failures, want %d", n, i+2, i+2)
		}
	}
	for i, d := range backoff {
		if d < 2*time.Second || (i > 0 && d <= backoff[i-1]) {
			t.Fatalf("5xx retried without a growing backoff: %v", backoff)
		}
	}
	if len(api.Acks(pollerClusterID)) != 0 {
		t.Fatal("acknowledged while every poll failed")
	}
	v.pass()
	between(t, "after the action", v.next(t), 500*time.Millisecond, time.Second)
	if acks := api.Acks(pollerClusterID); len(acks) != 1 || acks[0].ActionID != "a1" {
		t.Fatalf("acks = %+v, want the queued action once", acks)
	}
}

// TestPollerRepollsAHoldingAPIAtOnce: an API that holds empty polls at least as long as the interval is
// polled again without a pause, and an action queued during a hold is handed out and applied at once.
func TestPollerRepollsAHoldingAPIAtOnce(t *testing.T) {
	const hold = 1200 * time.Millisecond
	api := castaifake.NewServer(castaifake.WithKeys("key"), castaifake.WithHold(hold))
	defer api.Close()
	var mu sync.Mutex
	var pauses []time.Duration
	p := &Poller{Interval: time.Second, LongPoll: time.Minute, wait: func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
		mu.Lock()
		pauses = append(pauses, d)
		mu.Unlock()
		return sleepUntil(ctx, d, wake)
	}}
	startPoller(t, api, p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := api.WaitFor(ctx, func(s *castaifake.Server) bool { return polls(s) >= 3 && s.HeldPolls() == 1 }); err != nil {
		t.Fatal(err)
	}
	queued := time.Now()
	api.EnqueueAction(pollerClusterID, uninstall("a1"))
	if err := api.WaitFor(ctx, func(s *castaifake.Server) bool { return len(s.Acks(pollerClusterID)) == 1 }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pauses) != 0 {
		t.Fatalf("paused %v between held polls", pauses)
	}
	for _, c := range api.Calls() {
		if c.Path != "" && c.Status != http.StatusOK {
			t.Fatalf("call failed: %+v", c)
		}
	}
	if ack := api.Acks(pollerClusterID)[0]; ack.Error != nil {
		t.Fatalf("action failed: %s", *ack.Error)
	}
	t.Logf("%d polls; the action was acknowledged %v after it was queued", polls(api), api.Acks(pollerClusterID)[0].Time.Sub(queued))
}
