// Package removal makes removing the operator end clean even when Helm's hooks do not run
// (`helm uninstall --no-hooks`, then the documented manual steps).
//
// The operator's finalizer on Components (it uninstalls a release when its Component is deleted) would
// otherwise outlive the operator: `kubectl delete components --all` would wait forever. So when the
// operator stops it checks whether it is being removed — its own Deployment or its namespace is gone or
// being deleted, which a restart, a rollout or a self-upgrade never does — and if so it releases every
// Component (label castware.cast.ai/delete-candidate=true, finalizer removed; their components keep
// running). Helm deletes the operator's roles together with its Deployment, before the pod is even told
// to stop, so the chart gives the operator a small Role for exactly this, and keeps it and the
// ServiceAccount through the uninstall (helm.sh/resource-policy=keep); the operator deletes them as its
// last act.
package removal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/lifecycle/cleanup"
)

// Environment variables the operator chart sets on the operator.
const (
	// EnvDeployment names the operator's Deployment.
	EnvDeployment = "OPERATOR_DEPLOYMENT"
	// EnvGuard names the Role and RoleBinding the chart keeps for the removal.
	EnvGuard = "UNINSTALL_GUARD"
	// EnvServiceAccount names the operator's ServiceAccount when the chart created (and keeps) it.
	EnvServiceAccount = "OPERATOR_SERVICE_ACCOUNT"
)

// ShutdownTimeout bounds the work done when the operator stops.
const ShutdownTimeout = 20 * time.Second

// Guard releases the Components when the operator is being removed.
type Guard struct {
	// Namespace is the operator's namespace.
	Namespace string
	// Deployment is the operator's Deployment; its absence means the operator is being removed.
	Deployment string
	// GuardName names the kept Role and RoleBinding ("" when the chart keeps none).
	GuardName string
	// ServiceAccount names the kept ServiceAccount ("" when the chart did not create it).
	ServiceAccount string
}

// FromEnv returns the Guard the chart configured for namespace, or nil when the operator was not
// installed by the chart (no OPERATOR_DEPLOYMENT).
func FromEnv(getenv func(string) string, namespace string) *Guard {
	d := strings.TrimSpace(getenv(EnvDeployment))
	if d == "" {
		return nil
	}
	return &Guard{Namespace: namespace, Deployment: d, GuardName: strings.TrimSpace(getenv(EnvGuard)),
		ServiceAccount: strings.TrimSpace(getenv(EnvServiceAccount))}
}

// Result says what OnShutdown did.
type Result struct {
	// Removing is true when the operator's Deployment or its namespace was gone or being deleted.
	Removing bool
	// Why says what showed the removal ("" when not removing).
	Why string
	// Released lists the Components released.
	Released []string
	// Deleted lists the kept objects deleted ("RoleBinding x", ...).
	Deleted []string
}

// OnShutdown checks whether the operator is being removed and, if so, releases every Component of the
// namespace and deletes the kept Role, RoleBinding and ServiceAccount (the ServiceAccount last: this
// process authenticates as it).
func (g *Guard) OnShutdown(ctx context.Context, c client.Client) (Result, error) {
	var res Result
	why, err := g.removedBecause(ctx, c)
	if err != nil || why == "" {
		return res, err
	}
	res.Removing, res.Why = true, why
	comps := &castwarev1.ComponentList{}
	if err := c.List(ctx, comps, client.InNamespace(g.Namespace)); err != nil && !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
		return res, fmt.Errorf("list components: %w", err)
	}
	var errs []error
	for i := range comps.Items {
		if err := release(ctx, c, &comps.Items[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Released = append(res.Released, comps.Items[i].Name)
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	deleted, err := g.deleteKept(ctx, c)
	res.Deleted = deleted
	if err != nil {
		return res, err
	}
	return res, nil
}

// removedBecause says why the operator is being removed, or "" when it is not: its Deployment is gone or
// being deleted, or its namespace is (the namespace controller deletes Pods before Deployments, so the
// kubelet may stop the operator while its Deployment still looks untouched). Either check is enough, so
// one that cannot be read (after `helm uninstall` only the kept Role is left, which cannot read
// Namespaces) does not hide the other.
func (g *Guard) removedBecause(ctx context.Context, c client.Client) (string, error) {
	var errs []error
	d := &appsv1.Deployment{}
	switch err := c.Get(ctx, types.NamespacedName{Namespace: g.Namespace, Name: g.Deployment}, d); {
	case apierrors.IsNotFound(err):
		return "deployment " + g.Deployment + " gone", nil
	case err != nil:
		errs = append(errs, fmt.Errorf("read operator deployment %s: %w", g.Deployment, err))
	case !d.DeletionTimestamp.IsZero():
		return "deployment " + g.Deployment + " being deleted", nil
	}
	ns := &corev1.Namespace{}
	switch err := c.Get(ctx, types.NamespacedName{Name: g.Namespace}, ns); {
	case apierrors.IsNotFound(err):
		return "namespace " + g.Namespace + " gone", nil
	case err != nil:
		errs = append(errs, fmt.Errorf("read operator namespace %s: %w", g.Namespace, err))
	case !ns.DeletionTimestamp.IsZero():
		return "namespace " + g.Namespace + " being deleted", nil
	}
	return "", errors.Join(errs...)
}

// deleteKept removes the objects the chart kept for the removal. Deleting the first of them would take
// away the rights to delete the others, so the others are first made dependents of the last one
// (ownerReferences) and the garbage collector removes them with it: Role and RoleBinding are owned by the
// ServiceAccount when the chart created it, else the Role by the RoleBinding.
func (g *Guard) deleteKept(ctx context.Context, c client.Client) ([]string, error) {
	if g.GuardName == "" {
		return nil, nil
	}
	role := &rbacv1.Role{ObjectMeta: objectMeta(g.Namespace, g.GuardName)}
	binding := &rbacv1.RoleBinding{ObjectMeta: objectMeta(g.Namespace, g.GuardName)}
	var last client.Object = binding
	dependents := []client.Object{role}
	lastKind := "RoleBinding"
	if g.ServiceAccount != "" {
		last, lastKind = &corev1.ServiceAccount{ObjectMeta: objectMeta(g.Namespace, g.ServiceAccount)}, "ServiceAccount"
		dependents = append(dependents, binding)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(last), last); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	owner := metav1.OwnerReference{Name: last.GetName(), UID: last.GetUID(), Kind: lastKind, APIVersion: "v1"}
	if lastKind == "RoleBinding" {
		owner.APIVersion = rbacv1.SchemeGroupVersion.String()
	}
	var deleted []string
	for _, d := range dependents {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{owner}}})
		if err := c.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("hand %s over to the garbage collector: %w", d.GetName(), err)
		}
		deleted = append(deleted, strings.TrimPrefix(fmt.Sprintf("%T", d), "*v1.")+" "+d.GetName())
	}
	if err := c.Delete(ctx, last, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return deleted, fmt.Errorf("delete %s %s: %w", lastKind, last.GetName(), err)
	}
	return append(deleted, lastKind+" "+last.GetName()), nil
}

// release labels a Component delete-candidate (so a still-running Component controller leaves its
// release alone) and removes the operator's finalizer, in one optimistic-lock patch.
func release(ctx context.Context, c client.Client, comp *castwarev1.Component) error {
	for attempt := 0; ; attempt++ {
		if comp.Labels[castwarev1.LabelDeleteCandidate] == "true" && !controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
			return nil
		}
		before := comp.DeepCopy()
		if comp.Labels == nil {
			comp.Labels = map[string]string{}
		}
		comp.Labels[castwarev1.LabelDeleteCandidate] = "true"
		controllerutil.RemoveFinalizer(comp, castwarev1.FinalizerCleanupHelm)
		err := c.Patch(ctx, comp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 10 {
			return fmt.Errorf("release component %s: %w", comp.Name, err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(comp), comp); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
}

// Watch starts a goroutine that runs the guard configured in the environment once ctx ends (the
// operator received SIGTERM) and returns a function that waits for it once ctx has ended; with no guard
// configured, or when the operator stopped for another reason, the returned function returns at once.
// Errors go to logf.
func Watch(ctx context.Context, cfg *rest.Config, namespace string, getenv func(string) string, logf func(msg string, err error, kv ...any)) func() {
	g := FromEnv(getenv, namespace)
	if g == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		c, err := client.New(cfg, client.Options{Scheme: cleanup.NewScheme()})
		if err != nil {
			logf("removal check skipped", err)
			return
		}
		res, err := g.OnShutdown(sctx, c)
		if err != nil {
			logf("releasing components on removal failed", err)
			return
		}
		if res.Removing {
			b, _ := json.Marshal(res)
			logf("operator removed: components released, kept objects deleted", nil, "result", string(b))
		}
	}()
	return func() {
		if ctx.Err() != nil {
			<-done
		}
	}
}

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}
