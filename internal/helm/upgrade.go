package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"

	"github.com/castware-operator/castware-operator/internal/metrics"
)

// Upgrade moves a deployed release to the wanted chart and values. Values are the whole truth: nothing
// is reused from the previous revision, so a key removed from the wanted values disappears. Namespaces
// the previous revision rendered are protected first (see GuardNamespaces). A failure leaves a failed
// revision for the state machine, which rolls back to the last good revision.
func (e *Engine) Upgrade(ctx context.Context, req Request) (_ *release.Release, err error) {
	if !req.DryRun {
		defer metrics.StartHelm(metrics.HelmUpgrade).Done(&err)
	}
	ac, err := e.client(ctx, req.Owner)
	if err != nil {
		return nil, err
	}
	if !req.DryRun {
		if cur, err := ac.Get(req.ReleaseName); err == nil {
			if err := e.GuardNamespaces(ctx, cur); err != nil {
				return nil, err
			}
		}
	}
	done := e.begin(req.Owner, req.ReleaseName)
	defer done()
	rel, err := ac.Upgrade(req.ReleaseName, req.Owner.GetNamespace(), req.Chart, req.Values, func(u *action.Upgrade) error {
		u.Timeout = e.hookTimeout
		u.MaxHistory = e.maxHistory
		u.ResetValues = true
		u.ReuseValues = false
		u.CleanupOnFail = true
		u.TakeOwnership = req.TakeOwnership
		u.PostRenderer = labelRenderer{labels: map[string]string{LabelComponent: req.Owner.GetName()}}
		u.Description = req.Description
		if req.DryRun {
			u.DryRun = true
			u.DryRunOption = "server"
		}
		return nil
	})
	if err != nil {
		return rel, fmt.Errorf("upgrade %s to %s %s: %w", req.ReleaseName, chartName(req), chartVersion(req), err)
	}
	return rel, nil
}
