package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// TestConsoleFailureNeverCarriesTheKey: a console install action whose chart fails to render with an
// error quoting the Cluster's API key (read from its Secret, where the operator registered it). The failure
// is reported, and no Cluster or Component status, Event, or body the fake Cast AI API received holds the key.
func TestConsoleFailureNeverCarriesTheKey(t *testing.T) {
	ns := newNamespace(t)
	cat := testCatalogPlus(t, `
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: leaky
  chart: test-leaky
  releaseName: leaky
  phase: 1
  clusterValues:
    apiKey: "{{ .APIKey }}"
`)
	startOperator(t, ns, func(o *operator.Options) { o.Catalog = cat })
	createCluster(t, ns, func(c *castwarev1.Cluster) { c.Spec.Cluster = nil })
	api := fakeAPI(t, ns)
	var clusterID string
	eventually(t, 30*time.Second, "cluster registered", func() error {
		clusterID = getCluster(t, ns).ClusterID()
		if clusterID == "" {
			return errf("not registered")
		}
		return nil
	})
	action := api.EnqueueAction(clusterID, castai.Action{Install: &castai.ChartAction{Component: "leaky", Version: "1.0.0",
		ValuesOverrides: map[string]string{"leakInError": "true"}}})
	c := waitCondition(t, ns, "leaky", castwarev1.ConditionProgressing, metav1.ConditionFalse, castwarev1.ReasonFailed, 2*time.Minute)
	if m := condition(c, castwarev1.ConditionProgressing).Message; !strings.Contains(m, "refusing to install with the API key [REDACTED]") {
		t.Errorf("the failure is not reported as the redacted error: %q", m)
	}
	failed := waitResult(t, api, clusterID, "install reported failed", func(r castai.ActionResult) bool {
		return r.Name == "leaky" && r.Status == castai.StatusError
	})
	if !strings.Contains(failed.Message, "[REDACTED]") {
		t.Errorf("the failure sent to Cast AI does not quote the redacted error: %q", failed.Message)
	}
	eventually(t, 30*time.Second, "action acknowledged", func() error {
		for _, a := range api.Acks(clusterID) {
			if a.ActionID == action {
				return nil
			}
		}
		return errf("no ack of %s", action)
	})
	for _, f := range scanForKey(t, ns, api.ActionResults(clusterID), api.Acks(clusterID), api.Logs(clusterID), api.Clusters()) {
		t.Error("key found in " + f)
	}
}

// scanForKey returns where the Cluster, Components and Events of ns, or sent (what the fake Cast AI API
// received), hold the namespace's API key, as is or base64-encoded.
func scanForKey(t *testing.T, ns string, sent ...any) []string {
	t.Helper()
	forms := keyForms(apiKeyFor(ns))
	var found []string
	lists := map[string]client.ObjectList{"Clusters": &castwarev1.ClusterList{}, "Components": &castwarev1.ComponentList{},
		"events": &corev1.EventList{}, "events.k8s.io": &eventsv1.EventList{}}
	for name, l := range lists {
		if err := k8s.List(context.Background(), l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		found = append(found, leaks(name, asJSON(t, l), forms)...)
	}
	for _, s := range sent {
		found = append(found, leaks("sent to Cast AI", asJSON(t, s), forms)...)
	}
	return found
}
