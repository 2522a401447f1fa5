package helm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/storage/driver"
)

func TestUninstallError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantNil  bool
		wantHook bool
		want     string
	}{
		{name: "done", err: nil, wantNil: true},
		{name: "release gone", err: fmt.Errorf("uninstall: Release not loaded: x: %w", driver.ErrReleaseNotFound), wantNil: true},
		{name: "pre-delete hook failed", err: errors.New("warning: Hook pre-delete test-hooks/templates/hooks.yaml failed: 1 error occurred:\n\t* job x failed: DeadlineExceeded"),
			wantHook: true, want: "uninstall rel: pre-delete hook failed: warning: Hook pre-delete test-hooks/templates/hooks.yaml failed"},
		{name: "post-delete hook is not a pre-delete failure", err: errors.New("warning: Hook post-delete t/templates/h.yaml failed: boom"),
			want: "uninstall rel: warning: Hook post-delete"},
		{name: "api error", err: errors.New("Kubernetes cluster unreachable"), want: "uninstall rel: Kubernetes cluster unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uninstallError("rel", tt.err)
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
