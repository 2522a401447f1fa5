package helm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/metrics"
)

// HookFailedError is an uninstall stopped by a failing pre-delete hook: Helm deleted none of the objects (the
// release is left marked uninstalling), so it can be tried again, or made without hooks (UninstallSkippingHooks).
type HookFailedError struct {
	// Err is Helm's error.
	Err error
}

// Error says which hook failed and why.
func (e *HookFailedError) Error() string { return "pre-delete hook failed: " + e.Err.Error() }

// Unwrap returns Helm's error.
func (e *HookFailedError) Unwrap() error { return e.Err }

// IsHookFailure reports whether err is an uninstall stopped by its pre-delete hook.
func IsHookFailure(err error) bool {
	var h *HookFailedError
	return errors.As(err, &h)
}

// Uninstall removes a release and its objects, keeping no history. A missing release is not an error.
// Namespaces the release rendered are kept (see GuardNamespaces). A failing pre-delete hook gives a
// *HookFailedError.
func (e *Engine) Uninstall(ctx context.Context, owner client.Object, name string) (err error) {
	defer metrics.StartHelm(metrics.HelmUninstall).Done(&err)
	return e.uninstall(ctx, owner, name, false)
}

// UninstallSkippingHooks removes a release without running its delete hooks (Helm's --no-hooks): the way
// out when a pre-delete hook keeps failing.
func (e *Engine) UninstallSkippingHooks(ctx context.Context, owner client.Object, name string) (err error) {
	defer metrics.StartHelm(metrics.HelmUninstall).Done(&err)
	return e.uninstall(ctx, owner, name, true)
}

func (e *Engine) uninstall(ctx context.Context, owner client.Object, name string, noHooks bool) error {
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
	res, err := ac.Uninstall(name, func(u *action.Uninstall) error {
		u.Timeout = e.hookTimeout
		u.KeepHistory = false
		u.DisableHooks = noHooks
		return nil
	})
	return uninstallError(name, res, err)
}

// uninstallError wraps Helm's answer to an uninstall: nil for a missing release, a *HookFailedError when
// a pre-delete hook ran and failed (Helm returns the release it worked on, its hooks' last runs marked; the
// post-delete hook runs after the objects are gone and is not retried).
func uninstallError(name string, res *release.UninstallReleaseResponse, err error) error {
	switch {
	case err == nil, errors.Is(err, driver.ErrReleaseNotFound):
		return nil
	case res != nil && preDeleteHookFailed(res.Release):
		return fmt.Errorf("uninstall %s: %w", name, &HookFailedError{Err: err})
	default:
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
}

// preDeleteHookFailed reports whether a pre-delete hook of rel ran and failed.
func preDeleteHookFailed(rel *release.Release) bool {
	if rel == nil {
		return false
	}
	for _, h := range rel.Hooks {
		if h != nil && h.LastRun.Phase == release.HookPhaseFailed && slices.Contains(h.Events, release.HookPreDelete) {
			return true
		}
	}
	return false
}
