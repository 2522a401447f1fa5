package catalog

import (
	"strings"
	"testing"
)

func TestForeignObjects(t *testing.T) {
	head := "- group: castware.cast.ai\n  version: v1alpha1\n  kind: Component\n  component: a\n  chart: a\n  foreignObjects:\n"
	for _, tc := range []struct {
		name, objects, err string
	}{
		{"cluster-scoped", "    - {kind: ClusterRole, name: a}\n    - {kind: CustomResourceDefinition, name: xs.example.com}\n", ""},
		{"kube-system role", "    - {kind: Role, namespace: kube-system, name: a}\n", ""},
		{"unknown kind", "    - {kind: Secret, name: a}\n", `kind "Secret" is not one of`},
		{"role without namespace", "    - {kind: RoleBinding, name: a}\n", "a namespace is required"},
		{"cluster kind with namespace", "    - {kind: ClusterRole, namespace: kube-system, name: a}\n", "a namespace is required"},
		{"role in another namespace", "    - {kind: Role, namespace: default, name: a}\n", `namespace "default" is not one of`},
		{"bad name", "    - {kind: ClusterRole, name: 'system:*'}\n", "is not a DNS subdomain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + tc.objects))
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestShippedForeignObjects: the shipped catalog names the objects the reference facts give for each chart.
func TestShippedForeignObjects(t *testing.T) {
	c, err := Load("../../watches.yaml")
	if err != nil {
		t.Fatal(err)
	}
	has := map[ObjectRef]bool{}
	for _, o := range c.ForeignObjectsOf(1) {
		has[o] = true
	}
	for _, want := range []ObjectRef{{Kind: "ClusterRole", Name: "castai-agent"}, {Kind: "Role", Namespace: "kube-system", Name: "castai-agent"},
		{Kind: "SecurityContextConstraints", Name: "castai-agent-scc"}, {Kind: "ClusterRoleBinding", Name: "castai-spot-handler-phase2"}} {
		if !has[want] {
			t.Errorf("phase 1 foreign objects lack %+v", want)
		}
	}
	for _, o := range c.ForeignObjectsOf(2) {
		if has[o] {
			t.Errorf("%+v listed in both phases", o)
		}
	}
	if len(c.ForeignObjectsOf(0)) != len(c.ForeignObjectsOf(1))+len(c.ForeignObjectsOf(2)) {
		t.Errorf("ForeignObjectsOf(0) is not the union of both phases")
	}
}
