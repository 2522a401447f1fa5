package access

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

// ClusterHook keeps a Cluster's status.extendedPermissions (the catalog fact ExtendedPermissions, e.g.
// spot-handler's phase2Permissions) and its ExtendedPermissions condition equal to the Detector's Status.
type ClusterHook struct {
	// Detector detects the Phase 2 permissions.
	Detector *Detector
	// Command grants the Phase 2 permissions (GrantCommand).
	Command string
}

var _ controllers.ClusterHook = ClusterHook{}

// Name implements controllers.ClusterHook.
func (ClusterHook) Name() string { return "extended-permissions" }

// Reconcile implements controllers.ClusterHook.
func (h ClusterHook) Reconcile(ctx context.Context, cl *castwarev1.Cluster, _ string) (ctrl.Result, error) {
	st, err := h.Detector.Status(ctx)
	if err != nil {
		// Not a reason to fail the Cluster: keep what the status says and look again.
		log.FromContext(ctx).Info("extended permissions unknown; status.extendedPermissions left as it is", "error", err)
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	cl.Status.ExtendedPermissions = st.Extended
	status, reason, msg := PermissionCondition(st, h.Detector.Namespace, h.Command)
	meta.SetStatusCondition(&cl.Status.Conditions, metav1.Condition{Type: castwarev1.ConditionExtendedPermissions, Status: status,
		Reason: reason, Message: msg, ObservedGeneration: cl.Generation})
	return ctrl.Result{}, nil
}

// PermissionCondition is the ExtendedPermissions condition a Status gives. It is a pure function.
func PermissionCondition(st Status, namespace, command string) (metav1.ConditionStatus, string, string) {
	n := permissions.AtomCount(st.Missing)
	switch {
	case st.Extended:
		return metav1.ConditionTrue, castwarev1.ReasonPermissionsGranted,
			fmt.Sprintf("the bindings labelled %s=true exist and the operator holds every Phase 2 rule", permissions.LabelExtendedPermissions)
	case st.Bindings:
		return metav1.ConditionFalse, castwarev1.ReasonMissingPermissions, fmt.Sprintf("the bindings labelled %s=true exist but do not grant %d of the "+
			"Phase 2 rules: %s; grant them again with: %s", permissions.LabelExtendedPermissions, n, permissions.Describe(st.Missing), command)
	case n > 0:
		return metav1.ConditionFalse, castwarev1.ReasonPermissionsNotEnabled, fmt.Sprintf("extendedPermissions is not enabled: the operator lacks %d "+
			"Phase 2 rules, so Phase 2 components (e.g. cluster-controller) wait; enable it with: %s", n, command)
	case st.Admin:
		return metav1.ConditionFalse, castwarev1.ReasonPermissionsNotEnabled, fmt.Sprintf("extendedPermissions is not enabled (no RoleBinding in "+
			"namespace %s and ClusterRoleBinding labelled %s=true), but the operator runs with full authority (cluster-admin), so it installs "+
			"Phase 2 components anyway", namespace, permissions.LabelExtendedPermissions)
	default:
		return metav1.ConditionFalse, castwarev1.ReasonPermissionsNotEnabled, fmt.Sprintf("the operator holds the Phase 2 rules, but extendedPermissions "+
			"is not enabled (no RoleBinding in namespace %s and ClusterRoleBinding labelled %s=true); enable it with: %s",
			namespace, permissions.LabelExtendedPermissions, command)
	}
}
