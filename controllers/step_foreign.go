package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepForeign: the release holds another chart than the Component's; it is neither upgraded nor
// uninstalled. Held back until the spec (or an explicit migration) says otherwise.
func (r *ComponentReconciler) stepForeign(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	return r.heldBack(ctx, w, st, notOwned(d.Message))
}

// notOwned holds a change back because the release it would touch is not the Component's.
func notOwned(msg string) *holdBack {
	return &holdBack{outcome: outHeldBack, reason: castwarev1.ReasonReleaseNotOwned, eventAction: "CheckRelease", msg: msg}
}
