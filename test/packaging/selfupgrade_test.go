package packaging

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	helmengine "github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/lifecycle/cleanup"
	"github.com/castware-operator/castware-operator/internal/lifecycle/subcmd"
	"github.com/castware-operator/castware-operator/internal/operator"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
)

// operatorChart loads the operator chart as another version; mutate may change its files (the archive
// is written from them), and the chart is loaded again so it is consistent.
func operatorChart(t *testing.T, version string, mutate func(*chart.Chart)) *chart.Chart {
	t.Helper()
	c, err := loader.LoadDir(operatorDir)
	if err != nil {
		t.Fatal(err)
	}
	c.Metadata.Version, c.Metadata.AppVersion = version, "v"+version
	if mutate != nil {
		mutate(c)
		for _, f := range c.Raw {
			if f.Name == "values.yaml" {
				if err := yaml.Unmarshal(f.Data, &c.Values); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return c
}

// suFixture is an operator release installed with the real helm binary from a chart repository that
// serves three versions, a fake Cast AI API, and Upgraders acting as the operator's ServiceAccount.
type suFixture struct {
	t         *testing.T
	e         *testharness.Env
	ns, rel   string
	api       *fake.Server
	clusterID string
	cfg       *rest.Config // the operator's ServiceAccount
	c         client.Client
	engine    *helmengine.Engine
	charts    charts.Source
	apiFor    selfupgrade.APIFor
	chartRepo string // the upgraders' pinned source of the operator chart
}

func newSUFixture(t *testing.T) *suFixture { return newSUFixtureIn(t, "cwop-selfupgrade") }

// newSUFixtureIn is newSUFixture with the operator release in namespace ns.
func newSUFixtureIn(t *testing.T, ns string) *suFixture {
	e := controlPlane(t)
	f := &suFixture{t: t, e: e, ns: ns, rel: "cwop", clusterID: "7d0c2a3b-1e4f-4a5b-8c6d-2e7f8a9b0c1d"}
	repo, err := testharness.NewChartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	for _, c := range []*chart.Chart{
		operatorChart(t, "0.1.0", nil),
		operatorChart(t, "0.2.0", nil),
		// 0.3.0 is broken: its operator pods name a PriorityClass that does not exist, so they are never
		// created and never become Ready (its hook Jobs do not use it and run).
		operatorChart(t, "0.3.0", func(c *chart.Chart) {
			for _, f := range c.Raw {
				if f.Name == "values.yaml" {
					f.Data = []byte(strings.Replace(string(f.Data), "\npriorityClassName: \"\"\n", "\npriorityClassName: castware-test-missing\n", 1))
				}
			}
		}),
	} {
		if err := repo.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	f.newFakeAPI("0.2.0")

	f.chartRepo = repo.URL()
	// The image tag is pinned: the self-upgrade must un-pin it so the image follows the chart.
	f.install("castware-operator", "--repo", repo.URL(), "--version", "0.1.0", "--set", "defaultCluster.helmRepoURL="+repo.URL(), "--set", "image.tag=v0.1.0-pinned")
	return f
}

// newFakeAPI serves the fake Cast AI API that publishes latest as the operator's version.
func (f *suFixture) newFakeAPI(latest string) {
	f.api = fake.NewServer(fake.WithCatalog(castai.ComponentInfo{Name: selfupgrade.ComponentName, HelmChart: "castware-operator",
		LatestVersion: latest, ReleaseName: f.rel, Dependencies: []string{}}))
	f.t.Cleanup(f.api.Close)
	f.api.AddCluster(castai.ExternalCluster{ID: f.clusterID, Name: "selfupgrade"})
}

// install installs the operator release with the real helm binary from chart (and the extra flags), with
// the fake API and no default components, removes it at cleanup, and connects the fixture as the
// operator's ServiceAccount.
func (f *suFixture) install(chart string, extra ...string) {
	t, e := f.t, f.e
	args := append([]string{"upgrade", "--install", f.rel, chart, "-n", f.ns, "--create-namespace", "--atomic", "--wait", "--timeout", "3m",
		"--set", "apiKeySecret.apiKey=" + fake.DefaultAPIKey, "--set", "defaultCluster.provider=eks", "--set", "defaultCluster.api.apiUrl=" + f.api.URL(),
		"--set", "defaultCluster.cluster.clusterID=" + f.clusterID, "--set", "defaultComponents.enabled=false"}, extra...)
	mustKube(t, e, 4*time.Minute, "helm", args...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := cleanup.Run(ctx, clientFor(t, e.Config), cleanup.Options{Namespace: f.ns}); err != nil {
			t.Errorf("clean up: %v", err)
		}
		if out, err := kube(t, e, 2*time.Minute, "helm", "uninstall", f.rel, "-n", f.ns, "--no-hooks", "--wait", "--timeout", "90s"); err != nil {
			t.Errorf("uninstall: %v\n%s", err, out)
		}
		_ = clientFor(t, e.Config).Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	})

	var err error
	f.cfg = asServiceAccount(e.Config, f.ns, f.rel)
	f.c = clientFor(t, f.cfg)
	httpClient, err := rest.HTTPClientFor(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(f.cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	if f.engine, err = helmengine.New(f.cfg, mapper, f.c, f.c, helmengine.WithHookTimeout(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.charts = charts.NewLoader()
	client, err := castai.New(f.api.URL(), castai.StaticKey(fake.DefaultAPIKey), castai.WithMaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	f.apiFor = func(context.Context, *castwarev1.Cluster) (selfupgrade.API, error) { return client, nil }
}

// upgrader is the self-upgrade of an operator process deployed by chartVersion.
func (f *suFixture) upgrader(chartVersion, pod string, mutate func(*selfupgrade.Options)) *selfupgrade.Upgrader {
	o := selfupgrade.Options{Namespace: f.ns, ReleaseName: f.rel, ChartVersion: chartVersion, PodName: pod, ChartRepository: f.chartRepo,
		ReadyTimeout: 25 * time.Second, PollInterval: 300 * time.Millisecond, ResyncInterval: 500 * time.Millisecond}
	if mutate != nil {
		mutate(&o)
	}
	return selfupgrade.New(f.c, f.c, f.engine, f.charts, f.apiFor, o)
}

// run starts an Upgrader's leader runnable until the returned stop is called.
func (f *suFixture) run(u *selfupgrade.Upgrader) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = u.Runnable().Start(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	f.t.Cleanup(stop)
	return stop
}

func (f *suFixture) cluster() *castwarev1.Cluster {
	f.t.Helper()
	cl := &castwarev1.Cluster{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "castai"}, cl); err != nil {
		f.t.Fatal(err)
	}
	return cl
}

// waitPhase waits until status.operatorUpgrade reaches phase (and, for final phases, is reported).
func (f *suFixture) waitPhase(phase castwarev1.OperatorUpgradePhase, timeout time.Duration) *castwarev1.OperatorUpgradeStatus {
	f.t.Helper()
	var st *castwarev1.OperatorUpgradeStatus
	eventually(f.t, timeout, "operator upgrade "+string(phase), func() error {
		st = f.cluster().Status.OperatorUpgrade
		if st == nil {
			return fmt.Errorf("no upgrade recorded")
		}
		if st.Phase == phase && (selfupgrade.Active(phase) || st.Reported) {
			return nil
		}
		if !selfupgrade.Active(st.Phase) && st.Phase != phase {
			f.t.Fatalf("upgrade ended %s, want %s: %s", st.Phase, phase, st.Message)
		}
		return fmt.Errorf("phase %s reported=%t: %s", st.Phase, st.Reported, st.Message)
	})
	return st
}

// results returns the operator's recorded action results as "ACTION/STATUS" plus the results.
func (f *suFixture) results() ([]string, []castai.ActionResult) {
	var out []string
	var rs []castai.ActionResult
	for _, r := range f.api.ActionResults(f.clusterID) {
		if r.Name != selfupgrade.ComponentName {
			continue
		}
		out = append(out, string(r.Action)+"/"+string(r.Status))
		rs = append(rs, r)
	}
	return out, rs
}

func (f *suFixture) operatorDeployment() *appsv1.Deployment {
	f.t.Helper()
	d := &appsv1.Deployment{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: f.rel}, d); err != nil {
		f.t.Fatal(err)
	}
	return d
}

// TestSelfUpgrade upgrades the operator's own release (installed with the real helm binary, its pods
// simulated by kwok) the way the leader does on a console "upgrade" action, as the operator's
// ServiceAccount (so the chart's RBAC must allow it): to a good version (the new operator finishes and
// reports success once) and to a version whose pods never become Ready (rolled back, reported once);
// under OLM it refuses and says so.
func TestSelfUpgrade(t *testing.T) {
	f := newSUFixture(t)
	ctx := context.Background()

	// Success: 0.1.0 -> latestVersion (0.2.0), asked for by console action "action-1".
	old := f.upgrader("0.1.0", "operator-old", nil)
	stopOld := f.run(old)
	if err := old.Start(ctx, f.cluster(), "", "action-1"); err != nil {
		t.Fatal(err)
	}
	if err := old.Start(ctx, f.cluster(), "", "action-1"); err != nil {
		t.Errorf("the same action delivered again: %v", err)
	}
	if err := old.Start(ctx, f.cluster(), "0.3.0", "action-other"); !errors.Is(err, selfupgrade.ErrInProgress) {
		t.Errorf("a second upgrade during the first: %v, want ErrInProgress", err)
	}
	st := f.waitPhase(castwarev1.OperatorUpgradeHandingOver, 3*time.Minute)
	if c := meta.FindStatusCondition(f.cluster().Status.Conditions, selfupgrade.ConditionOperatorUpgrade); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != string(castwarev1.OperatorUpgradeHandingOver) {
		t.Errorf("condition during the upgrade %+v", c)
	}
	if st.FromVersion != "0.1.0" || st.ToVersion != "0.2.0" || st.ActionID != "action-1" {
		t.Errorf("upgrade status %+v", st)
	}
	d := f.operatorDeployment()
	if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":v0.2.0") {
		t.Errorf("operator image %s: the pinned tag should be un-pinned to the new appVersion", img)
	}
	rel := latestRelease(t, f.e, f.ns, f.rel)
	if rel.Chart.Metadata.Version != "0.2.0" || rel.Info.Status != release.StatusDeployed || !hookRan(rel, f.rel+"-crd-upgrade") || !hookRan(rel, f.rel+"-preflight") {
		t.Errorf("release after the upgrade: chart %s %s, hooks ran: crd %t preflight %t", rel.Chart.Metadata.Version, rel.Info.Status,
			hookRan(rel, f.rel+"-crd-upgrade"), hookRan(rel, f.rel+"-preflight"))
	}
	if rel.Config["apiKeySecret"] == nil || rel.Config["defaultCluster"] == nil {
		t.Errorf("the user's values were not reused: %v", rel.Config)
	}
	f.assertKeyStaysHome(rel)
	// The old pod is replaced (kwok removed it once the new one was Ready); the new operator takes over.
	stopOld()
	if got := f.cluster().Status.OperatorUpgrade.Phase; got != castwarev1.OperatorUpgradeHandingOver {
		t.Fatalf("the old operator finished the upgrade itself (%s): only the new version may", got)
	}
	newOp := f.upgrader("0.2.0", "operator-new", nil)
	newOp.RunOnce(ctx)
	st = f.waitPhase(castwarev1.OperatorUpgradeSucceeded, time.Minute)
	// Nothing is reported twice, whoever looks again.
	newOp.RunOnce(ctx)
	old.RunOnce(ctx)
	got, rs := f.results()
	if strings.Join(got, ",") != "UPDATE/PROGRESSING,UPDATE/PROGRESSING,UPDATE/PROGRESSING,UPDATE/OK" {
		t.Errorf("recorded results %v, want three progress steps and one success", got)
	}
	last := rs[len(rs)-1]
	if last.CurrentVersion != "0.1.0" || last.Version != "0.2.0" || last.ReleaseName != f.rel {
		t.Errorf("success report %+v", last)
	}
	cl := f.cluster()
	if _, err := newOp.Hook().Reconcile(ctx, cl, ""); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(cl.Status.Conditions, selfupgrade.ConditionOperatorUpgrade); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "Succeeded" {
		t.Errorf("condition %+v", c)
	}

	// Failure: 0.2.0 -> 0.3.0, whose pods never become Ready: rolled back to 0.2.0, reported once.
	newRunner := f.run(newOp)
	if err := newOp.Start(ctx, f.cluster(), "0.3.0", "action-2"); err != nil {
		t.Fatal(err)
	}
	st = f.waitPhase(castwarev1.OperatorUpgradeRolledBack, 3*time.Minute)
	newRunner()
	if !strings.Contains(st.Message, "did not become Ready within") || !strings.Contains(st.Message, "castware-test-missing") {
		t.Errorf("rollback message %q should say the new pods never became Ready and why", st.Message)
	}
	rel = latestRelease(t, f.e, f.ns, f.rel)
	if rel.Chart.Metadata.Version != "0.2.0" || rel.Info.Status != release.StatusDeployed {
		t.Errorf("after the rollback the release runs %s (%s), want 0.2.0 deployed", rel.Chart.Metadata.Version, rel.Info.Status)
	}
	eventually(t, time.Minute, "operator deployment back on 0.2.0 and rolled out", func() error {
		d := f.operatorDeployment()
		if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":v0.2.0") {
			return fmt.Errorf("image %s", img)
		}
		if ws := helmengine.DeploymentReady(d); !ws.Ready {
			return fmt.Errorf("%s", ws.Detail)
		}
		return nil
	})
	got, rs = f.results()
	if strings.Join(got[4:], ",") != "UPDATE/PROGRESSING,UPDATE/PROGRESSING,ROLLBACK/OK,UPDATE/ERROR" {
		t.Errorf("recorded results of the failed upgrade %v, want two progress steps, the rollback and one failure", got[4:])
	}
	if last := rs[len(rs)-1]; last.Version != "0.3.0" || !strings.Contains(last.Message, "rolled back to 0.2.0") {
		t.Errorf("failure report %+v", last)
	}
	// The action delivered again does not start it again.
	if err := newOp.Start(ctx, f.cluster(), "0.3.0", "action-2"); err != nil {
		t.Errorf("redelivered action: %v", err)
	}
	if st := f.cluster().Status.OperatorUpgrade; st.Phase != castwarev1.OperatorUpgradeRolledBack {
		t.Errorf("redelivered action changed the upgrade: %s", st.Phase)
	}

	// The `upgrade` subcommand hands a request to the leader; asking for the running version ends at once
	// and is reported once as done.
	var out bytes.Buffer
	args := []string{"--namespace=" + f.ns, "--cluster=castai", "--release=" + f.rel, "--version=0.2.0", "--wait=30s"}
	if err := subcmd.Run(ctx, "upgrade", args, &out, func() (*rest.Config, error) { return f.cfg, nil }); err != nil {
		t.Fatalf("upgrade %v: %v\n%s", args, err, out.String())
	}
	if !strings.Contains(out.String(), "Succeeded: cwop already runs version 0.2.0") {
		t.Errorf("upgrade subcommand output:\n%s", out.String())
	}
	newOp.RunOnce(ctx)
	f.waitPhase(castwarev1.OperatorUpgradeSucceeded, 30*time.Second)
	got, _ = f.results()
	if got[len(got)-1] != "UPDATE/OK" || len(got) != 9 {
		t.Errorf("results after the no-op upgrade %v", got)
	}

	// The operator's wiring: the runner, the Cluster hook (first, so other hooks cannot keep it from
	// showing the state) and the Upgrader the console poller hands castware-operator upgrades to.
	cat, err := catalog.Load(filepath.Join("testdata", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := operator.New(f.cfg, operator.Options{Namespace: f.ns, Catalog: cat, SkipControllerNameValidation: true,
		CastAI: operator.CastAIOptions{Disabled: true}, Migration: operator.MigrationOptions{Disabled: true},
		SelfUpgrade: &selfupgrade.Options{ReleaseName: f.rel, ChartVersion: "0.2.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if op.SelfUpgrade == nil || len(op.Clusters.Hooks) == 0 || op.Clusters.Hooks[0].Name() != "self-upgrade" {
		t.Errorf("self-upgrade not wired: upgrader %v, hooks %d", op.SelfUpgrade, len(op.Clusters.Hooks))
	}

	// Under OLM the operator never upgrades itself, and says so.
	olm := f.upgrader("0.2.0", "operator-olm", func(o *selfupgrade.Options) { o.OLM = "castware-operator.v0.2.0" })
	if err := olm.Start(ctx, f.cluster(), "0.2.1", "action-3"); !errors.Is(err, selfupgrade.ErrManagedByOLM) {
		t.Errorf("start under OLM: %v, want ErrManagedByOLM", err)
	}
	cl = f.cluster()
	if _, err := olm.Hook().Reconcile(ctx, cl, ""); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(cl.Status.Conditions, selfupgrade.ConditionOperatorUpgrade); c == nil || c.Reason != selfupgrade.ReasonManagedByOLM || !strings.Contains(c.Message, "OLM") {
		t.Errorf("condition under OLM %+v", c)
	}
	if got2, _ := f.results(); len(got2) != len(got) {
		t.Errorf("refused requests were reported: %v", got2[len(got):])
	}
}

// TestSelfUpgradeFirstRollbackKeepsTheKeyHome fails the first self-upgrade (0.1.0, installed by helm with the
// key in its values, to the broken 0.3.0): the rollback restores 0.1.0 without writing the key into the new
// revision, and the Secret still holds it.
func TestSelfUpgradeFirstRollbackKeepsTheKeyHome(t *testing.T) {
	f := newSUFixtureIn(t, "cwop-su-firstrollback")
	ctx := context.Background()
	first := latestRelease(t, f.e, f.ns, f.rel)
	if sec, _ := first.Config["apiKeySecret"].(map[string]any); sec["apiKey"] == nil {
		t.Fatalf("the installed revision holds no key: the test would prove nothing (%v)", first.Config)
	}
	u := f.upgrader("0.1.0", "operator-old", nil)
	f.run(u)
	if err := u.Start(ctx, f.cluster(), "0.3.0", "action-first"); err != nil {
		t.Fatal(err)
	}
	st := f.waitPhase(castwarev1.OperatorUpgradeRolledBack, 3*time.Minute)
	rel := latestRelease(t, f.e, f.ns, f.rel)
	if rel.Version <= first.Version+1 || rel.Chart.Metadata.Version != "0.1.0" || rel.Info.Status != release.StatusDeployed {
		t.Fatalf("after the rollback: revision %d runs %s (%s), want a new deployed 0.1.0 revision (%s)", rel.Version,
			rel.Chart.Metadata.Version, rel.Info.Status, st.Message)
	}
	f.assertKeyStaysHome(rel)
	if img, _ := rel.Config["image"].(map[string]any); img["tag"] != "v0.1.0-pinned" {
		t.Errorf("the restored revision lost the user's other values: %v", rel.Config)
	}
	if got, _ := f.results(); len(got) < 2 || got[len(got)-2] != "ROLLBACK/OK" {
		t.Errorf("recorded results %v, want the rollback reported", got)
	}
}

// assertKeyStaysHome checks that a revision the self-upgrade wrote stores no plaintext API key (values or
// manifest) and that the Secret the install created from it is still there, holding the key.
func (f *suFixture) assertKeyStaysHome(rel *release.Release) {
	t := f.t
	t.Helper()
	if sec, _ := rel.Config["apiKeySecret"].(map[string]any); sec["apiKey"] != nil {
		t.Errorf("revision %d stores the API key in its values: %v", rel.Version, sec)
	}
	if strings.Contains(rel.Manifest, base64.StdEncoding.EncodeToString([]byte(fake.DefaultAPIKey))) ||
		strings.Contains(rel.Manifest, fake.DefaultAPIKey) {
		t.Errorf("revision %d stores the API key in its manifest", rel.Version)
	}
	sec := &corev1.Secret{}
	if err := clientFor(t, f.e.Config).Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "castware-api-key"}, sec); err != nil {
		t.Fatalf("the API key Secret after the upgrade: %v", err)
	}
	if string(sec.Data["API_KEY"]) != fake.DefaultAPIKey {
		t.Errorf("the API key Secret lost its key after the upgrade: %q", sec.Data["API_KEY"])
	}
}
