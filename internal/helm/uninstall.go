package helm

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/metrics"
)

// Uninstall removes a release and its objects, keeping no history. A missing release is not an error.
// Namespaces the release rendered are kept (see GuardNamespaces).
func (e *Engine) Uninstall(ctx context.Context, owner client.Object, name string) (err error) {
	defer metrics.StartHelm(metrics.HelmUninstall).Done(&err)
	return e.uninstall(ctx, owner, name)
}

func (e *Engine) uninstall(ctx context.Context, owner client.Object, name string) error {
	ac, err := e.client(ctx, owner)
	if err != nil {
		return err
	}
	if cur, err := ac.Get(name); err == nil {
		if err := e.guardForUninstall(ctx, ac.Config(), cur); err != nil {
			return err
		}
	}
	done := e.begin(owner, name)
	defer done()
	_, err = ac.Uninstall(name, func(u *action.Uninstall) error {
		u.Timeout = e.hookTimeout
		u.KeepHistory = false
		return nil
	})
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
	return nil
}
