package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// TestConsoleIdleCallsArePolls: against an API that answers polls at once, an idle operator with a
// registered Cluster and an installed Component sends Cast AI nothing but polls, at most one per idle
// interval (docs/console-polling.md counts the idle budget on this).
func TestConsoleIdleCallsArePolls(t *testing.T) {
	const idle = time.Second
	ns := newNamespace(t)
	startOperator(t, ns, func(o *operator.Options) {
		o.CastAI.PollInterval, o.CastAI.ActivePollInterval, o.CastAI.ActivePollFor = idle, 200*time.Millisecond, 2*time.Second
	})
	createCluster(t, ns)
	api := fakeAPI(t, ns)
	api.SetHold(0)
	if err := k8s.Create(context.Background(), newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	waitResult(t, api, testClusterID, "install reported", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Status == castai.StatusOK
	})
	// window returns the calls of the next d.
	window := func(d time.Duration) []fake.Call {
		from := len(api.Calls())
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		return api.Calls()[from:]
	}
	others := func(calls []fake.Call) []string {
		var out []string
		for _, c := range calls {
			if !strings.Contains(c.Path, "lifecycle-actions:poll") {
				out = append(out, c.Method+" "+c.Path)
			}
		}
		return out
	}
	// Settled: the activity of the install is over (the pace is back at the idle interval) and its reports
	// are sent.
	eventually(t, time.Minute, "settled", func() error {
		if calls := window(3 * idle); len(others(calls)) > 0 || len(calls) > 4 {
			return fmt.Errorf("%d calls in %s: %v", len(calls), 3*idle, others(calls))
		}
		return nil
	})
	const span = 12 * idle
	calls := window(span)
	if o := others(calls); len(o) > 0 {
		t.Fatalf("an idle operator called Cast AI for more than polls: %v", o)
	}
	// Jitter is ±10 %: at most span/(0.9 idle) polls, plus the one in flight.
	limit := int(span*10/(9*idle)) + 1
	if len(calls) > limit {
		t.Fatalf("%d idle polls in %s, want at most %d", len(calls), span, limit)
	}
	t.Logf("idle: %d polls in %s, no other call", len(calls), span)
}
