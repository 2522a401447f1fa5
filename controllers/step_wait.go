package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepWaitReady: the latest revision's workloads are not ready yet; Progressing keeps saying what made
// it (an install, an upgrade or a rollback).
func (r *ComponentReconciler) stepWaitReady(ctx context.Context, w *work, _ *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	reason := castwarev1.ReasonInstalling
	if c := conditionReason(w.comp.Status.Conditions, castwarev1.ConditionProgressing); c == castwarev1.ReasonUpgrading || c == castwarev1.ReasonRollingBack {
		reason = c
	} else if w.current != "" {
		reason = castwarev1.ReasonUpgrading
	}
	r.record(ctx, w, outWaitingReady, note{msg: d.Message, reason: reason})
	return false, ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
}

// stepWaitPending: another process's revision is pending; it is waited for, Progressing unchanged in kind.
func (r *ComponentReconciler) stepWaitPending(ctx context.Context, w *work, _ *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	reason := conditionReasonOr(w.comp.Status.Conditions, castwarev1.ConditionProgressing, castwarev1.ReasonUpgrading)
	r.record(ctx, w, outWaitingPending, note{msg: d.Message, reason: reason})
	return false, ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
}
