package permissions

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rule(group, resource string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) rbacv1.Role {
	return rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func crb(name, kind, ref string) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacGroup, Kind: kind, Name: ref}}
}

func rb(ns, name, kind, ref string) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacGroup, Kind: kind, Name: ref}}
}

// existing is a RoleLookup over a fixed set of roles ("ClusterRole/name" or "Role/ns/name").
func existing(roles map[string][]rbacv1.PolicyRule) RoleLookup {
	return func(kind, namespace, name string) ([]rbacv1.PolicyRule, bool, error) {
		key := kind + "/" + name
		if namespace != "" {
			key = kind + "/" + namespace + "/" + name
		}
		r, ok := roles[key]
		return r, ok, nil
	}
}

func TestRequirementsAndEvaluate(t *testing.T) {
	nodesRead := rule("", "nodes", "get", "list", "watch")
	nodesPatch := rule("", "nodes", "patch")
	secretsRead := rule("", "secrets", "get")
	lookup := existing(map[string][]rbacv1.PolicyRule{
		"ClusterRole/view":          {rule("", "pods", "get")},
		"ClusterRole/cluster-admin": FullAuthority(),
		"Role/other/reader":         {secretsRead},
	})
	operator := map[string][]rbacv1.PolicyRule{
		ClusterScope: {nodesRead, rule("", "pods", "get", "list")},
		"ops":        {nodesRead, rule("", "pods", "get", "list"), secretsRead, rule(rbacGroup, "roles", "create")},
	}
	held := func(scope string) []rbacv1.PolicyRule { return operator[scope] }

	cases := []struct {
		name    string
		objs    RBACObjects
		missing string // Describe of what is missing
	}{
		{name: "nothing rendered"},
		{name: "a ClusterRole the operator covers", objs: RBACObjects{ClusterRoles: []rbacv1.ClusterRole{clusterRole("reader", nodesRead)}}},
		{name: "a ClusterRole beyond the operator", objs: RBACObjects{ClusterRoles: []rbacv1.ClusterRole{clusterRole("patcher", nodesRead, nodesPatch)}},
			missing: "ClusterRole patcher (cluster-wide): nodes: patch"},
		{name: "a Role covered in its namespace but a ClusterRole of the same rules is not",
			objs:    RBACObjects{Roles: []rbacv1.Role{role("ops", "r", secretsRead)}, ClusterRoles: []rbacv1.ClusterRole{clusterRole("c", secretsRead)}},
			missing: "ClusterRole c (cluster-wide): secrets: get"},
		{name: "a RoleBinding to a rendered ClusterRole needs its rules in the binding's namespace only",
			objs:    RBACObjects{ClusterRoles: []rbacv1.ClusterRole{clusterRole("c", secretsRead)}, RoleBindings: []rbacv1.RoleBinding{rb("ops", "b", "ClusterRole", "c")}},
			missing: "ClusterRole c (cluster-wide): secrets: get"},
		{name: "a ClusterRoleBinding to an existing ClusterRole", objs: RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("b", "ClusterRole", "view")}}},
		{name: "a RoleBinding to cluster-admin", objs: RBACObjects{RoleBindings: []rbacv1.RoleBinding{rb("ops", "admin", "ClusterRole", "cluster-admin")}},
			missing: "RoleBinding ops/admin (to ClusterRole cluster-admin) (in namespace ops): *.*: *; *: *"},
		{name: "a binding to a role that does not exist", objs: RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("b", "ClusterRole", "gone")}},
			missing: "ClusterRoleBinding b (to ClusterRole gone) (cluster-wide): ClusterRole gone does not exist"},
		{name: "a RoleBinding to an existing Role in another namespace", objs: RBACObjects{RoleBindings: []rbacv1.RoleBinding{rb("other", "b", "Role", "reader")}},
			missing: "RoleBinding other/b (to Role reader) (in namespace other): secrets: get"},
		{name: "a ClusterRoleBinding cannot reference a Role", objs: RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("b", "Role", "reader")}},
			missing: "ClusterRoleBinding b (to Role reader) (cluster-wide): a ClusterRoleBinding cannot reference a Role"},
		{name: "an aggregated ClusterRole needs full authority", objs: RBACObjects{ClusterRoles: []rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "agg"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}}}},
			missing: "ClusterRole agg (aggregationRule) (cluster-wide): *.*: *; *: *"},
		{name: "resource names: a named rule is covered by an unnamed one, not the other way round",
			objs: RBACObjects{Roles: []rbacv1.Role{role("ops", "r", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"a"}, Verbs: []string{"get"}},
				rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"a", "b"}, Verbs: []string{"get", "delete"}})}},
			missing: "Role ops/r (in namespace ops): configmaps [a b]: delete,get"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs, err := Requirements(c.objs, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if got := Describe(Evaluate(reqs, held)); got != c.missing {
				t.Errorf("missing:\n got %q\nwant %q", got, c.missing)
			}
		})
	}
}

func TestWaivers(t *testing.T) {
	objs := RBACObjects{
		ClusterRoles: []rbacv1.ClusterRole{clusterRole("c", rule("", "secrets", "get"))},
		RoleBindings: []rbacv1.RoleBinding{rb("ops", "b", "ClusterRole", "cluster-admin")},
	}
	reqs, err := Requirements(objs, existing(map[string][]rbacv1.PolicyRule{"ClusterRole/cluster-admin": FullAuthority()}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		held map[string][]rbacv1.PolicyRule
		want int
	}{
		{"neither escalate nor bind", nil, 2},
		{"escalate on clusterroles waives the ClusterRole", map[string][]rbacv1.PolicyRule{ClusterScope: {rule(rbacGroup, "clusterroles", "escalate")}}, 1},
		{"bind on the named ClusterRole in the namespace waives the binding", map[string][]rbacv1.PolicyRule{"ops": {{APIGroups: []string{rbacGroup},
			Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}, Verbs: []string{"bind"}}}}, 1},
		{"bind on another ClusterRole does not", map[string][]rbacv1.PolicyRule{"ops": {{APIGroups: []string{rbacGroup},
			Resources: []string{"clusterroles"}, ResourceNames: []string{"view"}, Verbs: []string{"bind"}}}}, 2},
		{"a namespace * rule binds anything there", map[string][]rbacv1.PolicyRule{"ops": {rule("*", "*", "*")}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Evaluate(reqs, func(scope string) []rbacv1.PolicyRule { return c.held[scope] })
			if len(got) != c.want {
				t.Errorf("%d requirements unmet, want %d: %s", len(got), c.want, Describe(got))
			}
		})
	}
}

func TestRequirementsLookupError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Requirements(RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("b", "ClusterRole", "view")}},
		func(string, string, string) ([]rbacv1.PolicyRule, bool, error) { return nil, false, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("want the lookup error wrapped, got %v", err)
	}
}

func TestSummarize(t *testing.T) {
	atoms := Atoms([]rbacv1.PolicyRule{
		rule("", "nodes", "patch", "get"),
		rule("apps", "deployments", "get"),
		{APIGroups: []string{rbacGroup}, Resources: []string{"roles"}, ResourceNames: []string{"b", "a"}, Verbs: []string{"delete"}},
		{APIGroups: []string{rbacGroup}, Resources: []string{"roles"}, ResourceNames: []string{"c"}, Verbs: []string{"get"}},
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
	})
	want := []string{"/metrics: get", "deployments.apps: get", "nodes: get,patch", "roles.rbac.authorization.k8s.io [a b]: delete", "roles.rbac.authorization.k8s.io [c]: get"}
	if got := Summarize(atoms); !reflect.DeepEqual(got, want) {
		t.Errorf("Summarize:\n got %q\nwant %q", got, want)
	}
	if got := Describe([]Missing{{Object: "Phase 2 rules", Scope: "ns", Atoms: atoms[:1]}}); !strings.HasPrefix(got, "Phase 2 rules (in namespace ns): ") {
		t.Errorf("Describe: %q", got)
	}
}

// The generated rule sets never let the operator escalate: no Phase 1 rule waives an escalation check.
func TestPhase1HoldsNoWaiver(t *testing.T) {
	p1 := Phase1()
	for _, a := range []Atom{{Group: rbacGroup, Resource: "clusterroles", Verb: "escalate"}, {Group: rbacGroup, Resource: "roles", Verb: "escalate"},
		{Group: rbacGroup, Resource: "clusterroles", Name: "cluster-admin", Verb: "bind"}, {Group: rbacGroup, Resource: "roles", Verb: "bind"}} {
		if Covers(p1.Cluster, a) || Covers(p1.Namespace, a) {
			t.Errorf("Phase 1 holds %s", a)
		}
	}
}

func TestForbiddenSubjects(t *testing.T) {
	sa := func(ns, name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
	}
	group := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
	}
	crb := func(name string, s ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
		return rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: s}
	}
	rb := func(ns, name string, s ...rbacv1.Subject) rbacv1.RoleBinding {
		return rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subjects: s}
	}
	for _, tc := range []struct {
		name string
		objs RBACObjects
		want []string
	}{
		{"release namespace ServiceAccounts", RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("a", sa("castai-agent", "a"))},
			RoleBindings: []rbacv1.RoleBinding{rb("kube-system", "a", sa("castai-agent", "a")), rb("castai-agent", "b", sa("", "b"))}}, nil},
		{"groups", RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("a", group("system:authenticated"), sa("castai-agent", "a"), group("system:masters"))}},
			[]string{"ClusterRoleBinding a: Group system:authenticated, Group system:masters"}},
		{"unauthenticated in a RoleBinding", RBACObjects{RoleBindings: []rbacv1.RoleBinding{rb("castai-agent", "r", group("system:unauthenticated"))}},
			[]string{"RoleBinding castai-agent/r: Group system:unauthenticated"}},
		{"user", RBACObjects{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("u", rbacv1.Subject{Kind: rbacv1.UserKind, Name: "mallory"})}},
			[]string{"ClusterRoleBinding u: User mallory"}},
		{"other namespace", RBACObjects{RoleBindings: []rbacv1.RoleBinding{rb("kube-system", "k", sa("", "default"))},
			ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("c", sa("", "x"))}},
			[]string{"ClusterRoleBinding c: ServiceAccount /x", "RoleBinding kube-system/k: ServiceAccount kube-system/default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ForbiddenSubjects(tc.objs, []string{"castai-agent"})
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
