package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/clusterspec"
)

// Cluster phases shown in status.phase.
const (
	// PhasePending: the Cluster's configuration is not valid yet.
	PhasePending = "Pending"
	// PhaseConnecting: the Cluster is valid; enabled Phase 1 components are not all Available yet.
	PhaseConnecting = "Connecting"
	// PhaseConnected: every enabled Phase 1 component is Available.
	PhaseConnected = "Connected"
)

// ClusterHook extends the Cluster reconcile (registration with Cast AI, action polling, migration).
// Hooks run in order after validation succeeds. An *UnavailableError stops the chain and makes the Cluster
// Available=False with its reason and message; any other error stops the chain and is retried with backoff.
type ClusterHook interface {
	// Name identifies the hook in logs.
	Name() string
	// Reconcile works on a valid Cluster; it may change its status, which is written once afterwards.
	Reconcile(ctx context.Context, cluster *castwarev1.Cluster, apiKey string) (ctrl.Result, error)
}

// ClusterReconciler validates Clusters and summarises their components.
type ClusterReconciler struct {
	// Client is the manager's (cached) client.
	Client client.Client
	// APIReader reads the API-key Secret (Secrets are not in the manager's cache).
	APIReader client.Reader
	// Catalog says which components are Phase 1.
	Catalog *catalog.Catalog
	// Hooks run after validation (optional).
	Hooks []ClusterHook
	// WatchedSecrets names further Secrets whose changes re-run every Cluster in their namespace (e.g. the
	// copies dependents expect, so a deleted or edited copy is restored). Optional.
	WatchedSecrets []string
	// Wakeups asks for a reconcile of a Cluster from outside the informers (e.g. the action poller saw its
	// API key rejected). Optional.
	Wakeups <-chan event.GenericEvent
	// SpecChanged is told, without blocking, about a Cluster whose spec changed (optional; the console
	// poller polls faster for a while).
	SpecChanged func(cluster types.NamespacedName)
}

// +kubebuilder:rbac:groups=castware.cast.ai,resources=clusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=castware.cast.ai,resources=clusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=castware.cast.ai,resources=clusters/finalizers,verbs=update
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=secrets,verbs=get;list;watch

// Reconcile validates one Cluster and updates its status.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cl := &castwarev1.Cluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, cl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cl.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	sw := newStatusWriter(r.Client, cl)
	res, err := r.reconcile(ctx, cl)
	if ferr := sw.flush(ctx, cl, func(o client.Object) any { return o.(*castwarev1.Cluster).Status }); ferr != nil && !apierrors.IsNotFound(ferr) {
		return ctrl.Result{}, errors.Join(err, ferr)
	}
	return res, err
}

func (r *ClusterReconciler) reconcile(ctx context.Context, cl *castwarev1.Cluster) (ctrl.Result, error) {
	cl.Status.ObservedGeneration = cl.Generation
	err := clusterspec.Validate(&cl.Spec)
	if err == nil {
		err = clusterspec.RegisteredAPIURL(cl)
	}
	if err == nil {
		err = checkTransport(cl)
	}
	if err != nil {
		r.unavailable(cl, castwarev1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	}
	key, version, err := clusterspec.ReadAPIKey(ctx, r.APIReader, cl)
	if err != nil {
		var missing *clusterspec.MissingKeyError
		if errors.As(err, &missing) {
			r.unavailable(cl, castwarev1.ReasonSecretMissing, err.Error())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	cl.Status.LastSecretVersion = version
	var result ctrl.Result
	for _, h := range r.Hooks {
		res, err := h.Reconcile(ctx, cl, key)
		var unavailable *UnavailableError
		if errors.As(err, &unavailable) {
			r.unavailable(cl, unavailable.Reason, unavailable.Message)
			return ctrl.Result{RequeueAfter: unavailable.RequeueAfter}, nil
		}
		if err != nil {
			return ctrl.Result{}, errors.Join(fmt.Errorf("%s: %w", h.Name(), err), r.summarise(ctx, cl))
		}
		result = earliest(result, res)
	}
	setCondition(&cl.Status.Conditions, cl.Generation, castwarev1.ConditionAvailable, metav1.ConditionTrue, castwarev1.ReasonClusterReady,
		availableMessage(cl))
	if err := r.summarise(ctx, cl); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// availableMessage describes an Available Cluster.
func availableMessage(cl *castwarev1.Cluster) string {
	if id := cl.ClusterID(); id != "" {
		return fmt.Sprintf("configuration valid; cluster ID %s; API key read from Secret %s", id, cl.Spec.APIKeySecret)
	}
	return fmt.Sprintf("configuration valid; API key read from Secret %s", cl.Spec.APIKeySecret)
}

// earliest combines two results, keeping the sooner requeue.
func earliest(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0:
		return a
	case b.RequeueAfter < a.RequeueAfter:
		return b
	}
	return a
}

func (r *ClusterReconciler) unavailable(cl *castwarev1.Cluster, reason, msg string) {
	setCondition(&cl.Status.Conditions, cl.Generation, castwarev1.ConditionAvailable, metav1.ConditionFalse, reason, msg)
	cl.Status.Phase = PhasePending
}

// summarise sets status.phase from the Cluster's Phase 1 components.
func (r *ClusterReconciler) summarise(ctx context.Context, cl *castwarev1.Cluster) error {
	if !conditionTrue(cl.Status.Conditions, castwarev1.ConditionAvailable) {
		cl.Status.Phase = PhasePending
		return nil
	}
	list := &castwarev1.ComponentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(cl.Namespace)); err != nil {
		return fmt.Errorf("list components: %w", err)
	}
	var waiting []string
	for _, c := range list.Items {
		if c.Spec.Cluster != cl.Name || !c.Spec.Enabled || !c.DeletionTimestamp.IsZero() {
			continue
		}
		if e, ok := r.Catalog.Lookup(c.Spec.Component, c.Labels); ok && e.Phase != 1 {
			continue
		}
		if !conditionTrue(c.Status.Conditions, castwarev1.ConditionAvailable) {
			waiting = append(waiting, c.Name)
		}
	}
	sort.Strings(waiting)
	if len(waiting) > 0 {
		cl.Status.Phase = PhaseConnecting
		setCondition(&cl.Status.Conditions, cl.Generation, castwarev1.ConditionProgressing, metav1.ConditionTrue, PhaseConnecting,
			"waiting for components to become Available: "+strings.Join(waiting, ", "))
		return nil
	}
	cl.Status.Phase = PhaseConnected
	setCondition(&cl.Status.Conditions, cl.Generation, castwarev1.ConditionProgressing, metav1.ConditionFalse, PhaseConnected, "every enabled Phase 1 component is Available")
	return nil
}

// UnavailableError is returned by a ClusterHook when the Cluster cannot be used yet (e.g. its API key was
// rejected): the Cluster becomes Available=False with Reason and Message, and is looked at again after
// RequeueAfter (or when it or its Secret changes).
type UnavailableError struct {
	// Reason is the condition reason (CamelCase).
	Reason string
	// Message says what is wrong and what to do.
	Message string
	// RequeueAfter is when to check again (0: only on changes).
	RequeueAfter time.Duration
}

// Error implements error.
func (e *UnavailableError) Error() string { return e.Message }

// SetupWithManager registers the controller: Clusters, their API-key Secrets (metadata only) and their Components.
func (r *ClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Wakeups != nil {
		b = b.WatchesRawSource(source.Channel(r.Wakeups, &handler.EnqueueRequestForObject{}))
	}
	return b.
		Named("cluster").
		For(&castwarev1.Cluster{}, builder.WithPredicates(specActivity(func() func(types.NamespacedName) { return r.SpecChanged },
			func(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) },
			func(o client.Object) int64 {
				if c, ok := o.(*castwarev1.Cluster); ok {
					return c.Status.ObservedGeneration
				}
				return 0
			}), predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToClusters)).
		Watches(&castwarev1.Component{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			c, ok := o.(*castwarev1.Component)
			if !ok {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Cluster}}}
		}), builder.WithPredicates(availabilityChanged())).
		Complete(r)
}

// availabilityChanged passes Component events that can change the Cluster's phase.
func availabilityChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*castwarev1.Component)
		n, ok2 := e.ObjectNew.(*castwarev1.Component)
		if !ok1 || !ok2 {
			return true
		}
		return conditionTrue(o.Status.Conditions, castwarev1.ConditionAvailable) != conditionTrue(n.Status.Conditions, castwarev1.ConditionAvailable) ||
			o.Spec.Enabled != n.Spec.Enabled
	}}
}

func (r *ClusterReconciler) secretToClusters(ctx context.Context, o client.Object) []reconcile.Request {
	watched := slices.Contains(r.WatchedSecrets, o.GetName())
	return clustersWhere(ctx, r.Client, o.GetNamespace(), func(cl *castwarev1.Cluster) bool { return watched || cl.Spec.APIKeySecret == o.GetName() })
}

// checkTransport refuses plain http to a host that is not loopback unless the Cluster opted in, and keeps
// the InsecureTransport condition True while it did.
func checkTransport(cl *castwarev1.Cluster) error {
	if err := clusterspec.Transport(cl); err != nil {
		return err
	}
	if msg := clusterspec.InsecureMessage(cl); msg != "" {
		setCondition(&cl.Status.Conditions, cl.Generation, castwarev1.ConditionInsecureTransport, metav1.ConditionTrue, "PlainHTTPAllowed", msg)
		return nil
	}
	meta.RemoveStatusCondition(&cl.Status.Conditions, castwarev1.ConditionInsecureTransport)
	return nil
}
