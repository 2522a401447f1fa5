package console

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/castware-operator/castware-operator/controllers"
)

// TestSentLedger: a revision's OK report is sent once per process; a new install or upgrade (PROGRESSING) or an
// uninstall makes the number reusable; other Components and other statuses are never held back.
func TestSentLedger(t *testing.T) {
	agent := types.NamespacedName{Namespace: "ns", Name: "agent"}
	spot := types.NamespacedName{Namespace: "ns", Name: "spot"}
	ok := func(rev int) controllers.Transition {
		return controllers.Transition{Action: "ENABLE", Status: "OK", Revision: rev}
	}
	type step struct {
		key  types.NamespacedName
		t    controllers.Transition
		send bool // what admit must answer
		sent bool // whether the send succeeds (records the OK)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a revision once", []step{{agent, ok(1), true, true}, {agent, ok(1), false, false}}},
		{"a failed send is retried", []step{{agent, ok(1), true, false}, {agent, ok(1), true, true}, {agent, ok(1), false, false}}},
		{"the next revision", []step{{agent, ok(1), true, true}, {agent, ok(2), true, true}, {agent, ok(2), false, false}}},
		{"other components", []step{{agent, ok(1), true, true}, {spot, ok(1), true, true}}},
		{"reinstall after uninstall reuses the number", []step{{agent, ok(1), true, true},
			{agent, controllers.Transition{Action: "DISABLE", Status: "OK"}, true, true},
			{agent, controllers.Transition{Action: "ENABLE", Status: "PROGRESSING"}, true, true}, {agent, ok(1), true, true}}},
		{"an install in progress", []step{{agent, ok(1), true, true}, {agent, controllers.Transition{Action: "ENABLE", Status: "PROGRESSING"}, true, true}, {agent, ok(1), true, true}}},
		{"errors are not held back", []step{{agent, controllers.Transition{Action: "UPDATE", Status: "ERROR"}, true, true},
			{agent, controllers.Transition{Action: "UPDATE", Status: "ERROR"}, true, true}}},
		{"an OK without a revision is not held back", []step{{agent, controllers.Transition{Action: "ROLLBACK", Status: "OK"}, true, true},
			{agent, controllers.Transition{Action: "ROLLBACK", Status: "OK"}, true, true}}},
		{"an error does not forget", []step{{agent, ok(3), true, true}, {agent, controllers.Transition{Action: "UPDATE", Status: "ERROR"}, true, true}, {agent, ok(3), false, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &sentLedger{}
			for i, s := range tc.steps {
				if got := l.admit(s.key, s.t); got != s.send {
					t.Fatalf("step %d (%s %s/%s revision %d): admit = %v, want %v", i, s.key.Name, s.t.Action, s.t.Status, s.t.Revision, got, s.send)
				}
				if s.send && s.sent {
					l.sentOK(s.key, s.t)
				}
			}
		})
	}
}
