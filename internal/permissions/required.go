package permissions

import (
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ClusterScope is the scope of cluster-wide rules (Requirement.Scope, Missing.Scope); any other scope is a
// namespace.
const ClusterScope = ""

const rbacGroup = "rbac.authorization.k8s.io"

// FullAuthority is what the API server demands of whoever creates a ClusterRole with an aggregationRule: every
// verb on every resource and every non-resource URL (cluster-admin).
func FullAuthority() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}},
	}
}

// RBACObjects are the RBAC objects a chart renders (manifests and hooks).
type RBACObjects struct {
	// ClusterRoles rendered by the chart.
	ClusterRoles []rbacv1.ClusterRole
	// Roles rendered by the chart (namespace filled in).
	Roles []rbacv1.Role
	// ClusterRoleBindings rendered by the chart.
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	// RoleBindings rendered by the chart (namespace filled in).
	RoleBindings []rbacv1.RoleBinding
}

// Empty reports whether there are no RBAC objects.
func (o RBACObjects) Empty() bool {
	return len(o.ClusterRoles)+len(o.Roles)+len(o.ClusterRoleBindings)+len(o.RoleBindings) == 0
}

// RoleLookup returns the rules of an existing ClusterRole (kind "ClusterRole", namespace "") or Role; found is
// false when it does not exist.
type RoleLookup func(kind, namespace, name string) (rules []rbacv1.PolicyRule, found bool, err error)

// Requirement is what the API server's RBAC escalation check demands of whoever creates or updates one RBAC
// object: to hold Rules in Scope, unless it holds one of the Waivers there (escalate on the role kind, bind on
// the referenced role), which the API server accepts instead.
type Requirement struct {
	// Object names the RBAC object, e.g. "ClusterRole castai-agent".
	Object string
	// Scope is the namespace the rules must be held in, or ClusterScope.
	Scope string
	// Rules must be held in Scope.
	Rules []rbacv1.PolicyRule
	// Waivers are atoms that, held in Scope, make Rules unnecessary.
	Waivers []Atom
	// Problem, when set, means holding rules cannot satisfy the requirement (a binding to a role that does not
	// exist): only a waiver can.
	Problem string
	// Aggregation marks the full-authority requirement of a ClusterRole with an aggregationRule.
	Aggregation bool
}

// Requirements lists what creating objs demands, as the API server checks it: a ClusterRole's rules
// cluster-wide (and cluster-admin authority when it has an aggregationRule), a Role's rules in its namespace,
// a ClusterRoleBinding's role rules cluster-wide and a RoleBinding's role rules in its namespace. A binding's
// role is taken from objs when the chart renders it (Helm creates roles before bindings), else from lookup (an
// existing role, e.g. "view" or "cluster-admin"). It is a pure function apart from lookup.
func Requirements(objs RBACObjects, lookup RoleLookup) ([]Requirement, error) {
	var out []Requirement
	clusterRoles := map[string][]rbacv1.PolicyRule{}
	for _, r := range objs.ClusterRoles {
		clusterRoles[r.Name] = r.Rules
		waive := []Atom{{Group: rbacGroup, Resource: "clusterroles", Verb: "escalate"}}
		out = append(out, Requirement{Object: "ClusterRole " + r.Name, Scope: ClusterScope, Rules: r.Rules, Waivers: waive})
		if r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0 {
			out = append(out, Requirement{Object: "ClusterRole " + r.Name + " (aggregationRule)", Scope: ClusterScope, Rules: FullAuthority(),
				Waivers: waive, Aggregation: true})
		}
	}
	roles := map[string][]rbacv1.PolicyRule{}
	for _, r := range objs.Roles {
		roles[r.Namespace+"/"+r.Name] = r.Rules
		out = append(out, Requirement{Object: "Role " + r.Namespace + "/" + r.Name, Scope: r.Namespace, Rules: r.Rules,
			Waivers: []Atom{{Group: rbacGroup, Resource: "roles", Verb: "escalate"}}})
	}
	resolve := func(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, string, error) {
		switch ref.Kind {
		case "ClusterRole":
			if rules, ok := clusterRoles[ref.Name]; ok {
				return rules, "", nil
			}
		case "Role":
			if rules, ok := roles[namespace+"/"+ref.Name]; ok {
				return rules, "", nil
			}
		default:
			return nil, fmt.Sprintf("roleRef kind %q is neither Role nor ClusterRole", ref.Kind), nil
		}
		if lookup == nil {
			return nil, fmt.Sprintf("%s %s is not rendered by the chart and cannot be looked up", ref.Kind, ref.Name), nil
		}
		ns := namespace
		if ref.Kind == "ClusterRole" {
			ns = ""
		}
		rules, found, err := lookup(ref.Kind, ns, ref.Name)
		if err != nil {
			return nil, "", fmt.Errorf("read %s %s: %w", ref.Kind, ref.Name, err)
		}
		if !found {
			where := ""
			if ns != "" {
				where = " in namespace " + ns
			}
			return nil, fmt.Sprintf("%s %s does not exist%s", ref.Kind, ref.Name, where), nil
		}
		return rules, "", nil
	}
	bindWaiver := func(ref rbacv1.RoleRef) []Atom {
		res := "roles"
		if ref.Kind == "ClusterRole" {
			res = "clusterroles"
		}
		return []Atom{{Group: rbacGroup, Resource: res, Name: ref.Name, Verb: "bind"}}
	}
	for _, b := range objs.ClusterRoleBindings {
		rules, problem, err := resolve(b.RoleRef, "")
		if err != nil {
			return nil, err
		}
		if b.RoleRef.Kind == "Role" {
			problem = "a ClusterRoleBinding cannot reference a Role"
		}
		out = append(out, Requirement{Object: fmt.Sprintf("ClusterRoleBinding %s (to %s %s)", b.Name, b.RoleRef.Kind, b.RoleRef.Name),
			Scope: ClusterScope, Rules: rules, Waivers: bindWaiver(b.RoleRef), Problem: problem})
	}
	for _, b := range objs.RoleBindings {
		rules, problem, err := resolve(b.RoleRef, b.Namespace)
		if err != nil {
			return nil, err
		}
		out = append(out, Requirement{Object: fmt.Sprintf("RoleBinding %s/%s (to %s %s)", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name),
			Scope: b.Namespace, Rules: rules, Waivers: bindWaiver(b.RoleRef), Problem: problem})
	}
	return out, nil
}

// Missing is what the operator lacks to create one RBAC object (or, for the phase check, to hold a rule set).
type Missing struct {
	// Object names what needs the rules.
	Object string
	// Scope is where they are missing: a namespace or ClusterScope.
	Scope string
	// Atoms are the missing permissions, sorted.
	Atoms []Atom
	// Problem is set when no rule can satisfy the requirement (see Requirement.Problem).
	Problem string
}

// Evaluate checks requirements against the rules the operator holds in each scope (held(ClusterScope) are its
// cluster-wide rules; held(ns) its rules in ns, cluster-wide ones included, as the API server computes them)
// and returns what is missing, in requirement order. It is a pure function.
func Evaluate(reqs []Requirement, held func(scope string) []rbacv1.PolicyRule) []Missing {
	var out []Missing
	for _, r := range reqs {
		have := held(r.Scope)
		waived := false
		for _, w := range r.Waivers {
			if Covers(have, w) {
				waived = true
				break
			}
		}
		if waived {
			continue
		}
		if r.Problem != "" {
			out = append(out, Missing{Object: r.Object, Scope: r.Scope, Problem: r.Problem})
			continue
		}
		if lacking := Lacking(have, r.Rules); len(lacking) > 0 {
			out = append(out, Missing{Object: r.Object, Scope: r.Scope, Atoms: lacking})
		}
	}
	return out
}

// Lacking returns the atoms of want that have does not cover, sorted.
func Lacking(have, want []rbacv1.PolicyRule) []Atom {
	var out []Atom
	for _, a := range Atoms(want) {
		if !Covers(have, a) {
			out = append(out, a)
		}
	}
	return out
}

// AtomCount is the number of missing atoms in ms.
func AtomCount(ms []Missing) int {
	n := 0
	for _, m := range ms {
		n += len(m.Atoms)
	}
	return n
}

// Describe formats missing permissions for a condition message, one clause per object and scope, e.g.
// `ClusterRole x (cluster-wide): nodes: patch,update; secrets: get`. It is a pure function.
func Describe(ms []Missing) string {
	var parts []string
	for _, m := range ms {
		where := "cluster-wide"
		if m.Scope != ClusterScope {
			where = "in namespace " + m.Scope
		}
		if m.Problem != "" {
			parts = append(parts, fmt.Sprintf("%s (%s): %s", m.Object, where, m.Problem))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s): %s", m.Object, where, strings.Join(Summarize(m.Atoms), "; ")))
	}
	return strings.Join(parts, " | ")
}

// Summarize groups atoms by resource, each as "<resource>[.<group>][ [<names>]]: <verbs>" (core group
// omitted, "*" for every group, resource or verb; names sharing the same verbs listed together), or
// "<url>: <verbs>" for non-resource URLs; sorted. It is a pure function.
func Summarize(atoms []Atom) []string {
	type target struct{ res, name string }
	verbs := map[target][]string{}
	for _, a := range atoms {
		t := target{res: a.URL}
		if a.URL == "" {
			t.res, t.name = a.Resource, a.Name
			if a.Group != "" {
				t.res += "." + a.Group
			}
		}
		verbs[t] = append(verbs[t], a.Verb)
	}
	type group struct{ res, verbs string }
	names := map[group][]string{}
	for t, v := range verbs {
		sort.Strings(v)
		g := group{t.res, strings.Join(dedupe(v), ",")}
		names[g] = append(names[g], t.name)
	}
	out := make([]string, 0, len(names))
	for g, n := range names {
		sort.Strings(n)
		s := g.res
		if n[0] != "" { // "" (any name) sorts first and covers the named ones
			s += " [" + strings.Join(n, " ") + "]"
		}
		out = append(out, s+": "+g.verbs)
	}
	sort.Strings(out)
	return out
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// ForbiddenSubjects describes the subjects of objs' bindings the operator never grants roles to: anything but a
// ServiceAccount in one of namespaces (groups such as system:authenticated, system:unauthenticated or
// system:masters, users, ServiceAccounts of other namespaces), one entry per binding, e.g.
// `ClusterRoleBinding x: Group system:authenticated`. A RoleBinding's ServiceAccount without a namespace is in
// the binding's namespace. It is a pure function.
func ForbiddenSubjects(objs RBACObjects, namespaces []string) []string {
	var out []string
	check := func(object, bindingNS string, subjects []rbacv1.Subject) {
		var bad []string
		for _, s := range subjects {
			ns := s.Namespace
			if ns == "" {
				ns = bindingNS
			}
			switch {
			case s.Kind != rbacv1.ServiceAccountKind:
				bad = append(bad, s.Kind+" "+s.Name)
			case !contains(namespaces, ns):
				bad = append(bad, fmt.Sprintf("ServiceAccount %s/%s", ns, s.Name))
			}
		}
		if len(bad) > 0 {
			out = append(out, object+": "+strings.Join(bad, ", "))
		}
	}
	for _, b := range objs.ClusterRoleBindings {
		check("ClusterRoleBinding "+b.Name, "", b.Subjects)
	}
	for _, b := range objs.RoleBindings {
		check("RoleBinding "+b.Namespace+"/"+b.Name, b.Namespace, b.Subjects)
	}
	return out
}
