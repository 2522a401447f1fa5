package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/metrics"
)

// repairDriftIfDue puts back what was changed or deleted of a release's objects, at most once per the
// entry's period unless a watched workload changed meanwhile.
func (r *ComponentReconciler) repairDriftIfDue(ctx context.Context, w *work, rel *helm.Release) error {
	if rel == nil || !w.entry.WatchesDependents() {
		return nil
	}
	key := types.NamespacedName{Namespace: w.comp.Namespace, Name: w.comp.Name}
	r.driftMu.Lock()
	if r.driftLast == nil {
		r.driftLast = map[types.NamespacedName]time.Time{}
	}
	due := r.driftDirty[key] || r.now().Sub(r.driftLast[key]) >= w.entry.Period()
	delete(r.driftDirty, key)
	r.driftMu.Unlock()
	if !due {
		return nil
	}
	repairs, err := r.Engine.RepairDrift(ctx, w.comp, rel, w.entry.DriftIgnore)
	metrics.DriftChecked(w.comp.Spec.Component, len(repairs), err)
	if err != nil {
		r.markDrift(key)
		return fmt.Errorf("repair drift: %w", err)
	}
	r.driftMu.Lock()
	r.driftLast[key] = r.now()
	r.driftMu.Unlock()
	if len(repairs) > 0 {
		var parts []string
		for _, rp := range repairs {
			parts = append(parts, rp.String())
		}
		msg := "repaired drift: " + strings.Join(parts, ", ")
		log.FromContext(ctx).Info(msg)
		r.event(w.comp, corev1.EventTypeWarning, "DriftRepaired", "RepairDrift", msg)
	}
	return nil
}

func (r *ComponentReconciler) markDrift(key types.NamespacedName) {
	r.driftMu.Lock()
	defer r.driftMu.Unlock()
	if r.driftDirty == nil {
		r.driftDirty = map[types.NamespacedName]bool{}
	}
	r.driftDirty[key] = true
}
