package controllers

import (
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// specActivity is a predicate that filters nothing: it calls notify (when set) with the Cluster an object
// belongs to when the object's spec changed — created with a spec not yet observed, a new generation, or
// deletion begun. notify runs in the informer's event handler, so it must be cheap and must not block.
func specActivity(notify func() func(types.NamespacedName), clusterOf func(client.Object) types.NamespacedName,
	observed func(client.Object) int64) predicate.Predicate {
	call := func(o client.Object) {
		if f := notify(); f != nil {
			f(clusterOf(o))
		}
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			if e.Object.GetGeneration() != observed(e.Object) {
				call(e.Object)
			}
			return true
		},
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				(e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil) {
				call(e.ObjectNew)
			}
			return true
		},
	}
}
