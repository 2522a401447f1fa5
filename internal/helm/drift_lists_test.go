package helm

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/castware-operator/castware-operator/internal/catalog"
)

// TestReplaceListsPatchRenumberedPort: a Service whose port was renumbered gets the chart's port list back
// whole, and fields the chart does not set stay untouched.
func TestReplaceListsPatchRenumberedPort(t *testing.T) {
	live := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.7", Ports: []corev1.ServicePort{
		{Name: "metrics", Port: 9191, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("metrics")}}}}
	live.APIVersion, live.Kind, live.Name = "v1", "Service", "castai-evictor"
	expected := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "castai-evictor"},
		"spec":     map[string]any{"ports": []any{map[string]any{"name": "metrics", "port": int64(9090), "targetPort": "metrics"}}}}}
	raw, typ, err := replaceListsPatch(live, expected)
	if err != nil {
		t.Fatal(err)
	}
	if typ != "application/merge-patch+json" {
		t.Fatalf("patch type %s", typ)
	}
	want := `{"spec":{"ports":[{"name":"metrics","port":9090,"targetPort":"metrics"}]}}`
	if string(raw) != want {
		t.Fatalf("patch %s, want %s", raw, want)
	}
	// Nothing differs: no patch (a JSON merge patch "null" would wipe the object).
	if _, _, err := replaceListsPatch(live, &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"clusterIP": "10.0.0.7"}}}); err == nil {
		t.Fatal("a patch for an object that matches the chart")
	}
}

func TestIgnoresAny(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetKind("Deployment")
	u.SetName("castai-agent")
	for _, tc := range []struct {
		ig   []catalog.DriftIgnore
		want bool
	}{
		{nil, false},
		{[]catalog.DriftIgnore{{Kind: "Deployment", Name: "castai-agent"}}, true},
		{[]catalog.DriftIgnore{{Kind: "Deployment"}}, true},
		{[]catalog.DriftIgnore{{Kind: "Deployment", Name: "other"}}, false},
		{[]catalog.DriftIgnore{{Kind: "DaemonSet", Name: "castai-agent"}}, false},
	} {
		if got := ignoresAny(u, tc.ig); got != tc.want {
			t.Errorf("ignoresAny(%+v) = %t, want %t", tc.ig, got, tc.want)
		}
	}
}
