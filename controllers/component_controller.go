package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/clusterspec"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/metrics"
	"github.com/castware-operator/castware-operator/internal/redact"
	"github.com/castware-operator/castware-operator/internal/values"
)

// AnnotationOrphan on a Component makes its deletion leave the release and its objects running.
const AnnotationOrphan = "castware.cast.ai/orphan"

// maxStepsPerReconcile bounds how many state-machine steps one reconcile takes (e.g. unlock, then roll back).
const maxStepsPerReconcile = 4

// VersionResolver finds the version to install when a Component leaves spec.version empty.
type VersionResolver interface {
	// LatestVersion returns the latest version of the entry's chart for the Cluster.
	LatestVersion(ctx context.Context, cluster *castwarev1.Cluster, entry *catalog.Entry, repo string) (string, error)
}

// RepoLatest resolves "latest" from the chart repository: the newest version that is not a pre-release.
type RepoLatest struct{ Charts charts.Source }

// LatestVersion implements VersionResolver.
func (r RepoLatest) LatestVersion(ctx context.Context, _ *castwarev1.Cluster, entry *catalog.Entry, repo string) (string, error) {
	return r.Charts.Latest(ctx, repo, entry.Chart)
}

// Transition is a change of a Component's release worth reporting to Cast AI.
type Transition struct {
	// Action is ENABLE, UPDATE, DISABLE or ROLLBACK.
	Action string
	// Status is PROGRESSING, OK or ERROR.
	Status string
	// FromVersion is the version before the change, ToVersion the version after (or attempted).
	FromVersion, ToVersion string
	// Release is the Helm release name.
	Release string
	// Revision is the Helm revision after the change (0 when unknown). An OK report with a revision is
	// recorded in status.lastReportedHelmRevision once Cast AI has it.
	Revision int
	// Message is a human explanation.
	Message string
}

// Reporter receives Component transitions (the Cast AI API reporter implements it).
type Reporter interface {
	// ComponentTransition is called once per transition; it must not block for long.
	ComponentTransition(ctx context.Context, c *castwarev1.Component, t Transition)
}

// ComponentReconciler installs, upgrades, rolls back and uninstalls one Helm release per Component.
type ComponentReconciler struct {
	// Client is the manager's (cached) client.
	Client client.Client
	// APIReader reads objects the cache does not hold (Secrets).
	APIReader client.Reader
	// Recorder emits Kubernetes Events.
	Recorder recorder.EventRecorder
	// Catalog is the component catalog.
	Catalog *catalog.Catalog
	// Charts loads charts.
	Charts charts.Source
	// Engine runs Helm actions.
	Engine *helm.Engine
	// Versions resolves "latest" (default: RepoLatest over Charts).
	Versions VersionResolver
	// Reporter receives transitions (optional).
	Reporter Reporter
	// Permissions gates installs and upgrades on the operator's permissions (optional; component_permissions.go).
	Permissions PermissionGate
	// Upgrades asks Cast AI before a version change (optional; component_validate.go).
	Upgrades UpgradeValidator
	// PermissionWakeups delivers Components to look at again because the operator's permissions changed (optional).
	PermissionWakeups <-chan event.GenericEvent
	// Env looks up environment variables for catalog overrideValues (default os.Getenv).
	Env func(string) string
	// OwnRelease is the operator's own Helm release (optional): never adopted as a component.
	OwnRelease string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SpecChanged is told, without blocking, the Cluster of a Component whose spec changed (optional; the
	// console poller polls faster for a while).
	SpecChanged func(cluster types.NamespacedName)

	driftMu    sync.Mutex
	driftDirty map[types.NamespacedName]bool
	driftLast  map[types.NamespacedName]time.Time
}

// +kubebuilder:rbac:groups=castware.cast.ai,resources=components,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=castware.cast.ai,resources=components/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=castware.cast.ai,resources=components/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile drives one Component one or more steps toward its wanted state.
func (r *ComponentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	comp := &castwarev1.Component{}
	if err := r.Client.Get(ctx, req.NamespacedName, comp); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetComponent(req.Namespace, req.Name) // deleted without a finalizer (named after its component)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("component", comp.Spec.Component))
	sw := newStatusWriter(r.Client, comp)
	defer observeComponent(comp)
	res, err := r.reconcile(ctx, comp, sw)
	err = redact.Error(err) // Helm errors may quote rendered values
	if ferr := sw.flush(ctx, comp, componentStatus); ferr != nil && !apierrors.IsNotFound(ferr) {
		return ctrl.Result{}, errors.Join(err, ferr)
	}
	return res, err
}

func componentStatus(o client.Object) any { return o.(*castwarev1.Component).Status }

func (r *ComponentReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// work holds what one reconcile learned about a Component.
type work struct {
	comp    *castwarev1.Component
	entry   *catalog.Entry
	cluster *castwarev1.Cluster
	release string
	repo    string
	chart   string
	values  map[string]any
	hash    string
	// started is when the reconcile began (for the timing logged before a Helm install or upgrade).
	started time.Time
	// status writes comp's status (Reconcile writes it at the end; a step may write it earlier).
	status *statusWriter
}

func (r *ComponentReconciler) reconcile(ctx context.Context, comp *castwarev1.Component, sw *statusWriter) (ctrl.Result, error) {
	if !comp.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, comp)
	}
	entry, err := r.entryFor(comp)
	if err != nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonUnknownComponent, err.Error())
		if !conditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonUnknownComponent, err.Error())
		}
		return ctrl.Result{}, nil
	}
	w := &work{comp: comp, entry: entry, release: entry.ReleaseFor(comp.Spec.ReleaseName), started: time.Now(), status: sw}
	comp.Status.ReleaseName = w.release

	if comp.Spec.Readonly {
		if comp.Spec.Migration == castwarev1.MigrationYAML {
			return r.reconcileReadonlyYAML(ctx, w) // migration: mirror a YAML install (component_adopt.go)
		}
		return r.reconcileReadonly(ctx, w)
	}
	if comp.Spec.Migration == castwarev1.MigrationTerraform {
		msg := "waiting for the operator to detect the installed version (migration: terraform)"
		r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonMigrating, msg)
		return ctrl.Result{}, nil
	}
	if comp.Spec.Enabled && !controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
		if err := r.patchFinalizer(ctx, comp, true); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !comp.Spec.Enabled {
		return r.runStateMachine(ctx, w)
	}

	cluster, waitMsg, err := r.clusterFor(ctx, comp)
	if err != nil {
		return ctrl.Result{}, err
	}
	if cluster == nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, waitMsg)
		if comp.Status.CurrentVersion == "" {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, waitMsg)
		}
		return ctrl.Result{}, nil
	}
	w.cluster = cluster
	w.repo = cluster.Spec.HelmRepoURL
	if entry.Repository != "" {
		w.repo = entry.Repository
	}
	if w.repo == "" {
		w.repo = castwarev1.DefaultHelmRepoURL
	}
	w.chart = entry.ChartFor(comp.Labels[castwarev1.LabelHelmChart])

	facts, err := r.facts(ctx, cluster, comp, entry)
	if err != nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, err.Error())
		return ctrl.Result{}, err
	}
	if missing := entry.MissingFacts(facts); len(missing) > 0 {
		msg := fmt.Sprintf("waiting for cluster %s to provide %s", cluster.Name, strings.Join(missing, ", "))
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, msg)
		if comp.Status.CurrentVersion == "" {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, msg)
		}
		return ctrl.Result{}, nil
	}

	if comp.Spec.Version == "" {
		return r.resolveLatest(ctx, w)
	}

	user, err := userValues(comp)
	if err != nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonInvalidValues, err.Error())
		return ctrl.Result{}, nil
	}
	vals, err := entry.Compose(facts, user, r.Env)
	if err != nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonInvalidValues, err.Error())
		return ctrl.Result{}, nil
	}
	w.values = vals
	w.hash = values.Hash(vals)
	// migration: take over an installation the operator did not make, then finish it once ready (component_adopt.go).
	if done, res, err := r.adopt(ctx, w); done {
		return res, err
	}
	res, err := r.runStateMachine(ctx, w)
	return r.afterAdoption(ctx, w, res, err)
}

func (r *ComponentReconciler) entryFor(comp *castwarev1.Component) (*catalog.Entry, error) {
	if e, ok := r.Catalog.Lookup(comp.Spec.Component, comp.Labels); ok {
		return e, nil
	}
	chart := comp.Labels[castwarev1.LabelHelmChart]
	if chart == "" {
		return nil, fmt.Errorf("component %q is not in the catalog (known: %s) and the Component has no %s label naming its chart",
			comp.Spec.Component, strings.Join(r.Catalog.Components(), ", "), castwarev1.LabelHelmChart)
	}
	// A chart the catalog does not know: give it the values every Cast AI chart understands.
	return &catalog.Entry{Component: comp.Spec.Component, Chart: chart, ReleaseName: comp.Spec.Component, Phase: 1,
		Values:        map[string]any{"createNamespace": false},
		ClusterValues: map[string]any{"apiURL": "{{ .APIURL }}", "apiKeySecretRef": "{{ .APIKeySecret }}", "provider": "{{ .Provider }}"}}, nil
}

func userValues(comp *castwarev1.Component) (map[string]any, error) {
	if comp.Spec.Values == nil {
		return map[string]any{}, nil
	}
	v, err := values.Parse(comp.Spec.Values.Raw)
	if err != nil {
		return nil, fmt.Errorf("spec.values: %w", err)
	}
	return v, nil
}

// clusterFor returns the Component's Cluster when it is Available, or a message saying why it is not.
func (r *ComponentReconciler) clusterFor(ctx context.Context, comp *castwarev1.Component) (*castwarev1.Cluster, string, error) {
	cl := &castwarev1.Cluster{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: comp.Namespace, Name: comp.Spec.Cluster}, cl)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Sprintf("waiting for Cluster %q in namespace %s: it does not exist", comp.Spec.Cluster, comp.Namespace), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read Cluster %s: %w", comp.Spec.Cluster, err)
	}
	if !conditionTrue(cl.Status.Conditions, castwarev1.ConditionAvailable) {
		why := "it has not been validated yet"
		for _, c := range cl.Status.Conditions {
			if c.Type == castwarev1.ConditionAvailable {
				why = c.Message
			}
		}
		return nil, fmt.Sprintf("waiting for Cluster %q to become Available: %s", cl.Name, why), nil
	}
	return cl, "", nil
}

func (r *ComponentReconciler) facts(ctx context.Context, cl *castwarev1.Cluster, comp *castwarev1.Component, entry *catalog.Entry) (catalog.ClusterFacts, error) {
	f := clusterspec.Facts(cl)
	f.Namespace = comp.Namespace
	if entry.UsesFact("APIKey") {
		key, _, err := clusterspec.ReadAPIKey(ctx, r.APIReader, cl)
		if err != nil {
			return f, err
		}
		f.APIKey = key
	}
	return f, nil
}

func (r *ComponentReconciler) resolveLatest(ctx context.Context, w *work) (ctrl.Result, error) {
	resolver := r.Versions
	if resolver == nil {
		resolver = RepoLatest{Charts: r.Charts}
	}
	v, err := resolver.LatestVersion(ctx, w.cluster, w.entry, w.repo)
	if err != nil {
		msg := fmt.Sprintf("cannot find the latest version of %s: %v", w.chart, err)
		r.setProgressing(w.comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
		return ctrl.Result{}, fmt.Errorf("resolve latest version: %w", err)
	}
	obj := w.comp.DeepCopy()
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Spec.Version = v
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		msg := fmt.Sprintf("cannot set spec.version to %q, the latest version of %s: %v", v, w.chart, err)
		r.setProgressing(w.comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
		return ctrl.Result{}, fmt.Errorf("set spec.version to latest %s: %w", v, err)
	}
	w.comp.Spec.Version, w.comp.ResourceVersion, w.comp.Generation = obj.Spec.Version, obj.ResourceVersion, obj.Generation
	log.FromContext(ctx).Info("resolved latest version", "version", v)
	return ctrl.Result{}, nil // the spec change triggers the next reconcile
}

// runStateMachine observes the release and takes state-machine steps until it has to wait.
func (r *ComponentReconciler) runStateMachine(ctx context.Context, w *work) (ctrl.Result, error) {
	comp := w.comp
	logger := log.FromContext(ctx)
	for step := 0; step < maxStepsPerReconcile; step++ {
		st, err := r.Engine.Observe(ctx, comp, w.release)
		if err != nil {
			return ctrl.Result{}, err
		}
		ready := helm.Readiness{Ready: true}
		if helm.IsDeployed(st.Latest) {
			if ready, err = r.Engine.Readiness(ctx, st.Latest); err != nil {
				return ctrl.Result{}, fmt.Errorf("read readiness: %w", err)
			}
		}
		r.mirrorRelease(comp, st)
		applyIntents(comp)
		if fa := comp.Status.FailedAttempt; fa != nil && comp.Spec.Enabled && (fa.Version != comp.Spec.Version || fa.ValuesHash != w.hash) {
			comp.Status.FailedAttempt = nil // the spec moved on
		}
		want := helm.Want{Enabled: comp.Spec.Enabled, Chart: w.chart, Version: comp.Spec.Version, ValuesHash: w.hash, RollbackRequested: rollbackRequested(comp),
			Adopted: adoptedRevision(comp)} // migration: an adopted revision stands for the spec it was adopted for
		if fa := comp.Status.FailedAttempt; fa != nil {
			want.Failed = &helm.Attempt{Version: fa.Version, ValuesHash: fa.ValuesHash}
		}
		d := helm.Decide(want, helm.Observed{State: st, Ready: ready, InFlight: r.Engine.InFlight(comp, w.release)},
			helm.Policy{Now: r.now(), Session: r.Engine.Session(), PendingTimeout: r.Engine.PendingTimeout(), ReadyTimeout: r.Engine.ReadyTimeout()})
		logger.V(1).Info("decided", "step", d.Step, "message", d.Message, "failed", want.Failed, "hash", w.hash)
		metrics.ComponentDecision(string(d.Step))
		again, res, err := r.execute(ctx, w, st, d)
		if err != nil || !again {
			return res, err
		}
	}
	return ctrl.Result{RequeueAfter: time.Second}, nil
}

// execute carries out one decision. again asks for another step in the same reconcile.
func (r *ComponentReconciler) execute(ctx context.Context, w *work, st *helm.State, d helm.Decision) (again bool, res ctrl.Result, err error) {
	comp := w.comp
	current := comp.Status.CurrentVersion
	switch d.Step {
	case helm.StepNone:
		if !comp.Spec.Enabled {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonDisabled, "enabled is false; the release is not installed")
			r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonDisabled, d.Message)
			comp.Status.CurrentVersion = ""
			comp.Status.ObservedGeneration = comp.Generation
			return false, ctrl.Result{}, nil
		}
		if rollbackRequested(comp) {
			rollbackTaken(comp)
			r.event(comp, corev1.EventTypeWarning, "RollbackFailed", "Rollback", d.Message)
			r.report(ctx, comp, Transition{Action: "ROLLBACK", Status: "OK", FromVersion: current, ToVersion: current, Release: w.release, Message: d.Message})
		}
		r.setAvailable(comp, metav1.ConditionTrue, castwarev1.ReasonInstalled, d.Message)
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonCompleted, d.Message)
		comp.Status.ObservedGeneration = comp.Generation
		comp.Status.FailedAttempt = nil
		if rev := st.Latest.Version; comp.Status.LastReportedHelmRevision != rev && !r.reportedMeanwhile(ctx, comp, rev) {
			// A revision not reported yet: made by someone else (a manual `helm upgrade`), or its report was
			// lost (the reporter records a revision only once Cast AI has it; duplicates are dropped there).
			action, msg := "UPDATE", "Helm revision change detected"
			if comp.Status.LastReportedHelmRevision == 0 {
				action, msg = "ENABLE", "installed"
			}
			r.report(ctx, comp, Transition{Action: action, Status: "OK", FromVersion: current, ToVersion: helm.Summarize(st.Latest).Version, Release: w.release, Revision: rev, Message: msg})
		}
		if err := r.repairDriftIfDue(ctx, w, st.Latest); err != nil {
			return false, ctrl.Result{}, err
		}
		return false, ctrl.Result{RequeueAfter: w.entry.Period()}, nil

	case helm.StepMarkHealthy:
		if err := r.Engine.MarkHealthy(ctx, comp, st.Latest); err != nil {
			return false, ctrl.Result{}, err
		}
		wasUpgrade := conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing) == castwarev1.ReasonUpgrading
		comp.Status.CurrentVersion = helm.Summarize(st.Latest).Version
		comp.Status.ObservedGeneration = comp.Generation
		comp.Status.FailedAttempt = nil
		r.setAvailable(comp, metav1.ConditionTrue, castwarev1.ReasonInstalled, d.Message)
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonCompleted, d.Message)
		action, reason := "ENABLE", "Installed"
		if wasUpgrade || current != "" {
			action, reason = "UPDATE", "Upgraded"
		}
		r.event(comp, corev1.EventTypeNormal, reason, "Ready", d.Message)
		r.report(ctx, comp, Transition{Action: action, Status: "OK", FromVersion: current, ToVersion: comp.Status.CurrentVersion, Release: w.release, Revision: st.Latest.Version, Message: d.Message})
		// Available is written now, not after the steps that follow in this reconcile (the release read
		// again, reports checked, drift repaired): they change nothing of it.
		if err := w.flushStatus(ctx); err != nil {
			return false, ctrl.Result{}, err
		}
		return true, ctrl.Result{}, nil

	case helm.StepWaitReady:
		reason := castwarev1.ReasonInstalling
		if c := conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing); c == castwarev1.ReasonUpgrading || c == castwarev1.ReasonRollingBack {
			reason = c
		} else if current != "" {
			reason = castwarev1.ReasonUpgrading
		}
		r.setProgressing(comp, metav1.ConditionTrue, reason, d.Message)
		if current == "" {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonInstalling, d.Message)
		}
		return false, ctrl.Result{RequeueAfter: d.RequeueAfter}, nil

	case helm.StepNotReady:
		if helm.Summarize(st.Latest).Healthy {
			// A revision that was healthy lost workloads or readiness: put back what was deleted or edited.
			if err := r.repairDriftIfDue(ctx, w, st.Latest); err != nil {
				return false, ctrl.Result{}, err
			}
		}
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonNotReady, d.Message)
		if conditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing) {
			r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonFailed, d.Message)
			r.event(comp, corev1.EventTypeWarning, "NotReady", "WaitForReady", d.Message)
			action := "ENABLE"
			if current != "" {
				action = "UPDATE"
			}
			r.report(ctx, comp, Transition{Action: action, Status: "ERROR", FromVersion: current, ToVersion: comp.Spec.Version, Release: w.release, Message: d.Message})
		}
		comp.Status.ObservedGeneration = comp.Generation
		return false, ctrl.Result{}, nil

	case helm.StepBlocked:
		fa := comp.Status.FailedAttempt
		comp.Status.ObservedGeneration = comp.Generation
		ready, err := r.Engine.Readiness(ctx, st.Latest)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		running := fmt.Sprintf("running %s (revision %d)", comp.Status.CurrentVersion, st.Latest.Version)
		if conditionReason(comp.Status.Conditions, castwarev1.ConditionProgressing) == castwarev1.ReasonRollingBack {
			if !ready.Ready {
				r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonNotReady, "rolled back; waiting for workloads: "+ready.Summary())
				return false, ctrl.Result{RequeueAfter: r.Engine.ReadyTimeout()}, nil
			}
			r.event(comp, corev1.EventTypeNormal, "RolledBack", "Rollback", fmt.Sprintf("rolled back to %s: %s", comp.Status.CurrentVersion, fa.Message))
			r.report(ctx, comp, Transition{Action: "ROLLBACK", Status: "OK", FromVersion: fa.Version, ToVersion: comp.Status.CurrentVersion, Release: w.release, Revision: st.Latest.Version, Message: fa.Message})
		}
		if ready.Ready {
			r.setAvailable(comp, metav1.ConditionTrue, castwarev1.ReasonInstalled, running)
		} else {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonNotReady, running+": "+ready.Summary())
		}
		msg := fmt.Sprintf("%s; %s with these values is not applied again until spec.version or spec.values change", fa.Message, fa.Version)
		reason := fa.Reason
		if reason == "" {
			reason = castwarev1.ReasonUpgradeFailed
		}
		r.setProgressing(comp, metav1.ConditionFalse, reason, msg)
		return false, ctrl.Result{}, nil

	case helm.StepWaitPending:
		r.setProgressing(comp, metav1.ConditionTrue, conditionReasonOr(comp.Status.Conditions, castwarev1.ConditionProgressing, castwarev1.ReasonUpgrading), d.Message)
		return false, ctrl.Result{RequeueAfter: d.RequeueAfter}, nil

	case helm.StepUnlock:
		if err := r.Engine.Unlock(ctx, comp, st.Latest); err != nil {
			return false, ctrl.Result{}, err
		}
		r.event(comp, corev1.EventTypeWarning, castwarev1.ReasonReleaseRecovered, "Unlock", d.Message)
		r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonReleaseRecovered, d.Message)
		return true, ctrl.Result{}, nil

	case helm.StepUninstall:
		r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonUninstalling, d.Message)
		if err := r.Engine.Uninstall(ctx, comp, w.release); err != nil {
			r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonFailed, err.Error())
			r.report(ctx, comp, Transition{Action: "DISABLE", Status: "ERROR", FromVersion: current, Release: w.release, Message: err.Error()})
			return false, ctrl.Result{}, err
		}
		r.event(comp, corev1.EventTypeNormal, "Uninstalled", "Uninstall", fmt.Sprintf("release %s uninstalled (enabled is false)", w.release))
		r.report(ctx, comp, Transition{Action: "DISABLE", Status: "OK", FromVersion: current, Release: w.release, Message: "uninstalled"})
		comp.Status.CurrentVersion, comp.Status.Revision, comp.Status.AppliedValuesHash = "", 0, ""
		return true, ctrl.Result{}, nil

	case helm.StepRollback:
		return r.rollback(ctx, w, st, d)

	case helm.StepInstall, helm.StepReinstall, helm.StepUpgrade:
		return r.apply(ctx, w, st, d)
	}
	return false, ctrl.Result{}, fmt.Errorf("unhandled step %s", d.Step)
}

// reportedMeanwhile reads the Component from the API server: the reporter may have recorded the revision
// after the cache this reconcile read from (its own queue drops duplicates only until then).
func (r *ComponentReconciler) reportedMeanwhile(ctx context.Context, comp *castwarev1.Component, rev int) bool {
	fresh := &castwarev1.Component{}
	if r.APIReader == nil || r.APIReader.Get(ctx, client.ObjectKeyFromObject(comp), fresh) != nil {
		return false
	}
	return fresh.Status.LastReportedHelmRevision == rev
}

func (r *ComponentReconciler) rollback(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	before := comp.DeepCopy()
	current := comp.Status.CurrentVersion
	latest := helm.Summarize(st.Latest)
	target := ""
	for _, h := range st.History {
		if h.Version == d.RollbackTo {
			target = helm.Summarize(h).Version
		}
	}
	if d.FailedAttempt != nil {
		comp.Status.FailedAttempt = &castwarev1.FailedAttempt{Reason: castwarev1.ReasonUpgradeFailed, Version: d.FailedAttempt.Version, ValuesHash: d.FailedAttempt.ValuesHash,
			Generation: comp.Generation, Message: d.Message, Time: metav1.NewTime(r.now())}
		r.event(comp, corev1.EventTypeWarning, "UpgradeFailed", "Upgrade", d.Message)
		r.report(ctx, comp, Transition{Action: "UPDATE", Status: "ERROR", FromVersion: target, ToVersion: d.FailedAttempt.Version, Release: w.release, Message: d.Message})
	} else if rollbackRequested(comp) {
		// A requested rollback sticks: the revision it undoes is not re-applied until the spec changes.
		comp.Status.FailedAttempt = &castwarev1.FailedAttempt{Reason: castwarev1.ReasonRolledBack, Version: latest.Version, ValuesHash: latest.ValuesHash,
			Generation: comp.Generation, Message: fmt.Sprintf("rolled back from %s on request", latest.Version), Time: metav1.NewTime(r.now())}
	} // else: a rollback that failed or was interrupted is taken again; what it undoes is recorded already
	rollbackTaken(comp)
	r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonRollingBack, d.Message)
	// Persist the decision before Helm starts: an operator killed during the rollback must not lose which
	// attempt failed (it would be applied again) or that a requested rollback was taken up (it would be taken
	// again from the wrong revision). A copy is patched so the other status changes stay queued on comp.
	if err := r.Client.Status().Patch(ctx, comp.DeepCopy(), client.MergeFrom(before)); err != nil {
		return false, ctrl.Result{}, fmt.Errorf("record the rollback decision: %w", err)
	}
	r.event(comp, corev1.EventTypeNormal, "RollbackStarted", "Rollback", d.Message)
	r.report(ctx, comp, Transition{Action: "ROLLBACK", Status: "PROGRESSING", FromVersion: current, ToVersion: target, Release: w.release, Message: d.Message})
	if _, err := r.Engine.Rollback(ctx, comp, w.release, d.RollbackTo); err != nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonFailed, fmt.Sprintf("rollback to revision %d failed: %v", d.RollbackTo, err))
		r.event(comp, corev1.EventTypeWarning, "RollbackFailed", "Rollback", err.Error())
		r.report(ctx, comp, Transition{Action: "ROLLBACK", Status: "ERROR", FromVersion: current, Release: w.release, Message: err.Error()})
		return false, ctrl.Result{}, err
	}
	return true, ctrl.Result{}, nil
}

// apply installs, reinstalls or upgrades.
func (r *ComponentReconciler) apply(ctx context.Context, w *work, st *helm.State, d helm.Decision) (bool, ctrl.Result, error) {
	comp := w.comp
	current := comp.Status.CurrentVersion
	t := applyTiming{decided: time.Now()}
	if blocked, res, err := r.phaseBlocked(ctx, w); blocked { // a Phase 2 component waits for the extended permissions
		return false, res, err
	}
	t.phaseChecked = time.Now()
	if d.Step == helm.StepUpgrade {
		if blocked, res, err := r.upgradeBlocked(ctx, w, st); blocked { // Cast AI refuses the new version
			return false, res, err
		}
	}
	t.validated = time.Now()
	loaded, err := r.Charts.Load(ctx, charts.Ref{Repo: w.repo, Name: w.chart, Version: comp.Spec.Version})
	t.fetched = time.Now()
	if err != nil {
		msg := err.Error()
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
		if st.Latest == nil {
			r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonInstallFailed, msg)
		}
		r.event(comp, corev1.EventTypeWarning, castwarev1.ReasonChartUnavailable, "FetchChart", msg)
		return false, ctrl.Result{}, fmt.Errorf("load chart: %w", err)
	}
	req := helm.Request{Owner: comp, ReleaseName: w.release, Chart: loaded.Chart, Values: w.values,
		Description: fmt.Sprintf("castware-operator: %s %s (generation %d)", w.chart, comp.Spec.Version, comp.Generation)}
	if blocked, res := r.chartBlocked(ctx, w, loaded, req, d.Step == helm.StepUpgrade); blocked { // RBAC the operator cannot grant
		return false, res, nil
	}
	action, reason, verb := "ENABLE", castwarev1.ReasonInstalling, "Install"
	if d.Step == helm.StepUpgrade {
		action, reason, verb = "UPDATE", castwarev1.ReasonUpgrading, "Upgrade"
	}
	log.FromContext(ctx).Info("applying", append([]any{"step", d.Step, "version", comp.Spec.Version}, t.fields(w.started, time.Now())...)...)
	r.setProgressing(comp, metav1.ConditionTrue, reason, d.Message)
	if current == "" {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonInstalling, d.Message)
	}
	r.event(comp, corev1.EventTypeNormal, verb+"Started", verb, d.Message)
	r.report(ctx, comp, Transition{Action: action, Status: "PROGRESSING", FromVersion: current, ToVersion: comp.Spec.Version, Release: w.release, Message: d.Message})

	switch d.Step {
	case helm.StepInstall:
		_, err = r.Engine.Install(ctx, req)
	case helm.StepReinstall:
		_, err = r.Engine.Reinstall(ctx, req)
	default:
		_, err = r.Engine.Upgrade(ctx, req)
	}
	if err == nil {
		return true, ctrl.Result{}, nil
	}
	msg := err.Error()
	r.event(comp, corev1.EventTypeWarning, verb+"Failed", verb, msg)
	r.report(ctx, comp, Transition{Action: action, Status: "ERROR", FromVersion: current, ToVersion: comp.Spec.Version, Release: w.release, Message: msg})
	after, oerr := r.Engine.Observe(ctx, comp, w.release)
	if oerr == nil && after.Latest != nil && (st.Latest == nil || after.Latest.Version > st.Latest.Version) {
		// Helm recorded a failed revision: the state machine rolls it back (or reinstalls) next.
		r.setProgressing(comp, metav1.ConditionTrue, reason, msg)
		return true, ctrl.Result{}, nil
	}
	// Nothing changed in the cluster (chart rejected, API unreachable): retry with backoff.
	r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonFailed, msg)
	if current == "" {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonInstallFailed, msg)
	}
	return false, ctrl.Result{}, err
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

func (r *ComponentReconciler) reconcileDelete(ctx context.Context, comp *castwarev1.Component) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
		return ctrl.Result{}, nil
	}
	// The finalizer is only ever added to an enabled Component: its release is uninstalled with it, also when
	// it was disabled just before being deleted and the uninstall had not run yet.
	orphan := comp.Labels[castwarev1.LabelDeleteCandidate] == "true" || comp.Annotations[AnnotationOrphan] == "true" || comp.Spec.Readonly
	if !orphan {
		entry, err := r.entryFor(comp)
		if err == nil {
			name := entry.ReleaseFor(comp.Spec.ReleaseName)
			st, err := r.Engine.Observe(ctx, comp, name)
			if err != nil {
				return ctrl.Result{}, err
			}
			if st.Latest != nil {
				d := helm.Decide(helm.Want{Enabled: false}, helm.Observed{State: st, InFlight: r.Engine.InFlight(comp, name)},
					helm.Policy{Now: r.now(), Session: r.Engine.Session(), PendingTimeout: r.Engine.PendingTimeout(), ReadyTimeout: r.Engine.ReadyTimeout()})
				switch d.Step {
				case helm.StepWaitPending:
					return ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
				case helm.StepUnlock:
					if err := r.Engine.Unlock(ctx, comp, st.Latest); err != nil {
						return ctrl.Result{}, err
					}
				}
				if err := r.Engine.Uninstall(ctx, comp, name); err != nil {
					r.event(comp, corev1.EventTypeWarning, "UninstallFailed", "Uninstall", err.Error())
					return ctrl.Result{}, err
				}
				r.event(comp, corev1.EventTypeNormal, "Uninstalled", "Uninstall", fmt.Sprintf("release %s uninstalled (Component deleted)", name))
				r.report(ctx, comp, Transition{Action: "DISABLE", Status: "OK", FromVersion: comp.Status.CurrentVersion, Release: name, Message: "Component deleted"})
			}
		}
	}
	return ctrl.Result{}, r.patchFinalizer(ctx, comp, false)
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

func (r *ComponentReconciler) setAvailable(comp *castwarev1.Component, s metav1.ConditionStatus, reason, msg string) {
	msg = redact.String(msg)
	setCondition(&comp.Status.Conditions, comp.Generation, castwarev1.ConditionAvailable, s, reason, msg)
}

func (r *ComponentReconciler) setProgressing(comp *castwarev1.Component, s metav1.ConditionStatus, reason, msg string) {
	msg = redact.String(msg)
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

// SetupWithManager registers the controller: Components, their Clusters, the API-key Secrets and the
// workloads their releases render.
func (r *ComponentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workloadPred := predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				r.markDrift(componentKeyOf(e.ObjectNew))
			}
			return true
		},
		DeleteFunc: func(e event.DeleteEvent) bool { r.markDrift(componentKeyOf(e.Object)); return true },
	}
	toComponent := handler.EnqueueRequestsFromMapFunc(r.workloadToComponent)
	b := ctrl.NewControllerManagedBy(mgr)
	if r.PermissionWakeups != nil {
		b = b.WatchesRawSource(source.Channel(r.PermissionWakeups, &handler.EnqueueRequestForObject{}))
	}
	return b.
		Named("component").
		For(&castwarev1.Component{}, builder.WithPredicates(r.specActivity(), componentChanged())).
		Watches(&castwarev1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.clusterToComponents)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToComponents)).
		Watches(&appsv1.Deployment{}, toComponent, builder.WithPredicates(workloadPred)).
		Watches(&appsv1.DaemonSet{}, toComponent, builder.WithPredicates(workloadPred)).
		Watches(&appsv1.StatefulSet{}, toComponent, builder.WithPredicates(workloadPred)).
		Watches(&batchv1.Job{}, toComponent, builder.WithPredicates(workloadPred)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Catalog.MaxConcurrentReconciles()}).
		Complete(r)
}

// specActivity tells SpecChanged about Component spec changes; it filters nothing.
func (r *ComponentReconciler) specActivity() predicate.Predicate {
	return specActivity(func() func(types.NamespacedName) { return r.SpecChanged },
		func(o client.Object) types.NamespacedName {
			c, _ := o.(*castwarev1.Component)
			if c == nil {
				return types.NamespacedName{Namespace: o.GetNamespace()}
			}
			return types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Cluster}
		},
		func(o client.Object) int64 {
			if c, ok := o.(*castwarev1.Component); ok {
				return c.Status.ObservedGeneration
			}
			return 0
		})
}

// componentChanged passes spec changes, label and annotation changes, deletion, and a console rollback
// request; it drops the Component's own status writes.
func componentChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*castwarev1.Component)
		n, ok2 := e.ObjectNew.(*castwarev1.Component)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || !n.DeletionTimestamp.IsZero() ||
			!mapsEqual(o.Labels, n.Labels) || !mapsEqual(o.Annotations, n.Annotations) ||
			len(o.Finalizers) != len(n.Finalizers) || intentChanged(o, n)
	}}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func componentKeyOf(o client.Object) types.NamespacedName {
	if n := o.GetLabels()[helm.LabelComponent]; n != "" {
		return types.NamespacedName{Namespace: o.GetNamespace(), Name: n}
	}
	return types.NamespacedName{}
}

func (r *ComponentReconciler) workloadToComponent(ctx context.Context, o client.Object) []reconcile.Request {
	if n := o.GetLabels()[helm.LabelComponent]; n != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: n}}}
	}
	rel := o.GetAnnotations()["meta.helm.sh/release-name"]
	if rel == "" {
		return nil
	}
	return componentsWhere(ctx, r.Client, o.GetNamespace(), func(c *castwarev1.Component) bool { return c.Status.ReleaseName == rel })
}

func (r *ComponentReconciler) clusterToComponents(ctx context.Context, o client.Object) []reconcile.Request {
	return componentsWhere(ctx, r.Client, o.GetNamespace(), func(c *castwarev1.Component) bool { return c.Spec.Cluster == o.GetName() })
}

func (r *ComponentReconciler) secretToComponents(ctx context.Context, o client.Object) []reconcile.Request {
	if l := o.GetLabels(); l["owner"] == "helm" && l["name"] != "" {
		// A Helm release record: a revision made, finished or relabelled by anyone (the helm CLI included) is
		// looked at when it happens, not at the next periodic reconcile.
		return componentsWhere(ctx, r.Client, o.GetNamespace(), func(c *castwarev1.Component) bool {
			if c.Status.ReleaseName == l["name"] {
				return true
			}
			entry, err := r.entryFor(c)
			return err == nil && entry.ReleaseFor(c.Spec.ReleaseName) == l["name"]
		})
	}
	var out []reconcile.Request
	for _, cl := range clustersWhere(ctx, r.Client, o.GetNamespace(), func(cl *castwarev1.Cluster) bool { return cl.Spec.APIKeySecret == o.GetName() }) {
		out = append(out, componentsWhere(ctx, r.Client, cl.Namespace, func(c *castwarev1.Component) bool { return c.Spec.Cluster == cl.Name })...)
	}
	return out
}

// applyTiming is when apply passed each check before a Helm install or upgrade; it is logged with the
// "applying" line (the bench splits install latency with it, internal/bench/breakdown.go).
type applyTiming struct {
	decided, phaseChecked, validated, fetched time.Time
}

// fields are the log fields of the timing: seconds from the reconcile's start to the decision (cluster
// facts, release history, readiness), then of each check, up to checked (the chart's RBAC reviewed).
func (t applyTiming) fields(started, checked time.Time) []any {
	secs := func(from, to time.Time) float64 { return to.Sub(from).Seconds() }
	return []any{
		"observeSeconds", secs(started, t.decided),
		"upgradeValidationSeconds", secs(t.phaseChecked, t.validated),
		"chartFetchSeconds", secs(t.validated, t.fetched),
		"permissionCheckSeconds", secs(t.decided, t.phaseChecked) + secs(t.fetched, checked),
	}
}

// flushStatus writes the status queued on w.comp now (a no-op without a status writer).
func (w *work) flushStatus(ctx context.Context) error {
	if w.status == nil {
		return nil
	}
	return w.status.flush(ctx, w.comp, componentStatus)
}
