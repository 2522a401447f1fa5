package console

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
)

// KeyHook is the Cluster hook (third, internal/operator/hooks.go) that hands the Cluster's current API key to its API client, so every
// later hook (migration's getByName lookups, registration) talks to Cast AI with the current key.
type KeyHook struct {
	// Conns hands out API clients.
	Conns *Connections
}

var _ controllers.ClusterHook = KeyHook{}

// Name implements controllers.ClusterHook.
func (KeyHook) Name() string { return "cast-ai-key" }

// Reconcile implements controllers.ClusterHook.
func (h KeyHook) Reconcile(_ context.Context, cl *castwarev1.Cluster, apiKey string) (ctrl.Result, error) {
	if _, _, err := h.Conns.SetKey(cl, apiKey); err != nil {
		return ctrl.Result{}, &controllers.UnavailableError{Reason: castwarev1.ReasonInvalidSpec, Message: err.Error()}
	}
	return ctrl.Result{}, nil
}

// Directory names components' releases and charts as Cast AI knows them (getByName, cached by the client),
// for the Clusters of one namespace; the migration scan falls back to the catalog when it fails.
type Directory struct {
	// Client lists Clusters.
	Client client.Reader
	// Conns hands out API clients.
	Conns *Connections
	// Namespace holds the Cluster.
	Namespace string
}

// Component implements migration.ComponentDirectory.
func (d Directory) Component(ctx context.Context, name string) (releaseName, chart string, err error) {
	list := &castwarev1.ClusterList{}
	if err := d.Client.List(ctx, list, client.InNamespace(d.Namespace)); err != nil {
		return "", "", err
	}
	if len(list.Items) == 0 {
		return "", "", fmt.Errorf("no Cluster in namespace %s", d.Namespace)
	}
	api, err := d.Conns.For(&list.Items[0])
	if err != nil {
		return "", "", err
	}
	info, err := api.GetComponentByName(ctx, name)
	if err != nil {
		return "", "", err
	}
	return info.ReleaseName, info.HelmChart, nil
}
