// Package packaging generates what the project ships from config/: the operator chart's RBAC templates
// and CRDs, the Go copy of the rule sets in internal/permissions, and the OLM bundle; and it validates
// the bundle with operator-framework/api. hack/shipgen is its command line; tests call it to check that
// the committed files are up to date. The operator binary never imports it.
package packaging

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/permissions"
)

// Paths of the generated and source files, relative to the repository root.
const (
	// OperatorChartDir is the operator's Helm chart.
	OperatorChartDir = "helm-charts/castware-operator"
	// ComponentsChartDir is the Terraform components chart.
	ComponentsChartDir = "helm-charts/castware-components"
	// CRDDir holds the CRDs controller-gen generates.
	CRDDir = "config/crd/bases"
	// GoRulesFile is the Go copy of the rule sets.
	GoRulesFile = "internal/permissions/zz_generated.rules.go"
)

// RoleFiles maps each rule set to the file controller-gen writes it to (`make generate`).
var RoleFiles = map[string]string{
	permissions.SetPhase1:     "config/rbac/role.yaml",
	permissions.SetPhase2:     "config/rbac/phase2/role.yaml",
	permissions.SetSelfManage: "config/rbac/selfmanage/role.yaml",
}

// SetNames lists the rule sets in a stable order.
var SetNames = []string{permissions.SetPhase1, permissions.SetPhase2, permissions.SetSelfManage}

// ParseRoles reads ClusterRoles and Roles from a multi-document YAML file into a rule set: the
// ClusterRole's rules are cluster-wide, a Role in permissions.MarkerNamespace holds the namespace rules
// and Roles in other namespaces hold fixed-namespace rules.
func ParseRoles(name string, data []byte) (permissions.RuleSet, error) {
	set := permissions.RuleSet{Name: name}
	objs, err := SplitYAML(data)
	if err != nil {
		return set, err
	}
	for _, o := range objs {
		rules, err := rulesOf(o)
		if err != nil {
			return set, err
		}
		switch o.GetKind() {
		case "ClusterRole":
			set.Cluster = append(set.Cluster, rules...)
		case "Role":
			if o.GetNamespace() == permissions.MarkerNamespace {
				set.Namespace = append(set.Namespace, rules...)
				continue
			}
			if set.Fixed == nil {
				set.Fixed = map[string][]rbacv1.PolicyRule{}
			}
			set.Fixed[o.GetNamespace()] = append(set.Fixed[o.GetNamespace()], rules...)
		}
	}
	return set, nil
}

// LoadRuleSets reads every rule set from the controller-gen output under root.
func LoadRuleSets(root string) (map[string]permissions.RuleSet, error) {
	out := map[string]permissions.RuleSet{}
	for _, name := range SetNames {
		data, err := os.ReadFile(filepath.Join(root, RoleFiles[name]))
		if err != nil {
			return nil, fmt.Errorf("read rule set %s (run `make generate`): %w", name, err)
		}
		set, err := ParseRoles(name, data)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", RoleFiles[name], err)
		}
		out[name] = set
	}
	return out, nil
}

func rulesOf(o *unstructured.Unstructured) ([]rbacv1.PolicyRule, error) {
	var r rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return r.Rules, nil
}

// SplitYAML parses a multi-document YAML stream into objects, skipping empty documents.
func SplitYAML(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range splitDocs(data) {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("parse YAML document: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

func splitDocs(data []byte) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.String())
}

// chartTemplateFile names the chart template a set is rendered into.
func chartTemplateFile(set string) string {
	return filepath.Join(OperatorChartDir, "templates", "rbac-"+set+".yaml")
}

// chartCondition is the template condition under which a set is rendered ("" for always).
var chartCondition = map[string]string{permissions.SetPhase2: ".Values.extendedPermissions"}

// ChartRBAC renders a rule set as an operator-chart template: a ClusterRole and ClusterRoleBinding, a
// Role and RoleBinding in the release namespace, and a Role and RoleBinding per fixed namespace, all
// named <fullname>-<set> and bound to the operator's ServiceAccount in the release namespace.
func ChartRBAC(set permissions.RuleSet, source string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{{- /* Code generated by hack/shipgen from %s; DO NOT EDIT. */ -}}\n", source)
	cond := chartCondition[set.Name]
	if cond != "" {
		fmt.Fprintf(&b, "{{- if %s }}\n", cond)
	}
	labels := "    {{- include \"castware-operator.labels\" . | nindent 4 }}\n    castware.cast.ai/permission-set: " + set.Name + "\n"
	if set.Name == permissions.SetPhase2 {
		labels += "    " + permissions.LabelExtendedPermissions + ": \"true\"\n"
	}
	name := "{{ include \"castware-operator.fullname\" . }}-" + set.Name
	subject := "  - kind: ServiceAccount\n    name: {{ include \"castware-operator.serviceAccountName\" . }}\n    namespace: {{ .Release.Namespace }}\n"
	doc := func(kind, ns string, rules []rbacv1.PolicyRule) error {
		fmt.Fprintf(&b, "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n  name: %s\n", kind, name)
		if ns != "" {
			fmt.Fprintf(&b, "  namespace: %s\n", ns)
		}
		fmt.Fprintf(&b, "  labels:\n%srules:\n", labels)
		y, err := yaml.Marshal(rules)
		if err != nil {
			return err
		}
		b.Write(indent(y, "  "))
		bindingKind := "RoleBinding"
		if kind == "ClusterRole" {
			bindingKind = "ClusterRoleBinding"
		}
		fmt.Fprintf(&b, "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: %s\nmetadata:\n  name: %s\n", bindingKind, name)
		if ns != "" {
			fmt.Fprintf(&b, "  namespace: %s\n", ns)
		}
		fmt.Fprintf(&b, "  labels:\n%sroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: %s\n  name: %s\nsubjects:\n%s", labels, kind, name, subject)
		return nil
	}
	if len(set.Cluster) > 0 {
		if err := doc("ClusterRole", "", set.Cluster); err != nil {
			return nil, err
		}
	}
	if len(set.Namespace) > 0 {
		if err := doc("Role", "{{ .Release.Namespace }}", set.Namespace); err != nil {
			return nil, err
		}
	}
	for _, ns := range set.FixedNamespaces() {
		if err := doc("Role", ns, set.Fixed[ns]); err != nil {
			return nil, err
		}
	}
	if cond != "" {
		b.WriteString("{{- end }}\n")
	}
	return b.Bytes(), nil
}

func indent(y []byte, prefix string) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
		out.WriteString(prefix + line + "\n")
	}
	return out.Bytes()
}

// ChartFiles returns the chart files generated from config/: one RBAC template per rule set, the webhook
// configurations and the chart's copies of the CRDs, keyed by path relative to root.
func ChartFiles(root string) (map[string][]byte, error) {
	sets, err := LoadRuleSets(root)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range SetNames {
		t, err := ChartRBAC(sets[name], RoleFiles[name])
		if err != nil {
			return nil, err
		}
		out[chartTemplateFile(name)] = t
	}
	crds, err := filepath.Glob(filepath.Join(root, CRDDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s (run `make generate`)", CRDDir)
	}
	for _, p := range crds {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[filepath.Join(OperatorChartDir, "crds", filepath.Base(p))] = data
	}
	goRules, err := GoRules(sets)
	if err != nil {
		return nil, err
	}
	out[GoRulesFile] = goRules
	fromCatalog, err := catalogFiles(root)
	if err != nil {
		return nil, err
	}
	for p, data := range fromCatalog {
		out[p] = data
	}
	webhooks, err := chartWebhookFiles(root)
	if err != nil {
		return nil, err
	}
	for p, data := range webhooks {
		out[p] = data
	}
	return out, nil
}

// WriteFiles writes generated files under root, creating directories. In each of ownedDirs (relative to
// root) it first removes the .yaml files that are not generated any more.
func WriteFiles(root string, files map[string][]byte, ownedDirs ...string) error {
	for _, dir := range ownedDirs {
		existing, err := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		if err != nil {
			return err
		}
		for _, p := range existing {
			rel, _ := filepath.Rel(root, p)
			if _, ok := files[rel]; !ok {
				if err := os.Remove(p); err != nil {
					return err
				}
			}
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Stale compares generated files with the files under root and returns the paths that differ or are
// missing, sorted.
func Stale(root string, files map[string][]byte) []string {
	var out []string
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || !bytes.Equal(got, want) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
