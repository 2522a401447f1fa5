package controllers

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

func (r *ComponentReconciler) setAvailable(comp *castwarev1.Component, s metav1.ConditionStatus, reason, msg string) {
	setCondition(&comp.Status.Conditions, comp.Generation, castwarev1.ConditionAvailable, s, reason, msg)
}

func (r *ComponentReconciler) setProgressing(comp *castwarev1.Component, s metav1.ConditionStatus, reason, msg string) {
	setCondition(&comp.Status.Conditions, comp.Generation, castwarev1.ConditionProgressing, s, reason, msg)
}

func conditionReason(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Reason
		}
	}
	return ""
}

func conditionReasonOr(conds []metav1.Condition, typ, def string) string {
	if r := conditionReason(conds, typ); r != "" {
		return r
	}
	return def
}

func (r *ComponentReconciler) event(comp *castwarev1.Component, typ, reason, action, note string) {
	if r.Recorder == nil {
		return
	}
	note = redact.String(note)
	if len(note) > 1000 {
		note = note[:1000] + "…"
	}
	r.Recorder.Eventf(comp, nil, typ, reason, action, "%s", note)
}

func (r *ComponentReconciler) report(ctx context.Context, comp *castwarev1.Component, t Transition) {
	if r.Reporter != nil {
		t.Message = redact.String(t.Message)
		r.Reporter.ComponentTransition(ctx, comp, t)
	}
}

// mirrorRelease copies the deployed revision's identity into the status.
func (r *ComponentReconciler) mirrorRelease(comp *castwarev1.Component, st *helm.State) {
	if st.Latest == nil {
		comp.Status.CurrentVersion, comp.Status.Revision, comp.Status.AppliedValuesHash, comp.Status.Chart = "", 0, "", ""
		return
	}
	s := helm.Summarize(st.Latest)
	if s.Status == helm.StatusDeployed {
		comp.Status.Revision = s.Number
		comp.Status.Chart = s.Chart
		comp.Status.AppliedValuesHash = s.ValuesHash
		if s.Healthy {
			comp.Status.CurrentVersion = s.Version
		}
	}
}
