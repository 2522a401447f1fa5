package controllers

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// stepApply installs, reinstalls or upgrades, after the pre-apply checks let the change go on.
func (r *ComponentReconciler) stepApply(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	decided := time.Now()
	p := &proposal{w: w, st: st, upgrade: d.Step == helm.StepUpgrade}
	hb, took := runChecks(ctx, checkDeps{gate: r.Permissions, upgrades: r.Upgrades, charts: r.chartSource(w)}, p)
	if hb != nil {
		return r.heldBack(ctx, w, st, hb)
	}
	started, failed := outInstallStarted, outInstallFailed
	if p.upgrade {
		started, failed = outUpgradeStarted, outUpgradeFailed
	}
	log.FromContext(ctx).Info("applying", append([]any{"step", d.Step, "version", comp.Spec.Version}, applyTiming(w.started, decided, took)...)...)
	r.record(ctx, w, started, note{msg: d.Message, to: comp.Spec.Version})
	err := r.helmApply(ctx, d.Step, p.req)
	if err == nil {
		return true, ctrl.Result{}, nil
	}
	msg := err.Error()
	r.record(ctx, w, failed, note{msg: msg, to: comp.Spec.Version})
	after, oerr := r.Engine.Observe(ctx, comp, w.release)
	if oerr == nil && after.Latest != nil && (st.Latest == nil || after.Latest.Version > st.Latest.Version) {
		// Helm recorded a failed revision: the state machine rolls it back (or reinstalls) next.
		r.record(ctx, w, outApplyRecorded, note{msg: msg, reason: outcomes[started].progressing.reason})
		return true, ctrl.Result{}, nil
	}
	// Nothing changed in the cluster (chart rejected, API unreachable): retry with backoff.
	r.record(ctx, w, outApplyNotMade, note{msg: msg})
	return false, ctrl.Result{}, err
}

// helmApply runs the Helm action of an install, reinstall or upgrade step.
func (r *ComponentReconciler) helmApply(ctx context.Context, step helm.Step, req helm.Request) error {
	var err error
	switch step {
	case helm.StepInstall:
		_, err = r.Engine.Install(ctx, req)
	case helm.StepReinstall:
		_, err = r.Engine.Reinstall(ctx, req)
	default:
		_, err = r.Engine.Upgrade(ctx, req)
	}
	return err
}

// heldBack records why a check held the change back. A hold-back is logged, evented and reported once
// per reason and message, not on every recheck.
func (r *ComponentReconciler) heldBack(ctx context.Context, w *work, st *helm.State, hb *holdBack) (bool, ctrl.Result, error) {
	comp := w.comp
	switch hb.outcome {
	case outChartUnavailable:
		// Available is InstallFailed only while no release exists at all.
		r.record(ctx, w, outChartUnavailable, note{msg: hb.msg, keepAvailable: st.Latest != nil})
	case outHeldBack:
		o := outHeldBack
		if conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing) == hb.reason &&
			conditionMessage(comp.Status.Conditions, castwarev1.ConditionProgressing) == redact.String(hb.msg) {
			o = outStillHeldBack
		} else {
			log.FromContext(ctx).Info("change held back", "reason", hb.reason, "message", hb.msg)
		}
		r.record(ctx, w, o, note{msg: hb.msg, reason: hb.reason, eventAction: hb.eventAction, to: comp.Spec.Version})
		comp.Status.ObservedGeneration = comp.Generation
	}
	if hb.err != nil {
		return false, ctrl.Result{}, hb.err
	}
	return false, ctrl.Result{RequeueAfter: hb.requeue}, nil
}

// applyTiming are the log fields of the "applying" line (the bench splits install latency with them,
// internal/devtools/bench/breakdown.go): seconds from the reconcile's start to the decision (cluster facts,
// release history, readiness), then of each pre-apply check.
func applyTiming(started, decided time.Time, took map[string]time.Duration) []any {
	return []any{
		"observeSeconds", decided.Sub(started).Seconds(),
		"upgradeValidationSeconds", took["upgrade"].Seconds(),
		"chartFetchSeconds", took["chart"].Seconds(),
		"permissionCheckSeconds", (took["phase"] + took["rbac"]).Seconds(),
	}
}

// conditionMessage is the message of a condition ("" when it is not set).
func conditionMessage(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}
