package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"

	"github.com/castware-operator/castware-operator/internal/metrics"
)

// Install creates a release. It does not wait for workloads (see Readiness). When Helm fails after
// recording the release, the failed revision is left for the state machine, which reinstalls it.
func (e *Engine) Install(ctx context.Context, req Request) (_ *release.Release, err error) {
	if !req.DryRun {
		defer metrics.StartHelm(metrics.HelmInstall).Done(&err)
	}
	return e.install(ctx, req)
}

func (e *Engine) install(ctx context.Context, req Request) (*release.Release, error) {
	ac, err := e.client(ctx, req.Owner)
	if err != nil {
		return nil, err
	}
	done := e.begin(req.Owner, req.ReleaseName)
	defer done()
	rel, err := ac.Install(req.ReleaseName, req.Owner.GetNamespace(), req.Chart, req.Values, func(i *action.Install) error {
		i.Timeout = e.hookTimeout
		i.TakeOwnership = req.TakeOwnership
		i.PostRenderer = labelRenderer{labels: map[string]string{LabelComponent: req.Owner.GetName()}}
		i.Description = req.Description
		if req.DryRun {
			i.DryRun = true
			i.DryRunOption = "server"
		}
		return nil
	})
	if err != nil {
		return rel, fmt.Errorf("install %s %s as %s: %w", chartName(req), chartVersion(req), req.ReleaseName, err)
	}
	return rel, nil
}

// Reinstall removes a release that never deployed successfully and installs it again.
func (e *Engine) Reinstall(ctx context.Context, req Request) (_ *release.Release, err error) {
	defer metrics.StartHelm(metrics.HelmReinstall).Done(&err)
	if err := e.uninstall(ctx, req.Owner, req.ReleaseName, false); err != nil {
		return nil, err
	}
	return e.install(ctx, req)
}

func chartName(req Request) string {
	if req.Chart == nil || req.Chart.Metadata == nil {
		return "chart"
	}
	return req.Chart.Metadata.Name
}

func chartVersion(req Request) string {
	if req.Chart == nil || req.Chart.Metadata == nil {
		return ""
	}
	return req.Chart.Metadata.Version
}
