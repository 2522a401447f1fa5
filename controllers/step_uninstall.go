package controllers

import (
	"cmp"
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepUninstall: enabled is false and a release is installed; it is uninstalled.
func (r *ComponentReconciler) stepUninstall(ctx context.Context, w *work, _ *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	r.record(ctx, w, outUninstallStarted, note{msg: d.Message})
	skipped, err := r.uninstallRelease(ctx, w)
	if err != nil {
		r.record(ctx, w, outUninstallFailed, note{msg: err.Error()})
		return false, ctrl.Result{}, err
	}
	r.record(ctx, w, outUninstalled, note{msg: cmp.Or(skipped, "uninstalled"), event: fmt.Sprintf("release %s uninstalled (enabled is false)", w.release)})
	comp.Status.CurrentVersion, comp.Status.Revision, comp.Status.AppliedValuesHash = "", 0, ""
	return true, ctrl.Result{}, nil
}
