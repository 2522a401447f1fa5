package helm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// capabilitiesTTL is how long the cluster's Capabilities (version and API versions) are reused for renders.
const capabilitiesTTL = 5 * time.Minute

// capsCache caches the cluster's Capabilities for Render.
type capsCache struct {
	mu   sync.Mutex
	caps *chartutil.Capabilities
	at   time.Time
}

// Rendered is what a chart renders for a release, computed without installing anything.
type Rendered struct {
	// Manifests are the rendered release objects, one document each (CRDs from crds/ excluded).
	Manifests []string
	// Hooks are the rendered hook objects, one document each.
	Hooks []string
}

// Render renders req's chart with req's values the way installing (or, with upgrade, upgrading) release
// req.ReleaseName would: same values, release options and cluster Capabilities (Kubernetes version and API
// versions, read by discovery and cached for a few minutes). Nothing is sent to the cluster and template
// `lookup` calls find nothing. The chart's dependencies are processed in place, as an install does.
func (e *Engine) Render(ctx context.Context, req Request, upgrade bool) (*Rendered, error) {
	if req.Chart == nil {
		return nil, fmt.Errorf("render %s: no chart", req.ReleaseName)
	}
	caps, err := e.capabilities(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependenciesWithMerge(req.Chart, req.Values); err != nil {
		return nil, fmt.Errorf("render %s: dependencies: %w", chartName(req), err)
	}
	opts := chartutil.ReleaseOptions{Name: req.ReleaseName, Namespace: req.Owner.GetNamespace(), Revision: 1, IsInstall: !upgrade, IsUpgrade: upgrade}
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(req.Chart, req.Values, opts, caps, false)
	if err != nil {
		return nil, fmt.Errorf("render %s: values: %w", chartName(req), err)
	}
	files, err := engine.Render(req.Chart, vals)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", chartName(req), err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", chartName(req), err)
	}
	out := &Rendered{}
	for _, m := range manifests {
		out.Manifests = append(out.Manifests, m.Content)
	}
	for _, h := range hooks {
		out.Hooks = append(out.Hooks, h.Manifest)
	}
	return out, nil
}

// capabilities returns the cluster's Capabilities as Helm computes them for an install, cached.
func (e *Engine) capabilities(ctx context.Context, req Request) (*chartutil.Capabilities, error) {
	c := &e.renderCaps
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caps != nil && e.now().Sub(c.at) < capabilitiesTTL {
		return c.caps, nil
	}
	cfg, err := e.config(ctx, req.Owner)
	if err != nil {
		return nil, err
	}
	dc, err := cfg.RESTClientGetter.ToDiscoveryClient()
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	kv, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("read the server version: %w", err)
	}
	vs, err := action.GetVersionSet(dc)
	if err != nil {
		return nil, fmt.Errorf("read the API versions: %w", err)
	}
	c.caps = &chartutil.Capabilities{
		APIVersions: vs,
		KubeVersion: chartutil.KubeVersion{Version: kv.GitVersion, Major: kv.Major, Minor: kv.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}
	c.at = e.now()
	return c.caps, nil
}
