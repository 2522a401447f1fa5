// Package cleanup removes the operator's resources when the operator itself is removed: the logic of
// the `cleanup` subcommand the operator chart's pre-delete hook runs.
//
// Every Component is first labelled castware.cast.ai/delete-candidate=true, so the Component
// controller (if it still runs) leaves its release running, then deleted; the operator's finalizer is
// released here rather than waited for, so a stopped or broken operator never blocks the removal.
// Clusters are deleted next, and finally the two CRDs, unless another namespace still holds Clusters or
// Components (a second installation).
package cleanup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/lifecycle/crds"
)

// Options configure a cleanup.
type Options struct {
	// Namespace is the operator's namespace (required).
	Namespace string
	// DeleteCRDs deletes the two CRDs once no Cluster or Component is left in any namespace.
	DeleteCRDs bool
	// Out receives progress lines (default: discarded).
	Out io.Writer
	// Interval is how often removal is re-checked (default 250ms).
	Interval time.Duration
}

// Result says what a cleanup did.
type Result struct {
	// Components and Clusters list the resources deleted.
	Components, Clusters []string
	// CRDsDeleted is true when the CRDs were deleted.
	CRDsDeleted bool
	// CRDsKeptBecause explains why the CRDs were kept ("" when deleted or not asked for).
	CRDsKeptBecause string
}

// NewScheme returns the scheme a cleanup client needs.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = castwarev1.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	return s
}

// Run removes the Components and Clusters of opts.Namespace (leaving their releases running) and, when
// asked, the CRDs. It returns when everything is gone or ctx ends; it never waits on the operator.
func Run(ctx context.Context, c client.Client, opts Options) (Result, error) {
	var res Result
	if opts.Namespace == "" {
		return res, errors.New("cleanup: namespace is required")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Interval == 0 {
		opts.Interval = 250 * time.Millisecond
	}
	comps := &castwarev1.ComponentList{}
	if err := c.List(ctx, comps, client.InNamespace(opts.Namespace)); err != nil {
		if isNoCRD(err) {
			fmt.Fprintln(opts.Out, "the Component CRD is not installed: nothing to clean up")
			return res, nil
		}
		return res, fmt.Errorf("list components: %w", err)
	}
	for i := range comps.Items {
		comp := &comps.Items[i]
		if err := orphanAndDelete(ctx, c, comp); err != nil {
			return res, err
		}
		res.Components = append(res.Components, comp.Name)
		fmt.Fprintf(opts.Out, "component.castware.cast.ai/%s deleted (its release keeps running)\n", comp.Name)
	}
	clusters := &castwarev1.ClusterList{}
	if err := c.List(ctx, clusters, client.InNamespace(opts.Namespace)); err != nil && !isNoCRD(err) {
		return res, fmt.Errorf("list clusters: %w", err)
	}
	for i := range clusters.Items {
		cl := &clusters.Items[i]
		if err := c.Delete(ctx, cl); err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("delete cluster %s: %w", cl.Name, err)
		}
		res.Clusters = append(res.Clusters, cl.Name)
		fmt.Fprintf(opts.Out, "cluster.castware.cast.ai/%s deleted\n", cl.Name)
	}
	if err := waitGone(ctx, c, opts); err != nil {
		return res, err
	}
	if !opts.DeleteCRDs {
		return res, nil
	}
	if others, err := remainingElsewhere(ctx, c); err != nil {
		return res, err
	} else if len(others) > 0 {
		res.CRDsKeptBecause = "other namespaces still hold " + strings.Join(others, ", ")
		fmt.Fprintf(opts.Out, "CRDs kept: %s\n", res.CRDsKeptBecause)
		return res, nil
	}
	for _, name := range crds.Names {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		crd.Name = name
		if err := c.Delete(ctx, crd); err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("delete CRD %s: %w", name, err)
		}
		fmt.Fprintf(opts.Out, "customresourcedefinition.apiextensions.k8s.io/%s deleted\n", name)
	}
	if err := poll(ctx, opts.Interval, func() (bool, string, error) {
		for _, name := range crds.Names {
			err := c.Get(ctx, types.NamespacedName{Name: name}, &apiextensionsv1.CustomResourceDefinition{})
			if err == nil {
				return false, "CRD " + name + " still terminating", nil
			}
			if !apierrors.IsNotFound(err) {
				return false, "", err
			}
		}
		return true, "", nil
	}); err != nil {
		return res, err
	}
	res.CRDsDeleted = true
	return res, nil
}

// orphanAndDelete labels a Component delete-candidate, deletes it, and releases the operator's finalizer.
func orphanAndDelete(ctx context.Context, c client.Client, comp *castwarev1.Component) error {
	if comp.Labels[castwarev1.LabelDeleteCandidate] != "true" {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{castwarev1.LabelDeleteCandidate: "true"}}})
		if err := c.Patch(ctx, comp, client.RawPatch(types.MergePatchType, patch)); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("label component %s: %w", comp.Name, err)
		}
	}
	if err := c.Delete(ctx, comp); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete component %s: %w", comp.Name, err)
	}
	return releaseFinalizer(ctx, c, types.NamespacedName{Namespace: comp.Namespace, Name: comp.Name})
}

// releaseFinalizer removes the operator's finalizer from a Component, retrying on conflicts.
func releaseFinalizer(ctx context.Context, c client.Client, key types.NamespacedName) error {
	for attempt := 0; ; attempt++ {
		comp := &castwarev1.Component{}
		if err := c.Get(ctx, key, comp); err != nil {
			return client.IgnoreNotFound(err)
		}
		if !controllerutil.ContainsFinalizer(comp, castwarev1.FinalizerCleanupHelm) {
			return nil
		}
		before := comp.DeepCopy()
		controllerutil.RemoveFinalizer(comp, castwarev1.FinalizerCleanupHelm)
		err := c.Patch(ctx, comp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 10 {
			return fmt.Errorf("release finalizer of component %s: %w", key.Name, err)
		}
	}
}

// waitGone waits until the namespace holds no Component and no Cluster, releasing the operator's
// finalizer again on each round (a Component created meanwhile is handled too).
func waitGone(ctx context.Context, c client.Client, opts Options) error {
	return poll(ctx, opts.Interval, func() (bool, string, error) {
		comps := &castwarev1.ComponentList{}
		if err := c.List(ctx, comps, client.InNamespace(opts.Namespace)); err != nil {
			if isNoCRD(err) {
				return true, "", nil
			}
			return false, "", err
		}
		var waiting []string
		for i := range comps.Items {
			comp := &comps.Items[i]
			if comp.DeletionTimestamp.IsZero() {
				if err := orphanAndDelete(ctx, c, comp); err != nil {
					return false, "", err
				}
			} else if err := releaseFinalizer(ctx, c, client.ObjectKeyFromObject(comp)); err != nil {
				return false, "", err
			}
			waiting = append(waiting, fmt.Sprintf("component %s (finalizers %v)", comp.Name, comp.Finalizers))
		}
		clusters := &castwarev1.ClusterList{}
		if err := c.List(ctx, clusters, client.InNamespace(opts.Namespace)); err != nil && !isNoCRD(err) {
			return false, "", err
		}
		for _, cl := range clusters.Items {
			waiting = append(waiting, fmt.Sprintf("cluster %s (finalizers %v)", cl.Name, cl.Finalizers))
		}
		sort.Strings(waiting)
		return len(waiting) == 0, strings.Join(waiting, ", "), nil
	})
}

// remainingElsewhere lists Clusters and Components in any namespace.
func remainingElsewhere(ctx context.Context, c client.Client) ([]string, error) {
	var out []string
	comps := &castwarev1.ComponentList{}
	if err := c.List(ctx, comps); err != nil && !isNoCRD(err) {
		return nil, fmt.Errorf("list components in all namespaces: %w", err)
	}
	for _, x := range comps.Items {
		out = append(out, "component "+x.Namespace+"/"+x.Name)
	}
	clusters := &castwarev1.ClusterList{}
	if err := c.List(ctx, clusters); err != nil && !isNoCRD(err) {
		return nil, fmt.Errorf("list clusters in all namespaces: %w", err)
	}
	for _, x := range clusters.Items {
		out = append(out, "cluster "+x.Namespace+"/"+x.Name)
	}
	sort.Strings(out)
	return out, nil
}

func poll(ctx context.Context, interval time.Duration, fn func() (bool, string, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := ""
	for {
		done, msg, err := fn()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		last = msg
		select {
		case <-ctx.Done():
			return fmt.Errorf("cleanup: still waiting for %s: %w", last, ctx.Err())
		case <-t.C:
		}
	}
}

// isNoCRD reports whether err says the resource type is not served (its CRD is gone).
func isNoCRD(err error) bool {
	return err != nil && (meta.IsNoMatchError(err) || apierrors.IsNotFound(err))
}
