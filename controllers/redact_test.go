package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// unshapedKey is an API key as read from a Secret, with no recognisable shape: only registering it makes it
// redactable.
const unshapedKey = "plain0ld-Key-value-7"

// helmError is a Helm error quoting a rendered value, as a chart taking the key in plaintext produces.
var helmError = errors.New(`template: leaky/templates/secret.yaml:2: executing "leaky/templates/secret.yaml": apiKey: ` + unshapedKey +
	` rejected by https://api.example/v1?key=` + unshapedKey)

// TestFailuresNeverCarryTheKey drives the steps whose failure messages quote Helm errors and checks every
// sink: conditions, status.failedAttempt, events and the transitions reported to Cast AI.
func TestFailuresNeverCarryTheKey(t *testing.T) {
	redact.Add(unshapedKey)
	tests := []stepCase{
		{name: "install fails", state: &helm.State{}, fail: map[string]error{"Install": helmError}, d: helm.Decision{Step: helm.StepInstall}, wantErr: true},
		{name: "upgrade fails", comp: running10, state: stateOf(deployed10), after: stateOf(failed11, deployed10),
			fail: map[string]error{"Upgrade": helmError}, d: helm.Decision{Step: helm.StepUpgrade}, again: true},
		{name: "a failed upgrade is rolled back", comp: running10, state: stateOf(failed11, deployed10),
			d: helm.Decision{Step: helm.StepRollback, RollbackTo: 1, FailedAttempt: &helm.Attempt{Version: "1.1.0"}, Message: "upgrade failed: " + helmError.Error()}},
		{name: "rollback fails", comp: running10, state: stateOf(failed11, deployed10), fail: map[string]error{"Rollback:1": helmError},
			d: helm.Decision{Step: helm.StepRollback, RollbackTo: 1, FailedAttempt: &helm.Attempt{Version: "1.1.0"}}, wantErr: true},
		{name: "uninstall fails", comp: func(c *castwarev1.Component) { running10(c); c.Spec.Enabled = false }, state: stateOf(deployed10),
			fail: map[string]error{"Uninstall": helmError}, d: helm.Decision{Step: helm.StepUninstall}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.comp)
			f.engine.state, f.engine.after, f.engine.fail = tt.state, tt.after, tt.fail
			_, _, err := f.r.execute(context.Background(), f.w, tt.state, tt.d)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			sinks := map[string]any{"status": f.comp.Status, "events": fmt.Sprint(f.events.events), "reports": f.report.got}
			seen := false
			for name, v := range sinks {
				b, _ := json.Marshal(v)
				if strings.Contains(string(b), unshapedKey) {
					t.Errorf("%s carry the key: %s", name, b)
				}
				seen = seen || strings.Contains(string(b), redact.Placeholder)
			}
			if !seen {
				t.Errorf("no sink quotes the redacted error: the test would not see a leak (%s)", f.summary())
			}
		})
	}
}
