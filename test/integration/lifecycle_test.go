package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestInstallUpgradeValuesRollback walks one Deployment component and one DaemonSet component through
// their whole life: install, Available only once pods are Ready, upgrade by spec.version, a value added
// and removed, an upgrade whose pods never become Ready rolled back, disable and re-enable.
func TestInstallUpgradeValuesRollback(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns, withReadyTimeout(15*time.Second))
	createCluster(t, ns)

	agent := newComponent(ns, "castai-agent", "castai-agent", "0.1.0", map[string]any{"replicaCount": 2})
	spot := newComponent(ns, "spot-handler", "spot-handler", "0.1.0", nil)
	for _, c := range []*castwarev1.Component{agent, spot} {
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// Available=True is only ever observed once the Deployment's pods are Ready.
	eventually(t, 90*time.Second, "agent Available with ready pods", func() error {
		c := getComponent(t, ns, "castai-agent")
		if condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return errf("not yet: %s", describe(c))
		}
		d := deployment(t, ns, "castai-agent")
		if d.Status.ReadyReplicas != 2 || d.Status.UpdatedReplicas != 2 {
			t.Fatalf("Available=True while the Deployment has %d/%d ready pods", d.Status.ReadyReplicas, 2)
		}
		return nil
	})
	c := waitAvailable(t, ns, "castai-agent", "0.1.0", 30*time.Second)
	if c.Status.Revision != 1 || c.Status.ReleaseName != "castai-agent" || c.Status.Chart != "test-deployment" {
		t.Fatalf("status does not describe the release: %+v", c.Status)
	}
	waitAvailable(t, ns, "spot-handler", "0.1.0", 60*time.Second)

	// Cluster-derived values reached the charts; nothing carries an owner reference.
	d := deployment(t, ns, "castai-agent")
	if env := containerEnv(d, "agent"); env["API_URL"] != fakeAPI(t, ns).URL() || env["PROVIDER"] != "eks" {
		t.Fatalf("agent env = %v", env)
	}
	if len(d.OwnerReferences) != 0 {
		t.Fatalf("Deployment has owner references: %v", d.OwnerReferences)
	}
	if d.Spec.Template.Spec.Containers[0].EnvFrom[0].SecretRef.Name != "castware-api-key" {
		t.Fatal("agent does not read its key from the Cluster's Secret")
	}
	ds := &appsv1.DaemonSet{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-spot-handler"}, ds); err != nil {
		t.Fatal(err)
	}
	if env := containerEnv(ds, "spot-handler"); env["CLUSTER_ID"] != testClusterID || env["PROVIDER"] != "aws" {
		t.Fatalf("spot-handler env = %v", env)
	}
	assertNoOwnerRefsOnReleaseSecrets(t, ns)

	// The printer columns show what users look for.
	out, err := env.Kubectl(ctx, "get", "components", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COMPONENT", "WANTED", "RUNNING", "AVAILABLE", "PROGRESSING", "castai-agent", "0.1.0", "True", "False"} {
		if !strings.Contains(out, want) {
			t.Fatalf("kubectl get components lacks %q:\n%s", want, out)
		}
	}
	// Column by column, through the short names: NAME COMPONENT WANTED RUNNING AVAILABLE PROGRESSING AGE, and
	// NAME PROVIDER CLUSTER-ID PHASE AVAILABLE AGE.
	out, err = env.Kubectl(ctx, "get", "cwcomp", "castai-agent", "-n", ns, "--no-headers")
	if f := strings.Fields(out); err != nil || len(f) != 7 || f[1] != "castai-agent" || f[2] != "0.1.0" || f[3] != "0.1.0" || f[4] != "True" || f[5] != "False" {
		t.Fatalf("kubectl get cwcomp castai-agent (%v): %q", err, out)
	}
	out, err = env.Kubectl(ctx, "get", "cwcluster", "castai", "-n", ns, "--no-headers")
	if f := strings.Fields(out); err != nil || len(f) != 6 || f[1] != "eks" || f[2] != testClusterID || f[4] != "True" {
		t.Fatalf("kubectl get cwcluster castai (%v): %q", err, out)
	}
	out, err = env.Kubectl(ctx, "get", "castware", "-n", ns)
	if err != nil || !strings.Contains(out, "cluster.castware.cast.ai/castai") || !strings.Contains(out, "component.castware.cast.ai/spot-handler") {
		t.Fatalf("the castware category does not list both kinds (%v):\n%s", err, out)
	}

	// Upgrade by editing spec.version.
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	waitAvailable(t, ns, "castai-agent", "0.2.0", 90*time.Second)
	if env := containerEnv(deployment(t, ns, "castai-agent"), "agent"); env["FEATURE_V2"] != "on" {
		t.Fatalf("upgrade did not reach the Deployment: %v", env)
	}

	// Add a value, then remove it: spec.values is the whole truth.
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) {
		c.Spec.Values = rawJSON(map[string]any{"replicaCount": 2, "extra": map[string]any{"team": "platform"}})
	})
	eventually(t, 60*time.Second, "value added to the release", func() error {
		return releaseValue(t, ns, "castai-agent", func(v map[string]any) bool { return nested(v, "extra", "team") == "platform" })
	})
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Values = rawJSON(map[string]any{"replicaCount": 2}) })
	eventually(t, 60*time.Second, "value removed from the release", func() error {
		return releaseValue(t, ns, "castai-agent", func(v map[string]any) bool { return nested(v, "extra", "team") == nil })
	})
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-agent-values"}, cm); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cm.Data["values.json"], "platform") {
		t.Fatalf("removed value still rendered: %s", cm.Data["values.json"])
	}
	good := waitAvailable(t, ns, "castai-agent", "0.2.0", 60*time.Second)

	// An upgrade whose pods never become Ready is rolled back to the previous good revision.
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Version = "0.3.0" })
	eventually(t, 2*time.Minute, "broken upgrade rolled back", func() error {
		c := getComponent(t, ns, "castai-agent")
		p := condition(c, castwarev1.ConditionProgressing)
		if p.Status == metav1.ConditionFalse && p.Reason == castwarev1.ReasonUpgradeFailed && c.Status.CurrentVersion == "0.2.0" &&
			condition(c, castwarev1.ConditionAvailable).Status == metav1.ConditionTrue {
			return nil
		}
		return errf("%s", describe(c))
	})
	c = getComponent(t, ns, "castai-agent")
	p := condition(c, castwarev1.ConditionProgressing)
	if !strings.Contains(p.Message, "0.3.0") || !strings.Contains(p.Message, "not ready") || !strings.Contains(p.Message, "Deployment castai-agent") {
		t.Fatalf("condition does not say why: %q", p.Message)
	}
	hist, err := env.History(ctx, ns, "castai-agent")
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Chart.Metadata.Version != "0.2.0" || last.Info.Status != "deployed" || last.Version != good.Status.Revision+2 {
		t.Fatalf("release not rolled back to the good revision: last is v%d %s %s (good was v%d)", last.Version, last.Chart.Metadata.Version, last.Info.Status, good.Status.Revision)
	}
	if c.Spec.Version != "0.3.0" {
		t.Fatalf("the operator rewrote the user's spec.version to %s", c.Spec.Version)
	}
	t.Logf("failed attempt: %+v applied=%s", c.Status.FailedAttempt, c.Status.AppliedValuesHash)
	// Not retried while the spec still asks for the failed version.
	afterReconcile(t, func() { triggerReconcile(t, ns, "castai-agent") })
	if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != len(hist) || h[len(h)-1].Version != last.Version {
		t.Fatalf("the failed upgrade was retried: history went from %s to %s", revs(hist), revs(h))
	}

	// A new version moves on from the failure.
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Version = "0.1.0" })
	c = waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	if c.Status.FailedAttempt != nil {
		t.Fatalf("failed attempt kept after the spec moved on: %+v", c.Status.FailedAttempt)
	}

	// enabled: false uninstalls the release and its objects.
	patchComponent(t, ns, "spot-handler", func(c *castwarev1.Component) { c.Spec.Enabled = false })
	eventually(t, 60*time.Second, "spot-handler uninstalled", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-spot-handler"}, &appsv1.DaemonSet{})
		if !apierrors.IsNotFound(err) {
			return errf("DaemonSet still there (%v)", err)
		}
		h, err := env.History(ctx, ns, "castai-spot-handler")
		if err != nil || len(h) != 0 {
			return errf("release still stored: %d revisions (%v)", len(h), err)
		}
		c := getComponent(t, ns, "spot-handler")
		if a := condition(c, castwarev1.ConditionAvailable); a.Reason != castwarev1.ReasonDisabled || c.Status.CurrentVersion != "" {
			return errf("%s", describe(c))
		}
		return nil
	})
	patchComponent(t, ns, "spot-handler", func(c *castwarev1.Component) { c.Spec.Enabled = true })
	waitAvailable(t, ns, "spot-handler", "0.1.0", 60*time.Second)

	// Every transition left an Event on its Component.
	want := map[string][]string{
		"castai-agent": {"InstallStarted", "Installed", "UpgradeStarted", "Upgraded", "UpgradeFailed", "RollbackStarted"},
		"spot-handler": {"InstallStarted", "Installed", "Uninstalled"},
	}
	eventually(t, 30*time.Second, "an event for every transition", func() error {
		evs := &corev1.EventList{}
		if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
			return err
		}
		seen := map[string]map[string]bool{}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "Component" {
				if seen[e.InvolvedObject.Name] == nil {
					seen[e.InvolvedObject.Name] = map[string]bool{}
				}
				seen[e.InvolvedObject.Name][e.Reason] = true
			}
		}
		for name, reasons := range want {
			for _, r := range reasons {
				if !seen[name][r] {
					return errf("no %s event on %s (seen %v)", r, name, seen[name])
				}
			}
		}
		return nil
	})
}

// TestNewCatalogEntry manages a chart no Go code knows about: only the catalog names it.
func TestNewCatalogEntry(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	if err := k8s.Create(context.Background(), newComponent(ns, "greeter", "greeter", "1.0.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "greeter", "1.0.0", 90*time.Second)
	ss := &appsv1.StatefulSet{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "greeter"}, ss); err != nil {
		t.Fatal(err)
	}
	if env := containerEnv(ss, "main"); env["GREETING"] != "hello from the catalog" {
		t.Fatalf("catalog default values not applied: %v", env)
	}
}

func containerEnv(obj client.Object, container string) map[string]string {
	var spec corev1.PodSpec
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec = o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		spec = o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		spec = o.Spec.Template.Spec
	}
	out := map[string]string{}
	for _, c := range spec.Containers {
		if c.Name == container {
			for _, e := range c.Env {
				out[e.Name] = e.Value
			}
		}
	}
	return out
}

func patchComponent(t *testing.T, ns, name string, mutate func(*castwarev1.Component)) {
	t.Helper()
	c := getComponent(t, ns, name)
	patch := client.MergeFrom(c.DeepCopy())
	mutate(c)
	if err := k8s.Patch(context.Background(), c, patch); err != nil {
		t.Fatal(err)
	}
}

func triggerReconcile(t *testing.T, ns, name string) {
	patchComponent(t, ns, name, func(c *castwarev1.Component) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
	})
}

func rawJSON(v map[string]any) *apiextensionsv1.JSON {
	b, _ := json.Marshal(v)
	return &apiextensionsv1.JSON{Raw: b}
}

func nested(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// releaseValue checks the values of the latest deployed revision.
func releaseValue(t *testing.T, ns, name string, ok func(map[string]any) bool) error {
	t.Helper()
	hist, err := env.History(context.Background(), ns, name)
	if err != nil {
		return err
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Info.Status == "deployed" {
			if ok(hist[i].Config) {
				return nil
			}
			return errf("revision %d values: %v", hist[i].Version, hist[i].Config)
		}
	}
	return errf("no deployed revision")
}

func assertNoOwnerRefsOnReleaseSecrets(t *testing.T, ns string) {
	t.Helper()
	list := &corev1.SecretList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{"owner": "helm"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) == 0 {
		t.Fatal("no release Secrets found")
	}
	for _, s := range list.Items {
		if len(s.OwnerReferences) != 0 {
			t.Fatalf("release Secret %s has owner references %v", s.Name, s.OwnerReferences)
		}
	}
}

func revs(h []*release.Release) string {
	var parts []string
	for _, r := range h {
		parts = append(parts, fmt.Sprintf("v%d:%s:%s", r.Version, r.Chart.Metadata.Version, r.Info.Status))
	}
	return strings.Join(parts, " ")
}
