package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// componentKeyOf is the Component a workload's component label names (empty when it has none).
func componentKeyOf(o client.Object) types.NamespacedName {
	if n := o.GetLabels()[helm.LabelComponent]; n != "" {
		return types.NamespacedName{Namespace: o.GetNamespace(), Name: n}
	}
	return types.NamespacedName{}
}

func (r *ComponentReconciler) workloadToComponent(ctx context.Context, o client.Object) []reconcile.Request {
	if n := o.GetLabels()[helm.LabelComponent]; n != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}}}
	}
	rel := o.GetAnnotations()["meta.helm.sh/release-name"]
	if rel == "" {
		return nil
	}
	return componentsWhere(ctx, r.Client, o.GetNamespace(), func(c *castwarev1.Component) bool { return c.Status.ReleaseName == rel })
}

func (r *ComponentReconciler) clusterToComponents(ctx context.Context, o client.Object) []reconcile.Request {
	return componentsWhere(ctx, r.Client, o.GetNamespace(), func(c *castwarev1.Component) bool { return c.Spec.Cluster == o.GetName() })
}

func (r *ComponentReconciler) secretToComponents(ctx context.Context, o client.Object) []reconcile.Request {
	if l := o.GetLabels(); l["owner"] == "helm" && l["name"] != "" {
		// A Helm release record: a revision made, finished or relabelled by anyone (the helm CLI included) is
		// looked at when it happens, not at the next periodic reconcile.
		return componentsWhere(ctx, r.Client, o.GetNamespace(), func(c *castwarev1.Component) bool {
			if c.Status.ReleaseName == l["name"] {
				return true
			}
			entry, err := r.entryFor(c)
			return err == nil && releaseName(c, entry) == l["name"]
		})
	}
	var out []reconcile.Request
	for _, cl := range clustersWhere(ctx, r.Client, o.GetNamespace(), func(cl *castwarev1.Cluster) bool { return cl.Spec.APIKeySecret == o.GetName() }) {
		out = append(out, componentsWhere(ctx, r.Client, cl.Namespace, func(c *castwarev1.Component) bool { return c.Spec.Cluster == cl.Name })...)
	}
	return out
}
