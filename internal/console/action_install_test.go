package console

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// TestInstallAction: a console install creates the Component from the catalog (Cast AI unreachable) with the
// overrides as its values; an existing Component is an error unless the action upserts, and the same
// install delivered again changes nothing.
func TestInstallAction(t *testing.T) {
	cat, err := catalog.Parse([]byte(`
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: agent, chart: agent-chart, releaseName: castai-agent}
`))
	if err != nil {
		t.Fatal(err)
	}
	existing := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "spot", Namespace: "ns"},
		Spec: castwarev1.ComponentSpec{Component: "spot", Version: "0.1.0"}, Status: castwarev1.ComponentStatus{CurrentVersion: "0.1.0"}}
	p, c := handlerPoller(t, existing)
	p.Catalog = cat
	install := func(id, comp, version string, upsert bool) error {
		a := &castai.Action{ID: id, Install: &castai.ChartAction{Component: comp, Version: version, Upsert: upsert, ValuesOverrides: map[string]string{"a": "1"}}}
		return p.install(context.Background(), handlerCluster(), a)
	}
	if err := install("i1", "agent", "1.0.0", false); err != nil {
		t.Fatal(err)
	}
	got := handlerComponent(t, c, "agent")
	if got.Spec.Version != "1.0.0" || got.Spec.ReleaseName != "castai-agent" || got.Spec.Cluster != "castai" || !got.Spec.Enabled ||
		string(got.Spec.Values.Raw) != `{"a":"1"}` || got.Annotations[castwarev1.AnnotationActionID] != "i1" || got.Labels[castwarev1.LabelHelmChart] != "" {
		t.Fatalf("created %+v %v %v", got.Spec, got.Annotations, got.Labels)
	}
	if err := install("i1", "agent", "1.0.0", false); err != nil {
		t.Fatalf("delivered again: %v", err)
	}
	if err := install("i2", "spot", "0.2.0", false); err == nil || !strings.Contains(err.Error(), "component spot already exists") {
		t.Fatalf("existing without upsert: %v", err)
	}
	if err := install("i3", "spot", "0.2.0", true); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	if got := handlerComponent(t, c, "spot"); got.Spec.Version != "0.2.0" {
		t.Fatalf("upsert left version %q", got.Spec.Version)
	}
	if err := install("i4", "unknown", "", false); err == nil || !strings.Contains(err.Error(), "not in the operator's catalog") {
		t.Fatalf("unknown component: %v", err)
	}
}
