package helm

import (
	"context"
	"fmt"
	"maps"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Rollback rolls a release back to an explicit revision (the state machine's last good one, never
// simply "the previous" one, which may itself have failed).
func (e *Engine) Rollback(ctx context.Context, owner client.Object, name string, toRevision int) (*release.Release, error) {
	ac, err := e.client(ctx, owner)
	if err != nil {
		return nil, err
	}
	if cur, err := ac.Get(name); err == nil {
		if err := e.GuardNamespaces(ctx, cur); err != nil {
			return nil, err
		}
	}
	done := e.begin(owner, name)
	defer done()
	// Helm gives the new revision the labels of the target revision, so it would name whoever made the
	// target (another process, or nobody for a helm CLI revision) as its author: a crash during the rollback
	// would then be recovered only after the pending timeout. The revision is stamped with this session.
	cfg := *ac.Config()
	releases := *cfg.Releases
	releases.Driver = sessionDriver{Driver: releases.Driver, session: e.session}
	cfg.Releases = &releases
	rb := action.NewRollback(&cfg)
	rb.Version = toRevision
	rb.MaxHistory = e.maxHistory
	rb.Timeout = e.hookTimeout
	rb.CleanupOnFail = true
	if err := rb.Run(name); err != nil {
		return nil, fmt.Errorf("roll back %s to revision %d: %w", name, toRevision, err)
	}
	rel, err := ac.Get(name)
	if err != nil {
		return nil, fmt.Errorf("read %s after rollback: %w", name, err)
	}
	return rel, nil
}

// sessionDriver stamps the session on the pending-rollback record a rollback creates.
type sessionDriver struct {
	driver.Driver
	session string
}

// Create implements driver.Driver.
func (d sessionDriver) Create(key string, rls *release.Release) error {
	if rls != nil && rls.Info != nil && rls.Info.Status == release.StatusPendingRollback {
		labels := make(map[string]string, len(rls.Labels)+1)
		maps.Copy(labels, rls.Labels) // shared with the target revision: never modified in place
		labels[LabelSession] = d.session
		rls.Labels = labels
	}
	return d.Driver.Create(key, rls)
}
