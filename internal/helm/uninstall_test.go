package helm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

func TestUninstallError(t *testing.T) {
	jobFailed := errors.New("1 error occurred:\n\t* job rel-pre-delete failed: DeadlineExceeded")
	hook := func(ev release.HookEvent, phase release.HookPhase) *release.UninstallReleaseResponse {
		return &release.UninstallReleaseResponse{Release: &release.Release{Hooks: []*release.Hook{
			{Name: "other", Events: []release.HookEvent{release.HookPreInstall}, LastRun: release.HookExecution{Phase: release.HookPhaseSucceeded}},
			{Name: "rel-hook", Events: []release.HookEvent{release.HookPostInstall, ev}, LastRun: release.HookExecution{Phase: phase}},
		}}}
	}
	tests := []struct {
		name     string
		res      *release.UninstallReleaseResponse
		err      error
		wantNil  bool
		wantHook bool
		want     string
	}{
		{name: "done", wantNil: true},
		{name: "release gone", err: fmt.Errorf("uninstall: Release not loaded: x: %w", driver.ErrReleaseNotFound), wantNil: true},
		{name: "pre-delete hook failed", res: hook(release.HookPreDelete, release.HookPhaseFailed), err: jobFailed,
			wantHook: true, want: "uninstall rel: pre-delete hook failed: 1 error occurred"},
		{name: "pre-delete hook still running (the error came before it ran)", res: hook(release.HookPreDelete, release.HookPhaseRunning), err: jobFailed,
			want: "uninstall rel: 1 error occurred"},
		{name: "a failed hook of another event", res: hook(release.HookPostDelete, release.HookPhaseFailed), err: jobFailed,
			want: "uninstall rel: 1 error occurred"},
		{name: "no release in the answer", res: &release.UninstallReleaseResponse{}, err: jobFailed, want: "uninstall rel: 1 error occurred"},
		{name: "api error", err: errors.New("Kubernetes cluster unreachable"), want: "uninstall rel: Kubernetes cluster unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uninstallError("rel", tt.res, tt.err)
			if tt.wantNil {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if got == nil || !strings.HasPrefix(got.Error(), tt.want) {
				t.Fatalf("got %v, want prefix %q", got, tt.want)
			}
			if IsHookFailure(got) != tt.wantHook {
				t.Errorf("IsHookFailure = %v, want %v", IsHookFailure(got), tt.wantHook)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("%v does not wrap Helm's error", got)
			}
		})
	}
}
