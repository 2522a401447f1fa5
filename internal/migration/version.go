package migration

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/castware-operator/castware-operator/internal/charts"
)

// versionPattern is the Component CRD's spec.version pattern (semantic versions, optional "v").
var versionPattern = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// maxVersionLength is the CRD's limit on spec.version.
const maxVersionLength = 128

// ValidVersion reports whether v is a version a Component's spec.version accepts.
func ValidVersion(v string) bool {
	return len(v) <= maxVersionLength && versionPattern.MatchString(v)
}

// VersionFromChartLabel returns the chart version in a helm.sh/chart label ("castai-agent-0.161.1" gives
// "0.161.1"). When the label starts with one of charts followed by "-", the rest is the version; otherwise
// the version starts at the first "-" followed by a digit that leaves a valid version. "" when none is found.
func VersionFromChartLabel(label string, charts ...string) string {
	for _, c := range charts {
		if c != "" && strings.HasPrefix(label, c+"-") {
			if v := label[len(c)+1:]; ValidVersion(v) {
				return v
			}
		}
	}
	for i := 0; i+1 < len(label); i++ {
		if label[i] == '-' && label[i+1] >= '0' && label[i+1] <= '9' {
			if v := label[i+1:]; ValidVersion(v) {
				return v
			}
		}
	}
	return ""
}

// ImageParts splits an image reference into repository and tag; a digest is dropped. A reference without
// a tag gives tag "".
func ImageParts(image string) (repository, tag string) {
	ref := image
	if at := strings.Index(ref, "@"); at >= 0 {
		ref = ref[:at]
	}
	colon := strings.LastIndex(ref, ":")
	if colon > strings.LastIndex(ref, "/") {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// ResolveChartVersion returns the chart version a YAML install runs: the one its helm.sh/chart label names, or
// else the newest version of chart in repo whose appVersion is the main container's image tag (with or
// without a leading "v"). It never makes a version up: when neither gives one, version is "" and note says
// what was looked for. An error means the repository could not be asked (retry later).
func ResolveChartVersion(ctx context.Context, res charts.AppVersionResolver, repo, chart string, ex Extraction) (version, note string, err error) {
	if ex.Version != "" {
		return ex.Version, "", nil
	}
	if ex.ImageTag == "" {
		return "", fmt.Sprintf("no helm.sh/chart label and no image tag to look up a %s chart by appVersion", chart), nil
	}
	if res == nil {
		return "", fmt.Sprintf("no helm.sh/chart label, and no chart repository to look up a %s chart with appVersion %q", chart, ex.ImageTag), nil
	}
	versions, err := res.VersionsForAppVersion(ctx, repo, chart, ex.ImageTag)
	if err != nil {
		return "", "", fmt.Errorf("look up the %s chart with appVersion %q: %w", chart, ex.ImageTag, err)
	}
	for _, v := range versions {
		if ValidVersion(v) {
			return v, "", nil
		}
	}
	return "", fmt.Sprintf("no helm.sh/chart label, and no %s chart in %s has appVersion %q (with or without a leading \"v\")", chart, repo, ex.ImageTag), nil
}
