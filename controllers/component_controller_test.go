package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

func TestComponentChangedPredicate(t *testing.T) {
	base := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Generation: 1, Labels: map[string]string{"a": "b"}}}
	tests := []struct {
		name   string
		mutate func(*castwarev1.Component)
		want   bool
	}{
		{"own status write", func(c *castwarev1.Component) { c.Status.CurrentVersion = "1.0.0" }, false},
		{"spec change", func(c *castwarev1.Component) { c.Generation = 2 }, true},
		{"label change", func(c *castwarev1.Component) { c.Labels = map[string]string{"a": "c"} }, true},
		{"annotation added", func(c *castwarev1.Component) { c.Annotations = map[string]string{"x": "y"} }, true},
		{"deletion", func(c *castwarev1.Component) { now := metav1.Now(); c.DeletionTimestamp = &now }, true},
		{"rollback requested", func(c *castwarev1.Component) { c.Status.Rollback = true }, true},
		{"finalizer added", func(c *castwarev1.Component) { c.Finalizers = []string{"f"} }, true},
	}
	p := componentChanged()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := base.DeepCopy()
			tt.mutate(n)
			if got := p.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n}); got != tt.want {
				t.Fatalf("predicate = %v, want %v", got, tt.want)
			}
		})
	}
	withFailure := base.DeepCopy()
	withFailure.Status.FailedAttempt = &castwarev1.FailedAttempt{Version: "1"}
	if !p.Update(event.UpdateEvent{ObjectOld: withFailure, ObjectNew: base}) {
		t.Fatal("clearing a failed attempt (a console retry) must trigger a reconcile")
	}
}

func TestEarliest(t *testing.T) {
	if r := earliest(ctrlResult(0), ctrlResult(5)); r.RequeueAfter != 5 {
		t.Fatalf("got %v", r)
	}
	if r := earliest(ctrlResult(7), ctrlResult(5)); r.RequeueAfter != 5 {
		t.Fatalf("got %v", r)
	}
	if r := earliest(ctrlResult(3), ctrlResult(0)); r.RequeueAfter != 3 {
		t.Fatalf("got %v", r)
	}
}

func ctrlResult(d int) ctrl.Result { return ctrl.Result{RequeueAfter: time.Duration(d)} }
