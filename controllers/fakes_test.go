package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// fakeEngine is the Engine the step handlers' unit tests run against: it answers from a state and
// records every action asked of it.
type fakeEngine struct {
	state *helm.State
	// after is what Observe answers once an action ran (nil: state).
	after *helm.State
	ready helm.Readiness
	// fail makes the named method return an error.
	fail  map[string]error
	calls []string
	acted bool
}

var _ Engine = (*fakeEngine)(nil)

func (f *fakeEngine) call(name string) error {
	f.calls = append(f.calls, name)
	return f.fail[name]
}

func (f *fakeEngine) act(name string) error { f.acted = true; return f.call(name) }

func (f *fakeEngine) Observe(context.Context, client.Object, string) (*helm.State, error) {
	if err := f.call("Observe"); err != nil {
		return nil, err
	}
	if f.acted && f.after != nil {
		return f.after, nil
	}
	if f.state == nil {
		return &helm.State{}, nil
	}
	return f.state, nil
}

func (f *fakeEngine) Get(ctx context.Context, o client.Object, n string) (*helm.Release, error) {
	st, err := f.Observe(ctx, o, n)
	if err != nil {
		return nil, err
	}
	return st.Latest, nil
}

func (f *fakeEngine) Readiness(context.Context, *helm.Release) (helm.Readiness, error) {
	return f.ready, f.call("Readiness")
}
func (f *fakeEngine) InFlight(client.Object, string) bool { return false }
func (f *fakeEngine) Session() string                     { return "test" }
func (f *fakeEngine) PendingTimeout() time.Duration       { return time.Minute }
func (f *fakeEngine) ReadyTimeout() time.Duration         { return 2 * time.Minute }
func (f *fakeEngine) Install(_ context.Context, req helm.Request) (*helm.Release, error) {
	if req.DryRun {
		return nil, f.call("InstallDryRun")
	}
	return nil, f.act("Install")
}
func (f *fakeEngine) Reinstall(context.Context, helm.Request) (*helm.Release, error) {
	return nil, f.act("Reinstall")
}
func (f *fakeEngine) Upgrade(context.Context, helm.Request) (*helm.Release, error) {
	return nil, f.act("Upgrade")
}
func (f *fakeEngine) Rollback(_ context.Context, _ client.Object, _ string, to int) (*helm.Release, error) {
	return nil, f.act(fmt.Sprintf("Rollback:%d", to))
}
func (f *fakeEngine) Uninstall(context.Context, client.Object, string) error {
	return f.act("Uninstall")
}
func (f *fakeEngine) UninstallSkippingHooks(context.Context, client.Object, string) error {
	return f.act("UninstallSkippingHooks")
}
func (f *fakeEngine) Unlock(context.Context, client.Object, *helm.Release) error {
	return f.act("Unlock")
}
func (f *fakeEngine) MarkHealthy(context.Context, client.Object, *helm.Release) error {
	return f.act("MarkHealthy")
}
func (f *fakeEngine) RepairDrift(context.Context, client.Object, *helm.Release, []catalog.DriftIgnore) ([]helm.Repair, error) {
	return nil, f.call("RepairDrift")
}
func (f *fakeEngine) Forget(context.Context, client.Object, []*helm.Release) error {
	return f.act("Forget")
}

// recorded is one event the fake recorder got.
type recorded struct{ typ, reason, action, note string }

// fakeRecorder keeps the events it is given.
type fakeRecorder struct{ events []recorded }

func (f *fakeRecorder) Eventf(_ runtime.Object, _ runtime.Object, typ, reason, action, note string, args ...any) {
	f.events = append(f.events, recorded{typ, reason, action, fmt.Sprintf(note, args...)})
}

func (f *fakeRecorder) AnnotatedEventf(o runtime.Object, rel runtime.Object, _ map[string]string, typ, reason, action, note string, args ...any) {
	f.Eventf(o, rel, typ, reason, action, note, args...)
}

// fakeReporter keeps the transitions it is given.
type fakeReporter struct{ got []Transition }

func (f *fakeReporter) ComponentTransition(_ context.Context, _ *castwarev1.Component, t Transition) {
	f.got = append(f.got, t)
}

// fakeGate answers the permission checks with fixed messages.
type fakeGate struct {
	phase, chart string
	err          error
}

func (g fakeGate) CheckPhase(context.Context, client.Object, int) (string, error) {
	return g.phase, g.err
}
func (g fakeGate) CheckChart(context.Context, helm.Request, string, string, bool) (string, error) {
	return g.chart, g.err
}

// fakeValidator answers Cast AI's upgrade validation.
type fakeValidator struct {
	allowed bool
	why     string
	err     error
	asked   int
}

func (v *fakeValidator) ValidateUpgrade(context.Context, *castwarev1.Cluster, string, string) (bool, string, error) {
	v.asked++
	return v.allowed, v.why, v.err
}

// fakeCharts loads one empty chart of any version, or fails.
type fakeCharts struct{ err error }

func (c fakeCharts) Load(_ context.Context, ref charts.Ref) (*charts.Loaded, error) {
	if c.err != nil {
		return nil, c.err
	}
	return &charts.Loaded{Chart: &chart.Chart{Metadata: &chart.Metadata{Name: ref.Name, Version: ref.Version}}, Version: ref.Version, Digest: "sha256:x"}, nil
}
func (c fakeCharts) Latest(context.Context, string, string) (string, error) { return "9.9.9", c.err }

// fixture is a reconciler over fakes and a Component to hand to its step handlers.
type fixture struct {
	r      *ComponentReconciler
	engine *fakeEngine
	events *fakeRecorder
	report *fakeReporter
	comp   *castwarev1.Component
	w      *work
}

func newFixture(t *testing.T, mutate func(*castwarev1.Component)) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := castwarev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	comp := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "castai-agent", Generation: 3},
		Spec: castwarev1.ComponentSpec{Component: "castai-agent", Cluster: "c", Enabled: true, Version: "1.1.0"}}
	if mutate != nil {
		mutate(comp)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(comp.DeepCopy()).WithStatusSubresource(&castwarev1.Component{}).Build()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(comp), comp); err != nil {
		t.Fatal(err)
	}
	f := &fixture{engine: &fakeEngine{}, events: &fakeRecorder{}, report: &fakeReporter{}, comp: comp}
	f.r = &ComponentReconciler{Client: c, APIReader: c, Recorder: f.events, Engine: f.engine, Reporter: f.report, Charts: fakeCharts{},
		Now: func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }}
	entry := &catalog.Entry{Component: "castai-agent", Chart: "castai-agent", ReleaseName: "castai-agent", Phase: 1}
	f.w = &work{comp: comp, entry: entry, release: "castai-agent", chart: "castai-agent", repo: "https://charts.example", hash: "h",
		started: time.Now(), cluster: &castwarev1.Cluster{}}
	return f
}

// rel is a revision of the agent's release at a chart version.
func rel(rev int, status release.Status, version string, healthy bool) *helm.Release {
	r := &release.Release{Name: "castai-agent", Namespace: "castai-agent", Version: rev,
		Info:   &release.Info{Status: status},
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "castai-agent", Version: version}},
		Labels: map[string]string{helm.LabelRevision: fmt.Sprint(rev)}}
	if healthy {
		r.Labels[helm.LabelHealthy] = "true"
	}
	return r
}

// cond is the condition of a type on the fixture's Component (zero when unset).
func (f *fixture) cond(typ string) metav1.Condition {
	for _, c := range f.comp.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// summary is "Progressing=<status>/<reason> Available=<status>/<reason> events=<reasons> reports=<action/status>".
func (f *fixture) summary() string {
	p, a := f.cond(castwarev1.ConditionProgressing), f.cond(castwarev1.ConditionAvailable)
	var evs, reps []string
	for _, e := range f.events.events {
		evs = append(evs, e.typ+":"+e.reason)
	}
	for _, t := range f.report.got {
		reps = append(reps, string(t.Action)+"/"+string(t.Status))
	}
	return fmt.Sprintf("Progressing=%s/%s Available=%s/%s events=%v reports=%v", p.Status, p.Reason, a.Status, a.Reason, evs, reps)
}

// keyOf is an object's key.
func keyOf(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }
