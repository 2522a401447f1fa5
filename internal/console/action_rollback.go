package console

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// rollback asks the Component controller, with the rollback-request annotation naming the action, to roll
// the Component's release back to its previous good revision.
func (p *Poller) rollback(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	key := types.NamespacedName{Namespace: cl.Namespace, Name: a.Rollback.Component}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		comp := &castwarev1.Component{}
		// A fresh read: the cache may not have the revision the last upgrade made yet, and a stale copy
		// only earns conflicts.
		if err := p.fresh().Get(ctx, key, comp); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("component %s not found", a.Rollback.Component)
			}
			return err
		}
		if comp.Annotations[castwarev1.AnnotationRollbackRequest] == a.ID || comp.Status.RollbackRequestID == a.ID {
			return nil // asked for already (or taken up already)
		}
		if comp.Status.Revision < 2 {
			return fmt.Errorf("component %s: nothing to rollback (release revision %d)", a.Rollback.Component, comp.Status.Revision)
		}
		patch := client.MergeFromWithOptions(comp.DeepCopy(), client.MergeFromWithOptimisticLock{})
		metav1.SetMetaDataAnnotation(&comp.ObjectMeta, castwarev1.AnnotationRollbackRequest, a.ID)
		return p.Client.Patch(ctx, comp, patch)
	})
}
