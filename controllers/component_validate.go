package controllers

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// UpgradeValidator asks Cast AI whether a component may move to a version (components:validateUpgrade, the
// server's gate on what the new version needs of the cluster).
type UpgradeValidator interface {
	// ValidateUpgrade answers allowed, or the reason Cast AI gives for refusing. An error means the question
	// could not be asked or answered; a validator with nothing to ask (no registered cluster) allows.
	ValidateUpgrade(ctx context.Context, cl *castwarev1.Cluster, component, version string) (allowed bool, reason string, err error)
}

// UpgradeRecheck is when an upgrade Cast AI refused is asked about again without a spec change.
const UpgradeRecheck = 10 * time.Minute

// upgradeBlocked asks the validator before an upgrade that changes the running version. A refusal or an
// unanswered question leaves the running release alone: Progressing=False with the reason, an event and an
// UPDATE/ERROR report once per reason (block), and a recheck later (or at once when the spec changes).
func (r *ComponentReconciler) upgradeBlocked(ctx context.Context, w *work, st *helm.State) (bool, ctrl.Result, error) {
	comp := w.comp
	if r.Upgrades == nil || st.Latest == nil || helm.Summarize(st.Latest).Version == comp.Spec.Version {
		return false, ctrl.Result{}, nil
	}
	allowed, why, err := r.Upgrades.ValidateUpgrade(ctx, w.cluster, w.entry.Component, comp.Spec.Version)
	if err == nil && allowed {
		return false, ctrl.Result{}, nil
	}
	reason, msg := castwarev1.ReasonUpgradeBlocked, fmt.Sprintf("Cast AI does not allow upgrading %s from %s to %s", w.entry.Component, comp.Status.CurrentVersion, comp.Spec.Version)
	if why != "" {
		msg += ": " + why
	}
	if err != nil {
		reason = castwarev1.ReasonUpgradeNotValidated
		msg = fmt.Sprintf("cannot ask Cast AI whether %s may be upgraded to %s (retrying): %s", w.entry.Component, comp.Spec.Version, redact.Error(err))
	}
	r.block(ctx, w, reason, "ValidateUpgrade", msg)
	if err != nil {
		return true, ctrl.Result{}, fmt.Errorf("validate the upgrade: %w", err)
	}
	return true, ctrl.Result{RequeueAfter: UpgradeRecheck}, nil
}
