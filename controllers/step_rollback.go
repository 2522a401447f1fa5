package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// stepRollback: an upgrade failed, or a rollback was asked for. What is undone is recorded (so it is not
// applied again) and persisted before Helm starts, then the release is rolled back.
func (r *ComponentReconciler) stepRollback(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	before := comp.DeepCopy()
	target := revisionVersion(st, d.RollbackTo)
	r.rememberUndone(ctx, w, st, d, target)
	rollbackTaken(comp)
	r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonRollingBack, d.Message)
	// Persist the decision before Helm starts: an operator killed during the rollback must not lose which
	// attempt failed (it would be applied again) or that a requested rollback was taken up (it would be taken
	// again from the wrong revision), nor a retry request taken up before this step (it would be taken
	// again). A copy is patched so the other status changes stay queued on comp.
	if err := r.Client.Status().Patch(ctx, comp.DeepCopy(), client.MergeFrom(w.asRead(before))); err != nil {
		return false, ctrl.Result{}, fmt.Errorf("record the rollback decision: %w", err)
	}
	r.record(ctx, w, outRollbackStarted, note{msg: d.Message, to: target})
	if _, err := r.Engine.Rollback(ctx, comp, w.release, d.RollbackTo); err != nil {
		r.record(ctx, w, outRollbackFailed, note{msg: fmt.Sprintf("rollback to revision %d failed: %v", d.RollbackTo, err), event: err.Error(), report: err.Error()})
		return false, ctrl.Result{}, err
	}
	return true, ctrl.Result{}, nil
}

// rememberUndone records in status.failedAttempt what the rollback undoes: a failed upgrade, or the
// revision a requested rollback leaves (it sticks until the spec changes). A rollback that failed or was
// interrupted is taken again; what it undoes is recorded already.
func (r *ComponentReconciler) rememberUndone(ctx context.Context, w *work, st *helm.State, d helm.Decision, target string) {
	comp := w.comp
	switch {
	case d.FailedAttempt != nil:
		comp.Status.FailedAttempt = &castwarev1.FailedAttempt{Reason: castwarev1.ReasonUpgradeFailed, Version: d.FailedAttempt.Version,
			ValuesHash: d.FailedAttempt.ValuesHash, Generation: comp.Generation, Message: redact.String(d.Message), Time: metav1.NewTime(r.now())}
		r.record(ctx, w, outUpgradeRejected, note{msg: d.Message, from: target, to: d.FailedAttempt.Version})
	case rollbackRequested(comp):
		latest := helm.Summarize(st.Latest)
		comp.Status.FailedAttempt = &castwarev1.FailedAttempt{Reason: castwarev1.ReasonRolledBack, Version: latest.Version, ValuesHash: latest.ValuesHash,
			Generation: comp.Generation, Message: fmt.Sprintf("rolled back from %s on request", latest.Version), Time: metav1.NewTime(r.now())}
	}
}

// revisionVersion is the chart version of a revision in the history ("" when it is not there).
func revisionVersion(st *helm.State, revision int) string {
	for _, h := range st.History {
		if h.Version == revision {
			return helm.Summarize(h).Version
		}
	}
	return ""
}
