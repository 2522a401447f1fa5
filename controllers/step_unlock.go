package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepUnlock: a revision was left pending by a process that is gone; it is marked failed so the state
// machine can go on (roll back or apply again) in the same reconcile.
func (r *ComponentReconciler) stepUnlock(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	if err := r.Engine.Unlock(ctx, w.comp, st.Latest); err != nil {
		return false, ctrl.Result{}, err
	}
	r.record(ctx, w, outUnlocked, note{msg: d.Message})
	return true, ctrl.Result{}, nil
}
