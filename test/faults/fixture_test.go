package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

const (
	clusterID = "5b2d7c1e-8f3a-4c6b-9d0e-1f2a3b4c5d6e"
	// gateLabel is the node label a test-hooks hook Job needs (see testdata/charts/test-hooks).
	gateLabel = "castware-test/gate"
	// gateOpen is the gate a node always has.
	gateOpen = "open"
)

// Leader-election settings of the operator processes: short, so a SIGKILLed leader's lease expires within
// seconds (the defaults, 90s/60s/30s, are kept where the case does not kill the leader).
var fastLease = []string{"--leader-election-lease-duration=15s", "--leader-election-renew-deadline=10s", "--leader-election-retry-period=2s"}

// fixture is one case: a namespace with an API-key Secret and a Cluster talking to its own fake Cast AI API,
// and the operator processes the case runs there.
type fixture struct {
	t   *testing.T
	ns  string
	api *fake.Server
	key string
	dir string

	mu    sync.Mutex
	procs []*operatorProc
}

// operatorProc is one operator process of a case.
type operatorProc struct {
	*testharness.OperatorProcess
	name string
	// stopped is set before the test kills or stops the process; an exit without it is a crash.
	stopped atomic.Bool
	crashed atomic.Bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	ns := strings.Trim(name, "-") + "-" + fmt.Sprint(time.Now().UnixNano()%100000)
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ns: ns, key: "faults-key-" + ns, dir: t.TempDir()}
	f.api = fake.NewServer(fake.WithKeys(f.key), fake.WithHold(30*time.Second))
	t.Cleanup(f.cleanup)
	return f
}

// createCluster creates the API-key Secret and the Cluster "castai" (registered, talking to the fake API,
// installing from the test chart repository).
func (f *fixture) createCluster(mutate ...func(*castwarev1.Cluster)) {
	f.t.Helper()
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: f.ns}, StringData: map[string]string{"API_KEY": f.key}}
	if err := k8s.Create(ctx, sec); err != nil {
		f.t.Fatal(err)
	}
	cl := &castwarev1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: f.ns},
		Spec: castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: f.api.URL()},
			HelmRepoURL: charts.URL(), Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: clusterID}},
	}
	for _, m := range mutate {
		m(cl)
	}
	if err := k8s.Create(ctx, cl); err != nil {
		f.t.Fatal(err)
	}
}

// start runs an operator process for the namespace with the suite's catalog; args are extra flags (later
// flags win), env extra environment.
func (f *fixture) start(name string, args []string, env ...string) *operatorProc {
	f.t.Helper()
	logDir := filepath.Join(f.dir, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	all := append([]string{"--watches-file=" + filepath.Join(testharness.RepoRoot(), "test", "faults", "testdata", "watches.yaml"),
		"--ready-timeout=30s"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	oc := testharness.OperatorConfig{Binary: operatorBin, Kubeconfig: kubeconfig(), Namespace: f.ns, LogDir: logDir,
		Env: append([]string{"EKS_ACCOUNT_ID=123456789012", "EKS_REGION=eu-central-1", "EKS_CLUSTER_NAME=faults", "POD_NAME=" + name}, env...), Args: all}
	if stress != nil { // make test-faults-stress: the operator on the starved core, behind the delaying proxy
		oc.Kubeconfig, oc.Wrap = stress.Kubeconfig(), stress.Command
	}
	p, err := testharness.StartOperator(ctx, oc)
	if err != nil {
		f.t.Fatalf("start operator %s: %v\n%s", name, err, tail(filepath.Join(logDir, "operator.log"), 40))
	}
	op := &operatorProc{OperatorProcess: p, name: name}
	go func() {
		<-p.Exited()
		if !op.stopped.Load() {
			op.crashed.Store(true)
		}
	}()
	f.mu.Lock()
	f.procs = append(f.procs, op)
	f.mu.Unlock()
	return op
}

// kill SIGKILLs the process, as a crash or an OOM kill would.
func (p *operatorProc) kill() {
	p.stopped.Store(true)
	p.Kill()
}

// restarts counts the operator processes of the case that exited without the test stopping them: what a
// kubelet would count as container restarts.
func (f *fixture) restarts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.procs {
		if p.crashed.Load() {
			n++
		}
	}
	return n
}

// assertNoCrash fails the case when an operator process exited by itself.
func (f *fixture) assertNoCrash() {
	f.t.Helper()
	if n := f.restarts(); n != 0 {
		f.t.Fatalf("%d operator process(es) exited by themselves (restart count %d, want 0)", n, n)
	}
}

func (f *fixture) cleanup() {
	f.mu.Lock()
	procs := f.procs
	f.mu.Unlock()
	crashed := f.restarts()
	for _, p := range procs {
		p.stopped.Store(true)
		select {
		case <-p.Exited():
		default:
			p.Stop()
		}
	}
	f.api.Close()
	if crashed > 0 && !f.t.Failed() {
		f.t.Errorf("%d operator process(es) exited by themselves", crashed)
	}
	if f.t.Failed() {
		for _, p := range procs {
			f.t.Logf("operator %s log (tail):\n%s", p.name, interesting(tail(p.LogPath, 400), 40))
		}
		out, _ := env.Kubectl(context.Background(), "get", "deploy,rs,pods,jobs,secrets", "-n", f.ns, "-o", "wide")
		f.t.Logf("objects in %s:\n%s", f.ns, out)
	}
}

func kubeconfig() string { return env.KubeconfigPath }

// interesting keeps the last n log lines that are not start-up noise.
func interesting(log string, n int) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Starting EventSource") || strings.Contains(l, "Starting workers") || strings.Contains(l, "Starting Controller") {
			continue
		}
		out = append(out, l)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls fn every 100 ms until it returns nil, failing the case after timeout with fn's last error.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	testharness.Eventually(t, timeout, 100*time.Millisecond, what, fn)
}

// runningHooked creates the Cluster, starts operator op-1 with args, and installs hooked 0.1.0 with the given
// hook gates (the gate name is prefix-<namespace>; see gates), waiting until it is Available. It returns the
// operator and the gate, which stays closed until openGate.
func (f *fixture) runningHooked(args []string, prefix string, g func(gate string) map[string]any) (*operatorProc, string) {
	f.t.Helper()
	f.createCluster()
	op := f.start("op-1", args)
	f.waitRegistered()
	gate := prefix + "-" + f.ns
	f.createComponent("hooked", "0.1.0", g(gate))
	f.waitAvailable("hooked", "0.1.0", 90*time.Second)
	return op, gate
}

// gateUpgrade and gateRollback hold Helm in the pre-upgrade or pre-rollback hook until gate opens.
func gateUpgrade(gate string) map[string]any  { return gates(gateOpen, gate, gateOpen) }
func gateRollback(gate string) map[string]any { return gates(gateOpen, gateOpen, gate) }

// createComponent creates a Component named after its catalog component.
func (f *fixture) createComponent(component, version string, vals map[string]any) {
	f.t.Helper()
	c := &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: component, Namespace: f.ns},
		Spec:       castwarev1.ComponentSpec{Component: component, Cluster: "castai", Enabled: true, Version: version},
	}
	if vals != nil {
		c.Spec.Values = rawJSON(f.t, vals)
	}
	if err := k8s.Create(context.Background(), c); err != nil {
		f.t.Fatal(err)
	}
}

func rawJSON(t *testing.T, v map[string]any) *apiextensionsv1.JSON {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &apiextensionsv1.JSON{Raw: raw}
}

// patchComponent changes a Component's spec with an optimistic-lock merge patch.
func (f *fixture) patchComponent(name string, mutate func(*castwarev1.Component)) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, "patch component "+name, func() error {
		c := f.component(name)
		patch := client.MergeFromWithOptions(c.DeepCopy(), client.MergeFromWithOptimisticLock{})
		mutate(c)
		return k8s.Patch(context.Background(), c, patch)
	})
}

func (f *fixture) component(name string) *castwarev1.Component {
	f.t.Helper()
	c := &castwarev1.Component{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) cluster() *castwarev1.Cluster {
	f.t.Helper()
	cl := &castwarev1.Cluster{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "castai"}, cl); err != nil {
		f.t.Fatal(err)
	}
	return cl
}

func condition(conds []metav1.Condition, typ string) metav1.Condition {
	return testharness.Condition(conds, typ)
}

func describe(c *castwarev1.Component) string { return testharness.Describe(c) }

// waitAvailable waits until the Component is Available at version with nothing in progress.
func (f *fixture) waitAvailable(name, version string, timeout time.Duration) *castwarev1.Component {
	f.t.Helper()
	var c *castwarev1.Component
	eventually(f.t, timeout, fmt.Sprintf("component %s Available at %s", name, version), func() error {
		c = &castwarev1.Component{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, c); err != nil {
			return err
		}
		return testharness.AvailableAt(c, version)
	})
	return c
}

// waitRegistered waits until the operator registered the cluster at the fake API and the Cluster is Available.
func (f *fixture) waitRegistered() {
	f.t.Helper()
	eventually(f.t, 60*time.Second, "cluster registered and available", func() error {
		if _, ok := f.api.Cluster(clusterID); !ok {
			return fmt.Errorf("not registered at the API")
		}
		if c := condition(f.cluster().Status.Conditions, castwarev1.ConditionAvailable); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("cluster %+v", c)
		}
		return nil
	})
}

// history returns a release's revisions, oldest first.
func (f *fixture) history(name string) []*release.Release {
	f.t.Helper()
	h, err := env.History(context.Background(), f.ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// revs summarises a history: "1:superseded 0.1.0, 2:deployed 0.2.0".
func revs(h []*release.Release) string {
	var parts []string
	for _, r := range h {
		v := ""
		if r.Chart != nil && r.Chart.Metadata != nil {
			v = r.Chart.Metadata.Version
		}
		parts = append(parts, fmt.Sprintf("%d:%s %s", r.Version, r.Info.Status, v))
	}
	return strings.Join(parts, ", ")
}

// waitLatest waits until the release's newest revision has status st and returns it.
func (f *fixture) waitLatest(name string, st release.Status, timeout time.Duration) *release.Release {
	f.t.Helper()
	var latest *release.Release
	eventually(f.t, timeout, fmt.Sprintf("release %s %s", name, st), func() error {
		h := f.history(name)
		if len(h) == 0 {
			return fmt.Errorf("no release")
		}
		latest = h[len(h)-1]
		if latest.Info.Status != st {
			return fmt.Errorf("history: %s", revs(h))
		}
		return nil
	})
	return latest
}

// assertReleaseSane checks a release is not broken: no revision pending, revision numbers strictly
// increasing without gaps, exactly one deployed revision (the newest deployed or failed ones aside).
func (f *fixture) assertReleaseSane(name string) []*release.Release {
	f.t.Helper()
	h := f.history(name)
	deployed := 0
	for i, r := range h {
		if r.Info.Status.IsPending() {
			f.t.Fatalf("release %s left %s at revision %d: %s", name, r.Info.Status, r.Version, revs(h))
		}
		if i > 0 && r.Version != h[i-1].Version+1 {
			f.t.Fatalf("release %s revisions not sequential: %s", name, revs(h))
		}
		if r.Info.Status == release.StatusDeployed {
			deployed++
		}
	}
	if len(h) > 0 && deployed != 1 {
		f.t.Fatalf("release %s has %d deployed revisions: %s", name, deployed, revs(h))
	}
	return h
}

// results returns the action results recorded for a component, as "ACTION/STATUS".
func (f *fixture) results(name string) []string {
	var out []string
	for _, r := range f.api.ActionResults(clusterID) {
		if r.Name == name {
			out = append(out, string(r.Action)+"/"+string(r.Status))
		}
	}
	return out
}

// count returns how many results of a component are action/status.
func (f *fixture) count(name string, action castai.ActionType, status castai.ComponentStatus) int {
	n := 0
	for _, r := range f.api.ActionResults(clusterID) {
		if r.Name == name && r.Action == action && r.Status == status {
			n++
		}
	}
	return n
}

// waitResult waits until the fake API recorded a result of component name with action/status.
func (f *fixture) waitResult(name string, action castai.ActionType, status castai.ComponentStatus, timeout time.Duration) {
	f.t.Helper()
	eventually(f.t, timeout, fmt.Sprintf("%s reported %s/%s", name, action, status), func() error {
		if f.count(name, action, status) > 0 {
			return nil
		}
		return fmt.Errorf("recorded: %v", f.results(name))
	})
}

// assertReportedOnce fails unless exactly one result of component name is action/status, as
// docs/reliability.md promises. The one exception promised: a recordActionResult the client abandoned after
// the fake had recorded it (a request timeout on a starved machine) is sent again, so each such call allows
// one more.
func (f *fixture) assertReportedOnce(name string, action castai.ActionType, status castai.ComponentStatus) {
	f.t.Helper()
	abandoned := 0
	for _, c := range f.calls("recordActionResult") {
		if c.Abandoned && !c.Fault && c.Status == http.StatusOK {
			abandoned++
		}
	}
	if n := f.count(name, action, status); n < 1 || n > 1+abandoned {
		f.t.Fatalf("%s reported %s/%s %d times, want once (%d reports abandoned by the client): %v", name, action, status, n, abandoned, f.results(name))
	}
}

// acks returns how many times each action was acknowledged, and whether any ack carried an error.
func (f *fixture) acks() map[string]int {
	out := map[string]int{}
	for _, a := range f.api.Acks(clusterID) {
		out[a.ActionID]++
	}
	return out
}

// waitAcked waits until every queued action is acknowledged.
func (f *fixture) waitAcked(timeout time.Duration) {
	f.t.Helper()
	eventually(f.t, timeout, "every action acknowledged", func() error {
		if n := len(f.api.PendingActions(clusterID)); n > 0 {
			return fmt.Errorf("%d actions not acknowledged", n)
		}
		return nil
	})
}

// openGate lets test-hooks hook Jobs waiting on gate run (a node carrying the gate label joins).
func openGate(t *testing.T, gate string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "gate-" + gate
	if err := env.AddNode(ctx, name, map[string]string{gateLabel: gate}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}) })
}

// gates are test-hooks values with each hook's gate.
func gates(preInstall, preUpgrade, preRollback string) map[string]any {
	return map[string]any{"gates": map[string]any{"preInstall": preInstall, "preUpgrade": preUpgrade, "preRollback": preRollback}}
}

// deployment reads a Deployment.
func (f *fixture) deployment(name string) *appsv1.Deployment {
	f.t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, d); err != nil {
		f.t.Fatal(err)
	}
	return d
}

// image returns the image of a Deployment's first container.
func (f *fixture) image(name string) string {
	f.t.Helper()
	return f.deployment(name).Spec.Template.Spec.Containers[0].Image
}

// events returns the messages of the namespace's events with reason.
func (f *fixture) events(reason string) []string {
	f.t.Helper()
	evs := &corev1.EventList{}
	if err := k8s.List(context.Background(), evs, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	sort.Strings(out)
	return out
}

// logHas reports whether any operator log of the case contains s.
func (f *fixture) logHas(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.procs {
		if b, err := os.ReadFile(p.LogPath); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// waitComponent waits until ok accepts the Component.
func (f *fixture) waitComponent(name, what string, timeout time.Duration, ok func(c *castwarev1.Component) error) *castwarev1.Component {
	f.t.Helper()
	var c *castwarev1.Component
	eventually(f.t, timeout, what, func() error {
		c = &castwarev1.Component{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, c); err != nil {
			return err
		}
		if err := ok(c); err != nil {
			return fmt.Errorf("%w; %s", err, describe(c))
		}
		return nil
	})
	return c
}

// waitReported waits until the Component's newest revision is recorded as reported to Cast AI
// (status.lastReportedHelmRevision), then makes the operator look at the Component once more, so a report
// that would be sent twice has been queued by the time the case counts the results.
func (f *fixture) waitReported(op *operatorProc, name string) {
	f.t.Helper()
	f.waitComponent(name, name+" revision reported", time.Minute, func(c *castwarev1.Component) error {
		if c.Status.Revision == 0 || c.Status.LastReportedHelmRevision != c.Status.Revision {
			return fmt.Errorf("revision %d reported %d", c.Status.Revision, c.Status.LastReportedHelmRevision)
		}
		return nil
	})
	f.settle(op, name)
}

// settle changes an annotation of the Component and waits until op finished a reconcile after it.
func (f *fixture) settle(op *operatorProc, name string) {
	f.t.Helper()
	reconciles := func() float64 {
		v, err := op.Metric("controller_runtime_reconcile_total", `controller="component"`)
		if err != nil {
			return 0
		}
		return v
	}
	before := reconciles()
	f.patchComponent(name, func(c *castwarev1.Component) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations["faults.castware.test/settle"] = time.Now().Format(time.RFC3339Nano)
	})
	eventually(f.t, 30*time.Second, "a reconcile after the poke", func() error {
		if reconciles() > before {
			return nil
		}
		return fmt.Errorf("no reconcile yet")
	})
}
