// Package preflight holds the checks the `preflight` subcommand runs from Helm hooks: the operator
// chart's pre-upgrade refusal to drop the extended permissions, and the castware-components chart's
// wait for a Ready operator before its Components are created.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

// ErrDowngrade is returned when an upgrade would turn extendedPermissions from true to false.
var ErrDowngrade = errors.New("cannot downgrade extended permissions once they are already set")

// Previous says how the extended permissions were set before the upgrade being checked.
type Previous struct {
	// Extended is true when the previous installation had extendedPermissions=true.
	Extended bool
	// Source says where that was read: "revision N values" or "Phase 2 bindings".
	Source string
}

// PreviousExtended determines whether a release previously ran with extendedPermissions=true. history is
// the release's stored revisions (any order). It reads the newest *deployed* revision, because during a
// pre-upgrade hook Helm has already stored the new revision as pending-upgrade, and takes that
// revision's user-supplied values over its chart's defaults (the defaults alone say false even when the
// user set true: the documented operator's bug). Without a deployed revision it looks for the Phase 2
// bindings the chart renders for the release.
func PreviousExtended(ctx context.Context, c client.Reader, namespace, releaseName string, history []*helm.Release) (Previous, error) {
	var deployed *helm.Release
	for _, r := range history {
		if helm.IsDeployed(r) && (deployed == nil || r.Version > deployed.Version) {
			deployed = r
		}
	}
	if deployed != nil {
		vals, err := helm.EffectiveValues(deployed)
		if err != nil {
			return Previous{}, err
		}
		return Previous{Extended: truthy(vals["extendedPermissions"]), Source: fmt.Sprintf("revision %d values", deployed.Version)}, nil
	}
	sel := labels.SelectorFromSet(labels.Set{permissions.LabelExtendedPermissions: "true", "app.kubernetes.io/instance": releaseName})
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, crbs, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return Previous{}, fmt.Errorf("list Phase 2 ClusterRoleBindings: %w", err)
	}
	rbs := &rbacv1.RoleBindingList{}
	if err := c.List(ctx, rbs, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return Previous{}, fmt.Errorf("list Phase 2 RoleBindings: %w", err)
	}
	return Previous{Extended: len(crbs.Items) > 0 && len(rbs.Items) > 0, Source: "Phase 2 bindings"}, nil
}

// CheckExtendedPermissions returns ErrDowngrade (wrapped with what to do) when prev had the extended
// permissions and the upgrade sets want=false.
func CheckExtendedPermissions(prev Previous, want bool, releaseName, namespace string) error {
	if !prev.Extended || want {
		return nil
	}
	return fmt.Errorf("%w: release %s ran with extendedPermissions=true (%s) and this upgrade sets it to false; "+
		"the operator manages Phase 2 components (such as cluster-controller) that need them. Keep them with "+
		"`helm upgrade %s <chart> -n %s --reuse-values` or `--set extendedPermissions=true`",
		ErrDowngrade, releaseName, prev.Source, releaseName, namespace)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(strings.TrimSpace(x))
		return b
	}
	return false
}

// OperatorReady is a wait for an operator Deployment with a Ready pod.
type OperatorReady struct {
	// Namespace and Deployment name the operator's Deployment.
	Namespace, Deployment string
	// Interval is how often it is checked (default 2s).
	Interval time.Duration
}

// Wait returns nil once the Deployment exists and one of its pods is Ready, or ctx's error with the last
// observation.
func (o OperatorReady) Wait(ctx context.Context, c client.Reader) error {
	if o.Interval == 0 {
		o.Interval = 2 * time.Second
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	last := ""
	for {
		ready, msg, err := o.check(ctx, c)
		if err != nil {
			return err
		}
		if ready {
			return nil
		}
		last = msg
		select {
		case <-ctx.Done():
			return fmt.Errorf("operator not ready: %s: %w", last, ctx.Err())
		case <-t.C:
		}
	}
}

func (o OperatorReady) check(ctx context.Context, c client.Reader) (bool, string, error) {
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Deployment}, d); err != nil {
		return false, fmt.Sprintf("deployment %s/%s: %v", o.Namespace, o.Deployment, err), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return false, "", fmt.Errorf("deployment %s selector: %w", o.Deployment, err)
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(o.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return false, fmt.Sprintf("list pods of %s: %v", o.Deployment, err), nil
	}
	for _, p := range pods.Items {
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
	}
	return false, fmt.Sprintf("deployment %s has %d pods, none Ready", o.Deployment, len(pods.Items)), nil
}
