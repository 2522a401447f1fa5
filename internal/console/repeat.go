package console

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// lastTransitions remembers the last transition queued for each Component, so one failed attempt is
// reported as failed once. An attempt whose Helm action failed and whose status write failed too (the API
// server went away at that moment) leaves its revision pending; the next reconcile recovers that revision
// and reaches the same verdict, "the upgrade to X failed", a second time. Every new attempt begins with a
// PROGRESSING report, which ends the repeat, so a failure of a retried attempt is reported again.
type lastTransitions map[types.NamespacedName]transitionKey

// transitionKey is what makes two failure reports the same failure: the message (the error text) and the
// version it came from may differ between the two verdicts.
type transitionKey struct {
	action    castai.ActionType
	status    castai.ComponentStatus
	toVersion string
}

// repeats records t as the Component's last transition and reports whether it repeats a failure reported
// just before (the same action to the same version, failed, with no other transition in between).
func (l *lastTransitions) repeats(comp types.NamespacedName, t controllers.Transition) bool {
	if *l == nil {
		*l = lastTransitions{}
	}
	k := transitionKey{action: t.Action, status: t.Status, toVersion: t.ToVersion}
	prev, ok := (*l)[comp]
	(*l)[comp] = k
	return ok && k.status == castai.StatusError && prev == k
}
