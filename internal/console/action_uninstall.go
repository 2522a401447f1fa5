package console

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// uninstall deletes the Component an uninstall action names (one already gone is fine).
func (p *Poller) uninstall(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	comp := &castwarev1.Component{}
	err := p.Client.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: a.Uninstall.Component}, comp)
	if apierrors.IsNotFound(err) {
		return nil // already gone
	}
	if err != nil {
		return err
	}
	if err := p.Client.Delete(ctx, comp); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Component %s: %w", a.Uninstall.Component, err)
	}
	return nil
}
