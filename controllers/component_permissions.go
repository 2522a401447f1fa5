package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// PermissionGate decides whether the operator may install or upgrade a component's chart: a Phase 2 component
// needs the extended permissions, and no chart may grant RBAC the operator does not hold (the API server would
// refuse it halfway through the install). Each check answers "" when allowed, else a message naming the
// missing rules and how to grant them.
type PermissionGate interface {
	// CheckPhase checks that owner's component, of the given permission phase, may be installed.
	CheckPhase(ctx context.Context, owner client.Object, phase int) (string, error)
	// CheckChart checks the RBAC req's chart would create or update; digest and valuesHash identify what is
	// rendered (for caching).
	CheckChart(ctx context.Context, req helm.Request, digest, valuesHash string, upgrade bool) (string, error)
}

// PermissionRecheck is when a Component turned away for missing permissions is looked at again without an
// event (the gate wakes it when the operator's labelled bindings change).
const PermissionRecheck = 10 * time.Minute

// phaseBlocked reports whether w's component must wait for the extended (Phase 2) permissions.
func (r *ComponentReconciler) phaseBlocked(ctx context.Context, w *work) (bool, ctrl.Result, error) {
	if r.Permissions == nil || w.entry.Phase < 2 {
		return false, ctrl.Result{}, nil
	}
	msg, err := r.Permissions.CheckPhase(ctx, w.comp, w.entry.Phase)
	if err != nil {
		return true, ctrl.Result{}, fmt.Errorf("check the extended permissions: %w", err)
	}
	if msg == "" {
		return false, ctrl.Result{}, nil
	}
	r.blockOnPermissions(ctx, w, msg)
	return true, ctrl.Result{RequeueAfter: PermissionRecheck}, nil
}

// chartBlocked reports whether the chart about to be applied would grant RBAC the operator does not hold.
// When the check itself cannot be made (the chart does not render, a review fails), Helm is left to try:
// it reports the real error.
func (r *ComponentReconciler) chartBlocked(ctx context.Context, w *work, loaded *charts.Loaded, req helm.Request, upgrade bool) (bool, ctrl.Result) {
	if r.Permissions == nil {
		return false, ctrl.Result{}
	}
	msg, err := r.Permissions.CheckChart(ctx, req, ChartKey(loaded), w.hash, upgrade)
	if err != nil {
		log.FromContext(ctx).Info("could not check the RBAC the chart grants before applying it; applying it anyway", "error", redact.Error(err))
		return false, ctrl.Result{}
	}
	if msg == "" {
		return false, ctrl.Result{}
	}
	r.blockOnPermissions(ctx, w, msg)
	return true, ctrl.Result{RequeueAfter: PermissionRecheck}
}

// blockOnPermissions records that the component waits for permissions (see block).
func (r *ComponentReconciler) blockOnPermissions(ctx context.Context, w *work, msg string) {
	r.block(ctx, w, castwarev1.ReasonMissingPermissions, "CheckPermissions", msg)
}

// block records that a change of the component is held back for reason: Progressing=False/reason, and
// Available=False/reason while nothing runs yet. The log line, the event (with eventAction) and the
// ENABLE/UPDATE ERROR report are sent once per reason and message, not on every recheck.
func (r *ComponentReconciler) block(ctx context.Context, w *work, reason, eventAction, msg string) {
	comp := w.comp
	first := conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing) != reason ||
		conditionMessage(comp.Status.Conditions, castwarev1.ConditionProgressing) != msg
	r.setProgressing(comp, metav1.ConditionFalse, reason, msg)
	if comp.Status.CurrentVersion == "" {
		r.setAvailable(comp, metav1.ConditionFalse, reason, msg)
	}
	comp.Status.ObservedGeneration = comp.Generation
	if first {
		log.FromContext(ctx).Info("change held back", "reason", reason, "message", msg)
		r.event(comp, corev1.EventTypeWarning, reason, eventAction, msg)
		action := "ENABLE"
		if comp.Status.CurrentVersion != "" {
			action = "UPDATE"
		}
		r.report(ctx, comp, Transition{Action: action, Status: "ERROR", FromVersion: comp.Status.CurrentVersion, ToVersion: comp.Spec.Version,
			Release: w.release, Message: msg})
	}
}

func conditionMessage(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

// ChartKey identifies a loaded chart's content: its archive digest, or for an unpacked directory a digest of
// every file of it and its subcharts.
func ChartKey(l *charts.Loaded) string {
	if l == nil {
		return ""
	}
	if l.Digest != "" {
		return l.Digest
	}
	h := sha256.New()
	var walk func(c *charts.Chart)
	walk = func(c *charts.Chart) {
		if c == nil {
			return
		}
		if c.Metadata != nil {
			fmt.Fprintf(h, "chart\x00%s\x00%s\x00", c.Metadata.Name, c.Metadata.Version)
		}
		files := append([]*charts.File(nil), c.Raw...)
		sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
		for _, f := range files {
			fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
			h.Write(f.Data)
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(l.Chart)
	return "dir:" + hex.EncodeToString(h.Sum(nil))
}
