package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepHandler carries out one decision of helm.Decide; again asks for another step in the same reconcile.
type stepHandler func(r *ComponentReconciler, ctx context.Context, w *work, st *helm.State, d helm.Decision) (again bool, res ctrl.Result, err error)

// steps maps every step of helm.Decide to its handler, each in its own step_*.go file.
var steps = map[helm.Step]stepHandler{
	helm.StepNone:        (*ComponentReconciler).stepNone,
	helm.StepMarkHealthy: (*ComponentReconciler).stepMarkHealthy,
	helm.StepWaitReady:   (*ComponentReconciler).stepWaitReady,
	helm.StepNotReady:    (*ComponentReconciler).stepNotReady,
	helm.StepBlocked:     (*ComponentReconciler).stepBlocked,
	helm.StepWaitPending: (*ComponentReconciler).stepWaitPending,
	helm.StepUnlock:      (*ComponentReconciler).stepUnlock,
	helm.StepUninstall:   (*ComponentReconciler).stepUninstall,
	helm.StepRollback:    (*ComponentReconciler).stepRollback,
	helm.StepInstall:     (*ComponentReconciler).stepApply,
	helm.StepReinstall:   (*ComponentReconciler).stepApply,
	helm.StepUpgrade:     (*ComponentReconciler).stepApply,
	helm.StepForeign:     (*ComponentReconciler).stepForeign,
}

// execute carries out one decision with its step's handler.
func (r *ComponentReconciler) execute(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	h, ok := steps[d.Step]
	if !ok {
		return false, ctrl.Result{}, fmt.Errorf("unhandled step %s", d.Step)
	}
	w.current = w.comp.Status.CurrentVersion
	return h(r, ctx, w, st, d)
}
