package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	// rendered (for caching). A chart binding roles to forbidden subjects is a *ForbiddenSubjectsError.
	CheckChart(ctx context.Context, req helm.Request, digest, valuesHash string, upgrade bool) (string, error)
}

// UpgradeValidator asks Cast AI whether a component may move to a version (components:validateUpgrade, the
// server's gate on what the new version needs of the cluster).
type UpgradeValidator interface {
	// ValidateUpgrade answers allowed, or the reason Cast AI gives for refusing. An error means the question
	// could not be asked or answered; a validator with nothing to ask (no registered cluster) allows.
	ValidateUpgrade(ctx context.Context, cl *castwarev1.Cluster, component, version string) (allowed bool, reason string, err error)
}

// ForbiddenSubjectsError is what a PermissionGate's CheckChart returns for a chart that binds roles to subjects
// the operator never grants to (groups, users, ServiceAccounts of other namespaces): no grant fixes it.
type ForbiddenSubjectsError struct{ Message string }

// Error returns the message naming each binding and subject.
func (e *ForbiddenSubjectsError) Error() string { return e.Message }

// ForbiddenSubjectsRecheck is when a Component refused for forbidden subjects is looked at again without a
// spec change: only another chart or other values fix it, so the recheck only notices a republished chart.
const ForbiddenSubjectsRecheck = 6 * time.Hour

// PermissionRecheck is when a Component turned away for missing permissions is looked at again without an
// event (the gate wakes it when the operator's labelled bindings change).
const PermissionRecheck = 10 * time.Minute

// UpgradeRecheck is when an upgrade Cast AI refused is asked about again without a spec change.
const UpgradeRecheck = 10 * time.Minute

// checkDeps are what the pre-apply checks ask; a nil gate or validator allows everything.
type checkDeps struct {
	gate     PermissionGate
	upgrades UpgradeValidator
	charts   charts.Source
}

// proposal is the change the checks look at; chartAvailable fills loaded and req.
type proposal struct {
	w       *work
	st      *helm.State
	upgrade bool
	loaded  *charts.Loaded
	req     helm.Request
}

// holdBack is why a check held the change back.
type holdBack struct {
	// outcome is outHeldBack (with reason and eventAction) or outChartUnavailable.
	outcome             outcome
	reason, eventAction string
	msg                 string
	// requeue is when the change is looked at again; err, when set, is returned instead (retry with backoff).
	requeue time.Duration
	err     error
}

// check is one pre-apply check: nil lets the change go on.
type check struct {
	name string
	run  func(ctx context.Context, deps checkDeps, p *proposal) *holdBack
}

// preApply are the checks before an install or upgrade, in order: the cheap local ones first, the chart
// last because the RBAC review needs it.
var preApply = []check{
	{"phase", phaseGate},
	{"upgrade", upgradeValidation},
	{"chart", chartAvailable},
	{"rbac", chartPermissions},
}

// phaseGate: a Phase 2 component waits for the extended permissions.
func phaseGate(ctx context.Context, deps checkDeps, p *proposal) *holdBack {
	if deps.gate == nil || p.w.entry.Phase < 2 {
		return nil
	}
	msg, err := deps.gate.CheckPhase(ctx, p.w.comp, p.w.entry.Phase)
	if err != nil {
		return &holdBack{err: fmt.Errorf("check the extended permissions: %w", err)}
	}
	if msg == "" {
		return nil
	}
	return &holdBack{outcome: outHeldBack, reason: castwarev1.ReasonMissingPermissions, eventAction: "CheckPermissions", msg: msg, requeue: PermissionRecheck}
}

// upgradeValidation: an upgrade that changes the running version is asked about at Cast AI first. A
// refusal or an unanswered question leaves the running release alone.
func upgradeValidation(ctx context.Context, deps checkDeps, p *proposal) *holdBack {
	comp, entry := p.w.comp, p.w.entry
	if !p.upgrade || deps.upgrades == nil || p.st.Latest == nil || helm.Summarize(p.st.Latest).Version == comp.Spec.Version {
		return nil
	}
	allowed, why, err := deps.upgrades.ValidateUpgrade(ctx, p.w.cluster, entry.Component, comp.Spec.Version)
	if err != nil {
		return &holdBack{outcome: outHeldBack, reason: castwarev1.ReasonUpgradeNotValidated, eventAction: "ValidateUpgrade",
			msg: fmt.Sprintf("cannot ask Cast AI whether %s may be upgraded to %s (retrying): %s", entry.Component, comp.Spec.Version, redact.Error(err)),
			err: fmt.Errorf("validate the upgrade: %w", err)}
	}
	if allowed {
		return nil
	}
	msg := fmt.Sprintf("Cast AI does not allow upgrading %s from %s to %s", entry.Component, comp.Status.CurrentVersion, comp.Spec.Version)
	if why != "" {
		msg += ": " + why
	}
	return &holdBack{outcome: outHeldBack, reason: castwarev1.ReasonUpgradeBlocked, eventAction: "ValidateUpgrade", msg: msg, requeue: UpgradeRecheck}
}

// chartAvailable loads the chart and builds the Helm request from it.
func chartAvailable(ctx context.Context, deps checkDeps, p *proposal) *holdBack {
	w := p.w
	loaded, err := deps.charts.Load(ctx, charts.Ref{Repo: w.repo, Name: w.chart, Version: chartVersion(&w.comp.Spec)})
	if err != nil {
		return &holdBack{outcome: outChartUnavailable, msg: err.Error(), err: fmt.Errorf("load chart: %w", err)}
	}
	p.loaded = loaded
	p.req = helm.Request{Owner: w.comp, ReleaseName: w.release, Chart: loaded.Chart, Values: w.values,
		Description: fmt.Sprintf("castware-operator: %s %s (generation %d)", w.chart, w.comp.Spec.Version, w.comp.Generation)}
	return nil
}

// chartPermissions: the chart may not grant RBAC the operator does not hold. When the review itself
// cannot be made (the chart does not render, a review fails), Helm is left to try: it reports the real error.
func chartPermissions(ctx context.Context, deps checkDeps, p *proposal) *holdBack {
	if deps.gate == nil {
		return nil
	}
	msg, err := deps.gate.CheckChart(ctx, p.req, ChartKey(p.loaded), p.w.hash, p.upgrade)
	if fe := (*ForbiddenSubjectsError)(nil); errors.As(err, &fe) {
		return &holdBack{outcome: outHeldBack, reason: castwarev1.ReasonForbiddenSubjects, eventAction: "CheckPermissions", msg: fe.Message,
			requeue: ForbiddenSubjectsRecheck}
	}
	if err != nil {
		log.FromContext(ctx).Info("could not check the RBAC the chart grants before applying it; applying it anyway", "error", redact.Error(err))
		return nil
	}
	if msg == "" {
		return nil
	}
	return &holdBack{outcome: outHeldBack, reason: castwarev1.ReasonMissingPermissions, eventAction: "CheckPermissions", msg: msg, requeue: PermissionRecheck}
}

// runChecks runs the pre-apply checks in order and stops at the first that holds the change back; took
// is how long each check ran, by name.
func runChecks(ctx context.Context, deps checkDeps, p *proposal) (hb *holdBack, took map[string]time.Duration) {
	took = map[string]time.Duration{}
	for _, c := range preApply {
		start := time.Now()
		hb = c.run(ctx, deps, p)
		took[c.name] = time.Since(start)
		if hb != nil {
			return hb, took
		}
	}
	return nil, took
}
