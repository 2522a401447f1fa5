package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestNamespaceDeleted deletes the operator's namespace while the operator runs and manages a component:
// kube-controller-manager's namespace controller deletes everything in it, the operator's finalizers must
// not keep anything Terminating, and the namespace must actually go away. The Component goes because its
// namespace goes, not because anyone asked to remove the component: its release is orphaned, not
// uninstalled (its cluster-scoped ClusterRole stays, no DISABLE is reported).
func TestNamespaceDeleted(t *testing.T) {
	f := newFixture(t)
	f.createCluster()
	op := f.start("op-1", nil)
	f.installWithClusterRole()

	// The namespace controller deletes kinds in no fixed order. Holding the release's records makes this run
	// the order in which the Component is deleted while Helm's records are still readable (otherwise there
	// would be nothing left to uninstall, and an operator that uninstalls would pass too).
	unhold := f.holdReleaseRecords("hooked")
	deleted := f.deleteNamespace()
	compGone, clusterGone, converged := f.waitNamespaceGone(deleted, unhold)
	// The operator may stop once its namespace (and its Lease) is gone; it must not have died before.
	f.assertNoCrash()
	select {
	case <-op.Exited():
		t.Fatalf("the operator exited while its namespace was deleted")
	default:
	}
	op.stopped.Store(true)
	role := f.assertOrphaned()
	if !f.logHas("orphaned") {
		t.Errorf("the operator's log does not say the release was orphaned:\n%s", tail(filepath.Join(f.dir, "op-1", "operator.log"), 40))
	}
	record(t, catHostile, "the operator's namespace deleted while the operator runs and manages an installed component",
		fmt.Sprintf("the operator orphaned the release (logged why), released the Component's finalizer and reported nothing (Component gone %.1f s, Cluster %.1f s after the delete); the release's ClusterRole %s kept running; nothing stayed Terminating and the namespace was gone %.1f s after the delete; no operator restart",
			compGone.Seconds(), clusterGone.Seconds(), role, converged.Seconds()), converged)
}

// TestNamespaceDeletedOperatorStopped deletes the operator's namespace and stops the operator at once with
// SIGTERM, as the kubelet does when the namespace controller deletes the operator's Pod — before it deletes
// its Deployment, and maybe before the Components are marked deleted. Once the operator is gone nothing
// would release a finalizer, so it must release every Component before it exits; then the namespace goes
// away with no operator running, and the release is orphaned.
func TestNamespaceDeletedOperatorStopped(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.createCluster()
	// The operator's Deployment, named in OPERATOR_DEPLOYMENT as the chart does; the process stands in for its Pod.
	zero := int32(0)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "castware-operator"},
		Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "castware-operator"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "castware-operator"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "operator", Image: "registry.local/castware-operator:test"}}}}}}
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	op := f.start("op-1", nil, "OPERATOR_DEPLOYMENT=castware-operator")
	f.installWithClusterRole()

	deleted := f.deleteNamespace()
	op.stopped.Store(true)
	op.Stop()
	stopped := time.Since(deleted)
	if !f.logHas("operator removed: components released") {
		t.Fatalf("the stopping operator did not release the Components:\n%s", tail(filepath.Join(f.dir, "op-1", "operator.log"), 40))
	}
	compGone, clusterGone, converged := f.waitNamespaceGone(deleted, nil)
	role := f.assertOrphaned()
	record(t, catHostile, "the operator's namespace deleted and the operator stopped at once (SIGTERM, as for its deleted Pod)",
		fmt.Sprintf("the stopping operator saw its namespace being deleted, released every Component (finalizer removed, labelled delete-candidate) and exited %.2f s after the delete; with no operator left, the Component went %.1f s and the Cluster %.1f s after the delete; the release's ClusterRole %s kept running, nothing reported; the namespace was gone %.1f s after the delete",
			stopped.Seconds(), compGone.Seconds(), clusterGone.Seconds(), role, converged.Seconds()), converged)
}

// installWithClusterRole installs hooked 0.1.0 with its cluster-scoped ClusterRole and checks it carries
// the operator's finalizer (else a namespace deletion case would prove nothing).
func (f *fixture) installWithClusterRole() {
	f.t.Helper()
	f.waitRegistered()
	vals := gates(gateOpen, gateOpen, gateOpen)
	vals["clusterRole"] = true
	f.createComponent("hooked", "0.1.0", vals)
	f.waitAvailable("hooked", "0.1.0", 90*time.Second)
	if c := f.component("hooked"); len(c.Finalizers) == 0 {
		f.t.Fatalf("the Component carries no finalizer; the case would prove nothing: %v", c.Finalizers)
	}
	role := f.ns + "-hooked-view"
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: role}, &rbacv1.ClusterRole{}); err != nil {
		f.t.Fatalf("the release's ClusterRole %s: %v", role, err)
	}
	f.t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}})
	})
}

// deleteNamespace deletes the fixture's namespace and returns when.
func (f *fixture) deleteNamespace() time.Time {
	f.t.Helper()
	if err := k8s.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}); err != nil {
		f.t.Fatal(err)
	}
	return time.Now()
}

// holdReleaseRecords puts a finalizer on the Helm release records of release and returns what removes it.
func (f *fixture) holdReleaseRecords(release string) func() {
	f.t.Helper()
	ctx := context.Background()
	list := func() []corev1.Secret {
		secrets := &corev1.SecretList{}
		if err := k8s.List(ctx, secrets, client.InNamespace(f.ns), client.MatchingLabels{"owner": "helm", "name": release}); err != nil {
			f.t.Fatal(err)
		}
		return secrets.Items
	}
	set := func(add bool) {
		for _, sec := range list() {
			before := sec.DeepCopy()
			if add {
				controllerutil.AddFinalizer(&sec, holdFinalizer)
			} else {
				controllerutil.RemoveFinalizer(&sec, holdFinalizer)
			}
			if err := k8s.Patch(ctx, &sec, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
				f.t.Fatal(err)
			}
		}
	}
	if len(list()) == 0 {
		f.t.Fatalf("release %s has no records to hold", release)
	}
	set(true)
	f.t.Cleanup(func() { set(false) })
	return func() { set(false) }
}

// holdFinalizer keeps an object the test wants to outlive a namespace deletion for a while.
const holdFinalizer = "castware-test/hold"

// waitNamespaceGone waits until the fixture's namespace is gone and says when, after deleted, the
// Component hooked, the Cluster and the namespace went; onCompGone (optional) runs once the Component went.
func (f *fixture) waitNamespaceGone(deleted time.Time, onCompGone func()) (compGone, clusterGone, converged time.Duration) {
	f.t.Helper()
	eventually(f.t, 2*time.Minute, "namespace "+f.ns+" gone", func() error {
		if compGone == 0 && gone(&castwarev1.Component{}, f.ns, "hooked") {
			compGone = time.Since(deleted)
			if onCompGone != nil {
				onCompGone()
			}
		}
		if clusterGone == 0 && gone(&castwarev1.Cluster{}, f.ns, "castai") {
			clusterGone = time.Since(deleted)
		}
		ns := &corev1.Namespace{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: f.ns}, ns); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace still there (%v): %s", err, f.leftovers())
		}
		return nil
	})
	return compGone, clusterGone, time.Since(deleted)
}

// assertOrphaned checks that hooked's release was orphaned, not uninstalled: its cluster-scoped ClusterRole
// is still there and no DISABLE result was reported. It returns the ClusterRole's name.
func (f *fixture) assertOrphaned() string {
	f.t.Helper()
	role := f.ns + "-hooked-view"
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: role}, &rbacv1.ClusterRole{}); err != nil {
		f.t.Errorf("the release's ClusterRole %s is gone (%v): the release was uninstalled, not orphaned", role, err)
	}
	for _, r := range f.results("hooked") {
		if strings.HasPrefix(r, string(castai.ActionDisable)) {
			f.t.Errorf("%s reported for hooked (results %v): the release was uninstalled, not orphaned", r, f.results("hooked"))
		}
	}
	return role
}

// gone reports whether an object no longer exists.
func gone(obj client.Object, ns, name string) bool {
	return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj))
}

// leftovers describes what still keeps a deleted namespace: castware objects with their finalizers and the
// namespace's conditions.
func (f *fixture) leftovers() string {
	ctx := context.Background()
	var parts []string
	comps := &castwarev1.ComponentList{}
	if err := k8s.List(ctx, comps, client.InNamespace(f.ns)); err == nil {
		for _, c := range comps.Items {
			parts = append(parts, fmt.Sprintf("component %s finalizers %v", c.Name, c.Finalizers))
		}
	}
	cls := &castwarev1.ClusterList{}
	if err := k8s.List(ctx, cls, client.InNamespace(f.ns)); err == nil {
		for _, c := range cls.Items {
			parts = append(parts, fmt.Sprintf("cluster %s finalizers %v", c.Name, c.Finalizers))
		}
	}
	ns := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: f.ns}, ns); err == nil {
		for _, c := range ns.Status.Conditions {
			if c.Status == corev1.ConditionTrue {
				parts = append(parts, fmt.Sprintf("%s: %s", c.Type, c.Message))
			}
		}
	}
	return strings.Join(parts, "; ")
}
