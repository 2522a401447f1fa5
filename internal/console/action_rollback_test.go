package console

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestRollbackAction: a console rollback sets the rollback-request annotation to its action ID and leaves
// the status alone; asked again, or taken up already, it changes nothing; without a revision to go back
// to, or without the Component, it fails.
func TestRollbackAction(t *testing.T) {
	comp := func(name string, rev int, ann map[string]string, taken string) *castwarev1.Component {
		return &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Annotations: ann},
			Status: castwarev1.ComponentStatus{Revision: rev, RollbackRequestID: taken}}
	}
	requested := map[string]string{castwarev1.AnnotationRollbackRequest: "rb"}
	p, c := handlerPoller(t, comp("fresh", 3, nil, ""), comp("asked", 3, requested, ""), comp("taken", 3, nil, "rb"),
		comp("older", 3, map[string]string{castwarev1.AnnotationRollbackRequest: "old"}, "old"), comp("first", 1, nil, ""))
	for _, tc := range []struct {
		name, comp string
		wantAnn    string
		wantErr    string
	}{
		{"new request", "fresh", "rb", ""},
		{"delivered again", "asked", "rb", ""},
		{"taken up already", "taken", "", ""},
		{"after an older request", "older", "rb", ""},
		{"nothing to roll back", "first", "", "nothing to rollback (release revision 1)"},
		{"missing", "nope", "", "component nope not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &castai.Action{ID: "rb", Rollback: &castai.ComponentTarget{Component: tc.comp}}
			err := p.rollback(context.Background(), handlerCluster(), a)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("rollback = %v, want error %q", err, tc.wantErr)
			}
			if tc.comp == "nope" {
				return
			}
			got := handlerComponent(t, c, tc.comp)
			if ann := got.Annotations[castwarev1.AnnotationRollbackRequest]; ann != tc.wantAnn {
				t.Fatalf("rollback-request = %q, want %q", ann, tc.wantAnn)
			}
			if got.Status.Rollback {
				t.Fatal("status.rollback set: the status is no command channel")
			}
		})
	}
}
