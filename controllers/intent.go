package controllers

import castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"

// The console's intents for a Component (a rollback, a retry of a failed attempt) are read and
// acknowledged only here, so where they are carried is one file's decision. They are annotations
// (castwarev1.AnnotationRollbackRequest, castwarev1.AnnotationRetryRequest) naming a request ID; the ID
// is recorded in the status once taken up, so a redelivered action or a stale annotation is applied once.
// The deprecated status.rollback=true is still honoured once.

// pendingRollback is the ID of the rollback-request annotation when it was not taken up yet ("" if none).
func pendingRollback(comp *castwarev1.Component) string {
	id := comp.Annotations[castwarev1.AnnotationRollbackRequest]
	if id == comp.Status.RollbackRequestID {
		return ""
	}
	return id
}

// rollbackRequested reports whether a rollback was asked for and not taken up yet.
func rollbackRequested(comp *castwarev1.Component) bool {
	return comp.Status.Rollback || pendingRollback(comp) != ""
}

// rollbackTaken acknowledges the requested rollback (it is being taken, or there is nothing to roll back).
func rollbackTaken(comp *castwarev1.Component) {
	comp.Status.Rollback = false
	if id := pendingRollback(comp); id != "" {
		comp.Status.RollbackRequestID = id
	}
}

// pendingRetry is the retry-request annotation when it was not taken up yet: the version whose failed
// attempt is to be applied again (the spec's version when it names none) and the request ID.
func pendingRetry(comp *castwarev1.Component) (version, id string, ok bool) {
	version, id, ok = castwarev1.ParseRetryRequest(comp.Annotations[castwarev1.AnnotationRetryRequest])
	if !ok || id == comp.Status.RetryRequestID {
		return "", "", false
	}
	if version == "" {
		version = comp.Spec.Version
	}
	return version, id, true
}

// applyIntents carries out intents that only change what the status remembers (a retry forgets the
// failed attempt at its version); it runs before the state machine decides.
func applyIntents(comp *castwarev1.Component) {
	version, id, ok := pendingRetry(comp)
	if !ok {
		return
	}
	comp.Status.RetryRequestID = id
	if fa := comp.Status.FailedAttempt; fa != nil && fa.Version == version {
		comp.Status.FailedAttempt = nil
	}
}

// intentChanged reports whether an update of a Component carries a new intent (also the deprecated
// status.rollback, or a failed attempt cleared by hand).
func intentChanged(o, n *castwarev1.Component) bool {
	return (n.Status.Rollback && !o.Status.Rollback) || (o.Status.FailedAttempt != nil && n.Status.FailedAttempt == nil) ||
		o.Annotations[castwarev1.AnnotationRollbackRequest] != n.Annotations[castwarev1.AnnotationRollbackRequest] ||
		o.Annotations[castwarev1.AnnotationRetryRequest] != n.Annotations[castwarev1.AnnotationRetryRequest]
}
