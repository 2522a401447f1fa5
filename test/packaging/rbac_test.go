package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

// A release name and namespace that are not the defaults, so nothing hard-coded can pass.
const (
	testRelease   = "acme"
	testNamespace = "team-a"
)

var requiredValues = []string{"--set", "apiKeySecret.apiKey=key", "--set", "defaultCluster.provider=eks"}

// chartRuleSets renders the operator chart and reads its generated roles back into rule sets.
func chartRuleSets(t *testing.T, extended bool) (map[string]permissions.RuleSet, []*unstructured.Unstructured) {
	t.Helper()
	objs := render(t, operatorDir, testRelease, testNamespace, append(requiredValues, "--set", fmt.Sprintf("extendedPermissions=%t", extended))...)
	sets := map[string]permissions.RuleSet{}
	for _, o := range objs {
		name := o.GetLabels()["castware.cast.ai/permission-set"]
		if name == "" || (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") {
			continue
		}
		var r rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
			t.Fatal(err)
		}
		set := sets[name]
		set.Name = name
		switch {
		case o.GetKind() == "ClusterRole":
			set.Cluster = append(set.Cluster, r.Rules...)
		case o.GetNamespace() == testNamespace:
			set.Namespace = append(set.Namespace, r.Rules...)
		default:
			if set.Fixed == nil {
				set.Fixed = map[string][]rbacv1.PolicyRule{}
			}
			set.Fixed[o.GetNamespace()] = append(set.Fixed[o.GetNamespace()], r.Rules...)
		}
		sets[name] = set
	}
	return sets, objs
}

func atomStrings(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, a := range permissions.Atoms(rules) {
		out = append(out, a.String())
	}
	return out
}

// diffRules describes how two rule lists differ in the permissions they grant ("" when equal).
func diffRules(a, b []rbacv1.PolicyRule) string {
	as, bs := map[string]bool{}, map[string]bool{}
	for _, x := range atomStrings(a) {
		as[x] = true
	}
	for _, x := range atomStrings(b) {
		bs[x] = true
	}
	var only []string
	for x := range as {
		if !bs[x] {
			only = append(only, "-"+x)
		}
	}
	for x := range bs {
		if !as[x] {
			only = append(only, "+"+x)
		}
	}
	sort.Strings(only)
	return strings.Join(only, " ")
}

func compareSets(t *testing.T, what string, want, got permissions.RuleSet) {
	t.Helper()
	if d := diffRules(want.Cluster, got.Cluster); d != "" {
		t.Errorf("%s: %s cluster rules differ from config/rbac: %s", what, want.Name, d)
	}
	if d := diffRules(want.Namespace, got.Namespace); d != "" {
		t.Errorf("%s: %s namespace rules differ from config/rbac: %s", what, want.Name, d)
	}
	namespaces := map[string]bool{}
	for ns := range want.Fixed {
		namespaces[ns] = true
	}
	for ns := range got.Fixed {
		namespaces[ns] = true
	}
	for ns := range namespaces {
		if d := diffRules(want.Fixed[ns], got.Fixed[ns]); d != "" {
			t.Errorf("%s: %s rules in namespace %s differ from config/rbac: %s", what, want.Name, ns, d)
		}
	}
}

// TestRBACOneSourceOfTruth: the rule sets controller-gen generated into config/rbac from the markers are
// exactly what internal/permissions exports, what the chart renders (Phase 2 only with
// extendedPermissions=true, bound to the release's ServiceAccount in the release namespace, named from
// the release) and what the OLM CSV grants (Phase 1).
func TestRBACOneSourceOfTruth(t *testing.T) {
	config, err := packaging.LoadRuleSets(root)
	if err != nil {
		t.Fatal(err)
	}
	goSets := map[string]permissions.RuleSet{}
	for _, s := range permissions.Sets() {
		goSets[s.Name] = s
	}
	for _, name := range packaging.SetNames {
		if len(config[name].Cluster)+len(config[name].Namespace) == 0 {
			t.Fatalf("config/rbac rule set %s is empty", name)
		}
		compareSets(t, "internal/permissions", config[name], goSets[name])
	}

	for _, extended := range []bool{false, true} {
		t.Run(fmt.Sprintf("chart extendedPermissions=%t", extended), func(t *testing.T) {
			sets, objs := chartRuleSets(t, extended)
			for _, name := range packaging.SetNames {
				got, ok := sets[name]
				if name == permissions.SetPhase2 && !extended {
					if ok {
						t.Errorf("phase2 roles rendered with extendedPermissions=false")
					}
					continue
				}
				if !ok {
					t.Fatalf("rule set %s not rendered", name)
				}
				compareSets(t, "chart", config[name], got)
			}
			checkBindings(t, objs, extended)
		})
	}

	t.Run("OLM CSV", func(t *testing.T) {
		csv := loadCSV(t)
		p1 := config[permissions.SetPhase1]
		wantCluster := append([]rbacv1.PolicyRule{}, p1.Cluster...)
		for _, ns := range p1.FixedNamespaces() {
			wantCluster = append(wantCluster, p1.Fixed[ns]...)
		}
		spec := csv.Spec.InstallStrategy.StrategySpec
		if len(spec.ClusterPermissions) != 1 || len(spec.Permissions) != 1 {
			t.Fatalf("CSV has %d clusterPermissions and %d permissions entries, want 1 each", len(spec.ClusterPermissions), len(spec.Permissions))
		}
		sa := spec.DeploymentSpecs[0].Spec.Template.Spec.ServiceAccountName
		if spec.ClusterPermissions[0].ServiceAccountName != sa || spec.Permissions[0].ServiceAccountName != sa {
			t.Errorf("CSV permissions are not granted to the deployment's ServiceAccount %s", sa)
		}
		if d := diffRules(wantCluster, spec.ClusterPermissions[0].Rules); d != "" {
			t.Errorf("CSV clusterPermissions differ from Phase 1 (cluster + kube-system): %s", d)
		}
		if d := diffRules(p1.Namespace, spec.Permissions[0].Rules); d != "" {
			t.Errorf("CSV permissions differ from Phase 1 namespace rules: %s", d)
		}
		for _, p := range append(spec.ClusterPermissions, spec.Permissions...) {
			if permissions.Covers(p.Rules, permissions.Atom{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Verb: "create"}) {
				t.Errorf("the CSV grants CRD writes: OLM owns CRDs")
			}
		}
	})
}

// checkBindings verifies every generated role is bound, by name, to the release's ServiceAccount in the
// release namespace, and that the Phase 2 objects carry the extended-permissions label.
func checkBindings(t *testing.T, objs []*unstructured.Unstructured, extended bool) {
	t.Helper()
	roles := map[string]bool{}
	for _, o := range objs {
		set := o.GetLabels()["castware.cast.ai/permission-set"]
		if set == "" {
			continue
		}
		if !strings.HasPrefix(o.GetName(), testRelease+"-") {
			t.Errorf("%s %s: name not derived from the release name", o.GetKind(), o.GetName())
		}
		if set == permissions.SetPhase2 && o.GetLabels()[permissions.LabelExtendedPermissions] != "true" {
			t.Errorf("%s %s lacks the %s label", o.GetKind(), o.GetName(), permissions.LabelExtendedPermissions)
		}
		switch o.GetKind() {
		case "ClusterRole", "Role":
			roles[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = true
		}
	}
	bound := map[string]bool{}
	for _, o := range objs {
		if o.GetLabels()["castware.cast.ai/permission-set"] == "" || (o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding") {
			continue
		}
		var b rbacv1.RoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
			t.Fatal(err)
		}
		ns := ""
		if b.RoleRef.Kind == "Role" {
			ns = o.GetNamespace()
		}
		bound[b.RoleRef.Kind+"/"+ns+"/"+b.RoleRef.Name] = true
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != testRelease || b.Subjects[0].Namespace != testNamespace {
			t.Errorf("%s %s subjects %+v, want ServiceAccount %s/%s", o.GetKind(), o.GetName(), b.Subjects, testNamespace, testRelease)
		}
	}
	for r := range roles {
		if !bound[r] {
			t.Errorf("%s is not bound", r)
		}
	}
	if extended && !bound["ClusterRole//"+testRelease+"-phase2"] {
		t.Errorf("phase2 ClusterRole not bound with extendedPermissions=true")
	}
}

func loadCSV(t *testing.T) *operatorsv1alpha1.ClusterServiceVersion {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, packaging.BundleDir, "manifests", packaging.BundlePackage+".clusterserviceversion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.Unmarshal(data, csv); err != nil {
		t.Fatal(err)
	}
	return csv
}

// TestRBACNeverEscalates: no rule set grants escalate, bind or impersonate, except the Phase 2 `*` rule
// in the operator's own namespace (it mirrors cluster-controller's Role there); Phase 1 and
// self-management grant no wildcard verb at all.
func TestRBACNeverEscalates(t *testing.T) {
	dangerous := []permissions.Atom{
		{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: "escalate"},
		{Group: "rbac.authorization.k8s.io", Resource: "roles", Verb: "escalate"},
		{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: "bind"},
		{Group: "rbac.authorization.k8s.io", Resource: "roles", Verb: "bind"},
		{Group: "", Resource: "users", Verb: "impersonate"},
		{Group: "", Resource: "groups", Verb: "impersonate"},
		{Group: "", Resource: "serviceaccounts", Verb: "impersonate"},
		{Group: "authentication.k8s.io", Resource: "uids", Verb: "impersonate"},
	}
	for _, set := range permissions.Sets() {
		scopes := map[string][]rbacv1.PolicyRule{"cluster": set.Cluster, "namespace": set.Namespace}
		for ns, r := range set.Fixed {
			scopes[ns] = r
		}
		for scope, rules := range scopes {
			for _, a := range dangerous {
				if !permissions.Covers(rules, a) {
					continue
				}
				if set.Name == permissions.SetPhase2 && scope == "namespace" {
					continue
				}
				t.Errorf("%s %s rules grant %s", set.Name, scope, a)
			}
			if set.Name == permissions.SetPhase2 {
				continue
			}
			for _, r := range rules {
				for _, v := range r.Verbs {
					if v == "*" {
						t.Errorf("%s %s rule %v grants every verb", set.Name, scope, r)
					}
				}
			}
		}
	}
	p2 := permissions.Phase2()
	if len(p2.Namespace) != 1 || strings.Join(atomStrings(p2.Namespace), ",") != "*/*:*" {
		t.Errorf("phase2 namespace rules = %v, want only the `*` rule", atomStrings(p2.Namespace))
	}
}

// grant is one rule a component chart grants, with where it applies.
type grant struct {
	chart, scope string // scope: cluster, namespace (the operator's), or a fixed namespace
	atom         permissions.Atom
}

func g(chart, scope, group, resource, name, verb string) grant {
	return grant{chart, scope, permissions.Atom{Group: group, Resource: resource, Name: name, Verb: verb}}
}

// componentGrants lists what the shipped component charts grant (reference: castai-component-charts.md
// and the documented operator's RBAC). The operator must hold each (Kubernetes RBAC escalation
// prevention), in Phase 1 for Phase 1 charts and in Phase 1+2 for Phase 2 charts.
var componentGrants = func() []grant {
	var out []grant
	read := func(chart, group string, resources ...string) {
		for _, r := range resources {
			for _, v := range []string{"get", "list", "watch"} {
				out = append(out, g(chart, "cluster", group, r, "", v))
			}
		}
	}
	// castai-agent's read-only ClusterRole.
	read("castai-agent", "", "nodes", "pods", "namespaces", "services", "events", "persistentvolumes", "persistentvolumeclaims",
		"replicationcontrollers", "limitranges", "resourcequotas")
	read("castai-agent", "apps", "deployments", "replicasets", "daemonsets", "statefulsets")
	read("castai-agent", "batch", "jobs", "cronjobs")
	read("castai-agent", "autoscaling", "horizontalpodautoscalers")
	read("castai-agent", "autoscaling.k8s.io", "verticalpodautoscalers")
	read("castai-agent", "argoproj.io", "rollouts")
	read("castai-agent", "karpenter.sh", "nodepools", "nodeclaims", "provisioners", "machines")
	read("castai-agent", "karpenter.k8s.aws", "ec2nodeclasses", "awsnodetemplates")
	read("castai-agent", "keda.sh", "scaledobjects", "scaledjobs")
	read("castai-agent", "datadoghq.com", "extendeddaemonsetreplicasets")
	read("castai-agent", "networking.k8s.io", "ingresses", "networkpolicies")
	read("castai-agent", "policy", "poddisruptionbudgets")
	read("castai-agent", "storage.k8s.io", "storageclasses", "csinodes")
	read("castai-agent", "resource.k8s.io", "resourceclaims", "deviceclasses", "resourceslices")
	read("castai-agent", "metrics.k8s.io", "pods", "nodes")
	read("castai-agent", "runbooks.cast.ai", "recommendationsyncs")
	read("castai-agent", "storageoptimization.cast.ai", "nodediskrecommendations")
	read("castai-agent", "autoscaling.cast.ai", "recommendations")
	out = append(out, grant{"castai-agent", "cluster", permissions.Atom{URL: "/version", Verb: "get"}})
	// castai-agent's Role in its namespace and in kube-system.
	for _, v := range []string{"create", "get", "list", "watch", "update"} {
		out = append(out, g("castai-agent", "namespace", "coordination.k8s.io", "leases", "", v))
	}
	for _, v := range []string{"get", "list", "watch", "create", "update", "patch"} {
		out = append(out, g("castai-agent", "namespace", "", "configmaps", "", v))
	}
	out = append(out, g("castai-agent", "namespace", "apps", "deployments", "castai-agent", "patch"))
	for _, v := range []string{"get", "list", "watch"} {
		out = append(out, g("castai-agent", "kube-system", "", "configmaps", "", v))
	}
	// spot-handler (Phase 1 with phase2Permissions=false).
	read("castai-spot-handler", "", "nodes")
	// Phase 2: cluster-controller's ClusterRole and Role, spot-handler's phase2 ClusterRole, evictor.
	p2 := func(chart, scope, group, resource, name string, verbs ...string) {
		for _, v := range verbs {
			out = append(out, g(chart+" (phase 2)", scope, group, resource, name, v))
		}
	}
	p2("castai-cluster-controller", "cluster", "", "nodes", "", "get", "list", "watch", "patch", "update", "delete")
	p2("castai-cluster-controller", "cluster", "", "nodes/status", "", "patch")
	p2("castai-cluster-controller", "cluster", "", "pods", "", "get", "list", "watch", "delete")
	p2("castai-cluster-controller", "cluster", "", "pods/eviction", "", "create")
	p2("castai-cluster-controller", "cluster", "certificates.k8s.io", "certificatesigningrequests", "", "get", "list", "watch", "create", "delete")
	p2("castai-cluster-controller", "cluster", "certificates.k8s.io", "certificatesigningrequests/approval", "", "patch", "update")
	p2("castai-cluster-controller", "cluster", "certificates.k8s.io", "signers", "kubernetes.io/kubelet-serving", "approve")
	p2("castai-cluster-controller", "cluster", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet", "approve")
	p2("castai-cluster-controller", "cluster", "autoscaling.cast.ai", "*", "", "*")
	p2("castai-cluster-controller", "cluster", "live.cast.ai", "*", "", "*")
	p2("castai-cluster-controller", "cluster", "pod-mutations.cast.ai", "*", "", "*")
	p2("castai-cluster-controller", "cluster", "storage.k8s.io", "volumeattachments", "", "get", "list", "watch", "delete")
	p2("castai-cluster-controller", "cluster", "rbac.authorization.k8s.io", "clusterroles", "castai-evictor", "get", "delete")
	p2("castai-cluster-controller", "cluster", "rbac.authorization.k8s.io", "clusterrolebindings", "castai-cluster-controller-ext", "get", "delete")
	p2("castai-cluster-controller", "cluster", "rbac.authorization.k8s.io", "roles", "castai-pod-pinner", "get", "patch", "update", "delete")
	p2("castai-cluster-controller", "cluster", "", "namespaces", "castai-agent", "delete")
	p2("castai-cluster-controller", "cluster", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "castai-pod-pinner", "get", "patch")
	p2("castai-cluster-controller", "namespace", "*", "*", "", "*")
	p2("castai-spot-handler", "cluster", "", "nodes", "", "patch")
	p2("castai-pod-mutator", "cluster", "apiextensions.k8s.io", "customresourcedefinitions", "", "create")
	return out
}()

// TestRBACCoversComponentCharts: the operator holds every rule the component charts grant (Phase 1
// charts with Phase 1 alone; Phase 2 charts with Phase 1+2), and every rule of the RBAC objects its own
// chart creates during a self-upgrade (the CRD-upgrade hook role, the uninstall guard).
func TestRBACCoversComponentCharts(t *testing.T) {
	p1, p2, sm := permissions.Phase1(), permissions.Phase2(), permissions.SelfManage()
	holds := func(extended bool, scope string) []rbacv1.PolicyRule {
		rules := append([]rbacv1.PolicyRule{}, p1.Cluster...)
		rules = append(rules, sm.Cluster...)
		if extended {
			rules = append(rules, p2.Cluster...)
		}
		switch scope {
		case "cluster":
		case "namespace":
			rules = append(append(rules, p1.Namespace...), sm.Namespace...)
			if extended {
				rules = append(rules, p2.Namespace...)
			}
		default:
			rules = append(rules, p1.Fixed[scope]...)
		}
		return rules
	}
	for _, gr := range componentGrants {
		extended := strings.HasSuffix(gr.chart, "(phase 2)")
		if !permissions.Covers(holds(extended, gr.scope), gr.atom) {
			t.Errorf("%s grants %s (%s) but the operator does not hold it", gr.chart, gr.atom, gr.scope)
		}
		if !extended && gr.scope == "cluster" && !permissions.Covers(p1.Cluster, gr.atom) {
			t.Errorf("phase 1 alone lacks %s (%s)", gr.atom, gr.chart)
		}
	}
	// The operator chart's own RBAC objects (created by the operator when it upgrades its release).
	_, objs := chartRuleSets(t, false)
	for _, o := range objs {
		if o.GetLabels()["castware.cast.ai/permission-set"] != "" || (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") {
			continue
		}
		var r rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
			t.Fatal(err)
		}
		scope := "cluster"
		if o.GetKind() == "Role" {
			scope = "namespace"
		}
		for _, a := range permissions.Atoms(r.Rules) {
			if !permissions.Covers(holds(false, scope), a) {
				t.Errorf("chart %s %s grants %s, which the operator does not hold (a self-upgrade could not create it)", o.GetKind(), o.GetName(), a)
			}
		}
	}
}
