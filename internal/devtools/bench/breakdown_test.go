package bench

import (
	"math"
	"testing"
	"time"
)

func TestBreakdownRowsSplitTheComponentAvailableLast(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	targets := []target{
		{namespace: "castai-agent", name: "castai-agent", release: "castai-agent", workloads: map[string]bool{"deployments/castai-agent": true}},
		{namespace: "castai-agent", name: "spot-handler", release: "castai-spot-handler", workloads: map[string]bool{"daemonsets/castai-spot-handler": true}},
	}
	apps := map[string]applying{
		"castai-agent": {at: at(100), observe: 0.03, fetch: 0.01, permissionCheck: 0.02},
		"spot-handler": {at: at(400), observe: 0.05, validation: 0.01, fetch: 0.02, permissionCheck: 0.02},
	}
	events := []auditEvent{
		{namespace: "castai-agent", at: at(10), operator: true, verb: "patch", resource: "components", name: "castai-agent"},
		{namespace: "castai-agent", at: at(20), operator: true, verb: "patch", resource: "components", name: "spot-handler"},
		{namespace: "castai-agent", at: at(30), operator: true, verb: "patch", resource: "components", subresource: "status", name: "spot-handler"},
		{namespace: "castai-agent", at: at(200), operator: true, verb: "update", resource: "secrets", name: "sh.helm.release.v1.castai-agent.v1"},
		{namespace: "castai-agent", at: at(500), operator: true, verb: "update", resource: "secrets", name: "sh.helm.release.v1.castai-spot-handler.v1"},
		{namespace: "castai-agent", at: at(600), verb: "update", resource: "daemonsets", subresource: "status", name: "castai-spot-handler"},
		{namespace: "castai-agent", at: at(650), verb: "update", resource: "deployments", subresource: "status", name: "castai-agent"},
		{namespace: "castai-agent", at: at(700), operator: true, verb: "update", resource: "secrets", name: "sh.helm.release.v1.castai-agent.v1"},
		{namespace: "castai-agent", at: at(800), verb: "update", resource: "daemonsets", subresource: "status", name: "castai-spot-handler"},
		{namespace: "castai-agent", at: at(820), operator: true, verb: "patch", resource: "components", subresource: "status", name: "castai-agent"},
		{namespace: "bench-helm", at: at(880), verb: "update", resource: "daemonsets", subresource: "status", name: "castai-spot-handler"}, // another namespace's
		{namespace: "castai-agent", at: at(900), operator: true, verb: "update", resource: "secrets", name: "sh.helm.release.v1.castai-spot-handler.v1"},
		{namespace: "castai-agent", at: at(950), verb: "update", resource: "daemonsets", subresource: "status", name: "castai-spot-handler"},
		{namespace: "castai-agent", at: at(960), operator: true, verb: "patch", resource: "components", subresource: "status", name: "spot-handler"},
	}
	rows, err := breakdownRows(targets, apps, events, t0)
	if err != nil {
		t.Fatal(err)
	}
	// spot-handler is Available last (960 ms); its reconcile that installed began at 400-100 = 300 ms.
	want := []float64{0.020, 0.280, 0.050, 0.010, 0.020, 0.020, 0.100, 0.300, 0.100, 0.060, 0.960}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	sum := 0.0
	for i, r := range rows {
		if math.Abs(r.Value-want[i]) > 0.0015 {
			t.Errorf("%s = %.3f, want %.3f", r.Metric, r.Value, want[i])
		}
		if i < len(rows)-1 {
			sum += r.Value
		}
	}
	if math.Abs(sum-rows[len(rows)-1].Value) > 0.005 {
		t.Errorf("phases add up to %.3f, the total is %.3f", sum, rows[len(rows)-1].Value)
	}
}

func TestBreakdownRowsWaitForTheWholeInstall(t *testing.T) {
	targets := []target{{namespace: "castai-agent", name: "castai-agent", release: "castai-agent", workloads: map[string]bool{}}}
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	apps := map[string]applying{"castai-agent": {at: t0.Add(time.Second)}}
	events := []auditEvent{{namespace: "castai-agent", at: t0.Add(time.Millisecond), operator: true, verb: "patch", resource: "components", name: "castai-agent"}}
	if _, err := breakdownRows(targets, apps, events, t0); err == nil {
		t.Fatal("want an error while the audit log does not show the install yet")
	}
}
