package migration

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/castware-operator/castware-operator/internal/catalog"
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
	ws := Workloads{Client: c, Reader: c}
	spec := catalog.Workload{Kind: "Deployment", Names: []string{"castai-agent"}, Container: "agent"}
	read := func() *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "castai-agent"}, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	wl, err := GetWorkload(ctx, c, "Deployment", "ns", "castai-agent")
	if err != nil || wl == nil {
		t.Fatalf("workload: %v", err)
	}

	resume, err := ws.RewireLegacyKeyEnv(ctx, wl, spec, "castware-api-key")
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
	wl, _ = GetWorkload(ctx, c, "Deployment", "ns", "castai-agent")
	if resume, err := ws.RewireLegacyKeyEnv(ctx, wl, spec, "castware-api-key"); err != nil || resume != nil {
		t.Fatalf("second rewire changed something: %v", err)
	}
	if err := ws.DropRewiredKeyEnv(ctx, wl, spec, "castware-api-key"); err != nil {
		t.Fatal(err)
	}
	if env := read().Spec.Template.Spec.Containers[1].Env; len(env) != 2 || env[0].Name != "A" || env[1].Name != "B" {
		t.Fatalf("after a successful takeover: env=%+v", env)
	}
	// An entry that reads another Secret is not the rewired one: left alone.
	if err := ws.patchJSON(ctx, wl, []map[string]any{{"op": "add", "path": "/spec/template/spec/containers/1/env/-",
		"value": corev1.EnvVar{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "other"}, Key: "API_KEY"}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := ws.DropRewiredKeyEnv(ctx, wl, spec, "castware-api-key"); err != nil {
		t.Fatal(err)
	}
	if env := read().Spec.Template.Spec.Containers[1].Env; len(env) != 3 {
		t.Fatalf("an entry reading another Secret was removed: %+v", env)
	}
}

// workloadsFixture is a fake cluster holding objs, and Workloads over it.
func workloadsFixture(t *testing.T, objs ...client.Object) (Workloads, client.Client) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	return Workloads{Client: c, Reader: c}, c
}

func keySecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: data}
}

func TestPreviousKeySecret(t *testing.T) {
	ctx := context.Background()
	spec := catalog.Workload{Kind: "Deployment", Names: []string{"castai-agent"}, Container: "agent"}
	withEnv := func(env []corev1.EnvVar, from ...string) *Workload {
		c := corev1.Container{Name: "agent", Env: env}
		for _, s := range from {
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s}}})
		}
		return &Workload{Kind: "Deployment", Namespace: "ns", Name: "castai-agent", Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}}
	}
	ref := func(secret string) []corev1.EnvVar {
		return []corev1.EnvVar{{Name: APIKeyEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: APIKeyEnv}}}}
	}
	ws, _ := workloadsFixture(t, keySecret("legacy", map[string][]byte{APIKeyEnv: []byte("k")}), keySecret("empty", nil))
	tests := []struct {
		name string
		wl   *Workload
		want string
	}{
		{"a secretKeyRef to a legacy Secret", withEnv(ref("legacy")), "legacy"},
		{"already the Cluster's Secret", withEnv(ref("castware-api-key")), ""},
		{"an envFrom Secret holding the key", withEnv(nil, "empty", "legacy"), "legacy"},
		{"a Secret without the key", withEnv(nil, "empty"), ""},
		{"a Secret that does not exist", withEnv(ref("gone")), ""},
		{"a literal key", withEnv([]corev1.EnvVar{{Name: APIKeyEnv, Value: "plaintext"}}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ws.PreviousKeySecret(ctx, tt.wl, spec, "castware-api-key"); got != tt.want {
				t.Fatalf("PreviousKeySecret = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeepSecret(t *testing.T) {
	ctx := context.Background()
	ws, c := workloadsFixture(t, keySecret("legacy", nil))
	if err := ws.KeepSecret(ctx, "ns", "legacy"); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "legacy"}, sec); err != nil {
		t.Fatal(err)
	}
	if sec.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("annotations = %v", sec.Annotations)
	}
	if err := ws.KeepSecret(ctx, "ns", "gone"); err != nil {
		t.Fatalf("a missing Secret: %v", err)
	}
}

func TestSecretInUse(t *testing.T) {
	ctx := context.Background()
	reading := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "legacy"}}}}}}}}}}
	ws, _ := workloadsFixture(t, reading)
	manifest := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: agent\nspec:\n  template:\n    spec:\n      containers:\n      - name: agent\n        envFrom:\n        - secretRef:\n            name: %s\n"
	tests := []struct {
		name, manifest, workload string
		want                     bool
	}{
		{"the release reads it", fmt.Sprintf(manifest, "legacy"), "", true},
		{"the live workload still reads it", fmt.Sprintf(manifest, "castware-api-key"), "Deployment/agent", true},
		{"nothing reads it", fmt.Sprintf(manifest, "castware-api-key"), "", false},
		{"the workload is gone", fmt.Sprintf(manifest, "castware-api-key"), "Deployment/gone", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ws.SecretInUse(ctx, tt.manifest, "legacy", "ns", tt.workload)
			if err != nil || got != tt.want {
				t.Fatalf("SecretInUse = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestReady(t *testing.T) {
	ctx := context.Background()
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "ns"},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 1}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Spec: appsv1.StatefulSetSpec{Replicas: &one},
		Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}}
	ws, _ := workloadsFixture(t, dep, ds, sts)
	tests := []struct {
		kind, name string
		ready      bool
		detail     string
	}{
		{"Deployment", "d", true, ""},
		{"DaemonSet", "ds", false, "1/2 pods ready"},
		{"StatefulSet", "s", true, "1/1 replicas ready"},
	}
	for _, tt := range tests {
		st, err := ws.Ready(ctx, &Workload{Kind: tt.kind, Namespace: "ns", Name: tt.name})
		if err != nil || st.Kind != tt.kind || st.Ready != tt.ready || (tt.detail != "" && st.Detail != tt.detail) {
			t.Errorf("Ready(%s) = %+v, %v; want ready=%v %q", tt.kind, st, err, tt.ready, tt.detail)
		}
	}
	if _, err := ws.Ready(ctx, &Workload{Kind: "Deployment", Namespace: "ns", Name: "gone"}); err == nil {
		t.Error("a missing workload: no error")
	}
}

// TestLeftoversAndRemove: of an old installation's objects, the one the chart replaces is removed, the one
// the release adopted is left alone, and the one it does not replace is kept.
func TestLeftoversAndRemove(t *testing.T) {
	ctx := context.Background()
	sa := func(name string, ann map[string]string) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: ann}}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "old-config"}}
	adopted := map[string]string{AnnotationReleaseName: "castai-agent", AnnotationReleaseNamespace: "ns"}
	ws, c := workloadsFixture(t, sa("old-sa", nil), sa("castai-agent", adopted), cm)
	legacy := []catalog.LegacyObject{{APIVersion: "v1", Kind: "ServiceAccount", Namespace: "ns", Name: "old-sa"},
		{APIVersion: "v1", Kind: "ServiceAccount", Namespace: "ns", Name: "castai-agent"},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "old-config"},
		{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "never-existed"}}
	manifest := "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: castai-agent\n  namespace: ns\n"
	remove, keep, err := ws.Leftovers(ctx, legacy, manifest, "castai-agent", "ns")
	if err != nil {
		t.Fatal(err)
	}
	if len(remove) != 1 || remove[0].Name != "old-sa" || len(keep) != 1 || keep[0].Name != "old-config" {
		t.Fatalf("remove = %v, keep = %v", remove, keep)
	}
	removed, err := ws.Remove(ctx, append(remove, ObjectRef{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "never-existed"}))
	if err != nil || len(removed) != 2 || removed[0] != "ServiceAccount ns/old-sa" {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "old-sa"}, &corev1.ServiceAccount{}); !apierrors.IsNotFound(err) {
		t.Fatalf("old-sa still there: %v", err)
	}
}
