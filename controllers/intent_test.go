package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// intentComponent is a Component at version 0.2.0 with the given annotations, status.rollback, and the
// request IDs taken up already.
func intentComponent(ann map[string]string, legacy bool, rollbackTaken, retryTaken string) *castwarev1.Component {
	return &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Annotations: ann},
		Spec:       castwarev1.ComponentSpec{Version: "0.2.0"},
		Status:     castwarev1.ComponentStatus{Rollback: legacy, RollbackRequestID: rollbackTaken, RetryRequestID: retryTaken},
	}
}

// TestRollbackIntent: a rollback-request annotation is requested until its ID is taken up (recorded in the
// status), so a stale annotation or a redelivered action is taken once; status.rollback is honoured once.
func TestRollbackIntent(t *testing.T) {
	rb := func(id string) map[string]string { return map[string]string{castwarev1.AnnotationRollbackRequest: id} }
	for _, tc := range []struct {
		name          string
		comp          *castwarev1.Component
		requested     bool
		wantRecorded  string
		wantAfterward bool
	}{
		{"nothing", intentComponent(nil, false, "", ""), false, "", false},
		{"new request", intentComponent(rb("a1"), false, "", ""), true, "a1", false},
		{"request taken already", intentComponent(rb("a1"), false, "a1", ""), false, "a1", false},
		{"newer request", intentComponent(rb("a2"), false, "a1", ""), true, "a2", false},
		{"annotation removed after being taken", intentComponent(nil, false, "a1", ""), false, "a1", false},
		{"deprecated status.rollback", intentComponent(nil, true, "", ""), true, "", false},
		{"deprecated status.rollback with a console ID of an older operator", intentComponent(nil, true, "old", ""), true, "old", false},
		{"both at once are one rollback", intentComponent(rb("a1"), true, "", ""), true, "a1", false},
		{"unrelated annotation", intentComponent(map[string]string{"x": "y"}, false, "", ""), false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			comp := tc.comp
			if got := rollbackRequested(comp); got != tc.requested {
				t.Fatalf("rollbackRequested = %v, want %v", got, tc.requested)
			}
			rollbackTaken(comp)
			if comp.Status.RollbackRequestID != tc.wantRecorded || comp.Status.Rollback {
				t.Fatalf("after rollbackTaken: rollbackRequestID=%q rollback=%v, want %q and false", comp.Status.RollbackRequestID, comp.Status.Rollback, tc.wantRecorded)
			}
			if got := rollbackRequested(comp); got != tc.wantAfterward {
				t.Fatalf("rollbackRequested after it was taken = %v", got)
			}
		})
	}
}

// TestRetryIntent: a retry-request annotation forgets the failed attempt at its version (the spec's when it
// names none) once per request ID, and leaves a failed attempt at another version alone.
func TestRetryIntent(t *testing.T) {
	retry := func(v string) map[string]string {
		return map[string]string{castwarev1.AnnotationRetryRequest: v}
	}
	failed := func(v string) *castwarev1.FailedAttempt { return &castwarev1.FailedAttempt{Version: v} }
	for _, tc := range []struct {
		name         string
		ann          map[string]string
		taken        string
		failed       *castwarev1.FailedAttempt
		wantCleared  bool
		wantRecorded string
	}{
		{"no annotation", nil, "", failed("0.2.0"), false, ""},
		{"retry of the failed version", retry("0.2.0/r1"), "", failed("0.2.0"), true, "r1"},
		{"retry without a version means the spec's", retry("/r1"), "", failed("0.2.0"), true, "r1"},
		{"retry taken already", retry("0.2.0/r1"), "r1", failed("0.2.0"), false, "r1"},
		{"newer retry", retry("0.2.0/r2"), "r1", failed("0.2.0"), true, "r2"},
		{"failed attempt at another version", retry("0.1.0/r1"), "", failed("0.2.0"), false, "r1"},
		{"nothing failed", retry("0.2.0/r1"), "", nil, false, "r1"},
		{"malformed: no request ID", retry("0.2.0"), "", failed("0.2.0"), false, ""},
		{"malformed: empty request ID", retry("0.2.0/"), "", failed("0.2.0"), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			comp := intentComponent(tc.ann, false, "", tc.taken)
			comp.Status.FailedAttempt = tc.failed
			applyIntents(comp)
			if cleared := tc.failed != nil && comp.Status.FailedAttempt == nil; cleared != tc.wantCleared {
				t.Fatalf("failed attempt cleared = %v, want %v", cleared, tc.wantCleared)
			}
			if comp.Status.RetryRequestID != tc.wantRecorded {
				t.Fatalf("retryRequestID = %q, want %q", comp.Status.RetryRequestID, tc.wantRecorded)
			}
			comp.Status.FailedAttempt = tc.failed // the same failure recorded again: the request is not applied twice
			applyIntents(comp)
			if tc.failed != nil && comp.Status.FailedAttempt == nil {
				t.Fatal("a retry request was applied twice")
			}
		})
	}
}

// TestIntentChanged: new intents pass the event filter, the operator's own acknowledgement does not.
func TestIntentChanged(t *testing.T) {
	base := intentComponent(nil, false, "", "")
	for _, tc := range []struct {
		name   string
		mutate func(*castwarev1.Component)
		want   bool
	}{
		{"nothing", func(*castwarev1.Component) {}, false},
		{"rollback request", func(c *castwarev1.Component) {
			c.Annotations = map[string]string{castwarev1.AnnotationRollbackRequest: "a1"}
		}, true},
		{"retry request", func(c *castwarev1.Component) {
			c.Annotations = map[string]string{castwarev1.AnnotationRetryRequest: "0.2.0/r1"}
		}, true},
		{"deprecated status.rollback", func(c *castwarev1.Component) { c.Status.Rollback = true }, true},
		{"request taken up (own status write)", func(c *castwarev1.Component) {
			c.Status.RollbackRequestID, c.Status.RetryRequestID = "a1", "r1"
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.mutate(n)
			if got := intentChanged(base, n); got != tc.want {
				t.Fatalf("intentChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
