package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepNotReady: the latest revision's workloads are not ready and no longer waited for. A revision that
// was healthy has drift repaired (what was deleted or edited is put back); one still progressing failed.
func (r *ComponentReconciler) stepNotReady(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	if helm.Summarize(st.Latest).Healthy {
		if err := r.repairDriftIfDue(ctx, w, st.Latest); err != nil {
			return false, ctrl.Result{}, err
		}
	}
	o := outNotReady
	if conditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing) {
		o = outReadyTimedOut
	}
	r.record(ctx, w, o, note{msg: d.Message, to: comp.Spec.Version})
	comp.Status.ObservedGeneration = comp.Generation
	return false, ctrl.Result{}, nil
}
