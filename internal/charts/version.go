package charts

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// maxListedVersions is how many versions an ErrVersionNotFound message lists.
const maxListedVersions = 5

// selectVersion picks an element of versions. For want == "" it is the highest
// semantic version without a pre-release part (entries that do not parse are
// ignored; among equal versions one written in full, MAJOR.MINOR.PATCH as a
// Component's spec.version must be, wins over a short form like "1.2", then the
// lexically smallest string, so the result does not depend on order). Otherwise it is the first element equal to want, or
// failing that the first one that is the same semantic version with the same
// build metadata (so "v1.2.3" matches "1.2.3"). ok is false when nothing fits.
func selectVersion(versions []string, want string) (idx int, ok bool) {
	if want != "" {
		for i, v := range versions {
			if v == want {
				return i, true
			}
		}
		for i, v := range versions {
			if sameVersion(v, want) {
				return i, true
			}
		}
		return -1, false
	}
	idx = -1
	var best *semver.Version
	for i, v := range versions {
		sv, err := semver.NewVersion(v)
		if err != nil || sv.Prerelease() != "" {
			continue
		}
		if best == nil {
			idx, best = i, sv
			continue
		}
		switch c := sv.Compare(best); {
		case c > 0, c == 0 && fullVersion(v) && !fullVersion(versions[idx]),
			c == 0 && fullVersion(v) == fullVersion(versions[idx]) && v < versions[idx]:
			idx, best = i, sv
		}
	}
	return idx, idx >= 0
}

// fullVersion reports whether v is written MAJOR.MINOR.PATCH (optionally after a "v"), not a short form.
func fullVersion(v string) bool {
	_, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	return err == nil
}

// sameVersion reports whether a and b name the same chart version: equal
// strings, or equal semantic versions including pre-release and build metadata.
func sameVersion(a, b string) bool {
	if a == b {
		return true
	}
	va, err := semver.NewVersion(a)
	if err != nil {
		return false
	}
	vb, err := semver.NewVersion(b)
	if err != nil {
		return false
	}
	return va.Equal(vb) && va.Metadata() == vb.Metadata()
}

// describeAvailable lists up to maxListedVersions of the newest versions for
// an error message. Versions that parse are sorted newest first; when none
// parses the raw strings are listed as given.
func describeAvailable(versions []string) string {
	type parsed struct {
		raw string
		v   *semver.Version
	}
	var ok []parsed
	seen := make(map[string]bool, len(versions))
	for _, raw := range versions {
		if seen[raw] {
			continue
		}
		seen[raw] = true
		if v, err := semver.NewVersion(raw); err == nil {
			ok = append(ok, parsed{raw, v})
		}
	}
	list := make([]string, 0, len(ok))
	if len(ok) > 0 {
		sort.SliceStable(ok, func(i, j int) bool {
			if c := ok[i].v.Compare(ok[j].v); c != 0 {
				return c > 0
			}
			return ok[i].raw < ok[j].raw
		})
		for _, p := range ok {
			list = append(list, p.raw)
		}
	} else {
		for raw := range seen {
			list = append(list, raw)
		}
		sort.Strings(list)
	}
	if len(list) == 0 {
		return "no versions available"
	}
	more := ""
	if len(list) > maxListedVersions {
		more = fmt.Sprintf(" (and %d more)", len(list)-maxListedVersions)
		list = list[:maxListedVersions]
	}
	return "available versions: " + strings.Join(list, ", ") + more
}

// versionNotFound builds the ErrVersionNotFound failure for want among versions.
func versionNotFound(versions []string, want string) error {
	if want == "" {
		return fail(ErrVersionNotFound, nil, "no stable (non pre-release) version; %s", describeAvailable(versions))
	}
	return fail(ErrVersionNotFound, nil, "%s", describeAvailable(versions))
}
