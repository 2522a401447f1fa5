package controllers

import castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"

// The console's intents for a Component (a rollback, a retry of a failed attempt) are read and
// acknowledged only here, so where they are carried is one file's decision.

// rollbackRequested reports whether a rollback was asked for and not taken up yet.
func rollbackRequested(comp *castwarev1.Component) bool { return comp.Status.Rollback }

// rollbackTaken acknowledges the requested rollback (it is being taken, or there is nothing to roll back).
func rollbackTaken(comp *castwarev1.Component) { comp.Status.Rollback = false }

// applyIntents carries out intents that only change what the status remembers (a retry forgets the
// failed attempt); it runs before the state machine decides.
func applyIntents(_ *castwarev1.Component) {}

// intentChanged reports whether an update of a Component carries a new intent.
func intentChanged(o, n *castwarev1.Component) bool {
	return (n.Status.Rollback && !o.Status.Rollback) || (o.Status.FailedAttempt != nil && n.Status.FailedAttempt == nil)
}
