package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// reconcileDelete uninstalls a deleted Component's release (unless orphanReason leaves it running) and
// releases the finalizer.
func (r *ComponentReconciler) reconcileDelete(ctx context.Context, comp *castwarev1.Component) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
		return ctrl.Result{}, nil
	}
	// The finalizer is only ever added to an enabled Component: its release is uninstalled with it, also when
	// it was disabled just before being deleted and the uninstall had not run yet.
	nsDeleting, err := r.namespaceDeleting(ctx, comp.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if why := orphanReason(comp, nsDeleting); why != "" {
		log.FromContext(ctx).Info("deleted Component's release left running (orphaned)", "release", comp.Status.ReleaseName, "why", why)
		return ctrl.Result{}, r.patchFinalizer(ctx, comp, false)
	}
	if entry, err := r.entryForRemoval(comp); err == nil {
		w := &work{comp: comp, entry: entry, release: releaseName(comp, entry), chart: chartOf(comp, entry), current: comp.Status.CurrentVersion}
		if waiting, res, err := r.uninstallDeleted(ctx, w); err != nil || waiting {
			return res, err
		}
	}
	return ctrl.Result{}, r.patchFinalizer(ctx, comp, false)
}

// orphanReason says why a deleted Component's release is left running instead of uninstalled; empty: it is
// uninstalled. nsDeleting: the Component's namespace is being deleted, so the Component goes because
// everything in the namespace goes, not because anyone asked to remove the component. Uninstalling then
// would remove the release's cluster-scoped objects too, and its hooks could not even be created.
func orphanReason(comp *castwarev1.Component, nsDeleting bool) string {
	switch {
	case nsDeleting:
		return "namespace " + comp.Namespace + " is being deleted"
	case comp.Labels[castwarev1.LabelDeleteCandidate] == "true":
		return "labelled " + castwarev1.LabelDeleteCandidate
	case comp.Annotations[AnnotationOrphan] == "true":
		return "annotated " + AnnotationOrphan
	case comp.Spec.Readonly:
		return "readonly"
	}
	return ""
}

// namespaceDeleting reports whether a namespace is being deleted (or already gone). It reads from the API
// server: the operator caches no Namespaces, and this is asked only when a Component is deleted.
func (r *ComponentReconciler) namespaceDeleting(ctx context.Context, name string) (bool, error) {
	if r.APIReader == nil {
		return false, nil
	}
	ns := &corev1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("read namespace %s: %w", name, err)
	}
	return !ns.DeletionTimestamp.IsZero(), nil
}

// uninstallDeleted uninstalls a deleted Component's release; waiting when another process's pending
// revision is waited for first.
func (r *ComponentReconciler) uninstallDeleted(ctx context.Context, w *work) (waiting bool, res ctrl.Result, err error) {
	comp := w.comp
	st, err := r.Engine.Observe(ctx, comp, w.release)
	if err != nil || st.Latest == nil {
		return false, res, err
	}
	d := helm.Decide(helm.Want{Enabled: false, Chart: w.chart, ChartChangeAllowed: migrating(comp)}, helm.Observed{State: st, InFlight: r.Engine.InFlight(comp, w.release)}, r.policy())
	switch d.Step {
	case helm.StepForeign:
		r.record(ctx, w, outDeleteSkipped, note{msg: "not uninstalled: " + d.Message})
		return false, res, nil // the finalizer goes: the release was never this Component's
	case helm.StepWaitPending:
		return true, ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
	case helm.StepUnlock:
		if err := r.Engine.Unlock(ctx, comp, st.Latest); err != nil {
			return false, res, err
		}
	}
	skipped, err := r.uninstallRelease(ctx, w)
	if err != nil {
		r.record(ctx, w, outDeleteFailed, note{msg: err.Error()})
		return false, res, err
	}
	r.record(ctx, w, outDeleted, note{msg: cmp.Or(skipped, "Component deleted"), event: fmt.Sprintf("release %s uninstalled (Component deleted)", w.release)})
	return false, res, nil
}

// patchFinalizer adds or removes the finalizer. It patches a copy, so status changes queued on comp
// (written once at the end of the reconcile) are not replaced by the server's copy.
func (r *ComponentReconciler) patchFinalizer(ctx context.Context, comp *castwarev1.Component, add bool) error {
	obj := comp.DeepCopy()
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if add {
		controllerutil.AddFinalizer(obj, castwarev1.FinalizerCleanupHelm)
	} else {
		controllerutil.RemoveFinalizer(obj, castwarev1.FinalizerCleanupHelm)
	}
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update finalizer: %w", err)
	}
	comp.Finalizers, comp.ResourceVersion = obj.Finalizers, obj.ResourceVersion
	return nil
}

// entryForRemoval is entryFor without the catalog's chart policy: removing a release installs nothing, and
// a Component admitted under another policy (--allow-uncatalogued-charts since turned off) is still removed.
func (r *ComponentReconciler) entryForRemoval(comp *castwarev1.Component) (*catalog.Entry, error) {
	entry, err := r.entryFor(comp)
	var notAllowed *catalog.ErrChartNotAllowed
	if errors.As(err, &notAllowed) {
		return catalog.UncataloguedEntry(notAllowed.Component, notAllowed.Chart), nil
	}
	return entry, err
}
