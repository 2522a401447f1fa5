package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
)

// VersionResolver finds the version to install when a Component leaves spec.version empty.
type VersionResolver interface {
	// LatestVersion returns the latest version of the entry's chart for the Cluster.
	LatestVersion(ctx context.Context, cluster *castwarev1.Cluster, entry *catalog.Entry, repo string) (string, error)
}

// RepoLatest resolves "latest" from the chart repository: the newest version that is not a pre-release.
type RepoLatest struct{ Charts charts.Source }

// LatestVersion implements VersionResolver.
func (r RepoLatest) LatestVersion(ctx context.Context, _ *castwarev1.Cluster, entry *catalog.Entry, repo string) (string, error) {
	return r.Charts.Latest(ctx, repo, entry.Chart)
}

// resolveLatest sets spec.version to the latest version of the chart.
func (r *ComponentReconciler) resolveLatest(ctx context.Context, w *work) (ctrl.Result, error) {
	resolver := r.Versions
	if resolver == nil {
		resolver = RepoLatest{Charts: r.Charts}
	}
	v, err := resolver.LatestVersion(ctx, w.cluster, w.entry, w.repo)
	if err != nil {
		msg := fmt.Sprintf("cannot find the latest version of %s: %v", w.chart, err)
		r.setProgressing(w.comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
		return ctrl.Result{}, fmt.Errorf("resolve latest version: %w", err)
	}
	obj := w.comp.DeepCopy()
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Spec.Version = v
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		msg := fmt.Sprintf("cannot set spec.version to %q, the latest version of %s: %v", v, w.chart, err)
		r.setProgressing(w.comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
		return ctrl.Result{}, fmt.Errorf("set spec.version to latest %s: %w", v, err)
	}
	w.comp.Spec.Version, w.comp.ResourceVersion, w.comp.Generation = obj.Spec.Version, obj.ResourceVersion, obj.Generation
	log.FromContext(ctx).Info("resolved latest version", "version", v)
	return ctrl.Result{}, nil // the spec change triggers the next reconcile
}
