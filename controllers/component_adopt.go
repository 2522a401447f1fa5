package controllers

// Adoption of installations the operator did not make (Component spec.migration helm or yaml). The
// reconciler calls three functions from here, each marked "migration" in component_controller.go:
//
//   - adopt, before the release state machine: a Helm release made with the helm CLI becomes the
//     Component's release as it is (status.adoption records which revision stands for the spec, so the
//     state machine does not upgrade it until the spec changes); a YAML install is taken over by a Helm
//     install with take-ownership after a server-side dry run of every request that install sends. A
//     takeover that cannot proceed leaves the workload untouched and makes the Component readonly with a
//     Degraded=True/MigrationFailed condition saying what failed and how to retry.
//   - afterAdoption, after the state machine: once the adopted component is ready, the Secret its workload
//     read the API key from before is reported as unused (never deleted), and objects of the old install
//     that the chart replaces are removed (those it does not replace are kept and listed).
//   - reconcileReadonlyYAML: a readonly Component over a YAML install mirrors the workload's version.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/clusterspec"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/migration"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// Migration reads (and a takeover patches) what runs in the operator's namespace, lists the Phase 2 bindings,
// and may remove the agent's old kube-system RBAC when the chart replaces it.
// +kubebuilder:rbac:groups=apps,namespace=castai-agent,resources=deployments;daemonsets;statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=configmaps;pods,verbs=get;list
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=secrets,verbs=get;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,namespace=castai-agent,resources=rolebindings,verbs=list
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterrolebindings,verbs=list
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,namespace=kube-system,resources=roles;rolebindings,resourceNames=castai-agent,verbs=get;delete

// adoptionPoll is how soon a Component waiting on a release someone else is changing is looked at again.
const adoptionPoll = 10 * time.Second

// adoptedRevision is the state machine's view of status.adoption.
func adoptedRevision(comp *castwarev1.Component) *helm.Adopted {
	a := comp.Status.Adoption
	if a == nil || a.Revision == 0 || a.ValuesHash == "" {
		return nil
	}
	return &helm.Adopted{Revision: a.Revision, ValuesHash: a.ValuesHash}
}

func migrating(comp *castwarev1.Component) bool {
	return comp.Spec.Migration == castwarev1.MigrationYAML || comp.Spec.Migration == castwarev1.MigrationHelm
}

// workloads reads and patches what a takeover works on.
func (r *ComponentReconciler) workloads() migration.Workloads {
	return migration.Workloads{Client: r.Client, Reader: r.APIReader}
}

func (r *ComponentReconciler) detector() migration.Detector {
	return migration.Detector{Reader: r.APIReader, Releases: migration.EngineReleases{Engine: r.Engine}, OwnRelease: r.OwnRelease}
}

// adopt takes over an installation the operator did not make. done is true when the reconcile ends here.
func (r *ComponentReconciler) adopt(ctx context.Context, w *work) (done bool, res ctrl.Result, err error) {
	comp := w.comp
	if !migrating(comp) {
		return false, ctrl.Result{}, nil
	}
	st, err := r.Engine.Observe(ctx, comp, w.release)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	latest := st.Latest
	switch {
	case latest == nil:
		return r.takeOver(ctx, w)
	case migration.MadeByOperator(latest):
		if anyGood(st) || latest.Info == nil || latest.Info.Status == helm.StatusDeployed {
			return false, ctrl.Result{}, nil // taken over already: the state machine carries on
		}
		return r.resumeTakeover(ctx, w, st)
	case comp.Status.Adoption != nil && comp.Status.Adoption.Revision > 0:
		// Adopted before: a later revision made with the helm CLI is drift the state machine repairs.
		return false, ctrl.Result{}, nil
	default:
		return r.adoptRelease(ctx, w, st)
	}
}

// anyGood reports whether some revision of the release was good (healthy, or deployed outside the operator).
func anyGood(st *helm.State) bool {
	if st.LastGood != nil {
		return true
	}
	return st.Latest != nil && helm.Summarize(st.Latest).Healthy
}

// adoptRelease makes a release installed with the helm CLI the Component's release, unchanged.
func (r *ComponentReconciler) adoptRelease(ctx context.Context, w *work, st *helm.State) (bool, ctrl.Result, error) {
	comp := w.comp
	latest := helm.Summarize(st.Latest)
	switch {
	case latest.Status.IsPending():
		if age := r.now().Sub(latest.Deployed); age < r.Engine.PendingTimeout() {
			msg := fmt.Sprintf("waiting to adopt release %s: revision %d is %s (another client is changing it)", w.release, latest.Number, latest.Status)
			r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonMigrating, msg)
			return true, ctrl.Result{RequeueAfter: adoptionPoll}, nil
		}
		return r.failAdoption(ctx, w, fmt.Sprintf("release %s revision %d has been %s for %s", w.release, latest.Number, latest.Status, r.now().Sub(latest.Deployed).Round(time.Second)),
			fmt.Sprintf("finish or roll back that operation with helm (helm rollback %s -n %s)", w.release, comp.Namespace), false)
	case latest.Status != helm.StatusDeployed && latest.Status != helm.StatusSuperseded:
		why := fmt.Sprintf("release %s revision %d is %s", w.release, latest.Number, latest.Status)
		if latest.Description != "" {
			why += " (" + latest.Description + ")"
		}
		return r.failAdoption(ctx, w, why, fmt.Sprintf("repair it with helm first (e.g. helm rollback %s -n %s)", w.release, comp.Namespace), false)
	}
	a := &castwarev1.Adoption{Source: castwarev1.MigrationHelm, Revision: latest.Number, ValuesHash: w.hash, Time: metav1.NewTime(r.now())}
	d := r.detector()
	if wl, spec, err := d.FindWorkload(ctx, comp.Namespace, w.entry, comp.Name); err == nil && wl != nil {
		a.Workload, a.WorkloadUID = wl.Ref(), wl.UID
		a.PreviousAPIKeySecret = r.workloads().PreviousKeySecret(ctx, wl, spec, w.cluster.Spec.APIKeySecret)
	}
	if a.PreviousAPIKeySecret != "" && migration.ManifestRendersSecret(st.Latest.Manifest, a.PreviousAPIKeySecret) {
		// The old release renders the key Secret itself: keep it when a later upgrade stops rendering it.
		if err := r.workloads().KeepSecret(ctx, comp.Namespace, a.PreviousAPIKeySecret); err != nil {
			return true, ctrl.Result{}, err
		}
	}
	a.Message = fmt.Sprintf("adopted Helm release %s revision %d (%s %s) as it is: it is upgraded only when spec.version, spec.values or the Cluster change", w.release, latest.Number, latest.Chart, latest.Version)
	if a.PreviousAPIKeySecret != "" {
		a.Message += fmt.Sprintf("; its workload reads the API key from Secret %s until then, and from Secret %s afterwards", a.PreviousAPIKeySecret, w.cluster.Spec.APIKeySecret)
	}
	comp.Status.Adoption = a
	r.adopted(comp, a.Message)
	log.FromContext(ctx).Info("adopted a Helm release", "release", w.release, "revision", latest.Number, "version", latest.Version)
	return false, ctrl.Result{}, nil
}

// takeover is what a takeover of a YAML installation works with.
type takeover struct {
	wl   *migration.Workload // the workload found (nil: none)
	spec catalog.Workload    // how the catalog finds it
	what string              // the workload, or "the existing objects"
	req  helm.Request        // the take-ownership install
	// manifest is what the dry run rendered.
	manifest string
	// chartSetsKey says the chart renders API_KEY itself (it then replaces the legacy entry).
	chartSetsKey bool
	// resume unpauses a Deployment paused for the takeover (nil: none).
	resume func()
}

// takeOver installs the Component's release over a YAML installation with Helm's take-ownership, after
// checking every request that install sends with a server-side dry run.
func (r *ComponentReconciler) takeOver(ctx context.Context, w *work) (bool, ctrl.Result, error) {
	comp := w.comp
	wl, spec, err := r.detector().FindWorkload(ctx, comp.Namespace, w.entry, comp.Name)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	t := &takeover{wl: wl, spec: spec, what: "the existing objects"}
	if wl != nil {
		t.what = wl.Ref()
	}
	if done, res, err := r.checkTakeover(ctx, w, t); done {
		return done, res, err
	}
	a := &castwarev1.Adoption{Source: castwarev1.MigrationYAML, ValuesHash: w.hash, Time: metav1.NewTime(r.now())}
	if comp.Spec.Migration == castwarev1.MigrationHelm {
		a.Source = castwarev1.MigrationHelm // the release is gone: its objects are taken over like a YAML install
	}
	if err := r.prepareWorkload(ctx, w, t, a); err != nil {
		return true, ctrl.Result{}, err
	}
	rel, err := r.installTakeover(ctx, w, t)
	if err != nil {
		return r.takeoverFailed(ctx, w, t, err)
	}
	a.Revision = rel.Version
	a.Message = fmt.Sprintf("took over %s installed from YAML as release %s revision %d (%s %s)", t.what, w.release, rel.Version, w.chart, comp.Spec.Version)
	if a.PreviousAPIKeySecret != "" {
		a.Message += fmt.Sprintf("; the API key is now read from Secret %s instead of %s", w.cluster.Spec.APIKeySecret, a.PreviousAPIKeySecret)
	}
	comp.Status.Adoption = a
	r.adopted(comp, a.Message)
	log.FromContext(ctx).Info("took over an installation made from YAML", "workload", t.what, "release", w.release, "revision", rel.Version)
	return false, ctrl.Result{}, nil
}

// checkTakeover loads the chart and dry-runs the take-ownership install on the server (t.req and t.manifest
// are set). done is true when the takeover cannot proceed now: the reconcile ends with res and err.
func (r *ComponentReconciler) checkTakeover(ctx context.Context, w *work, t *takeover) (done bool, res ctrl.Result, err error) {
	comp := w.comp
	loaded, err := r.chartSource(w).Load(ctx, charts.Ref{Repo: w.repo, Name: w.chart, Version: chartVersion(&comp.Spec)})
	if errors.Is(err, charts.ErrVersionNotFound) || errors.Is(err, charts.ErrChartNotFound) {
		return r.failAdoption(ctx, w, fmt.Sprintf("the chart to take over the running installation with is not in the repository: %v", err),
			"set spec.version to a version the repository has", false)
	}
	if err != nil {
		msg := "cannot take over the running installation yet: " + err.Error()
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
		r.event(comp, corev1.EventTypeWarning, castwarev1.ReasonChartUnavailable, "FetchChart", msg)
		return true, ctrl.Result{}, fmt.Errorf("load chart: %w", err)
	}
	t.req = helm.Request{Owner: comp, ReleaseName: w.release, Chart: loaded.Chart, Values: w.values, TakeOwnership: true,
		Description: fmt.Sprintf("castware-operator: took over %s %s (generation %d)", w.chart, comp.Spec.Version, comp.Generation)}
	dry := t.req
	dry.DryRun = true
	rendered, err := r.Engine.Install(ctx, dry)
	if err != nil {
		if transient(err) {
			return true, ctrl.Result{}, err
		}
		return r.failAdoption(ctx, w, fmt.Sprintf("the dry run of taking over %s with %s %s failed: %v", t.what, w.chart, comp.Spec.Version, err),
			"correct spec.values or spec.version", false)
	}
	conflicts, err := migration.Takeover{Reader: r.APIReader, Writer: r.Client}.Check(ctx, rendered.Manifest, w.release, comp.Namespace)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	if len(conflicts) > 0 {
		return r.failAdoption(ctx, w, fmt.Sprintf("taking over %s with %s %s would fail (server-side dry run): %s", t.what, w.chart, comp.Spec.Version, migration.Conflicts(conflicts)),
			"remove or rename the conflicting objects, or correct spec.values", false)
	}
	t.manifest = rendered.Manifest
	return false, ctrl.Result{}, nil
}

// prepareWorkload records the workload on the adoption and, unless the chart renders API_KEY itself, points
// the workload's legacy API_KEY entry at the Cluster's Secret before the install (t.resume unpauses it).
func (r *ComponentReconciler) prepareWorkload(ctx context.Context, w *work, t *takeover, a *castwarev1.Adoption) error {
	if t.wl == nil {
		return nil
	}
	wls := r.workloads()
	secret := w.cluster.Spec.APIKeySecret
	a.Workload, a.WorkloadUID = t.wl.Ref(), t.wl.UID
	a.PreviousAPIKeySecret = wls.PreviousKeySecret(ctx, t.wl, t.spec, secret)
	var err error
	if t.chartSetsKey, err = migration.ManifestSetsEnv(t.manifest, migration.APIKeyEnv); err != nil {
		return err
	}
	if !t.chartSetsKey {
		if t.resume, err = wls.RewireLegacyKeyEnv(ctx, t.wl, t.spec, secret); err != nil {
			return err
		}
	}
	if t.resume == nil && t.wl.PausedByTakeover() {
		t.resume = wls.Resume(ctx, t.wl) // paused by a takeover that was interrupted before it could resume it
	}
	return nil
}

// installTakeover runs the take-ownership install; after it succeeded the rewired API_KEY entry is removed,
// and either way a Deployment paused for it is resumed.
func (r *ComponentReconciler) installTakeover(ctx context.Context, w *work, t *takeover) (*helm.Release, error) {
	comp := w.comp
	r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonMigrating, fmt.Sprintf("taking over %s as release %s (%s %s)", t.what, w.release, w.chart, comp.Spec.Version))
	rel, err := r.Engine.Install(ctx, t.req)
	if err == nil && t.wl != nil && !t.chartSetsKey {
		if derr := r.workloads().DropRewiredKeyEnv(ctx, t.wl, t.spec, w.cluster.Spec.APIKeySecret); derr != nil {
			// Harmless: the entry reads the same Secret as the chart's wiring. The next takeover check retries.
			log.FromContext(ctx).Info("could not remove the rewired API_KEY variable after the takeover", "workload", t.what, "error", redact.Error(derr))
		}
	}
	if t.resume != nil {
		t.resume()
	}
	return rel, err
}

// takeoverFailed handles a failed takeover install: a recorded failed revision is left to resumeTakeover, a
// transient error is retried, anything else makes the Component readonly.
func (r *ComponentReconciler) takeoverFailed(ctx context.Context, w *work, t *takeover, err error) (bool, ctrl.Result, error) {
	if after, oerr := r.Engine.Observe(ctx, w.comp, w.release); oerr == nil && after.Latest != nil {
		return true, ctrl.Result{RequeueAfter: time.Second}, nil // a failed revision was recorded: resumeTakeover reports it
	}
	if transient(err) {
		return true, ctrl.Result{}, err
	}
	return r.failAdoption(ctx, w, fmt.Sprintf("taking over %s failed: %v", t.what, err), "correct the cause", true)
}

// resumeTakeover handles a takeover install of this operator that did not deploy: one still running, one
// interrupted, or one that failed after its dry run passed.
func (r *ComponentReconciler) resumeTakeover(ctx context.Context, w *work, st *helm.State) (bool, ctrl.Result, error) {
	comp := w.comp
	latest := st.Latest
	s := helm.Summarize(latest)
	interrupted := false
	if s.Status.IsPending() {
		if r.Engine.InFlight(comp, w.release) {
			return true, ctrl.Result{RequeueAfter: 5 * time.Second}, nil
		}
		// Not running in this process: it was interrupted (a crash, or a cancelled reconcile).
		if err := r.Engine.Unlock(ctx, comp, latest); err != nil {
			return true, ctrl.Result{}, err
		}
		s.Description = fmt.Sprintf("interrupted while %s", s.Status)
		interrupted = true
	}
	// Forget the records of the failed takeover (the objects stay): a retry installs again.
	if err := r.Engine.Forget(ctx, comp, st.History); err != nil {
		return true, ctrl.Result{}, fmt.Errorf("forget the failed takeover: %w", err)
	}
	if interrupted {
		// An operator killed during the install says nothing about the takeover (its dry run passed): take
		// the installation over again rather than leave it to the user.
		msg := fmt.Sprintf("the takeover install of release %s was interrupted (revision %d was %s); taking the installation over again", w.release, s.Number, s.Status)
		r.event(comp, corev1.EventTypeWarning, castwarev1.ReasonReleaseRecovered, "Adopt", msg)
		r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonMigrating, msg)
		return true, ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return r.failAdoption(ctx, w, fmt.Sprintf("the takeover install of release %s failed after its dry run passed: %s", w.release, s.Description),
		"check the workload and correct the cause", true)
}

// failAdoption leaves everything running as it is, makes the Component readonly and says why and how to retry.
// touched says the failure came from a real install, which may have changed objects before it failed.
func (r *ComponentReconciler) failAdoption(ctx context.Context, w *work, why, fix string, touched bool) (bool, ctrl.Result, error) {
	comp := w.comp
	state := "The running workload was not changed"
	if touched {
		state = "The install may have updated some of the existing objects before it failed"
	}
	msg := fmt.Sprintf("%s. %s and the Component is now readonly. To retry: %s, then set spec.readonly to false.", why, state, fix)
	obj := comp.DeepCopy()
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	obj.Spec.Readonly = true
	if err := r.Client.Patch(ctx, obj, patch); err != nil {
		return true, ctrl.Result{}, fmt.Errorf("make Component readonly after a failed takeover: %w", err)
	}
	comp.Spec.Readonly, comp.ResourceVersion, comp.Generation = true, obj.ResourceVersion, obj.Generation
	setCondition(&comp.Status.Conditions, comp.Generation, castwarev1.ConditionDegraded, metav1.ConditionTrue, castwarev1.ReasonMigrationFailed, msg)
	r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonMigrationFailed, msg)
	if !conditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonMigrationFailed, msg)
	}
	r.event(comp, corev1.EventTypeWarning, castwarev1.ReasonMigrationFailed, "Adopt", msg)
	log.FromContext(ctx).Info("takeover failed; the Component is readonly", "reason", why)
	return true, ctrl.Result{}, nil
}

// adopted reports a successful adoption and clears an earlier MigrationFailed.
func (r *ComponentReconciler) adopted(comp *castwarev1.Component, msg string) {
	if c := meta.FindStatusCondition(comp.Status.Conditions, castwarev1.ConditionDegraded); c != nil && c.Reason == castwarev1.ReasonMigrationFailed {
		setCondition(&comp.Status.Conditions, comp.Generation, castwarev1.ConditionDegraded, metav1.ConditionFalse, castwarev1.ReasonAdopted, msg)
	}
	r.setProgressing(comp, metav1.ConditionTrue, castwarev1.ReasonMigrating, msg)
	r.event(comp, corev1.EventTypeNormal, castwarev1.ReasonAdopted, "Adopt", msg)
}

// afterAdoption finishes an adoption once the component is ready: the previous API-key Secret is reported
// unused as soon as no ready workload reads it, and old objects the chart replaces are removed.
func (r *ComponentReconciler) afterAdoption(ctx context.Context, w *work, res ctrl.Result, err error) (ctrl.Result, error) {
	comp := w.comp
	a := comp.Status.Adoption
	if err != nil || a == nil || a.Completed || !conditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) ||
		conditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing) {
		return res, err
	}
	st, oerr := r.Engine.Observe(ctx, comp, w.release)
	if oerr != nil || st.Latest == nil {
		return res, oerr
	}
	keyDone, ferr := r.checkPreviousKey(ctx, w, st.Latest)
	if ferr != nil {
		return res, ferr
	}
	if err := r.cleanLeftovers(ctx, w, st.Latest); err != nil {
		return res, err
	}
	a.Completed = keyDone
	return res, nil
}

// checkPreviousKey reports the previous key Secret unused once neither the release nor the live workload reads it.
func (r *ComponentReconciler) checkPreviousKey(ctx context.Context, w *work, rel *helm.Release) (bool, error) {
	a := w.comp.Status.Adoption
	if a.PreviousAPIKeySecret == "" || a.PreviousAPIKeySecretUnused {
		return true, nil
	}
	used, err := r.workloads().SecretInUse(ctx, rel.Manifest, a.PreviousAPIKeySecret, w.comp.Namespace, a.Workload)
	if err != nil || used {
		return false, err
	}
	a.PreviousAPIKeySecretUnused = true
	msg := fmt.Sprintf("Secret %s (the API key %s read before the takeover) is no longer used: %s reads its key from Secret %s. It was left in place; delete it when nothing else needs it",
		a.PreviousAPIKeySecret, w.comp.Spec.Component, w.comp.Spec.Component, w.cluster.Spec.APIKeySecret)
	a.Message = strings.TrimSuffix(a.Message, ".") + "; " + msg
	r.event(w.comp, corev1.EventTypeNormal, "APIKeySecretUnused", "Adopt", msg)
	log.FromContext(ctx).Info("previous API-key Secret no longer used", "secret", a.PreviousAPIKeySecret)
	return true, nil
}

// cleanLeftovers removes legacy objects the chart replaces and lists the others. It runs until the adoption
// is complete and reports each change once.
func (r *ComponentReconciler) cleanLeftovers(ctx context.Context, w *work, rel *helm.Release) error {
	a := w.comp.Status.Adoption
	if len(w.entry.LegacyObjects) == 0 {
		return nil
	}
	facts := clusterspec.Facts(w.cluster)
	facts.Namespace = w.comp.Namespace
	objs, err := w.entry.LegacyObjectsFor(facts)
	if err != nil {
		return err
	}
	wls := r.workloads()
	remove, keep, err := wls.Leftovers(ctx, objs, rel.Manifest, w.release, w.comp.Namespace)
	if err != nil {
		return err
	}
	removed, err := wls.Remove(ctx, remove)
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		a.Removed = append(a.Removed, removed...)
		r.event(w.comp, corev1.EventTypeNormal, "LegacyObjectsRemoved", "Adopt", "removed objects of the old installation the chart replaces: "+strings.Join(removed, ", "))
	}
	var kept []string
	for _, o := range keep {
		kept = append(kept, o.String())
	}
	if strings.Join(kept, ",") != strings.Join(a.Leftovers, ",") {
		a.Leftovers = kept
		if len(kept) > 0 {
			r.event(w.comp, corev1.EventTypeNormal, "LegacyObjectsKept", "Adopt", "kept objects of the old installation the chart does not replace: "+strings.Join(kept, ", "))
		}
	}
	return nil
}

// reconcileReadonlyYAML mirrors a YAML-installed workload's version on a readonly Component; a Component
// whose release exists (taken over before it was made readonly) mirrors the release instead.
func (r *ComponentReconciler) reconcileReadonlyYAML(ctx context.Context, w *work) (ctrl.Result, error) {
	comp := w.comp
	st, err := r.Engine.Observe(ctx, comp, w.release)
	if err != nil {
		return ctrl.Result{}, err
	}
	if st.Latest != nil {
		return r.reconcileReadonly(ctx, w)
	}
	if controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
		if err := r.patchFinalizer(ctx, comp, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	comp.Status.ObservedGeneration = comp.Generation
	wl, spec, err := r.detector().FindWorkload(ctx, comp.Namespace, w.entry, comp.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wl == nil {
		msg := "readonly: no workload of the YAML installation found"
		r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, msg)
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, msg)
		return ctrl.Result{RequeueAfter: w.entry.Period()}, nil
	}
	if err := r.mirrorYAMLWorkload(ctx, w, wl, spec); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: w.entry.Period()}, nil
}

// mirrorYAMLWorkload sets a readonly Component's version, Progressing and Available from the workload of
// its YAML installation.
func (r *ComponentReconciler) mirrorYAMLWorkload(ctx context.Context, w *work, wl *migration.Workload, spec catalog.Workload) error {
	comp := w.comp
	chart := w.entry.ChartFor(comp.Labels[castwarev1.LabelHelmChart])
	current, note := r.yamlChartVersion(ctx, w, wl, spec, chart)
	comp.Status.CurrentVersion = current
	comp.Status.Revision, comp.Status.Chart = 0, ""
	msg := fmt.Sprintf("readonly: the operator only mirrors the version of %s, installed from YAML; set spec.readonly to false to take it over", wl.Ref())
	if note != "" {
		msg = fmt.Sprintf("readonly: the chart version %s was installed from is unknown (%s); set spec.version to the chart version it runs, then spec.readonly to false, to take it over", wl.Ref(), note)
	}
	r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, msg)
	ready, err := r.workloads().Ready(ctx, wl)
	if err != nil {
		return err
	}
	version := comp.Status.CurrentVersion
	if version == "" {
		version = "unknown version"
	}
	if ready.Ready {
		r.setAvailable(comp, metav1.ConditionTrue, castwarev1.ReasonReadonly, fmt.Sprintf("readonly: %s (%s) is ready: %s", wl.Ref(), version, ready.Detail))
	} else {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonReadonly, fmt.Sprintf("readonly: %s (%s) is not ready: %s", wl.Ref(), version, ready.Detail))
	}
	return nil
}

// yamlChartVersion returns the chart version a YAML-installed workload runs (its chart label, or the chart
// whose appVersion is its image tag) or, when unknown, what was looked for.
func (r *ComponentReconciler) yamlChartVersion(ctx context.Context, w *work, wl *migration.Workload, spec catalog.Workload, chart string) (version, note string) {
	ex := migration.Extract(wl, spec, chart, w.entry.Chart)
	res, _ := r.Charts.(charts.AppVersionResolver)
	version, note, err := migration.ResolveChartVersion(ctx, res, w.repo, chart, ex)
	if err != nil {
		log.FromContext(ctx).V(1).Info("cannot resolve the chart version of a YAML install", "error", err.Error())
		return "", err.Error()
	}
	return version, note
}

// transient reports whether an error is worth retrying with backoff rather than failing a takeover.
func transient(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || utilnet.IsConnectionRefused(err) ||
		utilnet.IsConnectionReset(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
