package helm

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Forget deletes the records of the given revisions and nothing else: the objects they made stay. A
// failed takeover is forgotten this way so a retry installs again instead of upgrading a failure.
func (e *Engine) Forget(ctx context.Context, owner client.Object, revisions []*Release) error {
	cfg, err := e.config(ctx, owner)
	if err != nil {
		return err
	}
	for _, r := range revisions {
		if _, err := cfg.Releases.Delete(r.Name, r.Version); err != nil {
			return fmt.Errorf("forget revision %d of %s: %w", r.Version, r.Name, err)
		}
	}
	return nil
}
