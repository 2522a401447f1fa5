package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// TestReconcileDeleteOrphans: a deleted Component's release is uninstalled, unless the Component asked to
// be orphaned or its namespace is being deleted (then the Component goes because everything in the
// namespace goes); the finalizer is released either way.
func TestReconcileDeleteOrphans(t *testing.T) {
	cat, err := catalog.Parse([]byte("- group: castware.cast.ai\n  version: v1alpha1\n  kind: Component\n  component: castai-agent\n  chart: castai-agent\n  releaseName: castai-agent\n  phase: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		mutate    func(*castwarev1.Component)
		ns        *corev1.Namespace // nil: gone
		wantCalls string
	}{
		{name: "uninstalled", ns: namespace(false), wantCalls: "Observe,Uninstall"},
		{name: "namespace being deleted", ns: namespace(true), wantCalls: ""},
		{name: "namespace gone", wantCalls: ""},
		{name: "annotated orphan", ns: namespace(false), wantCalls: "",
			mutate: func(c *castwarev1.Component) { c.Annotations = map[string]string{AnnotationOrphan: "true"} }},
		{name: "delete candidate", ns: namespace(false), wantCalls: "",
			mutate: func(c *castwarev1.Component) { c.Labels = map[string]string{castwarev1.LabelDeleteCandidate: "true"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *castwarev1.Component) {
				c.Finalizers = []string{castwarev1.FinalizerCleanupHelm}
				if tc.mutate != nil {
					tc.mutate(c)
				}
			})
			ctx := context.Background()
			if err := f.r.Client.Delete(ctx, f.comp.DeepCopy()); err != nil {
				t.Fatal(err)
			}
			if err := f.r.Client.Get(ctx, client.ObjectKeyFromObject(f.comp), f.comp); err != nil {
				t.Fatal(err)
			}
			scheme := runtime.NewScheme()
			_ = corev1.AddToScheme(scheme)
			nsReader := fake.NewClientBuilder().WithScheme(scheme)
			if tc.ns != nil {
				nsReader = nsReader.WithObjects(tc.ns)
			}
			f.r.APIReader, f.r.Catalog = nsReader.Build(), cat
			f.engine.state = stateOf(deployed10)
			if _, err := f.r.reconcileDelete(ctx, f.comp); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(f.engine.calls, ","); got != tc.wantCalls {
				t.Errorf("engine calls %q, want %q", got, tc.wantCalls)
			}
			if err := f.r.Client.Get(ctx, client.ObjectKeyFromObject(f.comp), &castwarev1.Component{}); err == nil {
				t.Errorf("the Component is still there: its finalizer was not released")
			}
		})
	}
}

// namespace is the Component's namespace, being deleted or not.
func namespace(deleting bool) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent"}}
	if deleting {
		now := metav1.Now()
		ns.DeletionTimestamp, ns.Finalizers = &now, []string{"test/keep"}
	}
	return ns
}
