package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

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
	Engine Engine
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
	hookFails  hookFailures // pre-delete hook failures per release (uninstall_hooks.go)
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
	// keyring is the OpenPGP keyring charts must verify against (the Cluster's spec.helmVerify); nil: none.
	keyring []byte
	values  map[string]any
	hash    string
	// started is when the reconcile began (for the timing logged before a Helm install or upgrade).
	started time.Time
	// current is the version that ran when the step being taken began.
	current string
	// status writes comp's status (Reconcile writes it at the end; a step may write it earlier).
	status *statusWriter
}

// reconcile routes a Component: deleted, not in the catalog, readonly, waiting for its Terraform
// migration, disabled, or to be applied.
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
	w := &work{comp: comp, entry: entry, release: releaseName(comp, entry), chart: chartOf(comp, entry), started: time.Now(), status: sw}
	if !comp.Spec.Readonly {
		if msg, err := r.releaseProblem(ctx, w); err != nil || msg != "" {
			return r.refuseRelease(ctx, w, msg, err)
		}
	}
	comp.Status.ReleaseName = w.release
	switch {
	case comp.Spec.Readonly && comp.Spec.Migration == castwarev1.MigrationYAML:
		return r.reconcileReadonlyYAML(ctx, w) // migration: mirror a YAML install (component_adopt.go)
	case comp.Spec.Readonly:
		return r.reconcileReadonly(ctx, w)
	case comp.Spec.Migration == castwarev1.MigrationTerraform:
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
	return r.reconcileEnabled(ctx, w)
}

// refuseRelease holds every change back while the release name is not the Component's (rechecked
// every minute: the Component holding it may go away).
func (r *ComponentReconciler) refuseRelease(ctx context.Context, w *work, msg string, err error) (ctrl.Result, error) {
	if err != nil {
		return ctrl.Result{}, err
	}
	w.current = w.comp.Status.CurrentVersion
	hb := notOwned(msg)
	hb.requeue = time.Minute
	_, res, err := r.heldBack(ctx, w, nil, hb)
	return res, err
}

// reconcileEnabled prepares what an enabled Component is applied with (its Cluster, the cluster facts,
// its version and values), takes over an installation it migrates, then runs the state machine.
func (r *ComponentReconciler) reconcileEnabled(ctx context.Context, w *work) (ctrl.Result, error) {
	facts, res, err := r.prepare(ctx, w)
	if facts == nil {
		return res, err
	}
	if w.comp.Spec.Version == "" {
		return r.resolveLatest(ctx, w)
	}
	if !r.composeValues(w, *facts) {
		return ctrl.Result{}, nil
	}
	// migration: take over an installation the operator did not make, then finish it once ready (component_adopt.go).
	if done, res, err := r.adopt(ctx, w); done {
		return res, err
	}
	res, err = r.runStateMachine(ctx, w)
	return r.afterAdoption(ctx, w, res, err)
}

// prepare finds the Component's Available Cluster, the repository and chart, and the cluster facts the
// entry needs; nil facts: the Component waits (the conditions say for what).
func (r *ComponentReconciler) prepare(ctx context.Context, w *work) (*catalog.ClusterFacts, ctrl.Result, error) {
	comp, entry := w.comp, w.entry
	cluster, waitMsg, err := r.clusterFor(ctx, comp)
	if err != nil {
		return nil, ctrl.Result{}, err
	}
	if cluster == nil {
		r.waitForCluster(comp, waitMsg)
		return nil, ctrl.Result{}, nil
	}
	w.cluster = cluster
	w.repo = cmp.Or(entry.Repository, cmp.Or(cluster.Spec.HelmRepoURL, castwarev1.DefaultHelmRepoURL))
	if msg, err := r.readKeyring(ctx, w); msg != "" || err != nil {
		return r.waitForKeyring(comp, msg, err)
	}
	facts, err := r.facts(ctx, cluster, comp, entry)
	if err != nil {
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, err.Error())
		return nil, ctrl.Result{}, err
	}
	if missing := entry.MissingFacts(facts); len(missing) > 0 {
		r.waitForCluster(comp, fmt.Sprintf("waiting for cluster %s to provide %s", cluster.Name, strings.Join(missing, ", ")))
		return nil, ctrl.Result{}, nil
	}
	return &facts, ctrl.Result{}, nil
}

// waitForCluster records that the Component waits for its Cluster (Available too while nothing runs).
func (r *ComponentReconciler) waitForCluster(comp *castwarev1.Component, msg string) {
	r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, msg)
	if comp.Status.CurrentVersion == "" {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonWaitingForCluster, msg)
	}
}

// composeValues merges the entry's values, the cluster facts and spec.values into w; false: they are
// invalid (Progressing says why).
func (r *ComponentReconciler) composeValues(w *work, facts catalog.ClusterFacts) bool {
	user, err := userValues(w.comp)
	if err == nil {
		w.values, err = w.entry.Compose(facts, user, r.Env)
	}
	if err != nil {
		r.setProgressing(w.comp, metav1.ConditionFalse, castwarev1.ReasonInvalidValues, err.Error())
		return false
	}
	w.hash = values.Hash(w.values)
	return true
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
	return r.Catalog.Uncatalogued(comp.Spec.Component, chart)
}

// chartOf is the chart a Component installs: its chart label, else its catalog entry's.
func chartOf(comp *castwarev1.Component, entry *catalog.Entry) string {
	return entry.ChartFor(comp.Labels[castwarev1.LabelHelmChart])
}

// releaseName is the release a Component uses: spec.releaseName, else its catalog entry's.
func releaseName(comp *castwarev1.Component, entry *catalog.Entry) string {
	return entry.ReleaseFor(comp.Spec.ReleaseName)
}

func userValues(comp *castwarev1.Component) (map[string]any, error) {
	if comp.Spec.Values == nil {
		return map[string]any{}, nil
	}
	v, err := values.Parse(comp.Spec.Values.Raw)
	if err == nil {
		err = values.RejectKeys(v) // also when the webhook is off, or the values predate it
	}
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

// runStateMachine observes the release and takes state-machine steps until it has to wait.
func (r *ComponentReconciler) runStateMachine(ctx context.Context, w *work) (ctrl.Result, error) {
	for step := 0; step < maxStepsPerReconcile; step++ {
		st, d, err := r.decide(ctx, w)
		if err != nil {
			return ctrl.Result{}, err
		}
		again, res, err := r.execute(ctx, w, st, d)
		if err != nil || !again {
			return res, err
		}
	}
	return ctrl.Result{RequeueAfter: time.Second}, nil
}

// decide observes the release and its readiness, mirrors them into the status and asks helm.Decide for
// the next step.
func (r *ComponentReconciler) decide(ctx context.Context, w *work) (*helm.State, helm.Decision, error) {
	comp := w.comp
	st, err := r.Engine.Observe(ctx, comp, w.release)
	if err != nil {
		return nil, helm.Decision{}, err
	}
	ready := helm.Readiness{Ready: true}
	if helm.IsDeployed(st.Latest) {
		if ready, err = r.Engine.Readiness(ctx, st.Latest); err != nil {
			return nil, helm.Decision{}, fmt.Errorf("read readiness: %w", err)
		}
	}
	r.mirrorRelease(comp, st)
	applyIntents(comp)
	if fa := comp.Status.FailedAttempt; fa != nil && comp.Spec.Enabled && (fa.Version != comp.Spec.Version || fa.ValuesHash != w.hash) {
		comp.Status.FailedAttempt = nil // the spec moved on
	}
	want := helm.Want{Enabled: comp.Spec.Enabled, Chart: w.chart, Version: comp.Spec.Version, ValuesHash: w.hash, RollbackRequested: rollbackRequested(comp),
		Adopted:            adoptedRevision(comp), // migration: an adopted revision stands for the spec it was adopted for
		ChartChangeAllowed: migrating(comp)}       // only an explicit migration takes over a release of another chart
	if fa := comp.Status.FailedAttempt; fa != nil {
		want.Failed = &helm.Attempt{Version: fa.Version, ValuesHash: fa.ValuesHash}
	}
	d := helm.Decide(want, helm.Observed{State: st, Ready: ready, InFlight: r.Engine.InFlight(comp, w.release)}, r.policy())
	log.FromContext(ctx).V(1).Info("decided", "step", d.Step, "message", d.Message, "failed", want.Failed, "hash", w.hash)
	metrics.ComponentDecision(string(d.Step))
	return st, d, nil
}

// policy is the engine's timing for helm.Decide, now.
func (r *ComponentReconciler) policy() helm.Policy {
	return helm.Policy{Now: r.now(), Session: r.Engine.Session(), PendingTimeout: r.Engine.PendingTimeout(), ReadyTimeout: r.Engine.ReadyTimeout()}
}

// asRead is the Component as the reconcile read it (fallback when no status writer holds it), so a patch
// against it carries every status change made since.
func (w *work) asRead(fallback *castwarev1.Component) *castwarev1.Component {
	if w.status == nil {
		return fallback
	}
	return w.status.original.(*castwarev1.Component)
}

// flushStatus writes the status queued on w.comp now (a no-op without a status writer).
func (w *work) flushStatus(ctx context.Context) error {
	if w.status == nil {
		return nil
	}
	return w.status.flush(ctx, w.comp, componentStatus)
}
