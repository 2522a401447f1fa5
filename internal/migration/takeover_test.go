package migration

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

func obj(t *testing.T, raw string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(raw), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestOwnershipConflict(t *testing.T) {
	tests := []struct {
		name, rendered, live, want string
	}{
		{"unowned object: taken over", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a"}}`, `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a"}}`, ""},
		{"already ours", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a"}}`,
			`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a","annotations":{"meta.helm.sh/release-name":"castai-agent","meta.helm.sh/release-namespace":"castai-agent"}}}`, ""},
		{"another release", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a"}}`,
			`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a","annotations":{"meta.helm.sh/release-name":"other","meta.helm.sh/release-namespace":"castai-agent"}}}`, "belongs to Helm release other"},
		{"same release name in another namespace", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a"}}`,
			`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"a","annotations":{"meta.helm.sh/release-name":"castai-agent","meta.helm.sh/release-namespace":"elsewhere"}}}`, "in namespace elsewhere"},
		{"existing namespace never taken over", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"castai-agent"}}`, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"castai-agent"}}`, "createNamespace: false"},
	}
	for _, tt := range tests {
		got := ownershipConflict(obj(t, tt.rendered), obj(t, tt.live), "castai-agent", "castai-agent")
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestTakeoverPatch: the patch sets what the chart renders and never removes what only the live object has.
func TestTakeoverPatch(t *testing.T) {
	rendered := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"agent","labels":{"app":"agent"}},
		"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"agent","image":"agent:v2","env":[{"name":"A","value":"1"}],
		"envFrom":[{"secretRef":{"name":"castware-api-key"}}]}]}}}}`)
	live := obj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"agent","labels":{"app":"agent","team":"x"}},
		"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"agent","image":"agent:v1","env":[{"name":"A","value":"1"},{"name":"EXTRA","value":"e"}],
		"envFrom":[{"secretRef":{"name":"castai-agent"}}]}]}}}}`)
	patch, typ, err := takeoverPatch(rendered, live)
	if err != nil || typ != types.StrategicMergePatchType {
		t.Fatalf("patch %s %v", typ, err)
	}
	p := string(patch)
	for _, want := range []string{`"image":"agent:v2"`, `castware-api-key`} {
		if !strings.Contains(p, want) {
			t.Errorf("patch %s lacks %s", p, want)
		}
	}
	for _, never := range []string{"$patch", "$retainKeys", `"team":null`, "EXTRA", `"replicas"`} {
		if strings.Contains(p, never) {
			t.Errorf("patch %s removes or touches %s", p, never)
		}
	}
	// A kind the scheme does not know falls back to a JSON merge patch.
	crd := obj(t, `{"apiVersion":"example.com/v1","kind":"Thing","metadata":{"name":"t"},"spec":{"a":1}}`)
	if _, typ, err := takeoverPatch(crd, obj(t, `{"apiVersion":"example.com/v1","kind":"Thing","metadata":{"name":"t"},"spec":{"a":2,"b":3}}`)); err != nil || typ != types.MergePatchType {
		t.Fatalf("unknown kind: %s %v", typ, err)
	}
}

func TestSecretReferences(t *testing.T) {
	manifest := `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent}
spec:
  template:
    spec:
      volumes: [{name: v, secret: {secretName: vol-secret}}]
      containers:
        - name: agent
          env: [{name: API_KEY, valueFrom: {secretKeyRef: {name: ref-secret, key: API_KEY}}}]
          envFrom: [{secretRef: {name: from-secret}}]
---
apiVersion: v1
kind: Secret
metadata: {name: rendered-secret}
`
	for name, want := range map[string]bool{"vol-secret": true, "ref-secret": true, "from-secret": true, "rendered-secret": false, "other": false, "": false} {
		if got, err := ManifestReadsSecret(manifest, name); err != nil || got != want {
			t.Errorf("ManifestReadsSecret(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if !ManifestRendersSecret(manifest, "rendered-secret") || ManifestRendersSecret(manifest, "from-secret") {
		t.Error("ManifestRendersSecret")
	}
	if got, _ := ManifestSetsEnv(manifest, "API_KEY"); !got {
		t.Error("ManifestSetsEnv(API_KEY) = false")
	}
	if got, _ := ManifestSetsEnv(manifest, "OTHER"); got {
		t.Error("ManifestSetsEnv(OTHER) = true")
	}
	c := &corev1.Container{Env: []corev1.EnvVar{{Name: "A"}, {Name: "API_KEY", Value: "x"}}}
	if LegacyKeyEnv(c) != 1 || LegacyKeyEnv(&corev1.Container{}) != -1 || LegacyKeyEnv(nil) != -1 {
		t.Error("LegacyKeyEnv")
	}
}
