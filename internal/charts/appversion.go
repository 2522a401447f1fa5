package charts

import (
	"context"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// maxAppVersionProbes bounds how many chart archives VersionsForAppVersion loads from a repository whose
// listing carries no appVersion (OCI registries, local directories), newest first.
const maxAppVersionProbes = 10

// AppVersionResolver finds the chart versions that package an application version.
type AppVersionResolver interface {
	// VersionsForAppVersion returns the versions of chart name in repo whose appVersion is appVersion (with or
	// without a leading "v"), newest first; empty when none is.
	VersionsForAppVersion(ctx context.Context, repo, name, appVersion string) ([]string, error)
}

var _ AppVersionResolver = (*Loader)(nil)

// ChartApp is one chart version and the application version it packages.
type ChartApp struct {
	// Version is the chart version.
	Version string
	// AppVersion is the chart's appVersion.
	AppVersion string
}

// VersionsForAppVersion implements AppVersionResolver. HTTP repositories answer from their index; OCI
// registries and local sources list no appVersion, so the newest maxAppVersionProbes charts are loaded.
func (l *Loader) VersionsForAppVersion(ctx context.Context, repoURL, name, appVersion string) ([]string, error) {
	ref := Ref{Repo: repoURL, Name: name}
	src, err := parseRepo(repoURL, name)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	var entries []ChartApp
	if src.kind == kindHTTP {
		idx, err := l.index(ctx, src.url)
		if err != nil {
			return nil, wrapErr(ref, err)
		}
		for _, cv := range idx.entries(name) {
			entries = append(entries, ChartApp{Version: cv.Version, AppVersion: cv.AppVersion})
		}
		return MatchAppVersion(entries, appVersion), nil
	}
	entries, err = l.probeAppVersions(ctx, repoURL, name, src)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	return MatchAppVersion(entries, appVersion), nil
}

// probeAppVersions loads the newest charts of a source whose listing has no appVersion.
func (l *Loader) probeAppVersions(ctx context.Context, repoURL, name string, src repoSource) ([]ChartApp, error) {
	var versions []string
	var err error
	if src.kind == kindOCI {
		versions, err = l.ociVersions(ctx, src.url, name)
	} else {
		versions, err = l.localVersions(ctx, src.path, name)
	}
	if err != nil {
		return nil, err
	}
	versions = NewestFirst(versions)
	if len(versions) > maxAppVersionProbes {
		versions = versions[:maxAppVersionProbes]
	}
	var out []ChartApp
	for _, v := range versions {
		loaded, err := l.Load(ctx, Ref{Repo: repoURL, Name: name, Version: v})
		if err != nil {
			return nil, err
		}
		if loaded.Chart.Metadata != nil {
			out = append(out, ChartApp{Version: loaded.Version, AppVersion: loaded.Chart.Metadata.AppVersion})
		}
	}
	return out, nil
}

// MatchAppVersion returns the versions of entries whose appVersion equals appVersion, a leading "v" on
// either side ignored, newest first (versions that are not semantic versions last). It is a pure function.
func MatchAppVersion(entries []ChartApp, appVersion string) []string {
	want := strings.TrimPrefix(strings.TrimSpace(appVersion), "v")
	if want == "" {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.TrimPrefix(strings.TrimSpace(e.AppVersion), "v") == want {
			out = append(out, e.Version)
		}
	}
	return NewestFirst(out)
}

// NewestFirst returns versions sorted by semantic version, newest first; strings that do not parse keep their
// order after the others. It is a pure function.
func NewestFirst(versions []string) []string {
	out := append([]string(nil), versions...)
	parsed := make(map[string]*semver.Version, len(out))
	for _, v := range out {
		if sv, err := semver.NewVersion(v); err == nil {
			parsed[v] = sv
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := parsed[out[i]], parsed[out[j]]
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		default:
			return a.GreaterThan(b)
		}
	})
	return out
}
