package dependents

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
)

// Hook keeps the dependents' objects in sync on every Cluster reconcile, which runs whenever the
// Cluster's API-key Secret (or one of its Components' enablement) changes.
type Hook struct {
	// Client lists Components (cached) and writes the objects.
	Client client.Client
	// Reader reads the objects uncached (Secrets are not in the cache).
	Reader client.Reader
}

var _ controllers.ClusterHook = Hook{}

// Name implements controllers.ClusterHook.
func (Hook) Name() string { return "dependents" }

// Reconcile implements controllers.ClusterHook.
func (h Hook) Reconcile(ctx context.Context, cl *castwarev1.Cluster, apiKey string) (ctrl.Result, error) {
	enabled, err := h.enabled(ctx, cl)
	if err == nil {
		in := Input{Namespace: cl.Namespace, SourceSecret: cl.Spec.APIKeySecret, APIKey: apiKey, Enabled: enabled}
		err = Sync(ctx, h.Reader, h.Client, Desired(in))
	}
	if err != nil {
		// A copy that cannot be written must not keep the Cluster from registering or polling: the later
		// hooks run, and this one is tried again soon.
		log.FromContext(ctx).Info("cannot keep the dependents' objects in sync; retrying", "error", err.Error())
		return ctrl.Result{RequeueAfter: retryAfter}, nil
	}
	return ctrl.Result{}, nil
}

// retryAfter is how soon a failed sync is tried again.
const retryAfter = 30 * time.Second

// enabled lists the catalog names of the Cluster's enabled, not deleting Components.
func (h Hook) enabled(ctx context.Context, cl *castwarev1.Cluster) ([]string, error) {
	list := &castwarev1.ComponentList{}
	if err := h.Client.List(ctx, list, client.InNamespace(cl.Namespace)); err != nil {
		return nil, fmt.Errorf("list components: %w", err)
	}
	var out []string
	for _, c := range list.Items {
		if c.Spec.Cluster == cl.Name && c.Spec.Enabled && c.DeletionTimestamp.IsZero() {
			out = append(out, c.Spec.Component)
		}
	}
	return out, nil
}
