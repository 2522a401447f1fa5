package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// TestUninstallSkipsAFailingPreDeleteHook: a pre-delete hook that keeps failing makes the uninstall fail
// MaxPreDeleteHookTries-1 times (each error says which try it was), then the release is uninstalled without
// hooks, with a condition and a Warning event saying why; other uninstall errors never skip hooks.
func TestUninstallSkipsAFailingPreDeleteHook(t *testing.T) {
	hookErr := &helm.HookFailedError{Err: errors.New("warning: Hook pre-delete x/templates/hooks.yaml failed: job failed: DeadlineExceeded")}
	tests := []struct {
		name      string
		fail      error
		tries     int
		wantErrs  []string
		wantCalls string
		want      string
	}{
		{name: "hook keeps failing", fail: hookErr, tries: MaxPreDeleteHookTries,
			wantErrs:  []string{"try 1 of 3", "try 2 of 3", ""},
			wantCalls: "Uninstall,Uninstall,Uninstall,UninstallSkippingHooks",
			want:      "Progressing=False/PreDeleteHookSkipped Available=False/Disabled events=[Warning:PreDeleteHookSkipped Normal:Uninstalled] reports=[DISABLE/ERROR DISABLE/ERROR DISABLE/OK]"},
		{name: "other errors are retried, hooks kept", fail: errors.New("cluster unreachable"), tries: MaxPreDeleteHookTries + 1,
			wantErrs:  []string{"cluster unreachable", "cluster unreachable", "cluster unreachable", "cluster unreachable"},
			wantCalls: "Uninstall,Uninstall,Uninstall,Uninstall",
			want:      "Progressing=False/Failed Available=/ events=[] reports=[DISABLE/ERROR DISABLE/ERROR DISABLE/ERROR DISABLE/ERROR]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *castwarev1.Component) { c.Spec.Enabled = false; running10(c) })
			f.engine.state, f.engine.fail = stateOf(deployed10), map[string]error{"Uninstall": tt.fail}
			for i := 0; i < tt.tries; i++ {
				_, _, err := f.r.execute(context.Background(), f.w, f.engine.state, helm.Decision{Step: helm.StepUninstall})
				if want := tt.wantErrs[i]; (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
					t.Fatalf("try %d: err %v, want %q", i+1, err, want)
				}
			}
			if got := strings.Join(actions(f.engine.calls), ","); got != tt.wantCalls {
				t.Errorf("engine actions %q, want %q", got, tt.wantCalls)
			}
			if got := f.summary(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if tt.fail == hookErr && !hookSkipShown(f.comp) {
				t.Errorf("the Disabled condition would hide the skipped hook: %+v", f.comp.Status.Conditions)
			}
		})
	}
}
