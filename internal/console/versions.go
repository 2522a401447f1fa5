package console

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// LatestVersions resolves "latest" the way the console means it: getByName's latestVersion (cached by
// the client), falling back to the newest stable version in the chart repository when Cast AI does not
// know the component or cannot be reached.
type LatestVersions struct {
	// Conns hands out API clients.
	Conns *Connections
	// Fallback resolves from the chart repository.
	Fallback controllers.VersionResolver
}

// LatestVersion implements controllers.VersionResolver.
func (l LatestVersions) LatestVersion(ctx context.Context, cl *castwarev1.Cluster, entry *catalog.Entry, repo string) (string, error) {
	if api, err := l.Conns.For(cl); err == nil {
		info, err := api.GetComponentByName(ctx, entry.Component)
		if err == nil && info.LatestVersion != "" {
			return info.LatestVersion, nil
		}
		if err != nil {
			log.FromContext(ctx).V(1).Info("getByName failed; resolving latest from the chart repository", "error", err.Error())
		}
	}
	return l.Fallback.LatestVersion(ctx, cl, entry, repo)
}

// UpgradeValidation asks Cast AI whether a component may be upgraded (components:validateUpgrade), as the
// documented operator does when a Component's version changes.
type UpgradeValidation struct {
	// Conns hands out API clients.
	Conns *Connections
}

// ValidateUpgrade implements controllers.UpgradeValidator. A cluster not registered yet has nothing to ask.
func (u UpgradeValidation) ValidateUpgrade(ctx context.Context, cl *castwarev1.Cluster, component, version string) (bool, string, error) {
	if cl == nil || cl.Spec.Cluster == nil || cl.Spec.Cluster.ClusterID == "" {
		return true, "", nil
	}
	api, err := u.Conns.For(cl)
	if err != nil {
		return false, "", err
	}
	res, err := api.ValidateUpgrade(ctx, cl.Spec.Cluster.ClusterID, component, version)
	if err != nil {
		return false, "", err
	}
	return res.Allowed, res.BlockReason, nil
}
