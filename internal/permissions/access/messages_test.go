package access

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

func TestGrantCommand(t *testing.T) {
	want := "helm upgrade acme castai-helm/castware-operator -n team-a --reuse-values --set extendedPermissions=true"
	if got := GrantCommand("acme", "team-a"); got != want {
		t.Errorf("got %q", got)
	}
}

func TestMessages(t *testing.T) {
	missing := []permissions.Missing{{Object: "Phase 2 rules", Scope: permissions.ClusterScope,
		Atoms: []permissions.Atom{{Resource: "nodes", Verb: "patch"}, {Resource: "nodes", Verb: "delete"}}}}
	cmd := GrantCommand("rel", "ns")
	cases := []struct {
		name       string
		st         Status
		phase      []string // PhaseMessage contains
		status     metav1.ConditionStatus
		reason     string
		conditions []string // PermissionCondition message contains
	}{
		{name: "granted", st: Status{Extended: true, Bindings: true}, status: metav1.ConditionTrue, reason: castwarev1.ReasonPermissionsGranted,
			conditions: []string{"labelled castware.cast.ai/extended-permissions=true exist"}},
		{name: "not enabled, rules missing", st: Status{Missing: missing},
			phase:  []string{"component cluster-controller needs the operator's extended (Phase 2) permissions, which it does not hold", "missing 2 rules", "nodes: delete,patch", cmd},
			status: metav1.ConditionFalse, reason: castwarev1.ReasonPermissionsNotEnabled, conditions: []string{"lacks 2 Phase 2 rules", cmd}},
		{name: "labelled bindings that do not grant the rules", st: Status{Bindings: true, Missing: missing},
			phase:  []string{"the bindings labelled castware.cast.ai/extended-permissions=true exist but do not grant 2 of the Phase 2 rules", "nodes: delete,patch", cmd},
			status: metav1.ConditionFalse, reason: castwarev1.ReasonMissingPermissions, conditions: []string{"do not grant 2", "(cluster-wide): nodes: delete,patch"}},
		{name: "the rules without the bindings", st: Status{},
			phase:  []string{"it holds the Phase 2 rules, but extendedPermissions is not enabled (no RoleBinding in namespace ns", cmd},
			status: metav1.ConditionFalse, reason: castwarev1.ReasonPermissionsNotEnabled, conditions: []string{"is not enabled", cmd}},
		{name: "cluster-admin without the bindings", st: Status{Admin: true}, status: metav1.ConditionFalse, reason: castwarev1.ReasonPermissionsNotEnabled,
			conditions: []string{"full authority (cluster-admin), so it installs Phase 2 components anyway"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.phase) > 0 {
				msg := PhaseMessage("cluster-controller", "ns", c.st, cmd)
				for _, want := range c.phase {
					if !strings.Contains(msg, want) {
						t.Errorf("PhaseMessage lacks %q:\n%s", want, msg)
					}
				}
			}
			status, reason, msg := PermissionCondition(c.st, "ns", cmd)
			if status != c.status || reason != c.reason {
				t.Errorf("condition %s/%s, want %s/%s", status, reason, c.status, c.reason)
			}
			for _, want := range c.conditions {
				if !strings.Contains(msg, want) {
					t.Errorf("condition message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
	chart := ChartMessage("escalator", "1.2.3", []permissions.Missing{{Object: "ClusterRole x", Scope: permissions.ClusterScope,
		Atoms: []permissions.Atom{{Resource: "secrets", Verb: "get"}}}}, "")
	if want := "chart escalator 1.2.3 would grant RBAC permissions the operator does not hold"; !strings.Contains(chart, want) ||
		!strings.Contains(chart, "missing 1: ClusterRole x (cluster-wide): secrets: get.") {
		t.Errorf("ChartMessage: %s", chart)
	}
}

func TestRBACObjectsOf(t *testing.T) {
	docs := []string{`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: c}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
`, `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
`, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c}
`, `apiVersion: v1
kind: ConfigMap
metadata: {name: not-rbac}
`, `apiVersion: rbac.authorization.k8s.io/v1beta1
kind: Role
metadata: {name: old-api}
`}
	objs, err := RBACObjectsOf(docs, "rel-ns")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.ClusterRoles) != 1 || len(objs.Roles) != 1 || len(objs.RoleBindings) != 1 || len(objs.ClusterRoleBindings) != 1 {
		t.Fatalf("objects %+v", objs)
	}
	if objs.Roles[0].Namespace != "rel-ns" || objs.RoleBindings[0].Namespace != "kube-system" {
		t.Errorf("namespaces: Role %q (want the release's), RoleBinding %q (want its own)", objs.Roles[0].Namespace, objs.RoleBindings[0].Namespace)
	}
	if _, err := RBACObjectsOf([]string{"kind: [unclosed"}, "ns"); err == nil {
		t.Error("a broken document was accepted")
	}
}
