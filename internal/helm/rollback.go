package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/metrics"
)

// Rollback rolls a release back to an explicit revision (the state machine's last good one, never
// simply "the previous" one, which may itself have failed).
func (e *Engine) Rollback(ctx context.Context, owner client.Object, name string, toRevision int) (_ *release.Release, err error) {
	defer metrics.StartHelm(metrics.HelmRollback).Done(&err)
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
	// Helm gives the new revision the labels of the target revision; the stamp names this session and
	// this revision instead, and keeps the healthy mark only when the target itself was seen healthy.
	cfg := *ac.Config()
	releases := *cfg.Releases
	base := releases.Driver
	if sd, ok := base.(stampDriver); ok {
		base = sd.Driver
	}
	target, err := releases.Get(name, toRevision)
	if err != nil {
		return nil, fmt.Errorf("read revision %d of %s: %w", toRevision, name, err)
	}
	releases.Driver = stampDriver{Driver: base, session: e.session, rollbackHealthy: HealthyOf(target)}
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
