package migration

import (
	"regexp"
	"strings"
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

// VersionFromImage returns the version an image tag names, without a leading "v" ("agent:v0.161.1" gives
// "0.161.1"), or "" when the tag is not a version.
func VersionFromImage(image string) string {
	_, tag := ImageParts(image)
	v := strings.TrimPrefix(tag, "v")
	if v == "" || !ValidVersion(v) {
		return ""
	}
	return v
}
