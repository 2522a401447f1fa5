package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// reconcileReadonly mirrors the installed release of a readonly Component; it never changes it.
func (r *ComponentReconciler) reconcileReadonly(ctx context.Context, w *work) (ctrl.Result, error) {
	comp := w.comp
	if controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
		if err := r.patchFinalizer(ctx, comp, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	st, err := r.Engine.Observe(ctx, comp, w.release)
	if err != nil {
		return ctrl.Result{}, err
	}
	comp.Status.ObservedGeneration = comp.Generation
	r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, "readonly: the operator only mirrors the installed version")
	if st.Latest == nil {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, fmt.Sprintf("readonly: no Helm release %s found", w.release))
		return ctrl.Result{RequeueAfter: w.entry.Period()}, nil
	}
	s := helm.Summarize(st.Latest)
	comp.Status.CurrentVersion, comp.Status.Revision, comp.Status.Chart = s.Version, s.Number, s.Chart
	if s.Status == helm.StatusDeployed {
		r.setAvailable(comp, metav1.ConditionTrue, castwarev1.ReasonReadonly, fmt.Sprintf("readonly: release %s revision %d (%s) is deployed", w.release, s.Number, s.Version))
	} else {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, fmt.Sprintf("readonly: release %s revision %d is %s", w.release, s.Number, s.Status))
	}
	return ctrl.Result{RequeueAfter: w.entry.Period()}, nil
}
