package console

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
)

func TestLastTransitionsRepeats(t *testing.T) {
	a := types.NamespacedName{Namespace: "ns", Name: "agent"}
	b := types.NamespacedName{Namespace: "ns", Name: "spot"}
	tr := func(action castai.ActionType, status castai.ComponentStatus, to, msg string) controllers.Transition {
		return controllers.Transition{Action: action, Status: status, ToVersion: to, FromVersion: "0.1.0", Message: msg}
	}
	type step struct {
		comp types.NamespacedName
		t    controllers.Transition
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a failure verdict reached twice is one failure", []step{
			{a, tr(castai.ActionUpdate, castai.StatusProgressing, "0.2.0", ""), false},
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "update: failed to update"), false},
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "interrupted"), true},
		}},
		{"a retried attempt fails again: reported again", []step{
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), false},
			{a, tr(castai.ActionUpdate, castai.StatusProgressing, "0.2.0", ""), false},
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), false},
		}},
		{"another version's failure is another failure", []step{
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), false},
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.3.0", "x"), false},
		}},
		{"another action's failure is another failure", []step{
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), false},
			{a, tr(castai.ActionRollback, castai.StatusError, "0.2.0", "x"), false},
		}},
		{"OK reports are never dropped here", []step{
			{a, tr(castai.ActionUpdate, castai.StatusOK, "0.2.0", ""), false},
			{a, tr(castai.ActionUpdate, castai.StatusOK, "0.2.0", ""), false},
		}},
		{"components are apart", []step{
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), false},
			{b, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), false},
			{a, tr(castai.ActionUpdate, castai.StatusError, "0.2.0", "x"), true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lastTransitions
			for i, s := range tt.steps {
				if got := l.repeats(s.comp, s.t); got != s.want {
					t.Fatalf("step %d (%s %s/%s to %s): repeats = %v, want %v", i, s.comp.Name, s.t.Action, s.t.Status, s.t.ToVersion, got, s.want)
				}
			}
		})
	}
}
