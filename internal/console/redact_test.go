package console

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// consoleKey is an API key as read from a Secret: no recognisable shape, only registered.
const consoleKey = "console0nly-Key-no-shape"

// TestHandledActionsNeverCarryTheKey records failed actions whose errors quote the key, once whole and
// once across the point where the stored error is cut: status.handledActions holds neither the key nor
// its start.
func TestHandledActionsNeverCarryTheKey(t *testing.T) {
	redact.Add(consoleKey)
	cl := handlerCluster()
	p, c := handlerPoller(t, cl)
	key := types.NamespacedName{Namespace: cl.Namespace, Name: cl.Name}
	errs := map[string]error{
		"whole": errors.New("helm install leaky: apiKey: " + consoleKey + " rejected"),
		"cut":   errors.New(strings.Repeat("x", 990) + consoleKey + " rejected"),
	}
	for id, actionErr := range errs {
		if err := p.recordHandled(context.Background(), key, &castai.Action{ID: id}, actionErr, false); err != nil {
			t.Fatal(err)
		}
	}
	got := &castwarev1.Cluster{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cl), got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.HandledActions) != len(errs) {
		t.Fatalf("handled actions %+v", got.Status.HandledActions)
	}
	for _, h := range got.Status.HandledActions {
		if strings.Contains(h.Error, consoleKey[:10]) || !strings.Contains(h.Error, redact.Placeholder) {
			t.Errorf("action %s recorded the key (or its start): %q", h.ID, h.Error)
		}
	}
}

// TestReportNeverCarriesTheKey: the recordActionResult body of a transition whose message quotes the key.
func TestReportNeverCarriesTheKey(t *testing.T) {
	redact.Add(consoleKey)
	comp := &castwarev1.Component{Spec: castwarev1.ComponentSpec{Component: "leaky"}}
	res := (&Reporter{}).Result(context.Background(), comp, controllers.Transition{Action: "ENABLE", Status: "ERROR",
		Message: "install failed: template: apiKey " + consoleKey})
	if strings.Contains(res.Message, consoleKey) || !strings.Contains(res.Message, redact.Placeholder) {
		t.Errorf("report message %q", res.Message)
	}
}
