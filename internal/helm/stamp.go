package helm

import (
	"maps"
	"strconv"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// Helm gives every new revision the labels of the revision it starts from: an upgrade those of the newest
// revision, a rollback those of its target. Without care a `helm upgrade` run by hand would carry the
// operator's session (and look like the operator's own interrupted operation while it is still running) and
// its healthy mark (and count as good before its pods are ready). So the engine stamps every record it
// creates with the revision number it belongs to, and its labels count only on that revision.

// SessionOf returns the operator session that created the revision, or "" when someone else did (the
// helm CLI, possibly carrying labels it copied from an operator revision).
func SessionOf(r *release.Release) string { return ownLabel(r, LabelSession) }

// HealthyOf reports whether the operator saw every workload of this very revision ready.
func HealthyOf(r *release.Release) bool { return ownLabel(r, LabelHealthy) == "true" }

func ownLabel(r *release.Release, key string) string {
	if r == nil || r.Labels[LabelRevision] != strconv.Itoa(r.Version) {
		return ""
	}
	return r.Labels[key]
}

// stampDriver writes the engine's labels on every pending record Helm creates through it (install, upgrade,
// rollback): this session, the revision number, and no healthy mark, except that a rollback to a revision
// seen healthy restores that revision and is healthy from the start (rollbackHealthy).
type stampDriver struct {
	driver.Driver
	session         string
	rollbackHealthy bool
}

// Create implements driver.Driver.
func (d stampDriver) Create(key string, rls *release.Release) error {
	if rls != nil && rls.Info != nil && rls.Info.Status.IsPending() {
		labels := make(map[string]string, len(rls.Labels)+2)
		maps.Copy(labels, rls.Labels) // may be shared with the revision they were copied from: never modified in place
		labels[LabelSession] = d.session
		labels[LabelRevision] = strconv.Itoa(rls.Version)
		delete(labels, LabelHealthy)
		if rls.Info.Status == release.StatusPendingRollback && d.rollbackHealthy {
			labels[LabelHealthy] = "true"
		}
		rls.Labels = labels
	}
	return d.Driver.Create(key, rls)
}
