package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// SetupWithManager registers the controller: Components, their Clusters, the API-key Secrets and the
// workloads their releases render.
func (r *ComponentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workloadPred := predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				r.markDrift(componentKeyOf(e.ObjectNew))
			}
			return true
		},
		DeleteFunc: func(e event.DeleteEvent) bool { r.markDrift(componentKeyOf(e.Object)); return true },
	}
	toComponent := handler.EnqueueRequestsFromMapFunc(r.workloadToComponent)
	b := ctrl.NewControllerManagedBy(mgr)
	if r.PermissionWakeups != nil {
		b = b.WatchesRawSource(source.Channel(r.PermissionWakeups, &handler.EnqueueRequestForObject{}))
	}
	return b.
		Named("component").
		For(&castwarev1.Component{}, builder.WithPredicates(r.specActivity(), componentChanged())).
		Watches(&castwarev1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.clusterToComponents)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToComponents)).
		Watches(&appsv1.Deployment{}, toComponent, builder.WithPredicates(workloadPred)).
		Watches(&appsv1.DaemonSet{}, toComponent, builder.WithPredicates(workloadPred)).
		Watches(&appsv1.StatefulSet{}, toComponent, builder.WithPredicates(workloadPred)).
		Watches(&batchv1.Job{}, toComponent, builder.WithPredicates(workloadPred)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Catalog.MaxConcurrentReconciles()}).
		Complete(r)
}

// specActivity tells SpecChanged about Component spec changes; it filters nothing.
func (r *ComponentReconciler) specActivity() predicate.Predicate {
	return specActivity(func() func(types.NamespacedName) { return r.SpecChanged },
		func(o client.Object) types.NamespacedName {
			c, _ := o.(*castwarev1.Component)
			if c == nil {
				return types.NamespacedName{Namespace: o.GetNamespace()}
			}
			return types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Cluster}
		},
		func(o client.Object) int64 {
			if c, ok := o.(*castwarev1.Component); ok {
				return c.Status.ObservedGeneration
			}
			return 0
		})
}

// componentChanged passes spec changes, label and annotation changes, deletion, and a console rollback
// request; it drops the Component's own status writes.
func componentChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*castwarev1.Component)
		n, ok2 := e.ObjectNew.(*castwarev1.Component)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || !n.DeletionTimestamp.IsZero() ||
			!mapsEqual(o.Labels, n.Labels) || !mapsEqual(o.Annotations, n.Annotations) ||
			len(o.Finalizers) != len(n.Finalizers) || intentChanged(o, n)
	}}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
