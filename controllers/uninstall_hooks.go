package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// MaxPreDeleteHookTries is how many times an uninstall runs a failing pre-delete hook (with the
// controller's backoff between tries) before it uninstalls the release without its delete hooks.
const MaxPreDeleteHookTries = 3

// hookFailures counts, per release, the uninstalls its pre-delete hook failed in this process. A restarted
// process counts again from zero, so a release gets at most MaxPreDeleteHookTries tries per process.
type hookFailures struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts one more failure of key's hook and returns the count.
func (h *hookFailures) add(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[key]++
	return h.n[key]
}

// forget drops key's count (its release is gone).
func (h *hookFailures) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.n, key)
}

// uninstallRelease uninstalls w's release. When its pre-delete hook fails, the error says which try it was
// (the controller retries with backoff); after MaxPreDeleteHookTries failed tries the release is uninstalled
// without its delete hooks, recorded as outHookSkipped. skipped says why the hooks were skipped.
func (r *ComponentReconciler) uninstallRelease(ctx context.Context, w *work) (skipped string, err error) {
	key := string(w.comp.UID) + "/" + w.release
	err = r.Engine.Uninstall(ctx, w.comp, w.release)
	if err == nil || !helm.IsHookFailure(err) {
		if err == nil {
			r.hookFails.forget(key)
		}
		return "", err
	}
	n := r.hookFails.add(key)
	if n < MaxPreDeleteHookTries {
		return "", fmt.Errorf("try %d of %d (then the release is uninstalled without hooks): %w", n, MaxPreDeleteHookTries, err)
	}
	skipped = fmt.Sprintf("release %s uninstalled without its delete hooks: the pre-delete hook failed %d times (last: %s)", w.release, n, strings.Join(strings.Fields(err.Error()), " "))
	if err := r.Engine.UninstallSkippingHooks(ctx, w.comp, w.release); err != nil {
		return "", fmt.Errorf("the pre-delete hook failed %d times; uninstall without hooks: %w", n, err)
	}
	r.hookFails.forget(key)
	r.record(ctx, w, outHookSkipped, note{msg: skipped, available: "enabled is false; the release is not installed"})
	return skipped, nil
}

// hookSkipShown reports whether the Component still shows, for its current generation, that its release was
// uninstalled without hooks: the Disabled condition that would follow says less, so it is not set then.
func hookSkipShown(comp *castwarev1.Component) bool {
	c := meta.FindStatusCondition(comp.Status.Conditions, castwarev1.ConditionProgressing)
	return c != nil && c.Reason == castwarev1.ReasonPreDeleteHookSkipped && c.ObservedGeneration == comp.Generation
}
