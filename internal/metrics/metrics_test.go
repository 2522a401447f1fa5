package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// recordOneOfEach records a sample for every collector, so each has series to lint.
func recordOneOfEach() {
	var err error
	StartHelm(HelmInstall).Done(&err)
	err = errors.New("boom")
	StartHelm(HelmUpgrade).Done(&err)
	ComponentDecision("Install")
	SetComponent("ns-lint", "castai-agent", ComponentState{Available: true, Revision: 2})
	ConsoleActionApplied("install", time.Now().Add(-time.Second), nil)
	ConsoleActionAcknowledged("install", time.Now().Add(-time.Second))
	SetConsolePollInterval(12 * time.Second)
	CastAIObserver("PollActions", 200, time.Second)
	ChartCache{}.Lookup("index", true)
	ChartCache{}.Fetched("archive", 1024)
	SetSelfUpgradePhase("")
	DriftChecked("castai-agent", 0, nil)
}

// TestMetricNamesLint runs client_golang's linter on every castware_* collector: no problems.
func TestMetricNamesLint(t *testing.T) {
	recordOneOfEach()
	for _, c := range Collectors() {
		if n := testutil.CollectAndCount(c); n == 0 {
			t.Errorf("a collector has no series to lint: %v", c)
		}
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestRegisteredOnControllerRuntimeRegistry: the manager's endpoint serves every castware_* metric.
func TestRegisteredOnControllerRuntimeRegistry(t *testing.T) {
	recordOneOfEach()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range Names() {
		if !have[name] {
			t.Errorf("%s is not served by controller-runtime's registry", name)
		}
		if !strings.HasPrefix(name, "castware_") {
			t.Errorf("%s lacks the castware_ prefix", name)
		}
	}
}

func TestHelmTimerOutcome(t *testing.T) {
	okBefore := testutil.ToFloat64(helmOperations.WithLabelValues(HelmRollback, Success))
	failBefore := testutil.ToFloat64(helmOperations.WithLabelValues(HelmRollback, Failure))
	var err error
	StartHelm(HelmRollback).Done(&err)
	err = errors.New("failed")
	StartHelm(HelmRollback).Done(&err)
	StartHelm(HelmRollback).Done(nil)
	if got := testutil.ToFloat64(helmOperations.WithLabelValues(HelmRollback, Success)) - okBefore; got != 2 {
		t.Errorf("success count grew by %v, want 2", got)
	}
	if got := testutil.ToFloat64(helmOperations.WithLabelValues(HelmRollback, Failure)) - failBefore; got != 1 {
		t.Errorf("error count grew by %v, want 1", got)
	}
}

func TestComponentGauges(t *testing.T) {
	SetComponent("ns-a", "spot-handler", ComponentState{Available: true, Progressing: true, Revision: 3})
	if v := testutil.ToFloat64(componentAvailable.WithLabelValues("ns-a", "spot-handler")); v != 1 {
		t.Errorf("available = %v", v)
	}
	if v := testutil.ToFloat64(componentRevision.WithLabelValues("ns-a", "spot-handler")); v != 3 {
		t.Errorf("revision = %v", v)
	}
	ForgetComponent("ns-a", "spot-handler")
	if componentAvailable.DeleteLabelValues("ns-a", "spot-handler") {
		t.Error("a forgotten component still has an Available series")
	}
}

func TestSelfUpgradePhaseIsOneHot(t *testing.T) {
	SetSelfUpgradePhase("RollingOut")
	SetSelfUpgradePhase("Succeeded")
	SetSelfUpgradePhase("SomethingNew")
	sum := 0.0
	for _, p := range selfUpgradePhases {
		sum += testutil.ToFloat64(selfUpgradePhase.WithLabelValues(p))
	}
	if sum != 1 || testutil.ToFloat64(selfUpgradePhase.WithLabelValues("Unknown")) != 1 {
		t.Errorf("phases sum to %v, Unknown = %v; want exactly Unknown set", sum, testutil.ToFloat64(selfUpgradePhase.WithLabelValues("Unknown")))
	}
	if n := testutil.CollectAndCount(selfUpgradePhase); n != len(selfUpgradePhases) {
		t.Errorf("%d phase series, want %d (the label stays bounded)", n, len(selfUpgradePhases))
	}
}

func TestConsoleLatencySkipsUnknownCreateTime(t *testing.T) {
	before := testutil.CollectAndCount(consoleLatency)
	ConsoleActionAcknowledged("rollback", time.Time{})
	if after := testutil.CollectAndCount(consoleLatency); after != before {
		t.Errorf("an action without createTime was timed (%d series, had %d)", after, before)
	}
}

func TestCastAIObserverCodes(t *testing.T) {
	CastAIObserver("AckAction", 0, time.Millisecond)
	CastAIObserver("AckAction", 503, time.Millisecond)
	if v := testutil.ToFloat64(apiRequests.WithLabelValues("AckAction", "error")); v < 1 {
		t.Errorf("no-answer requests = %v", v)
	}
	if v := testutil.ToFloat64(apiRequests.WithLabelValues("AckAction", "503")); v < 1 {
		t.Errorf("503 requests = %v", v)
	}
}

// TestDocumented: docs/metrics.md describes every castware_* metric.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not describe %s", name)
		}
	}
}
