package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// stepNone: nothing to do. A disabled Component has nothing installed; an enabled one runs what it
// wants: a revision nobody reported is reported, and drift is repaired when due.
func (r *ComponentReconciler) stepNone(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	if !comp.Spec.Enabled {
		if !hookSkipShown(comp) {
			r.record(ctx, w, outDisabled, note{msg: d.Message, available: "enabled is false; the release is not installed"})
		}
		comp.Status.CurrentVersion = ""
		comp.Status.ObservedGeneration = comp.Generation
		return false, ctrl.Result{}, nil
	}
	if rollbackRequested(comp) {
		rollbackTaken(comp)
		r.record(ctx, w, outNothingToRollBack, note{msg: d.Message, to: w.current})
	}
	r.record(ctx, w, outSettled, note{msg: d.Message})
	comp.Status.ObservedGeneration = comp.Generation
	comp.Status.FailedAttempt = nil
	r.reportUnreported(ctx, w, st.Latest)
	if err := r.repairDriftIfDue(ctx, w, st.Latest); err != nil {
		return false, ctrl.Result{}, err
	}
	return false, ctrl.Result{RequeueAfter: w.entry.Period()}, nil
}

// reportUnreported reports a revision Cast AI has not had an OK report of: made by someone else (a
// manual `helm upgrade`), or its report was lost (the reporter records a revision only once Cast AI has
// it; duplicates are dropped there).
func (r *ComponentReconciler) reportUnreported(ctx context.Context, w *work, latest *helm.Release) {
	comp, rev := w.comp, latest.Version
	if comp.Status.LastReportedHelmRevision == rev || r.reportedMeanwhile(ctx, comp, rev) {
		return
	}
	n := note{msg: "Helm revision change detected", action: castai.ActionUpdate, to: helm.Summarize(latest).Version, revision: rev}
	if comp.Status.LastReportedHelmRevision == 0 {
		n.msg, n.action = "installed", castai.ActionEnable
	}
	r.record(ctx, w, outRevisionSeen, n)
}

// reportedMeanwhile reads the Component from the API server: the reporter may have recorded the revision
// after the cache this reconcile read from (its own queue drops duplicates only until then).
func (r *ComponentReconciler) reportedMeanwhile(ctx context.Context, comp *castwarev1.Component, rev int) bool {
	fresh := &castwarev1.Component{}
	if r.APIReader == nil || r.APIReader.Get(ctx, client.ObjectKeyFromObject(comp), fresh) != nil {
		return false
	}
	return fresh.Status.LastReportedHelmRevision == rev
}
