package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestNamespaceDeleted deletes the operator's namespace while the operator runs and manages a component:
// kube-controller-manager's namespace controller deletes everything in it, the operator's finalizers must
// not keep anything Terminating, and the namespace must actually go away.
func TestNamespaceDeleted(t *testing.T) {
	const deadline = 2 * time.Minute
	ctx := context.Background()
	f := newFixture(t)
	f.createCluster()
	op := f.start("op-1", nil)
	f.waitRegistered()
	f.createComponent("hooked", "0.1.0", gates(gateOpen, gateOpen, gateOpen))
	f.waitAvailable("hooked", "0.1.0", 90*time.Second)
	if c := f.component("hooked"); len(c.Finalizers) == 0 {
		t.Fatalf("the Component carries no finalizer; the case would prove nothing: %v", c.Finalizers)
	}

	if err := k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	var compGone, clusterGone time.Duration
	eventually(t, deadline, "namespace "+f.ns+" gone", func() error {
		if compGone == 0 && gone(&castwarev1.Component{}, f.ns, "hooked") {
			compGone = time.Since(deleted)
		}
		if clusterGone == 0 && gone(&castwarev1.Cluster{}, f.ns, "castai") {
			clusterGone = time.Since(deleted)
		}
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: f.ns}, ns); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace still there (%v): %s", err, f.leftovers())
		}
		return nil
	})
	converged := time.Since(deleted)
	// The operator may stop once its namespace (and its Lease) is gone; it must not have died before.
	f.assertNoCrash()
	select {
	case <-op.Exited():
		t.Fatalf("the operator exited while its namespace was deleted")
	default:
	}
	op.stopped.Store(true)
	what := "uninstalled the release"
	if f.logHas("orphan") {
		what = "left the release to the namespace deletion (orphaned)"
	}
	record(t, catHostile, "the operator's namespace deleted while the operator runs and manages an installed component",
		fmt.Sprintf("the operator %s and released the Component's finalizer (Component gone %.1f s, Cluster %.1f s after the delete); nothing stayed Terminating and the namespace was gone %.1f s after the delete; no operator restart",
			what, compGone.Seconds(), clusterGone.Seconds(), converged.Seconds()), converged)
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
