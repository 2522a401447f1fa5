package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
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
	rb := action.NewRollback(ac.Config())
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
