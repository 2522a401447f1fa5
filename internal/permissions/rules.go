// Package permissions holds the operator's RBAC rule sets (Phase 1, Phase 2 and self-management),
// generated from the +kubebuilder:rbac markers in its phase1, phase2 and selfmanage subpackages, and
// helpers to compare rule lists. It depends on k8s.io/api only.
package permissions

import (
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// MarkerNamespace is the namespace the +kubebuilder:rbac markers use for the operator's own namespace;
// renderers substitute the real one (the chart's .Release.Namespace, the OLM install namespace).
const MarkerNamespace = "castai-agent"

// Names of the generated rule sets; each is also the suffix of the chart's role names.
const (
	// SetPhase1 is what the operator needs for Phase 1 components and its own controllers.
	SetPhase1 = "phase1"
	// SetPhase2 is the extended permissions (extendedPermissions=true).
	SetPhase2 = "phase2"
	// SetSelfManage is what a chart-installed operator needs to upgrade and remove its own release.
	SetSelfManage = "selfmanage"
)

// LabelExtendedPermissions marks the Phase 2 Roles, ClusterRoles and bindings the operator chart renders.
const LabelExtendedPermissions = "castware.cast.ai/extended-permissions"

// RuleSet is one generated set of RBAC rules, split by where the rules apply.
type RuleSet struct {
	// Name is SetPhase1, SetPhase2 or SetSelfManage.
	Name string
	// Cluster rules are held cluster-wide (a ClusterRole and a ClusterRoleBinding).
	Cluster []rbacv1.PolicyRule
	// Namespace rules are held in the operator's namespace (a Role and a RoleBinding).
	Namespace []rbacv1.PolicyRule
	// Fixed rules are held in fixed namespaces other than the operator's (kube-system), keyed by namespace.
	Fixed map[string][]rbacv1.PolicyRule
}

// Phase1 returns the Phase 1 rule set (generated from the markers in package phase1 and ./controllers).
func Phase1() RuleSet { return clone(phase1) }

// Phase2 returns the Phase 2 rule set (generated from the markers in package phase2).
func Phase2() RuleSet { return clone(phase2) }

// SelfManage returns the rules a chart-installed operator needs to upgrade and remove its own release
// (generated from the markers in package selfmanage).
func SelfManage() RuleSet { return clone(selfManage) }

// Sets returns every generated rule set.
func Sets() []RuleSet { return []RuleSet{Phase1(), Phase2(), SelfManage()} }

// FixedNamespaces returns the fixed namespaces of a set, sorted.
func (s RuleSet) FixedNamespaces() []string {
	out := make([]string, 0, len(s.Fixed))
	for ns := range s.Fixed {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Atom is one indivisible permission: one verb on one resource (optionally one name) of one API group,
// or one verb on one non-resource URL. Rule lists that grant the same atoms are equivalent.
type Atom struct {
	// Group is the API group ("" for core); empty for non-resource URLs.
	Group string
	// Resource is the resource (with "/subresource"); empty for non-resource URLs.
	Resource string
	// Name is a resourceName restriction, or "" for any name.
	Name string
	// URL is a non-resource URL.
	URL string
	// Verb is the verb.
	Verb string
}

// String formats an atom like "apps/deployments:get" or "/version:get".
func (a Atom) String() string {
	if a.URL != "" {
		return a.URL + ":" + a.Verb
	}
	s := a.Group + "/" + a.Resource
	if a.Name != "" {
		s += "/" + a.Name
	}
	return s + ":" + a.Verb
}

// Atoms expands rules into their sorted, de-duplicated atoms.
func Atoms(rules []rbacv1.PolicyRule) []Atom {
	seen := map[Atom]bool{}
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				seen[Atom{URL: u, Verb: v}] = true
			}
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, n := range names {
						seen[Atom{Group: g, Resource: res, Name: n, Verb: v}] = true
					}
				}
			}
		}
	}
	out := make([]Atom, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Covers reports whether rules grant the atom, with Kubernetes RBAC's wildcard semantics ("*" group,
// resource and verb; "*/sub" for a subresource of any resource; an empty resourceNames list for any name;
// a trailing "*" in a non-resource URL for a prefix).
func Covers(rules []rbacv1.PolicyRule, a Atom) bool {
	for _, r := range rules {
		if !has(r.Verbs, a.Verb) {
			continue
		}
		if a.URL != "" {
			for _, u := range r.NonResourceURLs {
				if u == "*" || u == a.URL || (strings.HasSuffix(u, "*") && strings.HasPrefix(a.URL, strings.TrimSuffix(u, "*"))) {
					return true
				}
			}
			continue
		}
		if !has(r.APIGroups, a.Group) || !resourceMatches(r.Resources, a.Resource) {
			continue
		}
		if len(r.ResourceNames) == 0 || (a.Name != "" && contains(r.ResourceNames, a.Name)) {
			return true
		}
	}
	return false
}

func resourceMatches(have []string, want string) bool {
	for _, h := range have {
		if h == "*" || h == want {
			return true
		}
		if base, sub, ok := strings.Cut(want, "/"); ok && base != "" && h == "*/"+sub {
			return true
		}
	}
	return false
}

func has(list []string, v string) bool { return contains(list, "*") || contains(list, v) }

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func clone(s RuleSet) RuleSet {
	out := RuleSet{Name: s.Name, Cluster: cloneRules(s.Cluster), Namespace: cloneRules(s.Namespace)}
	if s.Fixed != nil {
		out.Fixed = map[string][]rbacv1.PolicyRule{}
		for ns, r := range s.Fixed {
			out.Fixed[ns] = cloneRules(r)
		}
	}
	return out
}

func cloneRules(in []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	if in == nil {
		return nil
	}
	out := make([]rbacv1.PolicyRule, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
