package catalog

import (
	"fmt"
	"slices"
	"sort"
)

// OpenShiftNamespace is the OpenShift namespace castai-agent writes a Role and RoleBinding into
// (provider=openshift); the operator holds rights there only on OpenShift.
const OpenShiftNamespace = "openshift-machine-api"

// ForeignNamespaces are the namespaces other than the release's where a catalog chart may render
// objects (Roles and RoleBindings).
var ForeignNamespaces = []string{"kube-system", OpenShiftNamespace}

// ScopedKind is a kind whose writes the operator holds only by name: its API group, resource and
// whether it is namespaced.
type ScopedKind struct {
	// Group is the API group.
	Group string
	// Resource is the plural resource.
	Resource string
	// Namespaced is true for Roles and RoleBindings.
	Namespaced bool
}

// ScopedKinds are the kinds whose update, patch and delete the operator's RBAC names object by object
// (from ForeignObjects), and whose creation its ValidatingAdmissionPolicy confines to the same names.
var ScopedKinds = map[string]ScopedKind{
	"ClusterRole":                    {Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	"ClusterRoleBinding":             {Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
	"Role":                           {Group: "rbac.authorization.k8s.io", Resource: "roles", Namespaced: true},
	"RoleBinding":                    {Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespaced: true},
	"SecurityContextConstraints":     {Group: "security.openshift.io", Resource: "securitycontextconstraints"},
	"MutatingWebhookConfiguration":   {Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
	"ValidatingWebhookConfiguration": {Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"},
	"CustomResourceDefinition":       {Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
}

// ObjectRef names one object a chart renders outside its release namespace.
type ObjectRef struct {
	// Kind is one of ScopedKinds.
	Kind string `json:"kind"`
	// Name is the object's name (charts hard-code these names).
	Name string `json:"name"`
	// Namespace is set for Roles and RoleBindings: one of ForeignNamespaces.
	Namespace string `json:"namespace,omitempty"`
}

// Scoped returns the kind's group and resource.
func (r ObjectRef) Scoped() ScopedKind { return ScopedKinds[r.Kind] }

func (r ObjectRef) validate() error {
	k, ok := ScopedKinds[r.Kind]
	if !ok {
		kinds := make([]string, 0, len(ScopedKinds))
		for n := range ScopedKinds {
			kinds = append(kinds, n)
		}
		sort.Strings(kinds)
		return fmt.Errorf("kind %q is not one of %v", r.Kind, kinds)
	}
	if !dnsSubdomain.MatchString(r.Name) {
		return fmt.Errorf("%s name %q is not a DNS subdomain", r.Kind, r.Name)
	}
	if k.Namespaced != (r.Namespace != "") {
		return fmt.Errorf("%s %s: a namespace is required for Roles and RoleBindings and refused for cluster-scoped kinds", r.Kind, r.Name)
	}
	if k.Namespaced && !slices.Contains(ForeignNamespaces, r.Namespace) {
		return fmt.Errorf("%s %s: namespace %q is not one of %v (objects in the release namespace are not listed)", r.Kind, r.Name, r.Namespace, ForeignNamespaces)
	}
	return nil
}

// ForeignObjectsOf returns the foreign objects of the entries of permission phase phase (0 for every
// phase), sorted by kind, namespace and name, without duplicates.
func (c *Catalog) ForeignObjectsOf(phase int) []ObjectRef {
	seen := map[ObjectRef]bool{}
	var out []ObjectRef
	for _, e := range c.entries {
		if phase != 0 && e.Phase != phase {
			continue
		}
		for _, o := range e.ForeignObjects {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}
