package console

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestUninstallAction: a console uninstall deletes the Component; one already gone is no error.
func TestUninstallAction(t *testing.T) {
	p, c := handlerPoller(t, &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns"}})
	for _, name := range []string{"agent", "agent", "never-there"} {
		a := &castai.Action{ID: "u", Uninstall: &castai.ComponentTarget{Component: name}}
		if err := p.uninstall(context.Background(), handlerCluster(), a); err != nil {
			t.Fatalf("uninstall %s: %v", name, err)
		}
	}
	err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "agent"}, &castwarev1.Component{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the Component is still there: %v", err)
	}
}
