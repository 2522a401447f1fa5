package console

import (
	"context"
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/values"
)

// upgradeAction upgrades the Component an upgrade action names, or the operator itself.
func (p *Poller) upgradeAction(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	if a.Upgrade.Component != OperatorComponent {
		return p.upgrade(ctx, cl, a, a.Upgrade)
	}
	if p.SelfUpgrade == nil {
		return fmt.Errorf("upgrading %s from the console is not supported by this installation", OperatorComponent)
	}
	return p.SelfUpgrade.Start(ctx, cl, a.Upgrade.Version, a.ID)
}

// upgrade moves a Component to a version and merges value overrides into its values.
func (p *Poller) upgrade(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action, up *castai.ChartAction) error {
	key := types.NamespacedName{Namespace: cl.Namespace, Name: up.Component}
	overrides, err := p.consoleOverrides(up.Component, up.ValuesOverrides)
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		comp := &castwarev1.Component{}
		if err := p.Client.Get(ctx, key, comp); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("component %s not found", up.Component)
			}
			return err
		}
		if comp.Annotations[castwarev1.AnnotationActionID] == a.ID {
			return nil
		}
		base := comp.DeepCopy()
		if err := upgradeComponent(comp, a, up, overrides); err != nil {
			return err
		}
		return p.Client.Patch(ctx, comp, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
}

// upgradeComponent changes comp as the upgrade up (of action a) asks: version, release name, values with the
// overrides set on top, and the action recorded. A failed (or rolled back) attempt at the version is
// asked to be applied once more.
func upgradeComponent(comp *castwarev1.Component, a *castai.Action, up *castai.ChartAction, overrides map[string]any) error {
	if comp.Spec.Readonly {
		return fmt.Errorf("component %s is readonly: set spec.readonly to false to let the operator manage it", up.Component)
	}
	user, err := mergedValues(comp, overrides)
	if err != nil {
		return err
	}
	if upToDate(comp, up, overrides) {
		return fmt.Errorf("component %s already up to date (version %s)", up.Component, comp.Spec.Version)
	}
	requestRetry(comp, firstNonEmpty(up.Version, comp.Spec.Version), a.ID)
	if up.Version != "" {
		comp.Spec.Version = up.Version
	}
	if up.ReleaseName != "" {
		comp.Spec.ReleaseName = up.ReleaseName
	}
	raw, err := json.Marshal(user)
	if err != nil {
		return fmt.Errorf("encode the values of component %s: %w", up.Component, err)
	}
	comp.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	comp.Annotations = actionAnnotations(comp.Annotations, a)
	return nil
}

// mergedValues is comp's spec.values with overrides set on top.
func mergedValues(comp *castwarev1.Component, overrides map[string]any) (map[string]any, error) {
	user := map[string]any{}
	if comp.Spec.Values != nil {
		var err error
		if user, err = values.Parse(comp.Spec.Values.Raw); err != nil {
			return nil, fmt.Errorf("component %s: %w", comp.Name, err)
		}
	}
	for _, path := range values.Paths(overrides) {
		v, _ := values.GetPath(overrides, path)
		if err := values.SetPath(user, path, v); err != nil {
			return nil, fmt.Errorf("valuesOverrides: %w", err)
		}
	}
	return user, nil
}

// upToDate reports whether the upgrade up would change nothing: comp already runs what it asks for.
func upToDate(comp *castwarev1.Component, up *castai.ChartAction, overrides map[string]any) bool {
	sameVersion := up.Version == "" || up.Version == comp.Spec.Version
	sameRelease := up.ReleaseName == "" || up.ReleaseName == comp.Spec.ReleaseName ||
		(comp.Spec.ReleaseName == "" && up.ReleaseName == comp.Status.ReleaseName)
	return sameVersion && sameRelease && len(overrides) == 0 && comp.Status.FailedAttempt == nil &&
		comp.Status.CurrentVersion == comp.Spec.Version
}

// requestRetry asks the Component controller, with the retry-request annotation naming the action, to apply
// a failed (or rolled back) attempt at version once more.
func requestRetry(comp *castwarev1.Component, version, actionID string) {
	if fa := comp.Status.FailedAttempt; fa == nil || fa.Version != version {
		return
	}
	metav1.SetMetaDataAnnotation(&comp.ObjectMeta, castwarev1.AnnotationRetryRequest, castwarev1.RetryRequest(version, actionID))
}

// consoleOverrides checks a console action's valuesOverrides against the component's catalog entry (the
// paths it allows from the console) and unflattens them.
func (p *Poller) consoleOverrides(component string, flat map[string]string) (map[string]any, error) {
	var allowed []string
	if e, ok := p.lookup(component); ok {
		allowed = e.ConsoleValues
	}
	if err := values.CheckConsolePaths(flat, allowed); err != nil {
		return nil, err
	}
	return values.Unflatten(flat)
}

// lookup finds the catalog entry of a component (none without a catalog).
func (p *Poller) lookup(component string) (*catalog.Entry, bool) {
	if p.Catalog == nil {
		return nil, false
	}
	return p.Catalog.Lookup(component, nil)
}
