// Package selfupgrade upgrades the operator's own Helm release when the Cast AI console asks for it (an
// `upgrade` action for component castware-operator), or when a newer version is published and
// auto-update is on.
//
// # Design
//
// The current leader runs the upgrade itself, as a leader-elected runnable; there is no upgrade Job.
// It is safe because of how the chart deploys the operator: RollingUpdate with maxUnavailable=0 and
// maxSurge=1. The Deployment controller never removes the old (leader) pod before a pod of the new
// revision is Ready, so the process that ran `helm upgrade` is still alive to roll back when the new
// version never becomes Ready; and once a new pod is Ready the old pod stops, which is when the new
// version takes over. Every step is persisted in Cluster.status.operatorUpgrade before it is taken, so
// whichever process leads next (the old version after a crash, or the new version after the handover)
// resumes from the recorded phase:
//
//	Pending -> Upgrading -> RollingOut -> HandingOver -> Succeeded      (finished by the new version)
//	               |             |
//	               +-> RollingBack -> RolledBack | Failed               (run by the old version)
//
// The upgrade reuses the release's user-supplied values over the new chart's defaults (reset then
// reuse), un-pins image.tag so the image follows the chart, and is preceded by a server-side dry run.
// Helm runs the chart's pre-upgrade hooks (CRD upgrade, preflight) and does not wait; the runner watches
// the new ReplicaSet instead (Ready, or failed fast on ImagePullBackOff, CrashLoopBackOff, ...) for at
// most the ready timeout, and rolls back to the revision it started from.
//
// Only the operator whose own chart version is the target version finishes an upgrade, and it claims
// the final phase with an optimistic-lock write before it reports, so success is reported once, and
// only after the new version really runs. Failures are reported by the process that rolled back.
// Progress is reported with recordActionResult at each step. Under OLM (OPERATOR_CONDITION_NAME set)
// the operator never upgrades itself; its status says so.
package selfupgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// ComponentName is the operator's name at Cast AI (getByName, recordActionResult, console actions).
const ComponentName = "castware-operator"

// DefaultChartRepository is where the project publishes its charts (`make push`), the default source of
// the operator's own chart.
const DefaultChartRepository = "oci://ghcr.io/castware-operator/charts"

// ConditionOperatorUpgrade is the Cluster condition that mirrors status.operatorUpgrade.
const ConditionOperatorUpgrade = "OperatorUpgrade"

// Reasons of ConditionOperatorUpgrade besides the phases.
const (
	// ReasonManagedByOLM: the operator was installed by OLM, which owns its upgrades.
	ReasonManagedByOLM = "ManagedByOLM"
	// ReasonDisabled: self-upgrade is turned off (--self-upgrade=false).
	ReasonDisabled = "Disabled"
)

// Errors Start returns when it refuses an upgrade.
var (
	// ErrManagedByOLM: OLM installed the operator and owns its upgrades.
	ErrManagedByOLM = errors.New("the operator is managed by OLM, which performs its upgrades")
	// ErrDisabled: self-upgrade is turned off.
	ErrDisabled = errors.New("self-upgrade is disabled (--self-upgrade=false)")
	// ErrNotHelm: the operator does not know its own Helm release.
	ErrNotHelm = errors.New("the operator was not installed by its Helm chart (HELM_RELEASE_NAME and OPERATOR_CHART_VERSION unset)")
	// ErrInProgress: another self-upgrade is running.
	ErrInProgress = errors.New("an operator upgrade is already in progress")
	// ErrDowngrade: the target version is lower than the running one and no rollback was asked for.
	ErrDowngrade = errors.New("refusing to downgrade the operator (only an explicit rollback may)")
	// ErrWrongChart: the target chart is not the running release's chart.
	ErrWrongChart = errors.New("the target chart is not the operator release's chart")
	// ErrBadVersion: a chart version is not a semantic version.
	ErrBadVersion = errors.New("not a semantic chart version")
)

// API is what the self-upgrade needs from the Cast AI API; *castai.Client satisfies it.
type API interface {
	// RecordActionResult reports a step (components:recordActionResult).
	RecordActionResult(ctx context.Context, clusterID string, r castai.ActionResult) error
	// GetComponentByName returns the component's catalog entry, with its latestVersion.
	GetComponentByName(ctx context.Context, name string) (*castai.ComponentInfo, error)
}

// APIFor returns the API client to use for a Cluster.
type APIFor func(ctx context.Context, cluster *castwarev1.Cluster) (API, error)

// Options configure an Upgrader.
type Options struct {
	// Namespace is the operator's namespace (its Clusters and its release live there).
	Namespace string
	// ReleaseName is the operator's own Helm release ($HELM_RELEASE_NAME in the chart).
	ReleaseName string
	// ChartVersion is the chart version this process was deployed by ($OPERATOR_CHART_VERSION).
	ChartVersion string
	// PodName identifies this process in status ($POD_NAME).
	PodName string
	// ChartRepository is the only source of the operator's own chart (--self-upgrade-chart-repo, set
	// from the chart's selfUpgrade.chartRepository; default DefaultChartRepository); a Cluster's
	// helmRepoURL is never used for it.
	ChartRepository string
	// Disabled turns self-upgrade off.
	Disabled bool
	// OLM, when not empty, says the operator is managed by OLM (the value of $OPERATOR_CONDITION_NAME).
	OLM string
	// AutoUpdate starts an upgrade by itself when Cast AI publishes a newer version.
	AutoUpdate bool
	// ReadyTimeout bounds how long new operator pods may take to become Ready (default 5m).
	ReadyTimeout time.Duration
	// PollInterval is how often a rollout is checked (default 2s).
	PollInterval time.Duration
	// ResyncInterval is how often the runner re-reads Clusters for work (default 10s).
	ResyncInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log is the logger (default: discarded).
	Log logr.Logger
}

// Engine is what a self-upgrade asks of Helm (*helm.Engine implements it).
type Engine interface {
	// Observe reads a release's history and its latest revision.
	Observe(ctx context.Context, owner client.Object, name string) (*helm.State, error)
	// Readiness reports whether the workloads a revision rendered are ready.
	Readiness(ctx context.Context, rel *helm.Release) (helm.Readiness, error)
	// UpgradeRelease upgrades the operator's own release.
	UpgradeRelease(ctx context.Context, req helm.OwnUpgrade) (*helm.Release, error)
	// Rollback rolls a release back to a revision.
	Rollback(ctx context.Context, owner client.Object, name string, toRevision int) (*helm.Release, error)
	// Unlock fails a revision left pending by a process that is gone.
	Unlock(ctx context.Context, owner client.Object, rel *helm.Release) error
}

// Upgrader runs self-upgrades. Start records a request; the Runnable (leader only) carries it out; the
// Hook mirrors the state into a Cluster condition and triggers auto-updates.
type Upgrader struct {
	opts   Options
	client client.Client
	reader client.Reader
	engine Engine
	charts charts.Source
	api    APIFor
	kick   chan struct{}
}

// New returns an Upgrader. c writes Cluster status; reader reads uncached (status decisions use it);
// engine runs Helm; src loads the operator chart from opts.ChartRepository; api reports to Cast AI.
func New(c client.Client, reader client.Reader, engine Engine, src charts.Source, api APIFor, opts Options) *Upgrader {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 5 * time.Minute
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 2 * time.Second
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	if opts.PodName == "" {
		opts.PodName = "operator"
	}
	if opts.ChartRepository == "" {
		opts.ChartRepository = DefaultChartRepository
	}
	return &Upgrader{opts: opts, client: c, reader: reader, engine: engine, charts: src, api: api, kick: make(chan struct{}, 1)}
}

// refusal says why this operator may not upgrade itself (nil when it may).
func (u *Upgrader) refusal() error {
	switch {
	case u.opts.OLM != "":
		return fmt.Errorf("%w (operator condition %s)", ErrManagedByOLM, u.opts.OLM)
	case u.opts.Disabled:
		return ErrDisabled
	case u.opts.ReleaseName == "" || u.opts.ChartVersion == "":
		return ErrNotHelm
	}
	return nil
}

// Start asks for an upgrade of the operator to version ("" means Cast AI's latestVersion) on behalf of
// console action actionID. It validates and records the request in cluster's status and returns; the
// leader's runner carries it out and reports each step. A request repeated with the same action ID is
// accepted once. Start refuses (with ErrManagedByOLM, ErrDisabled, ErrNotHelm or ErrInProgress) when the
// upgrade cannot start; the caller acknowledges the action with that error. It does not modify cluster.
func (u *Upgrader) Start(ctx context.Context, cluster *castwarev1.Cluster, version, actionID string) error {
	if err := u.refusal(); err != nil {
		return err
	}
	return u.Request(ctx, cluster, version, actionID)
}

// Request validates and records an upgrade request like Start, without checking whether this process may
// run upgrades itself: the `upgrade` subcommand uses it to hand a request to the operator's leader.
func (u *Upgrader) Request(ctx context.Context, cluster *castwarev1.Cluster, version, actionID string) error {
	return u.request(ctx, cluster, version, actionID, false)
}

// RequestRollback records an explicit rollback of the operator to an older chart version (the only kind
// of request that may lower the version); otherwise it is Request.
func (u *Upgrader) RequestRollback(ctx context.Context, cluster *castwarev1.Cluster, version, actionID string) error {
	return u.request(ctx, cluster, version, actionID, true)
}

func (u *Upgrader) request(ctx context.Context, cluster *castwarev1.Cluster, version, actionID string, rollback bool) error {
	if u.opts.ReleaseName == "" {
		return ErrNotHelm
	}
	cur := &castwarev1.Cluster{}
	if err := u.reader.Get(ctx, client.ObjectKeyFromObject(cluster), cur); err != nil {
		return fmt.Errorf("read cluster %s: %w", cluster.Name, err)
	}
	if st := cur.Status.OperatorUpgrade; st != nil {
		if actionID != "" && st.ActionID == actionID {
			return nil
		}
		if Active(st.Phase) {
			return fmt.Errorf("%w (to %s, phase %s)", ErrInProgress, st.ToVersion, st.Phase)
		}
	}
	if version == "" {
		api, err := u.api(ctx, cur)
		if err != nil {
			return err
		}
		info, err := api.GetComponentByName(ctx, ComponentName)
		if err != nil {
			return fmt.Errorf("find the latest operator version: %w", err)
		}
		if info.LatestVersion == "" {
			return fmt.Errorf("cast AI publishes no latest version of %s", ComponentName)
		}
		version = info.LatestVersion
	}
	deployed, err := u.deployed(ctx, cur)
	if err != nil {
		return err
	}
	if err := CheckTarget(chartName(deployed), chartVersion(deployed), chartName(deployed), version, rollback); err != nil {
		return err
	}
	now := metav1.NewTime(u.opts.Now())
	st := &castwarev1.OperatorUpgradeStatus{
		ActionID: actionID, Phase: castwarev1.OperatorUpgradePending, Release: u.opts.ReleaseName,
		FromVersion: chartVersion(deployed), ToVersion: version, FromRevision: deployed.Version,
		StartedAt: now, PhaseSince: &now, Runner: u.opts.PodName, Rollback: rollback,
		Message: fmt.Sprintf("upgrade of %s from %s to %s requested", u.opts.ReleaseName, chartVersion(deployed), version),
	}
	if sameVersion(st.FromVersion, version) {
		st.Phase, st.FinishedAt = castwarev1.OperatorUpgradeSucceeded, &now
		st.Message = fmt.Sprintf("%s already runs version %s", u.opts.ReleaseName, version)
	}
	if err := u.update(ctx, cur, func(s **castwarev1.OperatorUpgradeStatus) error {
		if *s != nil && Active((*s).Phase) {
			return fmt.Errorf("%w (to %s, phase %s)", ErrInProgress, (*s).ToVersion, (*s).Phase)
		}
		*s = st.DeepCopy()
		return nil
	}); err != nil {
		return err
	}
	u.opts.Log.Info("operator upgrade requested", "from", st.FromVersion, "to", version, "action", actionID)
	u.Kick()
	return nil
}

// Kick wakes the runner (non-blocking).
func (u *Upgrader) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Active reports whether a phase is in progress.
func Active(p castwarev1.OperatorUpgradePhase) bool {
	switch p {
	case castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeRollingOut,
		castwarev1.OperatorUpgradeHandingOver, castwarev1.OperatorUpgradeRollingBack:
		return true
	}
	return false
}

// deployed returns the operator release's newest deployed revision.
func (u *Upgrader) deployed(ctx context.Context, cl *castwarev1.Cluster) (*helm.Release, error) {
	st, err := u.engine.Observe(ctx, cl, u.opts.ReleaseName)
	if err != nil {
		return nil, err
	}
	for _, r := range st.History {
		if helm.IsDeployed(r) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("operator release %s has no deployed revision in namespace %s", u.opts.ReleaseName, cl.Namespace)
}

// errStale stops an update whose precondition no longer holds (another process moved the phase on).
var errStale = errors.New("self-upgrade state changed meanwhile")

// update re-reads the Cluster, applies mutate to status.operatorUpgrade, derives the OperatorUpgrade
// condition from it and writes both with an optimistic lock, retrying on conflicts. On success cl holds
// the new state.
func (u *Upgrader) update(ctx context.Context, cl *castwarev1.Cluster, mutate func(**castwarev1.OperatorUpgradeStatus) error) error {
	key := client.ObjectKeyFromObject(cl)
	for attempt := 0; ; attempt++ {
		cur := &castwarev1.Cluster{}
		if err := u.reader.Get(ctx, key, cur); err != nil {
			return fmt.Errorf("read cluster %s: %w", key.Name, err)
		}
		before := cur.DeepCopy()
		if err := mutate(&cur.Status.OperatorUpgrade); err != nil {
			return err
		}
		if st := cur.Status.OperatorUpgrade; st != nil {
			st.Message = redact.String(st.Message) // Helm and API errors may quote the key
		}
		// The condition follows at once (the Cluster controller's hook re-derives it on every reconcile).
		setCondition(cur, u.condition(cur.Status.OperatorUpgrade))
		err := u.client.Status().Patch(ctx, cur, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			cur.DeepCopyInto(cl)
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 20 {
			return fmt.Errorf("write operator upgrade status of cluster %s: %w", key.Name, err)
		}
	}
}

// transition moves the upgrade from phase `from` to `to` (with msg and extra changes) if it is still at
// `from`; errStale otherwise.
func (u *Upgrader) transition(ctx context.Context, cl *castwarev1.Cluster, from, to castwarev1.OperatorUpgradePhase, msg string, extra func(*castwarev1.OperatorUpgradeStatus)) error {
	now := metav1.NewTime(u.opts.Now())
	return u.update(ctx, cl, func(s **castwarev1.OperatorUpgradeStatus) error {
		st := *s
		if st == nil || st.Phase != from {
			return errStale
		}
		st.Phase, st.Message, st.Runner = to, msg, u.opts.PodName
		if from != to {
			st.PhaseSince = &now
		}
		if !Active(to) {
			st.FinishedAt = &now
		}
		if extra != nil {
			extra(st)
		}
		return nil
	})
}

// report records one step at Cast AI.
func (u *Upgrader) report(ctx context.Context, cl *castwarev1.Cluster, action castai.ActionType, status castai.ComponentStatus, msg string) error {
	st := cl.Status.OperatorUpgrade
	if cl.ClusterID() == "" {
		return fmt.Errorf("cluster %s has no clusterID yet: cannot report to Cast AI", cl.Name)
	}
	api, err := u.api(ctx, cl)
	if err != nil {
		return err
	}
	r := castai.ActionResult{
		Name: ComponentName, Action: action, Status: status, Message: redact.String(msg), ReleaseName: st.Release,
		CurrentVersion: st.FromVersion, Version: st.ToVersion,
	}
	if err := api.RecordActionResult(ctx, cl.ClusterID(), r); err != nil {
		return fmt.Errorf("report %s/%s to Cast AI: %w", action, status, err)
	}
	return nil
}

// progress reports a progress step; a failure is only logged (the final result is what must arrive).
func (u *Upgrader) progress(ctx context.Context, cl *castwarev1.Cluster, msg string) {
	if err := u.report(ctx, cl, castai.ActionUpdate, castai.StatusProgressing, msg); err != nil {
		u.opts.Log.Info("progress not reported", "error", err.Error())
	}
}

func chartName(r *helm.Release) string {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return ""
	}
	return r.Chart.Metadata.Name
}

func chartVersion(r *helm.Release) string {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return ""
	}
	return r.Chart.Metadata.Version
}

func sameVersion(a, b string) bool {
	return strings.TrimPrefix(a, "v") == strings.TrimPrefix(b, "v")
}
