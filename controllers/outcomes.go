package controllers

import (
	"cmp"
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// outcome is what a step came to. A step handler says which outcome it reached; the outcomes table says
// what that means for the conditions, the Kubernetes event and the report to Cast AI.
type outcome int

// Outcomes of the steps, in the order a release lives through them.
const (
	outNone                   outcome = iota // no outcome (not in the table)
	outInstallStarted                        // Helm install (or reinstall) begins
	outUpgradeStarted                        // Helm upgrade begins
	outInstallFailed                         // Helm install returned an error
	outUpgradeFailed                         // Helm upgrade returned an error
	outApplyRecorded                         // the failed install/upgrade left a revision: the state machine goes on
	outApplyNotMade                          // the failed install/upgrade changed nothing: retried with backoff
	outChartUnavailable                      // the chart could not be loaded
	outHeldBack                              // a pre-apply check held the change back (reason given)
	outStillHeldBack                         // held back again for the same reason and message: not logged, evented or reported again
	outWaitingReady                          // a revision's workloads are not ready yet (reason given)
	outInstalled                             // a first install became ready
	outUpgraded                              // an upgrade became ready
	outSettled                               // the wanted revision runs and is ready
	outRevisionSeen                          // a ready revision not reported yet (made by someone else, or its report lost)
	outNotReady                              // a revision stopped being ready
	outReadyTimedOut                         // a revision did not become ready in time
	outUpgradeRejected                       // an upgrade failed and is rolled back
	outRollbackStarted                       // Helm rollback begins
	outRollbackFailed                        // Helm rollback returned an error
	outRolledBack                            // a rollback finished and its workloads are ready
	outNothingToRollBack                     // a rollback was asked for while nothing can be rolled back
	outRollbackWaiting                       // a rollback finished, its workloads are not ready yet
	outAttemptBlocked                        // the failed attempt is not applied again; what runs is ready (reason given)
	outAttemptBlockedNotReady                // the failed attempt is not applied again; what runs is not ready (reason given)
	outWaitingPending                        // another process's pending revision is waited for (reason given)
	outUnlocked                              // a revision left pending by a process that is gone was failed
	outUninstallStarted                      // Helm uninstall begins (enabled is false)
	outUninstallFailed                       // Helm uninstall returned an error
	outUninstalled                           // the release was uninstalled (enabled is false)
	outHookSkipped                           // the pre-delete hook kept failing: the release is uninstalled without hooks
	outDisabled                              // enabled is false and nothing is installed
	outDeleted                               // the Component was deleted and its release uninstalled
	outDeleteFailed                          // uninstalling a deleted Component's release failed
	outDeleteSkipped                         // a deleted Component's release is not its own and stays
	outCount                                 // the number of outcomes (not an outcome)
)

// cond is a condition an outcome sets.
type cond struct {
	status metav1.ConditionStatus
	// reason is the condition's reason; empty: the handler gives it (note.reason).
	reason string
	// whileNothingRuns sets the condition only while no version runs (no current version when the step began).
	whileNothingRuns bool
}

// eventOf is the Kubernetes event an outcome emits.
type eventOf struct {
	typ, reason, action string
}

// effect is what an outcome does besides the handler's own status fields.
type effect struct {
	progressing, available *cond
	event                  *eventOf
	// report is the action reported to Cast AI; actionChange: ENABLE while nothing runs, else UPDATE.
	report castai.ActionType
	// status is the reported status; empty: nothing is reported.
	status castai.ComponentStatus
}

// actionChange reports ENABLE while no version runs, UPDATE once one does.
const actionChange castai.ActionType = "ENABLE|UPDATE"

var (
	progressingTrue  = func(reason string) *cond { return &cond{status: metav1.ConditionTrue, reason: reason} }
	progressingFalse = func(reason string) *cond { return &cond{status: metav1.ConditionFalse, reason: reason} }
	availableTrue    = &cond{status: metav1.ConditionTrue, reason: castwarev1.ReasonInstalled}
	notAvailable     = func(reason string) *cond { return &cond{status: metav1.ConditionFalse, reason: reason} }
	notYetAvailable  = func(reason string) *cond {
		return &cond{status: metav1.ConditionFalse, reason: reason, whileNothingRuns: true}
	}
	normal  = func(reason, action string) *eventOf { return &eventOf{corev1.EventTypeNormal, reason, action} }
	warning = func(reason, action string) *eventOf { return &eventOf{corev1.EventTypeWarning, reason, action} }
)

// outcomes is the table every step handler records through.
var outcomes = map[outcome]effect{
	outInstallStarted: {progressing: progressingTrue(castwarev1.ReasonInstalling), available: notYetAvailable(castwarev1.ReasonInstalling),
		event: normal("InstallStarted", "Install"), report: castai.ActionEnable, status: castai.StatusProgressing},
	outUpgradeStarted: {progressing: progressingTrue(castwarev1.ReasonUpgrading), available: notYetAvailable(castwarev1.ReasonInstalling),
		event: normal("UpgradeStarted", "Upgrade"), report: castai.ActionUpdate, status: castai.StatusProgressing},
	outInstallFailed: {event: warning("InstallFailed", "Install"), report: castai.ActionEnable, status: castai.StatusError},
	outUpgradeFailed: {event: warning("UpgradeFailed", "Upgrade"), report: castai.ActionUpdate, status: castai.StatusError},
	outApplyRecorded: {progressing: progressingTrue("")},
	outApplyNotMade:  {progressing: progressingFalse(castwarev1.ReasonFailed), available: notYetAvailable(castwarev1.ReasonInstallFailed)},
	outChartUnavailable: {progressing: progressingFalse(castwarev1.ReasonChartUnavailable), available: notYetAvailable(castwarev1.ReasonInstallFailed),
		event: warning(castwarev1.ReasonChartUnavailable, "FetchChart")},
	outHeldBack: {progressing: progressingFalse(""), available: notYetAvailable(""), event: warning("", ""),
		report: actionChange, status: castai.StatusError},
	outStillHeldBack: {progressing: progressingFalse(""), available: notYetAvailable("")},
	outWaitingReady:  {progressing: progressingTrue(""), available: notYetAvailable(castwarev1.ReasonInstalling)},
	outInstalled: {progressing: progressingFalse(castwarev1.ReasonCompleted), available: availableTrue,
		event: normal("Installed", "Ready"), report: castai.ActionEnable, status: castai.StatusOK},
	outUpgraded: {progressing: progressingFalse(castwarev1.ReasonCompleted), available: availableTrue,
		event: normal("Upgraded", "Ready"), report: castai.ActionUpdate, status: castai.StatusOK},
	outSettled:         {progressing: progressingFalse(castwarev1.ReasonCompleted), available: availableTrue},
	outRevisionSeen:    {report: actionChange, status: castai.StatusOK},
	outNotReady:        {available: notAvailable(castwarev1.ReasonNotReady)},
	outReadyTimedOut:   {progressing: progressingFalse(castwarev1.ReasonFailed), available: notAvailable(castwarev1.ReasonNotReady), event: warning("NotReady", "WaitForReady"), report: actionChange, status: castai.StatusError},
	outUpgradeRejected: {event: warning("UpgradeFailed", "Upgrade"), report: castai.ActionUpdate, status: castai.StatusError},
	outRollbackStarted: {progressing: progressingTrue(castwarev1.ReasonRollingBack), event: normal("RollbackStarted", "Rollback"),
		report: castai.ActionRollback, status: castai.StatusProgressing},
	outRollbackFailed: {progressing: progressingFalse(castwarev1.ReasonFailed), event: warning("RollbackFailed", "Rollback"),
		report: castai.ActionRollback, status: castai.StatusError},
	outRolledBack:             {event: normal("RolledBack", "Rollback"), report: castai.ActionRollback, status: castai.StatusOK},
	outNothingToRollBack:      {event: warning("RollbackFailed", "Rollback"), report: castai.ActionRollback, status: castai.StatusOK},
	outRollbackWaiting:        {available: notAvailable(castwarev1.ReasonNotReady)},
	outAttemptBlocked:         {available: availableTrue, progressing: progressingFalse("")},
	outAttemptBlockedNotReady: {available: notAvailable(castwarev1.ReasonNotReady), progressing: progressingFalse("")},
	outWaitingPending:         {progressing: progressingTrue("")},
	outUnlocked: {progressing: progressingTrue(castwarev1.ReasonReleaseRecovered),
		event: warning(castwarev1.ReasonReleaseRecovered, "Unlock")},
	outUninstallStarted: {progressing: progressingTrue(castwarev1.ReasonUninstalling)},
	outUninstallFailed:  {progressing: progressingFalse(castwarev1.ReasonFailed), report: castai.ActionDisable, status: castai.StatusError},
	outUninstalled:      {event: normal("Uninstalled", "Uninstall"), report: castai.ActionDisable, status: castai.StatusOK},
	outHookSkipped: {progressing: progressingFalse(castwarev1.ReasonPreDeleteHookSkipped), available: notAvailable(castwarev1.ReasonDisabled),
		event: warning(castwarev1.ReasonPreDeleteHookSkipped, "Uninstall")},
	outDisabled:      {progressing: progressingFalse(castwarev1.ReasonDisabled), available: notAvailable(castwarev1.ReasonDisabled)},
	outDeleted:       {event: normal("Uninstalled", "Uninstall"), report: castai.ActionDisable, status: castai.StatusOK},
	outDeleteFailed:  {event: warning("UninstallFailed", "Uninstall")},
	outDeleteSkipped: {event: warning(castwarev1.ReasonReleaseNotOwned, "Uninstall")},
}

// note is what a handler knows of an outcome that the table cannot.
type note struct {
	// msg is the message of the conditions, the event and the report.
	msg string
	// reason fills the table's empty reasons (and an event without one).
	reason string
	// eventAction fills an event without an action.
	eventAction string
	// available, event and report replace msg for that one purpose when set.
	available, event, report string
	// from and to are the reported versions; from defaults to the version running when the step began.
	from, to string
	// action replaces the table's reported action.
	action castai.ActionType
	// keepAvailable leaves the Available condition as it is.
	keepAvailable bool
	// revision is the reported Helm revision (0 when unknown).
	revision int
}

// record applies outcome o: conditions, event and report, in that order.
func (r *ComponentReconciler) record(ctx context.Context, w *work, o outcome, n note) {
	e, ok := outcomes[o]
	if !ok {
		panic("controllers: outcome without an entry in the outcomes table")
	}
	comp := w.comp
	nothingRuns := w.current == ""
	if c := e.progressing; c != nil {
		r.setProgressing(comp, c.status, cmp.Or(c.reason, n.reason), n.msg)
	}
	if c := e.available; c != nil && !n.keepAvailable && (!c.whileNothingRuns || nothingRuns) {
		r.setAvailable(comp, c.status, cmp.Or(c.reason, n.reason), cmp.Or(n.available, n.msg))
	}
	if ev := e.event; ev != nil {
		r.event(comp, ev.typ, cmp.Or(ev.reason, n.reason), cmp.Or(ev.action, n.eventAction), cmp.Or(n.event, n.msg))
	}
	if e.status != "" {
		action := e.report
		if n.action != "" {
			action = n.action
		} else if action == actionChange {
			action = castai.ActionEnable
			if !nothingRuns {
				action = castai.ActionUpdate
			}
		}
		from := n.from
		if from == "" {
			from = w.current
		}
		r.report(ctx, comp, Transition{Action: action, Status: e.status, FromVersion: from, ToVersion: n.to,
			Release: w.release, Revision: n.revision, Message: cmp.Or(n.report, n.msg)})
	}
}
