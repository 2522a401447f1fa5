package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

// guardedResources are the kinds an unscoped write of which lets the operator (or whoever controls it)
// take over the cluster: RBAC, admission configuration, SCCs, CRDs and Secrets.
var guardedResources = []struct{ group, resource string }{
	{"rbac.authorization.k8s.io", "clusterroles"}, {"rbac.authorization.k8s.io", "clusterrolebindings"},
	{"rbac.authorization.k8s.io", "roles"}, {"rbac.authorization.k8s.io", "rolebindings"},
	{"admissionregistration.k8s.io", "mutatingwebhookconfigurations"}, {"admissionregistration.k8s.io", "validatingwebhookconfigurations"},
	{"admissionregistration.k8s.io", "validatingadmissionpolicies"}, {"admissionregistration.k8s.io", "validatingadmissionpolicybindings"},
	{"security.openshift.io", "securitycontextconstraints"}, {"apiextensions.k8s.io", "customresourcedefinitions"},
	{"", "secrets"},
}

// unscopedWrites lists the writes rules grant on guarded kinds to any object: update, patch and delete
// without resourceNames, and create through a wildcard (verb, resource or group). Plain create is not
// counted: RBAC cannot name it (the chart's admission policy confines it).
func unscopedWrites(where string, rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, g := range guardedResources {
		for _, verb := range []string{"update", "patch", "delete", "deletecollection"} {
			if permissions.Covers(rules, permissions.Atom{Group: g.group, Resource: g.resource, Verb: verb}) {
				out = append(out, fmt.Sprintf("%s: %s.%s %s on any name", where, g.resource, g.group, verb))
			}
		}
		for _, r := range rules {
			if len(r.ResourceNames) > 0 {
				continue
			}
			wild := slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*")
			if wild && permissions.Covers([]rbacv1.PolicyRule{r}, permissions.Atom{Group: g.group, Resource: g.resource, Verb: "create"}) {
				out = append(out, fmt.Sprintf("%s: %s.%s create through a wildcard rule %v", where, g.resource, g.group, r))
			}
		}
	}
	return out
}

// roleScopes reads the rules of the rendered ClusterRoles and Roles bound to the operator, by scope:
// "cluster" or the Role's namespace.
func roleScopes(t *testing.T, objs []*unstructured.Unstructured) map[string][]rbacv1.PolicyRule {
	t.Helper()
	out := map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		if o.GetLabels()["castware.cast.ai/permission-set"] == "" || (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") {
			continue
		}
		var r rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
			t.Fatal(err)
		}
		scope := "cluster"
		if o.GetKind() == "Role" {
			scope = o.GetNamespace()
		}
		out[scope] = append(out[scope], r.Rules...)
	}
	return out
}

// chartRenders are the operator chart renders the scope tests check: both permission phases, and both
// on OpenShift (the SCC API and the openshift-machine-api Role) with webhooks, metrics and dashboard on.
var chartRenders = map[string][]string{
	"phase 1":           {"--set", "extendedPermissions=false"},
	"phase 2":           {"--set", "extendedPermissions=true"},
	"phase 1 openshift": {"--set", "extendedPermissions=false", "--api-versions", "security.openshift.io/v1"},
	"phase 2 openshift, everything on": {"--set", "extendedPermissions=true", "--api-versions", "security.openshift.io/v1",
		"--set", "metrics.serviceMonitor.enabled=true", "--api-versions", "monitoring.coreos.com/v1"},
}

// TestRBACNoUnscopedWrites: rendered for both phases (and OpenShift), and in the OLM CSV, the operator holds
// no update, patch or delete of RBAC objects, webhook configurations, admission policies, SCCs, CRDs or
// Secrets outside its own namespace except by name, and no wildcard that creates them. In its own
// namespace it may write anything (cluster-controller's Role there is `*`).
func TestRBACNoUnscopedWrites(t *testing.T) {
	total := 0
	for name, args := range chartRenders {
		t.Run(name, func(t *testing.T) {
			objs := render(t, operatorDir, testRelease, testNamespace, append(append([]string{}, requiredValues...), args...)...)
			scopes := roleScopes(t, objs)
			if len(scopes["cluster"]) == 0 {
				t.Fatal("no ClusterRole bound to the operator rendered")
			}
			for scope, rules := range scopes {
				if scope == testNamespace {
					continue
				}
				for _, w := range unscopedWrites(scope, rules) {
					total++
					t.Error(w)
				}
			}
		})
	}
	t.Run("OLM CSV", func(t *testing.T) {
		spec := loadCSV(t).Spec.InstallStrategy.StrategySpec
		for _, p := range spec.ClusterPermissions {
			for _, w := range unscopedWrites("CSV clusterPermissions", p.Rules) {
				total++
				t.Error(w)
			}
		}
	})
	t.Logf("%d unscoped writes", total)
}

// TestRBACRolesOnlyInKnownNamespaces: the operator's Roles are in its namespace, kube-system and (on
// OpenShift only) the namespace castai-agent uses there; nothing else holds Role or RoleBinding writes.
func TestRBACRolesOnlyInKnownNamespaces(t *testing.T) {
	allowed := append([]string{testNamespace}, catalog.ForeignNamespaces...)
	for name, args := range chartRenders {
		objs := render(t, operatorDir, testRelease, testNamespace, append(append([]string{}, requiredValues...), args...)...)
		for scope, rules := range roleScopes(t, objs) {
			if scope == "cluster" {
				for _, v := range []string{"create", "update", "patch", "delete"} {
					for _, res := range []string{"roles", "rolebindings"} {
						a := permissions.Atom{Group: rbacv1.GroupName, Resource: res, Verb: v}
						if permissions.Covers(rules, a) {
							t.Errorf("%s: cluster-wide %s on any name", name, a)
						}
					}
				}
				continue
			}
			if !slices.Contains(allowed, scope) {
				t.Errorf("%s: a Role in namespace %s", name, scope)
			}
			if scope == catalog.OpenShiftNamespace && !strings.Contains(name, "openshift") {
				t.Errorf("%s: a Role in %s without the OpenShift API", name, scope)
			}
		}
	}
}

// TestRBACNamesEveryOwnObject: every object of the scoped kinds the operator chart renders outside its
// namespace (its roles, bindings, webhook configurations, admission policy) is one the operator may
// change by name, so a self-upgrade can update it; and the admission policy allows creating each one
// it can see.
func TestRBACNamesEveryOwnObject(t *testing.T) {
	for name, args := range chartRenders {
		objs := render(t, operatorDir, testRelease, testNamespace, append(append([]string{}, requiredValues...), args...)...)
		scopes := roleScopes(t, objs)
		allowed := policyAllowed(t, objs)
		for _, o := range objs {
			ref := catalog.ObjectRef{Kind: o.GetKind(), Name: o.GetName(), Namespace: o.GetNamespace()}
			k, scoped := catalog.ScopedKinds[o.GetKind()]
			res, group := k.Resource, k.Group
			if p, ok := policyResources[o.GetKind()]; ok {
				res, group, scoped = p, "admissionregistration.k8s.io", true
			}
			if !scoped || (k.Namespaced && ref.Namespace == testNamespace) {
				continue
			}
			held := scopes["cluster"]
			if k.Namespaced {
				held = append(append([]rbacv1.PolicyRule{}, held...), scopes[ref.Namespace]...)
			}
			for _, v := range []string{"update", "patch", "delete"} {
				if !permissions.Covers(held, permissions.Atom{Group: group, Resource: res, Name: ref.Name, Verb: v}) {
					t.Errorf("%s: the chart renders %s %s/%s but the operator may not %s it", name, ref.Kind, ref.Namespace, ref.Name, v)
				}
			}
			if strings.Contains(ref.Kind, "Webhook") || strings.Contains(ref.Kind, "AdmissionPolicy") {
				continue // admission policies never see admission configuration
			}
			if key := res + "/" + ref.Namespace + "/" + ref.Name; !allowed[key] {
				t.Errorf("%s: the admission policy does not allow %s", name, key)
			}
		}
	}
}

// policyResources are the resources of the admission policy kinds (not catalog kinds).
var policyResources = map[string]string{"ValidatingAdmissionPolicy": "validatingadmissionpolicies",
	"ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}

// policyAllowed reads the allowed "<resource>/<namespace>/<name>" keys of the rendered admission policy.
func policyAllowed(t *testing.T, objs []*unstructured.Unstructured) map[string]bool {
	t.Helper()
	p := find(t, objs, "ValidatingAdmissionPolicy", testRelease+packaging.PolicySuffix)
	vars, _, _ := unstructured.NestedSlice(p.Object, "spec", "variables")
	out := map[string]bool{}
	for _, v := range vars {
		m := v.(map[string]any)
		if m["name"] != "allowed" {
			continue
		}
		for _, k := range strings.Split(strings.Trim(strings.TrimSpace(m["expression"].(string)), "[]"), ",") {
			out[strings.Trim(strings.TrimSpace(k), "'")] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("the admission policy has no allowed list")
	}
	return out
}

// TestAdmissionPolicyCoversCatalog: the admission policy allows creating exactly the catalog's foreign
// objects (except webhook configurations, which admission policies never see) plus the chart's own, binds
// to the operator's ServiceAccount, and is rendered only where its API exists; the chart's kubeVersion is
// the minimum its webhooks' matchConditions need.
func TestAdmissionPolicyCoversCatalog(t *testing.T) {
	cat, err := packaging.LoadCatalog(root)
	if err != nil {
		t.Fatal(err)
	}
	objs := render(t, operatorDir, testRelease, testNamespace, requiredValues...)
	allowed := policyAllowed(t, objs)
	var missing []string
	for _, o := range cat.ForeignObjectsOf(0) {
		if strings.Contains(o.Kind, "Webhook") {
			continue
		}
		key := o.Scoped().Resource + "/" + o.Namespace + "/" + o.Name
		if !allowed[key] {
			missing = append(missing, key)
		}
		delete(allowed, key)
	}
	if len(missing) > 0 {
		t.Errorf("the admission policy does not allow the catalog's %v", missing)
	}
	for k := range allowed {
		parts := strings.Split(k, "/")
		if !strings.HasPrefix(parts[2], testRelease+"-") && !strings.HasSuffix(parts[2], ".castware.cast.ai") {
			t.Errorf("the admission policy allows %s, which neither the catalog nor the operator chart renders", k)
		}
	}
	p := find(t, objs, "ValidatingAdmissionPolicy", testRelease+packaging.PolicySuffix)
	conds, _, _ := unstructured.NestedSlice(p.Object, "spec", "matchConditions")
	want := fmt.Sprintf("request.userInfo.username == 'system:serviceaccount:%s:%s'", testNamespace, testRelease)
	if len(conds) != 1 || conds[0].(map[string]any)["expression"] != want {
		t.Errorf("matchConditions %v, want only %q", conds, want)
	}
	b := find(t, objs, "ValidatingAdmissionPolicyBinding", testRelease+packaging.PolicySuffix)
	if n, _, _ := unstructured.NestedString(b.Object, "spec", "policyName"); n != p.GetName() {
		t.Errorf("binding's policyName %q", n)
	}
	if a, _, _ := unstructured.NestedStringSlice(b.Object, "spec", "validationActions"); strings.Join(a, ",") != "Deny" {
		t.Errorf("binding's validationActions %v, want [Deny]", a)
	}

	old := render(t, operatorDir, testRelease, testNamespace, append(append([]string{}, requiredValues...), "--kube-version", "1.29.0")...)
	if len(ofKind(old, "ValidatingAdmissionPolicy"))+len(ofKind(old, "ValidatingAdmissionPolicyBinding")) > 0 {
		t.Error("the admission policy is rendered on a cluster without its API")
	}
	if out, err := helm(t, append([]string{"template", "x", operatorDir, "--kube-version", "1.27.9"}, requiredValues...)...); err == nil ||
		!strings.Contains(out, "kubeVersion") {
		t.Errorf("rendered for Kubernetes 1.27 (webhook matchConditions need 1.28): err=%v %s", err, firstLines(out, 3))
	}
	raw, err := os.ReadFile(filepath.Join(operatorDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		KubeVersion string `json:"kubeVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil || chart.KubeVersion != ">= 1.28.0-0" {
		t.Errorf("Chart.yaml kubeVersion %q (err %v), want \">= 1.28.0-0\"", chart.KubeVersion, err)
	}
	names := make([]string, 0, len(allowed))
	for k := range allowed {
		names = append(names, k)
	}
	sort.Strings(names)
	t.Logf("operator's own objects the policy allows: %v", names)
}
