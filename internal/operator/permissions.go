package operator

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/permissions/access"
)

// PermissionOptions configure the permission checks: the Phase 2 detection (Cluster.status.extendedPermissions,
// the waiting of Phase 2 components, the webhooks' and the migration's permission checks) and the check that a
// chart grants no RBAC the operator does not hold, before it is installed or upgraded.
type PermissionOptions struct {
	// Disabled turns both checks off: Phase 2 components are installed as any other and Helm reports RBAC
	// escalation errors itself.
	Disabled bool
	// Recheck is how often the Phase 2 detection runs without binding events (default access.DefaultRecheck).
	Recheck time.Duration
	// ReviewTTL is how long a review of the operator's rules is reused (default access.DefaultReviewTTL).
	ReviewTTL time.Duration
}

// operatorRelease is the operator's own Helm release name and namespace.
func operatorRelease(opts Options) (release, namespace string) {
	release = opts.CastAI.OperatorRelease
	if release == "" {
		release = envOr(opts.Env, "HELM_RELEASE_NAME", "castware-operator")
	}
	return release, cmp.Or(opts.CastAI.OperatorNamespace, opts.Namespace)
}

// connectPermissions wires the Phase 2 detector (every replica) and the install gate.
func (op *Operator) connectPermissions(opts Options) error {
	if opts.Permissions.Disabled {
		return nil
	}
	mgr := op.Manager
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("permissions: clientset: %w", err)
	}
	md, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("permissions: metadata client: %w", err)
	}
	reviewer := access.NewReviewer(cs.AuthorizationV1(), opts.Permissions.ReviewTTL)
	det := access.NewDetector(opts.Namespace, reviewer, md)
	det.Recheck = opts.Permissions.Recheck
	command := access.GrantCommand(operatorRelease(opts))
	gate := access.NewGate(det, reviewer, op.Engine, mgr.GetAPIReader(), command)
	op.PermissionDetector, op.PermissionGate = det, gate
	op.Components.Permissions = gate
	op.Components.PermissionWakeups = gate.Wakeups()
	wakeups := op.clusterWakeups()
	reader := mgr.GetClient()
	det.OnChange(func(_ access.Status, changed bool) {
		gate.PermissionsChanged()
		if !changed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		list := &castwarev1.ClusterList{}
		if err := reader.List(ctx, list, client.InNamespace(opts.Namespace)); err != nil {
			return // the Clusters see the change at their next reconcile
		}
		for i := range list.Items {
			select {
			case wakeups <- event.GenericEvent{Object: &list.Items[i]}:
			default:
			}
		}
	})
	return mgr.Add(det)
}

// wirePermissionChecks points the other permission checks at the detector: the migration's Phase 2 check
// and what the operator reports to Cast AI (the webhooks' default is set in connectWebhooks).
func (op *Operator) wirePermissionChecks() {
	det := op.PermissionDetector
	if det == nil {
		return
	}
	if op.Migration != nil && op.Migration.Permissions == nil {
		op.Migration.Permissions = det
	}
	if op.Registrar != nil && op.Registrar.ExtendedPermissions == nil {
		op.Registrar.ExtendedPermissions = func(ctx context.Context, _ string) bool {
			st, err := det.Status(ctx)
			return err == nil && st.Extended
		}
	}
}

// clusterWakeups returns the channel that asks for Cluster reconciles from outside the informers.
func (op *Operator) clusterWakeups() chan event.GenericEvent {
	if op.wakeups == nil {
		op.wakeups = make(chan event.GenericEvent, 16)
		op.Clusters.Wakeups = op.wakeups
	}
	return op.wakeups
}
