package controllers

import (
	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/metrics"
)

// observeComponent publishes a Component's conditions and Helm revision as metrics after each reconcile,
// and drops its series once it is being deleted.
func observeComponent(comp *castwarev1.Component) {
	if !comp.DeletionTimestamp.IsZero() {
		metrics.ForgetComponent(comp.Namespace, comp.Spec.Component)
		return
	}
	metrics.SetComponent(comp.Namespace, comp.Spec.Component, metrics.ComponentState{
		Available:   conditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable),
		Progressing: conditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing),
		Revision:    comp.Status.Revision,
	})
}
