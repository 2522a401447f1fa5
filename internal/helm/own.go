package helm

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// This file holds the Helm operations on the operator's own release (self-upgrade, preflight): unlike
// component releases, that release belongs to whoever installed the chart, so its objects get no
// component label and its values are reused, not replaced.

// History returns every stored revision of a release, oldest first (nil when there is none), read
// straight from Helm's Secret storage with cfg.
func History(ctx context.Context, cfg *rest.Config, namespace, name string) ([]*release.Release, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	rels, err := driver.NewSecrets(cs.CoreV1().Secrets(namespace)).Query(map[string]string{"name": name, "owner": "helm"})
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read history of release %s/%s: %w", namespace, name, err)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	return rels, nil
}

// LastDeployed returns the newest revision whose status is deployed, or nil.
func LastDeployed(hist []*release.Release) *release.Release {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Info != nil && hist[i].Info.Status == release.StatusDeployed {
			return hist[i]
		}
	}
	return nil
}

// EffectiveValues returns the values a revision was rendered with: its user-supplied values coalesced
// over its chart's defaults (a revision's Chart.Values alone are only the defaults).
func EffectiveValues(rel *release.Release) (map[string]any, error) {
	if rel == nil || rel.Chart == nil {
		return nil, errors.New("release has no chart")
	}
	vals, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return nil, fmt.Errorf("coalesce values of %s revision %d: %w", rel.Name, rel.Version, err)
	}
	return vals, nil
}

// OwnUpgrade is an upgrade of the operator's own release.
type OwnUpgrade struct {
	// Owner selects the namespace (any object in the release's namespace).
	Owner client.Object
	// ReleaseName is the release.
	ReleaseName string
	// Chart is the chart to upgrade to.
	Chart *chart.Chart
	// Values are the complete user-supplied values (nothing is reused by Helm itself).
	Values map[string]any
	// DryRun renders and validates server-side without changing anything (hooks are not run).
	DryRun bool
	// Description is stored on the revision.
	Description string
	// Restore makes the upgrade stand in for `helm rollback` to an older revision's chart and values: no chart
	// hooks run (the operator chart has no rollback hooks, and its pre-upgrade hooks must not apply an older
	// chart's CRDs) and what it created is removed if it fails, as a rollback does.
	Restore bool
}

// UpgradeRelease upgrades the operator's own release: chart hooks run (bounded by the hook timeout),
// Helm does not wait for workloads (the caller watches the rollout), nothing is rolled back on failure
// (the caller decides), and no component label is added to the objects.
func (e *Engine) UpgradeRelease(ctx context.Context, req OwnUpgrade) (*release.Release, error) {
	ac, err := e.client(ctx, req.Owner)
	if err != nil {
		return nil, err
	}
	done := e.begin(req.Owner, req.ReleaseName)
	defer done()
	rel, err := ac.Upgrade(req.ReleaseName, req.Owner.GetNamespace(), req.Chart, req.Values, func(u *action.Upgrade) error {
		u.Timeout = e.hookTimeout
		u.MaxHistory = e.maxHistory
		u.ResetValues = true
		u.ReuseValues = false
		u.Wait = false
		u.Atomic = false
		u.Description = req.Description
		u.DisableHooks, u.CleanupOnFail = req.Restore, req.Restore
		if req.DryRun {
			u.DryRun = true
			u.DryRunOption = "server"
		}
		return nil
	})
	if err != nil {
		return rel, fmt.Errorf("upgrade %s to %s %s: %w", req.ReleaseName, req.Chart.Metadata.Name, req.Chart.Metadata.Version, err)
	}
	return rel, nil
}
