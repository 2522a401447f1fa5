package controllers

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/migration"
)

// TestLegacyKeyEnvRewiring: a takeover first points a literal API_KEY at the Cluster's Secret (paused, so it
// rolls out with the install); only a successful install removes the entry. A takeover that fails in between
// leaves the workload reading a valid key, never without one.
func TestLegacyKeyEnvRewiring(t *testing.T) {
	ctx := context.Background()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: "ns"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "sidecar", Env: []corev1.EnvVar{{Name: "API_KEY", Value: "not-the-main-container"}}},
			{Name: "agent", Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "API_KEY", Value: "plaintext-legacy-key"}, {Name: "B", Value: "2"}}},
		}}}}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(dep).Build()
	r := &ComponentReconciler{Client: c, APIReader: c}
	spec := catalog.Workload{Kind: "Deployment", Names: []string{"castai-agent"}, Container: "agent"}
	read := func() *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "castai-agent"}, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	wl, err := migration.GetWorkload(ctx, c, "Deployment", "ns", "castai-agent")
	if err != nil || wl == nil {
		t.Fatalf("workload: %v", err)
	}

	resume, err := r.rewireLegacyKeyEnv(ctx, wl, spec, "castware-api-key")
	if err != nil || resume == nil {
		t.Fatalf("rewire: resume=%v err=%v", resume != nil, err)
	}
	d := read()
	env := d.Spec.Template.Spec.Containers[1].Env
	if !d.Spec.Paused || len(env) != 3 || env[0].Name != "A" || env[2].Name != "B" || !readsKeyFrom(env[1], "castware-api-key") {
		t.Fatalf("after rewiring: paused=%v env=%+v", d.Spec.Paused, env)
	}
	if d.Spec.Template.Spec.Containers[0].Env[0].Value != "not-the-main-container" {
		t.Fatal("another container was changed")
	}
	// The install failed: resuming leaves the entry reading the Cluster's Secret.
	resume()
	if d := read(); d.Spec.Paused || !readsKeyFrom(d.Spec.Template.Spec.Containers[1].Env[1], "castware-api-key") {
		t.Fatalf("after a failed takeover: paused=%v env=%+v", d.Spec.Paused, d.Spec.Template.Spec.Containers[1].Env)
	}
	// A second attempt finds nothing more to rewire; its successful install removes the entry.
	wl, _ = migration.GetWorkload(ctx, c, "Deployment", "ns", "castai-agent")
	if resume, err := r.rewireLegacyKeyEnv(ctx, wl, spec, "castware-api-key"); err != nil || resume != nil {
		t.Fatalf("second rewire changed something: %v", err)
	}
	if err := r.dropRewiredKeyEnv(ctx, wl, spec, "castware-api-key"); err != nil {
		t.Fatal(err)
	}
	if env := read().Spec.Template.Spec.Containers[1].Env; len(env) != 2 || env[0].Name != "A" || env[1].Name != "B" {
		t.Fatalf("after a successful takeover: env=%+v", env)
	}
	// An entry that reads another Secret is not the rewired one: left alone.
	if err := r.patchJSON(ctx, wl, []map[string]any{{"op": "add", "path": "/spec/template/spec/containers/1/env/-",
		"value": corev1.EnvVar{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "other"}, Key: "API_KEY"}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.dropRewiredKeyEnv(ctx, wl, spec, "castware-api-key"); err != nil {
		t.Fatal(err)
	}
	if env := read().Spec.Template.Spec.Containers[1].Env; len(env) != 3 {
		t.Fatalf("an entry reading another Secret was removed: %+v", env)
	}
}
