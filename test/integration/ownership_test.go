package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestReadonlyOnlyMirrors: a readonly Component over a release the helm CLI installed changes nothing
// and mirrors the installed version.
func TestReadonlyOnlyMirrors(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	chartURL := charts.URL() + "/charts/test-deployment-0.1.0.tgz"
	if out, err := env.Helm(ctx, "install", "castai-agent", chartURL, "-n", ns, "--set", "replicaCount=1"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	c := newComponent(ns, "castai-agent", "castai-agent", "0.2.0", map[string]any{"replicaCount": 3})
	c.Spec.Readonly = true
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "version mirrored", func() error {
		c := getComponent(t, ns, "castai-agent")
		if c.Status.CurrentVersion != "0.1.0" || condition(c, castwarev1.ConditionProgressing).Reason != castwarev1.ReasonReadonly ||
			condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return errf("%s", describe(c))
		}
		return nil
	})
	afterReconcile(t, func() { triggerReconcile(t, ns, "castai-agent") })
	hist, err := env.History(ctx, ns, "castai-agent")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Chart.Metadata.Version != "0.1.0" {
		t.Fatalf("readonly component changed the release: %s", revs(hist))
	}
	if d := deployment(t, ns, "castai-agent"); *d.Spec.Replicas != 1 {
		t.Fatalf("readonly component changed the Deployment: replicas %d", *d.Spec.Replicas)
	}
	if got := getComponent(t, ns, "castai-agent"); len(got.Finalizers) != 0 {
		t.Fatalf("readonly component has finalizers %v: its deletion must never uninstall", got.Finalizers)
	}
	// Deleting a readonly Component leaves the release alone.
	if err := k8s.Delete(ctx, getComponent(t, ns, "castai-agent")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "component gone", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-agent"}, &castwarev1.Component{}); !apierrors.IsNotFound(err) {
			return errf("still there (%v)", err)
		}
		return nil
	})
	if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != 1 {
		t.Fatal("release removed with a readonly Component")
	}
}

// TestOperatorRemovalLeavesComponentsRunning removes the operator's resources the way its uninstall does
// (Components labelled delete-candidate, then deleted, then the Cluster): every component keeps running.
// A Component deleted on its own, by contrast, is uninstalled.
func TestOperatorRemovalLeavesComponentsRunning(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	stopFirst := stoppableOperator(t, ns)
	createCluster(t, ns)
	for _, c := range []*castwarev1.Component{
		newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil),
		newComponent(ns, "spot-handler", "spot-handler", "0.1.0", nil),
		newComponent(ns, "greeter", "greeter", "1.0.0", nil),
	} {
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	waitAvailable(t, ns, "spot-handler", "0.1.0", 90*time.Second)
	waitAvailable(t, ns, "greeter", "1.0.0", 90*time.Second)

	// Deleting one Component on its own uninstalls it, also when it was disabled just before and the operator
	// had not uninstalled it yet (it is stopped meanwhile).
	stopFirst()
	patchComponent(t, ns, "greeter", func(c *castwarev1.Component) { c.Spec.Enabled = false })
	if err := k8s.Delete(ctx, getComponent(t, ns, "greeter")); err != nil {
		t.Fatal(err)
	}
	stopCtx, stop := context.WithCancel(context.Background())
	startOperatorCtx(t, stopCtx, ns)
	eventually(t, 60*time.Second, "greeter uninstalled", func() error {
		if h, err := env.History(ctx, ns, "greeter"); err != nil || len(h) != 0 {
			return errf("release still there: %v", err)
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "greeter"}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
			return errf("StatefulSet still there (%v)", err)
		}
		return nil
	})

	// The operator's cleanup: mark, delete, delete the Cluster.
	list := &castwarev1.ComponentList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		c := &list.Items[i]
		patch := client.MergeFrom(c.DeepCopy())
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[castwarev1.LabelDeleteCandidate] = "true"
		if err := k8s.Patch(ctx, c, patch); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "components deleted", func() error {
		l := &castwarev1.ComponentList{}
		if err := k8s.List(ctx, l, client.InNamespace(ns)); err != nil || len(l.Items) != 0 {
			return errf("%d left (%v)", len(l.Items), err)
		}
		return nil
	})
	if err := k8s.Delete(ctx, &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	stop()

	d := deployment(t, ns, "castai-agent")
	if d.DeletionTimestamp != nil || d.Status.ReadyReplicas != *d.Spec.Replicas {
		t.Fatalf("agent Deployment not running after removal: %+v", d.Status)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-spot-handler"}, &appsv1.DaemonSet{}); err != nil {
		t.Fatalf("spot-handler DaemonSet gone: %v", err)
	}
	for _, rel := range []string{"castai-agent", "castai-spot-handler"} {
		h, err := env.History(ctx, ns, rel)
		if err != nil || len(h) == 0 || h[len(h)-1].Info.Status != release.StatusDeployed {
			t.Fatalf("release %s not left deployed (%v)", rel, err)
		}
	}
	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running < 2 {
		t.Fatalf("only %d pods running after the operator was removed", running)
	}
}

// TestDriftRepaired: a component's Deployment edited or deleted by hand is put back; the field the
// component manages itself (the agent container's resources) is left alone.
func TestDriftRepaired(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)

	// Someone scales the Deployment and resizes the agent (as cpvpa does).
	d := deployment(t, ns, "castai-agent")
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptrTo(int32(5))
	d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("3Gi")
	if err := k8s.Patch(ctx, d, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "replicas repaired", func() error {
		d := deployment(t, ns, "castai-agent")
		if *d.Spec.Replicas != 2 {
			return errf("replicas %d", *d.Spec.Replicas)
		}
		if m := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory]; m.String() != "3Gi" {
			t.Fatalf("drift repair reset the agent's resources (the component manages them): %s", m.String())
		}
		return nil
	})

	// Someone deletes the Deployment.
	if err := k8s.Delete(ctx, deployment(t, ns, "castai-agent")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "deployment re-created", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-agent"}, d); err != nil {
			return err
		}
		if d.DeletionTimestamp != nil {
			return errf("old one still terminating")
		}
		return nil
	})
	waitAvailable(t, ns, "castai-agent", "0.1.0", 60*time.Second)
	evs := &corev1.EventList{}
	if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range evs.Items {
		if e.Reason == "DriftRepaired" {
			notes = append(notes, e.Message)
		}
	}
	if !strings.Contains(strings.Join(notes, "|"), "created Deployment castai-agent") || !strings.Contains(strings.Join(notes, "|"), "patched Deployment castai-agent") {
		t.Fatalf("drift repairs not reported: %v", notes)
	}
}

func ptrTo[T any](v T) *T { return &v }
