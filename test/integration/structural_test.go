package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// structuralChartsDir holds the charts shaped like Cast AI's real component charts (see its README.md).
func structuralChartsDir() string {
	return filepath.Join(testharness.RepoRoot(), "test", "charts-structural")
}

// structuralServer serves the structural charts for one test, apart from the shared test charts.
func structuralServer(t *testing.T) *testharness.ChartServer {
	t.Helper()
	s, err := testharness.NewChartServer(structuralChartsDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// shippedCatalog loads the catalog the operator ships (watches.yaml at the repository root). A non-zero
// period makes every entry check drift that often instead of every 15 minutes; nothing else is changed.
func shippedCatalog(t *testing.T, period time.Duration) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(filepath.Join(testharness.RepoRoot(), "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if period > 0 {
		for _, e := range c.Entries() {
			e.ReconcilePeriod = &metav1.Duration{Duration: period}
		}
	}
	return c
}

// structuralComponent is one shipped catalog entry whose structural test chart the tests install.
type structuralComponent struct {
	// component is the catalog component (and the Component's name); chart is its chart.
	component, chart string
}

var structuralComponents = []structuralComponent{
	{"castai-agent", "castai-agent"},
	{"spot-handler", "castai-spot-handler"},
	{"cluster-controller", "castai-cluster-controller"},
	{"evictor", "castai-evictor"},
}

func structuralComponentNames() []string {
	var out []string
	for _, c := range structuralComponents {
		out = append(out, c.component)
	}
	return out
}

// applyEvictorCRD creates the EvictorConfig CRD from the evictor chart's crd-files/, as the chart's
// pre-install hook Job does with kubectl in a real cluster (kwok completes the Job without running it).
func applyEvictorCRD(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(structuralChartsDir(), "castai-evictor", "1.0.0", "crd-files", "evictorconfigs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &crd.Object); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, crd.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "EvictorConfig CRD established", func() error {
		got := crd.DeepCopy()
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errf("not established")
	})
	// Kept for the other runs of the test in this control plane: deleting it races their hook CRs.
}

// releaseObjects returns the objects of the latest revision of release name in ns (namespaced objects without a
// namespace in the manifest get ns).
func releaseObjects(t *testing.T, ns, name string) []*unstructured.Unstructured {
	t.Helper()
	hist := releaseHistory(t, ns, name)
	if len(hist) == 0 {
		t.Fatalf("release %s has no revision", name)
	}
	objs, err := packaging.SplitYAML([]byte(hist[len(hist)-1].Manifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		scoped, err := k8s.IsObjectNamespaced(o)
		if err != nil {
			t.Fatalf("scope of %s: %v", o.GetKind(), err)
		}
		if scoped && o.GetNamespace() == "" {
			o.SetNamespace(ns)
		}
	}
	return objs
}

// structuralObjects returns the objects of every structural component's release in ns.
func structuralObjects(t *testing.T, ns string, cat *catalog.Catalog) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, c := range structuralComponents {
		e, ok := cat.Lookup(c.component, nil)
		if !ok {
			t.Fatalf("the shipped catalog has no %s", c.component)
		}
		out = append(out, releaseObjects(t, ns, e.ReleaseName)...)
	}
	return out
}

// setStructuralVersion creates (or moves) every structural Component to version and waits until each is
// Available at it.
func setStructuralVersion(t *testing.T, ns, version string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range structuralComponents {
		comp := &castwarev1.Component{}
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.component}, comp)
		if apierrors.IsNotFound(err) {
			if err := k8s.Create(ctx, newComponent(ns, c.component, c.component, version, nil)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(comp.DeepCopy())
		comp.Spec.Version = version
		if err := k8s.Patch(ctx, comp, patch); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range structuralComponents {
		waitAvailable(t, ns, c.component, version, 3*time.Minute)
	}
}

// TestStructuralCharts: the shipped catalog installs, upgrades and uninstalls charts shaped like the real
// component charts (Namespace under createNamespace, RBAC in kube-system, a second Deployment, PDB,
// ResourceQuota, file:// child charts, hard-coded names, hooks applying a CRD). After the install and after the
// upgrade no object is written and no drift is repaired over many drift checks; a real edit is repaired once.
func TestStructuralCharts(t *testing.T) {
	srv := structuralServer(t)
	cat := shippedCatalog(t, time.Second)
	applyEvictorCRD(t)
	ns := newNamespace(t)
	startOperator(t, ns, func(o *operator.Options) { o.Catalog = cat })
	createCluster(t, ns, func(cl *castwarev1.Cluster) { cl.Spec.HelmRepoURL = srv.URL() })
	t.Cleanup(func() { deleteStructural(t, ns) })

	setStructuralVersion(t, ns, "1.0.0")
	checkStructure(t, ns, "1.0.0")
	assertNoWrites(t, ns, structuralComponentNames(), structuralObjects(t, ns, cat))

	setStructuralVersion(t, ns, "1.1.0")
	checkStructure(t, ns, "1.1.0")
	assertNoWrites(t, ns, structuralComponentNames(), structuralObjects(t, ns, cat))

	repairedOnce(t, ns)
	assertNoWrites(t, ns, structuralComponentNames(), structuralObjects(t, ns, cat))

	objs := structuralObjects(t, ns, cat)
	deleteStructural(t, ns)
	for _, o := range objs {
		if objectExists(t, o.DeepCopy()) {
			t.Errorf("%s %s/%s left after uninstall", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}
	if nsObj := objRef("v1", "Namespace", "", ns); !objectExists(t, nsObj) || nsObj.GetDeletionTimestamp() != nil {
		t.Errorf("namespace %s deleted with the releases", ns)
	}
}

// checkStructure checks the traits the installed structural charts must show with the shipped catalog.
func checkStructure(t *testing.T, ns, version string) {
	t.Helper()
	mustExist := []*unstructured.Unstructured{
		objRef("rbac.authorization.k8s.io/v1", "Role", "kube-system", "castai-agent"),
		objRef("rbac.authorization.k8s.io/v1", "RoleBinding", "kube-system", "castai-agent"),
		objRef("apps/v1", "Deployment", ns, "castai-agent-cpvpa"),
		objRef("v1", "ResourceQuota", ns, "castai-agent-critical-pods"),
		objRef("apps/v1", "DaemonSet", ns, "castai-spot-handler"),
		objRef("rbac.authorization.k8s.io/v1", "ClusterRole", "", "castai-cluster-controller-ext"),
		objRef("v1", "ConfigMap", ns, "castai-evictor-ext"),
		objRef("autoscaling.cast.ai/v1alpha1", "EvictorConfig", ns, "castai-evictor-config"),
	}
	for _, o := range mustExist {
		if !objectExists(t, o) {
			t.Errorf("%s %s/%s not installed", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}
	// The shipped catalog passes the API key as a Secret reference, so no chart renders its own key Secret,
	// and the agent never renders (so never owns) the operator's namespace.
	// (The operator itself keeps a copy of the key as Secret castai-cluster-controller for the components that
	// read it by name: see internal/dependents. That one is not Helm's.)
	for _, name := range []string{"castai-agent", "castai-spot-handler", "castai-cluster-controller"} {
		if sec := objRef("v1", "Secret", ns, name); objectExists(t, sec) && sec.GetAnnotations()["meta.helm.sh/release-name"] != "" {
			t.Errorf("Secret %s rendered by release %s although the catalog gives a Secret reference", name, sec.GetAnnotations()["meta.helm.sh/release-name"])
		}
	}
	if ann := objRef("v1", "Namespace", "", ns); objectExists(t, ann) && ann.GetAnnotations()["meta.helm.sh/release-name"] != "" {
		t.Errorf("namespace %s is owned by release %s", ns, ann.GetAnnotations()["meta.helm.sh/release-name"])
	}
	d := deployment(t, ns, "castai-agent")
	if got := d.Labels["helm.sh/chart"]; got != "castai-agent-"+version {
		t.Errorf("castai-agent labelled %s, want castai-agent-%s", got, version)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// repairedOnce edits objects of every structural release by hand (one a list element's merge key, one from a
// child chart) and checks each edit is repaired and reported exactly once.
func repairedOnce(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	edits := []struct {
		obj   *unstructured.Unstructured
		patch string
		field []string
		want  any
		event string
	}{
		{objRef("rbac.authorization.k8s.io/v1", "Role", "kube-system", "castai-agent"), `{"rules":[]}`, []string{"rules"}, nil, "patched Role castai-agent"},
		{objRef("apps/v1", "DaemonSet", ns, "castai-spot-handler"), `{"spec":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":3}}}}`,
			[]string{"spec", "updateStrategy", "rollingUpdate", "maxUnavailable"}, int64(1), "patched DaemonSet castai-spot-handler"},
		{objRef("v1", "ConfigMap", ns, "castai-cluster-controller"), `{"data":{"CLUSTER_ID":"edited"}}`,
			[]string{"data", "CLUSTER_ID"}, testClusterID, "patched ConfigMap castai-cluster-controller"},
		// A list element's merge key (port) edited: the chart's element must replace it, not join it.
		{objRef("v1", "Service", ns, "castai-evictor"), `{"spec":{"ports":[{"name":"metrics","port":9191,"targetPort":"metrics"}]}}`,
			nil, nil, "patched Service castai-evictor"},
		// An object of the evictor's file:// child chart.
		{objRef("v1", "ConfigMap", ns, "castai-evictor-ext"), `{"data":{"rules.yaml":"edited"}}`,
			[]string{"data", "rules.yaml"}, "[]", "patched ConfigMap castai-evictor-ext"},
	}
	for _, e := range edits {
		if err := k8s.Patch(ctx, e.obj.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(e.patch))); err != nil {
			t.Fatalf("edit %s %s: %v", e.obj.GetKind(), e.obj.GetName(), err)
		}
	}
	for _, e := range edits {
		eventually(t, 60*time.Second, fmt.Sprintf("%s %s repaired", e.obj.GetKind(), e.obj.GetName()), func() error {
			u := e.obj.DeepCopy()
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
				return err
			}
			switch e.obj.GetKind() {
			case "Role":
				if rules, _, _ := unstructured.NestedSlice(u.Object, "rules"); len(rules) == 0 {
					return errf("rules still empty")
				}
			case "Service":
				ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
				if len(ports) != 1 || ports[0].(map[string]any)["port"] != int64(9090) {
					return errf("ports %v", ports)
				}
			default:
				if got, _, _ := unstructured.NestedFieldNoCopy(u.Object, e.field...); strings.TrimSpace(fmt.Sprint(got)) != fmt.Sprint(e.want) {
					return errf("%s = %v", strings.Join(e.field, "."), got)
				}
			}
			return nil
		})
	}
	// Wait for the repair events (recorded asynchronously; one check's repairs of a component share one
	// event), then require each edit reported exactly once.
	eventually(t, 30*time.Second, "a repair event for each edit", func() error {
		evs := repairEvents(t, ns)
		for _, e := range edits {
			if countContaining(evs, e.event) == 0 {
				return errf("no event %q in %q", e.event, evs)
			}
		}
		return nil
	})
	evs := repairEvents(t, ns)
	for _, e := range edits {
		if n := countContaining(evs, e.event); n != 1 {
			t.Errorf("%d repair events for %q in %q", n, e.event, evs)
		}
	}
}

// countContaining counts the messages that contain sub.
func countContaining(msgs []string, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// deleteStructural deletes the structural Components in ns and waits until they are gone (their releases
// uninstalled).
func deleteStructural(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range structuralComponents {
		comp := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.component}}
		if err := k8s.Delete(ctx, comp); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", c.component, err)
		}
	}
	for _, c := range structuralComponents {
		eventually(t, 2*time.Minute, c.component+" uninstalled", func() error {
			comp := &castwarev1.Component{}
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.component}, comp)
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			return errf("still there: %s", describe(comp))
		})
	}
}
