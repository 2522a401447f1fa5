package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepMarkHealthy: the latest revision's workloads became ready. The revision is marked healthy, the
// Component becomes Available at once, and the install or upgrade is reported done.
func (r *ComponentReconciler) stepMarkHealthy(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	if err := r.Engine.MarkHealthy(ctx, comp, st.Latest); err != nil {
		return false, ctrl.Result{}, err
	}
	o := outInstalled
	if conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing) == castwarev1.ReasonUpgrading || w.current != "" {
		o = outUpgraded
	}
	comp.Status.CurrentVersion = helm.Summarize(st.Latest).Version
	comp.Status.ObservedGeneration = comp.Generation
	comp.Status.FailedAttempt = nil
	r.record(ctx, w, o, note{msg: d.Message, to: comp.Status.CurrentVersion, revision: st.Latest.Version})
	// Available is written now, not after the steps that follow in this reconcile (the release read
	// again, reports checked, drift repaired): they change nothing of it.
	if err := w.flushStatus(ctx); err != nil {
		return false, ctrl.Result{}, err
	}
	return true, ctrl.Result{}, nil
}
