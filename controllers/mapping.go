package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// componentsWhere returns reconcile requests for the Components of namespace that keep selects (from the
// cache; nil when it cannot be read: the event is then covered by the periodic reconcile).
func componentsWhere(ctx context.Context, c client.Reader, namespace string, keep func(*castwarev1.Component) bool) []reconcile.Request {
	list := &castwarev1.ComponentList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if keep(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
		}
	}
	return out
}

// clustersWhere returns reconcile requests for the Clusters of namespace that keep selects.
func clustersWhere(ctx context.Context, c client.Reader, namespace string, keep func(*castwarev1.Cluster) bool) []reconcile.Request {
	list := &castwarev1.ClusterList{}
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if keep(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
		}
	}
	return out
}
