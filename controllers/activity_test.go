package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestSpecActivity: a spec change (a new generation, a Component created with a spec not yet observed,
// deletion begun) tells SpecChanged the Component's Cluster; status writes and a settled Component seen
// again at start-up do not; no event is ever filtered out.
func TestSpecActivity(t *testing.T) {
	comp := func(gen, observed int64, deleting bool) *castwarev1.Component {
		c := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", Generation: gen},
			Spec: castwarev1.ComponentSpec{Cluster: "castai"}, Status: castwarev1.ComponentStatus{ObservedGeneration: observed}}
		if deleting {
			now := metav1.Now()
			c.DeletionTimestamp = &now
		}
		return c
	}
	var got []types.NamespacedName
	r := &ComponentReconciler{}
	pred := r.specActivity()
	if !pred.Create(event.CreateEvent{Object: comp(1, 0, false)}) {
		t.Fatal("filtered an event with no hook set")
	}
	r.SpecChanged = func(k types.NamespacedName) { got = append(got, k) }
	tests := []struct {
		name string
		fire func() bool
		want bool
	}{
		{"created, not observed yet", func() bool { return pred.Create(event.CreateEvent{Object: comp(1, 0, false)}) }, true},
		{"settled, listed at start-up", func() bool { return pred.Create(event.CreateEvent{Object: comp(3, 3, false)}) }, false},
		{"spec changed", func() bool {
			return pred.Update(event.UpdateEvent{ObjectOld: comp(3, 3, false), ObjectNew: comp(4, 3, false)})
		}, true},
		{"status written", func() bool {
			return pred.Update(event.UpdateEvent{ObjectOld: comp(4, 3, false), ObjectNew: comp(4, 4, false)})
		}, false},
		{"deletion begun", func() bool {
			return pred.Update(event.UpdateEvent{ObjectOld: comp(4, 4, false), ObjectNew: comp(4, 4, true)})
		}, true},
		{"deleted", func() bool { return pred.Delete(event.DeleteEvent{Object: comp(4, 4, true)}) }, false},
	}
	for _, tt := range tests {
		got = nil
		if !tt.fire() {
			t.Fatalf("%s: event filtered out", tt.name)
		}
		want := 0
		if tt.want {
			want = 1
		}
		if len(got) != want || (want == 1 && got[0] != (types.NamespacedName{Namespace: "ns", Name: "castai"})) {
			t.Fatalf("%s: SpecChanged called with %v, want %d call(s) for ns/castai", tt.name, got, want)
		}
	}
}
