package helm

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Unlock marks a revision left pending-install, pending-upgrade or pending-rollback by an interrupted
// operation as failed, so Helm accepts the next operation and the state machine can roll back or reinstall.
func (e *Engine) Unlock(ctx context.Context, owner client.Object, rel *release.Release) error {
	if rel == nil || rel.Info == nil || !rel.Info.Status.IsPending() {
		return nil
	}
	ac, err := e.client(ctx, owner)
	if err != nil {
		return err
	}
	was := rel.Info.Status
	rel.Info.Status = release.StatusFailed
	rel.Info.Description = fmt.Sprintf("interrupted while %s; marked failed by castware-operator", was)
	if was == release.StatusPendingRollback {
		// A rollback revision records its target's manifest, but what runs is still the revision that was
		// deployed when the rollback began (Helm supersedes it only when a rollback completes). Helm computes
		// the changes of the next rollback from this revision's manifest: record the applied one, or fields and
		// objects of the deployed revision that the target lacks would survive that rollback.
		if dep, err := ac.Config().Releases.Deployed(rel.Name); err == nil && dep.Version < rel.Version {
			rel.Manifest = dep.Manifest
			rel.Info.Description += fmt.Sprintf(" (the objects of revision %d stayed applied)", dep.Version)
		}
	}
	if err := ac.Config().Releases.Update(rel); err != nil {
		return fmt.Errorf("unlock release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	return nil
}

// MarkHealthy records on a revision that all its workloads became ready.
func (e *Engine) MarkHealthy(ctx context.Context, owner client.Object, rel *release.Release) error {
	if HealthyOf(rel) {
		return nil
	}
	ac, err := e.client(ctx, owner)
	if err != nil {
		return err
	}
	labels := make(map[string]string, len(rel.Labels)+2)
	maps.Copy(labels, rel.Labels)
	if SessionOf(rel) == "" {
		delete(labels, LabelSession) // copied from an operator revision by someone else's upgrade
	}
	labels[LabelHealthy] = "true"
	labels[LabelRevision] = strconv.Itoa(rel.Version)
	rel.Labels = labels
	if err := ac.Config().Releases.Update(rel); err != nil {
		return fmt.Errorf("mark release %s revision %d healthy: %w", rel.Name, rel.Version, err)
	}
	return nil
}
