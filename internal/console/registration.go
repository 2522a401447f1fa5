package console

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/metadata"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/version"
)

// Condition reasons the registration sets on a Cluster.
const (
	// ReasonUnauthorized means Cast AI rejected the API key.
	ReasonUnauthorized = "APIKeyRejected"
	// ReasonAPIUnavailable means the Cast AI API could not be reached.
	ReasonAPIUnavailable = "APIUnavailable"
	// ReasonMetadataUnavailable means the cluster's provider metadata could not be discovered.
	ReasonMetadataUnavailable = "MetadataUnavailable"
	// ReasonRegistrationFailed means Cast AI refused to register the cluster.
	ReasonRegistrationFailed = "ClusterRegistrationFailed"
)

// OperatorComponent is the component name the operator reports itself as.
const OperatorComponent = "castware-operator"

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`)

// Registrar is the Cluster hook that connects a Cluster to Cast AI: it validates the API key, registers
// the cluster once (keeping an existing cluster ID), reports the operator, and keeps the console-action
// poller running.
type Registrar struct {
	// Client reads and patches Kubernetes objects.
	Client client.Client
	// Conns hands out API clients.
	Conns *Connections
	// Engine reads the operator's own Helm release (optional).
	Engine *helm.Engine
	// Poller polls console actions (optional).
	Poller *Poller
	// Env looks up provider metadata variables (default os.Getenv).
	Env func(string) string
	// Metadata options (metadata service URLs and timeouts; tests point them at loopback fakes).
	Metadata []metadata.Option
	// OperatorNamespace and OperatorRelease locate the operator's own Helm release.
	OperatorNamespace, OperatorRelease string
	// ReleaseMeta lists Secrets' metadata from an informer (optional): the operator's own release is read
	// again only when the Secrets holding its revisions change.
	ReleaseMeta client.Reader
	// ExtendedPermissions reports whether the operator holds Phase 2 permissions (optional).
	ExtendedPermissions func(ctx context.Context, namespace string) bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logs ships the operator's logs to the registered cluster (optional).
	Logs *LogSink

	mu       sync.Mutex
	rejected map[types.NamespacedName]string // cluster → key Cast AI rejected (no retries until it changes)
	failures map[types.NamespacedName]int    // consecutive transient failures, for backoff
	recheck  map[types.NamespacedName]bool   // validate the key on the next reconcile
	valid    map[types.NamespacedName]string // the key last accepted by Cast AI
	own      ownRevision                     // the operator's own newest revision, as last read
}

var _ controllers.ClusterHook = (*Registrar)(nil)

// Name implements controllers.ClusterHook.
func (r *Registrar) Name() string { return "cast-ai-registration" }

// Reconcile implements controllers.ClusterHook.
func (r *Registrar) Reconcile(ctx context.Context, cl *castwarev1.Cluster, apiKey string) (ctrl.Result, error) {
	key := types.NamespacedName{Namespace: cl.Namespace, Name: cl.Name}
	api, _, err := r.Conns.SetKey(cl, apiKey)
	if err != nil {
		return ctrl.Result{}, &controllers.UnavailableError{Reason: castwarev1.ReasonInvalidSpec, Message: err.Error()}
	}
	if r.isRejected(key, apiKey) {
		return ctrl.Result{}, r.rejectedError(cl)
	}
	if !r.isValidated(key, apiKey) || cl.Status.LastRegistrationVersion == "" || r.takeRecheck(key) {
		if _, err := api.Me(ctx); err != nil {
			return r.apiFailure(ctx, cl, apiKey, "validate the API key", err)
		}
		r.markValidated(key, apiKey)
	}
	if cl.ClusterID() == "" || cl.Status.LastRegistrationVersion == "" {
		if err := r.register(ctx, cl, api); err != nil {
			var unavailable *controllers.UnavailableError
			if errors.As(err, &unavailable) {
				return ctrl.Result{}, err
			}
			return r.apiFailure(ctx, cl, apiKey, "register the cluster", err)
		}
	}
	if err := r.reportOperator(ctx, cl, api); err != nil {
		return r.apiFailure(ctx, cl, apiKey, "report the operator", err)
	}
	r.succeeded(key)
	if r.Poller != nil {
		r.Poller.Ensure(key, cl.ClusterID())
	}
	if r.Logs != nil {
		r.Logs.Attach(api, cl.ClusterID(), cl.Spec.Provider)
	}
	return ctrl.Result{}, nil
}

func (r *Registrar) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registrar) isRejected(key types.NamespacedName, apiKey string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected != nil && r.rejected[key] == apiKey
}

func (r *Registrar) rejectedError(cl *castwarev1.Cluster) error {
	return &controllers.UnavailableError{Reason: ReasonUnauthorized, RequeueAfter: 30 * time.Minute,
		Message: fmt.Sprintf("Cast AI rejected the API key in Secret %s (401 Unauthorized); put a valid Full Access key into its %s entry — the operator retries as soon as the Secret changes",
			cl.Spec.APIKeySecret, castwarev1.APIKeySecretKey)}
}

// apiFailure turns an API error into the Cluster's condition: a rejected key waits for the Secret to
// change; anything else is retried with a growing delay (never a storm). A cluster registered earlier
// stays Available (its components keep being managed) and is marked Degraded instead.
func (r *Registrar) apiFailure(ctx context.Context, cl *castwarev1.Cluster, apiKey, what string, err error) (ctrl.Result, error) {
	key := types.NamespacedName{Namespace: cl.Namespace, Name: cl.Name}
	if castai.IsUnauthorized(err) || castai.IsForbidden(err) {
		r.mu.Lock()
		if r.rejected == nil {
			r.rejected = map[types.NamespacedName]string{}
		}
		r.rejected[key] = apiKey
		delete(r.valid, key)
		r.mu.Unlock()
		log.FromContext(ctx).Info("Cast AI rejected the API key", "secret", cl.Spec.APIKeySecret)
		return ctrl.Result{}, r.rejectedError(cl)
	}
	r.mu.Lock()
	if r.failures == nil {
		r.failures = map[types.NamespacedName]int{}
	}
	r.failures[key]++
	n := r.failures[key]
	r.mu.Unlock()
	delay := backoff(n, 15*time.Second, 10*time.Minute)
	msg := fmt.Sprintf("could not %s with Cast AI at %s: %v (attempt %d, next in %s)", what, cl.Spec.API.APIURL, err, n, delay)
	log.FromContext(ctx).Info(msg)
	if cl.Status.LastRegistrationVersion != "" && cl.ClusterID() != "" {
		setDegraded(cl, ReasonAPIUnavailable, msg)
		if r.Poller != nil {
			r.Poller.Ensure(key, cl.ClusterID())
		}
		return ctrl.Result{RequeueAfter: delay}, nil
	}
	return ctrl.Result{}, &controllers.UnavailableError{Reason: ReasonAPIUnavailable, Message: msg, RequeueAfter: delay}
}

func (r *Registrar) isValidated(key types.NamespacedName, apiKey string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.valid[key] == apiKey
}

func (r *Registrar) markValidated(key types.NamespacedName, apiKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.valid == nil {
		r.valid = map[types.NamespacedName]string{}
	}
	r.valid[key] = apiKey
}

// Recheck makes the next reconcile of the Cluster validate its API key again (the poller saw a 401).
func (r *Registrar) Recheck(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recheck == nil {
		r.recheck = map[types.NamespacedName]bool{}
	}
	r.recheck[key] = true
}

func (r *Registrar) takeRecheck(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.recheck[key]
	delete(r.recheck, key)
	return v
}

func (r *Registrar) succeeded(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, key)
	delete(r.rejected, key)
}

func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

func setDegraded(cl *castwarev1.Cluster, reason, msg string) {
	cond := metav1.Condition{Type: castwarev1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: cl.Generation}
	setCond(&cl.Status.Conditions, cond)
}

func clearDegraded(cl *castwarev1.Cluster) {
	for _, c := range cl.Status.Conditions {
		if c.Type == castwarev1.ConditionDegraded && c.Status == metav1.ConditionTrue {
			setCond(&cl.Status.Conditions, metav1.Condition{Type: castwarev1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: "Recovered",
				Message: "the Cast AI API is reachable again", ObservedGeneration: cl.Generation})
		}
	}
}

// register registers the cluster with Cast AI, keeping an existing cluster ID, and writes the ID to
// spec.cluster.clusterID.
func (r *Registrar) register(ctx context.Context, cl *castwarev1.Cluster, api *castai.Client) error {
	logger := log.FromContext(ctx)
	id := cl.ClusterID() // an existing identity (a running agent's) was recovered into spec by the migration hook
	md, err := metadata.Discover(ctx, cl.Spec.Provider, r.Env, r.Metadata...)
	if err != nil {
		var missing *metadata.MissingMetadataError
		if errors.As(err, &missing) {
			return &controllers.UnavailableError{Reason: ReasonMetadataUnavailable, Message: err.Error(), RequeueAfter: 5 * time.Minute}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &controllers.UnavailableError{Reason: ReasonMetadataUnavailable, Message: err.Error(), RequeueAfter: 5 * time.Minute}
	}
	resp, err := api.RegisterCluster(ctx, md.RegisterRequest(id))
	if err != nil {
		var apiErr *castai.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && apiErr.StatusCode != 401 && apiErr.StatusCode != 403 && apiErr.StatusCode != 429 {
			return &controllers.UnavailableError{Reason: ReasonRegistrationFailed, Message: "Cast AI refused to register the cluster: " + err.Error(), RequeueAfter: 10 * time.Minute}
		}
		return err
	}
	if id == "" {
		id = resp.ID
	}
	if !uuidPattern.MatchString(id) {
		return &controllers.UnavailableError{Reason: ReasonRegistrationFailed, Message: fmt.Sprintf("Cast AI returned cluster ID %q, which is not a UUID", id), RequeueAfter: 10 * time.Minute}
	}
	if cl.ClusterID() != id {
		patch := client.MergeFrom(cl.DeepCopy())
		if cl.Spec.Cluster == nil {
			cl.Spec.Cluster = &castwarev1.ClusterMetadataSpec{}
		}
		cl.Spec.Cluster.ClusterID = id
		status := cl.Status.DeepCopy()
		if err := r.Client.Patch(ctx, cl, patch); err != nil {
			return fmt.Errorf("write spec.cluster.clusterID: %w", err)
		}
		cl.Status = *status // keep the status changes queued for this reconcile
	}
	cl.Status.LastRegistrationVersion = version.Plain()
	logger.Info("cluster registered with Cast AI", "clusterID", id, "name", md.ClusterName)
	return nil
}

// reportOperator reports the operator as installed once, then every change of its version or of its
// own Helm release's revision (a parameter-only `helm upgrade` included).
func (r *Registrar) reportOperator(ctx context.Context, cl *castwarev1.Cluster, api *castai.Client) error {
	revision, chartVersion := 0, version.Plain()
	latest := r.operatorRevision(ctx, cl)
	if latest != nil {
		revision, chartVersion = latest.Number, latest.Version
	}
	switch selfUpgradeCovers(cl.Status.OperatorUpgrade, latest) {
	case selfUpgradeRunning:
		return nil // the self-upgrade reports its own steps and result
	case selfUpgradeReported:
		if cl.Status.OperatorReportedVersion != "" {
			cl.Status.LastReportedHelmRevision = revision
			clearDegraded(cl)
			return nil
		}
	}
	reported := cl.Status.OperatorReportedVersion
	if reported != "" && (revision == 0 || revision == cl.Status.LastReportedHelmRevision) && reported == version.Plain() {
		clearDegraded(cl)
		return nil
	}
	action, msg := castai.ActionEnable, "Operator installed"
	if reported != "" {
		action, msg = castai.ActionUpdate, "Operator helm revision change detected"
	}
	params := map[string]string{"extendedPermissions": strconv.FormatBool(r.ExtendedPermissions != nil && r.ExtendedPermissions(ctx, cl.Namespace))}
	err := api.RecordActionResult(ctx, cl.ClusterID(), castai.ActionResult{
		Name: OperatorComponent, Action: action, Status: castai.StatusOK, CurrentVersion: chartVersion, Version: chartVersion,
		ReleaseName: r.OperatorRelease, Message: msg, ComponentParams: params,
		ImageVersions: map[string]string{"castware-operator": version.Version},
	})
	if err != nil {
		return err
	}
	cl.Status.OperatorReportedVersion = version.Plain()
	cl.Status.LastReportedHelmRevision = revision
	clearDegraded(cl)
	return nil
}

func (r *Registrar) operatorNamespace(cl *castwarev1.Cluster) string {
	if r.OperatorNamespace != "" {
		return r.OperatorNamespace
	}
	return cl.Namespace
}
