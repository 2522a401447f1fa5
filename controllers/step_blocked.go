package controllers

import (
	"cmp"
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepBlocked: the wanted version and values failed before (or were rolled back on request) and are not
// applied again until the spec changes. A rollback that just finished is reported once its workloads
// are ready.
func (r *ComponentReconciler) stepBlocked(ctx context.Context, w *work, st *helm.State, _ helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	fa := comp.Status.FailedAttempt
	comp.Status.ObservedGeneration = comp.Generation
	ready, err := r.Engine.Readiness(ctx, st.Latest)
	if err != nil {
		return false, ctrl.Result{}, err
	}
	running := fmt.Sprintf("running %s (revision %d)", comp.Status.CurrentVersion, st.Latest.Version)
	if conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing) == castwarev1.ReasonRollingBack {
		if !ready.Ready {
			r.record(ctx, w, outRollbackWaiting, note{msg: "rolled back; waiting for workloads: " + ready.Summary()})
			return false, ctrl.Result{RequeueAfter: r.Engine.ReadyTimeout()}, nil
		}
		r.record(ctx, w, outRolledBack, note{msg: fa.Message, event: fmt.Sprintf("rolled back to %s: %s", comp.Status.CurrentVersion, fa.Message),
			from: fa.Version, to: comp.Status.CurrentVersion, revision: st.Latest.Version})
	}
	msg := fmt.Sprintf("%s; %s with these values is not applied again until spec.version or spec.values change", fa.Message, fa.Version)
	n := note{msg: msg, reason: cmp.Or(fa.Reason, castwarev1.ReasonUpgradeFailed), available: running}
	o := outAttemptBlocked
	if !ready.Ready {
		o, n.available = outAttemptBlockedNotReady, running+": "+ready.Summary()
	}
	r.record(ctx, w, o, n)
	return false, ctrl.Result{}, nil
}
