package packaging

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

// CatalogFile is the shipped component catalog, the source of the operator's named rights.
const CatalogFile = "watches.yaml"

// MarkerFiles are the generated marker files, per rule set: the catalog's foreign objects as
// +kubebuilder:rbac markers with resourceNames, so controller-gen folds them into config/rbac and
// everything derived from it (chart, bundle, internal/permissions) like any other marker.
var MarkerFiles = map[string]string{
	permissions.SetPhase1: "internal/permissions/phase1/zz_generated.catalog.go",
	permissions.SetPhase2: "internal/permissions/phase2/zz_generated.catalog.go",
}

// NamedVerbs are the verbs the operator holds on a foreign object, by name.
var NamedVerbs = []string{"get", "update", "patch", "delete"}

// Chart-only rule sets (labelled castware.cast.ai/permission-set like the generated sets): the operator's
// rights over its own release's cluster-scoped objects, and over the OpenShift namespace castai-agent uses.
const (
	// SetOwn is the set of named rights over the operator chart's own objects (self-upgrades).
	SetOwn = "own"
	// SetOpenShift is the set in catalog.OpenShiftNamespace, rendered only on OpenShift.
	SetOpenShift = "openshift"
)

// ownObject is an object of the operator chart outside its release namespace, named <fullname><Suffix>.
type ownObject struct {
	kind, namespace, suffix string
}

// ownObjects are the operator chart's own objects of catalog.ScopedKinds outside the release namespace
// (test/packaging fails when the chart renders one that is not listed).
var ownObjects = []ownObject{
	{"ClusterRole", "", "-phase1"}, {"ClusterRole", "", "-phase2"}, {"ClusterRole", "", "-selfmanage"}, {"ClusterRole", "", "-own"},
	{"ClusterRole", "", "-crd-upgrade"}, {"ClusterRole", "", "-metrics-reader"},
	{"ClusterRoleBinding", "", "-phase1"}, {"ClusterRoleBinding", "", "-phase2"}, {"ClusterRoleBinding", "", "-selfmanage"},
	{"ClusterRoleBinding", "", "-own"}, {"ClusterRoleBinding", "", "-crd-upgrade"},
	{"Role", "kube-system", "-phase1"}, {"Role", "kube-system", "-own"},
	{"RoleBinding", "kube-system", "-phase1"}, {"RoleBinding", "kube-system", "-own"},
	{"Role", catalog.OpenShiftNamespace, "-" + SetOpenShift}, {"RoleBinding", catalog.OpenShiftNamespace, "-" + SetOpenShift},
	{"MutatingWebhookConfiguration", "", "-mutating-webhook-configuration"},
	{"ValidatingWebhookConfiguration", "", "-validating-webhook-configuration"},
}

// Admission policy objects of the operator chart (validatingadmissionpolicies are not a catalog kind:
// admission policies never apply to them, so only RBAC names them).
const (
	// PolicySuffix names the chart's ValidatingAdmissionPolicy and its binding: <fullname><PolicySuffix>.
	PolicySuffix = "-operator-writes"
	// chartPolicyTemplate is the chart template of the policy.
	chartPolicyTemplate = OperatorChartDir + "/templates/admission-policy.yaml"
	// chartOwnTemplate is the chart template of the chart-only rule sets.
	chartOwnTemplate = OperatorChartDir + "/templates/rbac-own.yaml"
)

const fullname = `{{ include "castware-operator.fullname" . }}`

// LoadCatalog reads the shipped catalog under root.
func LoadCatalog(root string) (*catalog.Catalog, error) {
	return catalog.Load(filepath.Join(root, CatalogFile))
}

// namedRules turns objects into rules holding verbs on each by name, grouped by resource; objects in a
// namespace go to that namespace's rules (cluster is ""). Sorted by namespace, group, resource.
func namedRules(objs []catalog.ObjectRef, verbs []string) map[string][]rbacv1.PolicyRule {
	type key struct{ ns, group, resource string }
	names := map[key][]string{}
	for _, o := range objs {
		k := o.Scoped()
		names[key{o.Namespace, k.Group, k.Resource}] = append(names[key{o.Namespace, k.Group, k.Resource}], o.Name)
	}
	keys := make([]key, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.ns+"/"+a.group+"/"+a.resource < b.ns+"/"+b.group+"/"+b.resource
	})
	out := map[string][]rbacv1.PolicyRule{}
	for _, k := range keys {
		n := append([]string{}, names[k]...)
		sort.Strings(n)
		out[k.ns] = append(out[k.ns], rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: []string{k.resource}, ResourceNames: n,
			Verbs: append([]string{}, verbs...)})
	}
	return out
}

// CatalogMarkers renders the Go file of +kubebuilder:rbac markers naming the foreign objects of the
// catalog entries of one phase (objects in catalog.OpenShiftNamespace go to the chart-only OpenShift set).
func CatalogMarkers(cat *catalog.Catalog, set string) ([]byte, error) {
	phase, pkg, tag := 1, "phase1", ""
	if set == permissions.SetPhase2 {
		phase, pkg, tag = 2, "phase2", "//go:build rbacmarkers\n\n"
	}
	var objs []catalog.ObjectRef
	for _, o := range cat.ForeignObjectsOf(phase) {
		if o.Namespace != catalog.OpenShiftNamespace {
			objs = append(objs, o)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s// Code generated by hack/shipgen from %s; DO NOT EDIT.\n\npackage %s\n\n", tag, CatalogFile, pkg)
	b.WriteString("// The objects the catalog's Phase " + fmt.Sprint(phase) + " charts render outside their release namespace (foreignObjects),\n")
	b.WriteString("// by name: the only ones of their kinds the operator may change or delete.\n")
	rules := namedRules(objs, NamedVerbs)
	namespaces := make([]string, 0, len(rules))
	for ns := range rules {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		for _, r := range rules[ns] {
			nsPart := ""
			if ns != "" {
				nsPart = "namespace=" + ns + ","
			}
			fmt.Fprintf(&b, "// +kubebuilder:rbac:groups=%s,%sresources=%s,resourceNames=%s,verbs=%s\n", r.APIGroups[0], nsPart, r.Resources[0],
				strings.Join(r.ResourceNames, ";"), strings.Join(r.Verbs, ";"))
		}
	}
	return b.Bytes(), nil
}

// ownRefs returns the chart's own objects as references whose names are template text.
func ownRefs() []catalog.ObjectRef {
	out := make([]catalog.ObjectRef, 0, len(ownObjects))
	for _, o := range ownObjects {
		out = append(out, catalog.ObjectRef{Kind: o.kind, Namespace: o.namespace, Name: fullname + o.suffix})
	}
	return out
}

// ChartOwnRBAC renders the chart-only rule sets: SetOwn (named rights over the chart's own cluster-scoped
// objects, its kube-system Role, webhook configurations and admission policy, for self-upgrades) and
// SetOpenShift (creating Roles and RoleBindings in catalog.OpenShiftNamespace and changing the catalog's
// there by name), rendered only when the security.openshift.io/v1 API exists.
func ChartOwnRBAC(cat *catalog.Catalog) ([]byte, error) {
	var ownObjs, osObjs []catalog.ObjectRef
	for _, o := range append(ownRefs(), cat.ForeignObjectsOf(0)...) {
		switch {
		case o.Namespace == catalog.OpenShiftNamespace:
			osObjs = append(osObjs, o)
		case strings.HasPrefix(o.Name, fullname):
			ownObjs = append(ownObjs, o)
		}
	}
	own := namedRules(ownObjs, NamedVerbs)
	policy := rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"},
		Resources:     []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"},
		ResourceNames: []string{fullname + PolicySuffix}, Verbs: append([]string{}, NamedVerbs...)}
	ownSet := permissions.RuleSet{Name: SetOwn, Cluster: append(own[""], policy), Fixed: map[string][]rbacv1.PolicyRule{}}
	for ns, r := range own {
		if ns != "" {
			ownSet.Fixed[ns] = r
		}
	}
	osRules := []rbacv1.PolicyRule{{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings", "roles"}, Verbs: []string{"create"}}}
	osRules = append(osRules, namedRules(osObjs, NamedVerbs)[catalog.OpenShiftNamespace]...)
	osSet := permissions.RuleSet{Name: SetOpenShift, Fixed: map[string][]rbacv1.PolicyRule{catalog.OpenShiftNamespace: osRules}}

	var b bytes.Buffer
	fmt.Fprintf(&b, "{{- /* Code generated by hack/shipgen from %s and the chart's own object names; DO NOT EDIT. */ -}}\n", CatalogFile)
	t, err := ChartRBAC(ownSet, CatalogFile)
	if err != nil {
		return nil, err
	}
	b.Write(dropHeader(t))
	b.WriteString("{{- if .Capabilities.APIVersions.Has \"security.openshift.io/v1\" }}\n")
	t, err = ChartRBAC(osSet, CatalogFile)
	if err != nil {
		return nil, err
	}
	b.Write(dropHeader(t))
	b.WriteString("{{- end }}\n")
	return b.Bytes(), nil
}

// dropHeader removes the first line (the generated-code comment) of a ChartRBAC template.
func dropHeader(t []byte) []byte {
	_, rest, _ := bytes.Cut(t, []byte("\n"))
	return rest
}

// policyKeys returns the "<resource>/<namespace>/<name>" keys the admission policy allows: the catalog's
// foreign objects, the chart's own objects and the operator's CRDs, sorted (template text in names).
func policyKeys(cat *catalog.Catalog, crds []string) []string {
	var keys []string
	for _, o := range append(cat.ForeignObjectsOf(0), ownRefs()...) {
		if o.Kind == "MutatingWebhookConfiguration" || o.Kind == "ValidatingWebhookConfiguration" {
			continue // admission policies never see webhook configurations
		}
		keys = append(keys, o.Scoped().Resource+"/"+o.Namespace+"/"+o.Name)
	}
	for _, c := range crds {
		keys = append(keys, "customresourcedefinitions//"+c)
	}
	sort.Strings(keys)
	return keys
}

// crdNames reads the names of the operator's CRDs (config/crd/bases).
func crdNames(root string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, CRDDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var head struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		out = append(out, head.Metadata.Name)
	}
	sort.Strings(out)
	return out, nil
}

// ChartAdmissionPolicy renders the operator chart's ValidatingAdmissionPolicy and binding (rendered only
// when admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy exists, Kubernetes >= 1.30). For requests
// of the operator's ServiceAccount only, it allows creating and updating ClusterRoles, ClusterRoleBindings,
// SCCs, CRDs and Roles and RoleBindings outside the release namespace only by the names the catalog and the
// chart render, and any binding only with ServiceAccount subjects in the release namespace.
func ChartAdmissionPolicy(cat *catalog.Catalog, crds []string) []byte {
	quoted := make([]string, 0)
	for _, k := range policyKeys(cat, crds) {
		quoted = append(quoted, "'"+k+"'")
	}
	name := fullname + PolicySuffix
	sa := `system:serviceaccount:{{ .Release.Namespace }}:{{ include "castware-operator.serviceAccountName" . }}`
	var b bytes.Buffer
	fmt.Fprintf(&b, `{{- /* Code generated by hack/shipgen from %s and the chart's own object names; DO NOT EDIT. */ -}}
{{- /*
What the operator's ServiceAccount may create: RBAC cannot limit create by name, so this policy does.
Admission policies need Kubernetes >= 1.30 (admissionregistration.k8s.io/v1); on older clusters nothing
is rendered and only the RBAC names (update, patch, delete) apply: see docs/security.md.
*/ -}}
{{- if .Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy" }}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: %[2]s
  labels:
    {{- include "castware-operator.labels" . | nindent 4 }}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["rbac.authorization.k8s.io"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["clusterroles", "clusterrolebindings", "roles", "rolebindings"]
      - apiGroups: ["security.openshift.io"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["securitycontextconstraints"]
      - apiGroups: ["apiextensions.k8s.io"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["customresourcedefinitions"]
  matchConditions:
    - name: operator-service-account
      expression: "request.userInfo.username == '%[3]s'"
  variables:
    - name: operatorNamespace
      expression: "'{{ .Release.Namespace }}'"
    - name: requestNamespace
      expression: "has(request.namespace) ? request.namespace : ''"
    - name: key
      expression: "request.resource.resource + '/' + variables.requestNamespace + '/' + object.metadata.name"
    - name: allowed
      expression: >-
        [%[4]s]
  validations:
    - expression: >-
        (request.resource.resource in ['roles', 'rolebindings'] && variables.requestNamespace == variables.operatorNamespace) ||
        variables.key in variables.allowed
      messageExpression: >-
        'castware-operator may create or change only the ' + request.resource.resource + ' its catalog names; ' +
        object.metadata.name + (variables.requestNamespace == '' ? '' : ' in namespace ' + variables.requestNamespace) + ' is not one of them'
      reason: Forbidden
    - expression: >-
        !(request.resource.resource in ['clusterrolebindings', 'rolebindings']) || !has(object.subjects) ||
        object.subjects.all(s, s.kind == 'ServiceAccount' &&
        ((has(s.namespace) && s.namespace != '') ? s.namespace : variables.requestNamespace) == variables.operatorNamespace)
      messageExpression: >-
        'castware-operator may bind roles only to ServiceAccounts in namespace ' + variables.operatorNamespace +
        ', not to groups, users or ServiceAccounts of other namespaces: ' + request.resource.resource + ' ' + object.metadata.name
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: %[2]s
  labels:
    {{- include "castware-operator.labels" . | nindent 4 }}
spec:
  policyName: %[2]s
  validationActions: [Deny]
{{- end }}
`, CatalogFile, name, sa, strings.Join(quoted, ", "))
	return b.Bytes()
}

// catalogFiles returns the files generated from the catalog: the marker files and the chart's
// rbac-own.yaml and admission-policy.yaml templates.
func catalogFiles(root string) (map[string][]byte, error) {
	out, err := MarkerFilesOf(root)
	if err != nil {
		return nil, err
	}
	cat, err := LoadCatalog(root)
	if err != nil {
		return nil, err
	}
	own, err := ChartOwnRBAC(cat)
	if err != nil {
		return nil, err
	}
	out[chartOwnTemplate] = own
	crds, err := crdNames(root)
	if err != nil {
		return nil, err
	}
	out[chartPolicyTemplate] = ChartAdmissionPolicy(cat, crds)
	return out, nil
}

// MarkerFilesOf returns only the generated marker files (`shipgen markers`, run before controller-gen).
func MarkerFilesOf(root string) (map[string][]byte, error) {
	cat, err := LoadCatalog(root)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for set, path := range MarkerFiles {
		m, err := CatalogMarkers(cat, set)
		if err != nil {
			return nil, err
		}
		out[path] = m
	}
	return out, nil
}
