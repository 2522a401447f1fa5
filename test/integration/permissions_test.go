package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// asServiceAccount returns a copy of cfg acting as a ServiceAccount (impersonation): the RBAC the test grants
// that ServiceAccount decides what the client may do, as for the operator's pod.
func asServiceAccount(cfg *rest.Config, ns, name string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, name),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	return c
}

// operatorChartRBAC renders RBAC templates of the operator chart for release rel in ns (helm template, the
// real binary) and creates the objects as the cluster admin, as `helm install` would; they are deleted when
// the test ends. It returns the objects.
func operatorChartRBAC(t *testing.T, rel, ns string, extended bool, templates ...string) []*unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"template", rel, filepath.Join(testharness.RepoRoot(), packaging.OperatorChartDir), "-n", ns,
		"--set", "apiKeySecret.apiKey=unused", "--set", "defaultCluster.provider=eks", "--set", fmt.Sprintf("extendedPermissions=%t", extended), "--kube-version", "1.30.0", "--api-versions", "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"}
	for _, tpl := range templates {
		args = append(args, "--show-only", "templates/"+tpl)
	}
	out, err := env.Helm(ctx, args...)
	if err != nil {
		t.Fatalf("render the operator chart's RBAC: %v\n%s", err, out)
	}
	objs, err := packaging.SplitYAML([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		obj := o
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	}
	return objs
}

// startOperatorAs runs an operator for ns with the permission-test catalog, acting as cfg's identity.
func startOperatorAs(t *testing.T, cfg *rest.Config, ns, release string) *operator.Operator {
	t.Helper()
	cat, err := catalog.Load(filepath.Join("testdata", "permissions-watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := operator.New(cfg, operator.Options{Namespace: ns, Catalog: cat, SkipControllerNameValidation: true, ReadyTimeout: time.Minute,
		Env: testEnvVars, CastAI: operator.CastAIOptions{PollInterval: 200 * time.Millisecond, LongPoll: time.Minute, OperatorRelease: release},
		Migration: operator.MigrationOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	testharness.RunManager(t, op.Manager)
	return op
}

// waitCondition waits until a Component's condition has status and reason, and returns the Component.
func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string, timeout time.Duration) *castwarev1.Component {
	t.Helper()
	var c *castwarev1.Component
	eventually(t, timeout, fmt.Sprintf("component %s %s=%s/%s", name, typ, status, reason), func() error {
		c = &castwarev1.Component{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
			return err
		}
		if cond := meta.FindStatusCondition(c.Status.Conditions, typ); cond != nil && cond.Status == status && cond.Reason == reason {
			return nil
		}
		return fmt.Errorf("%s", describe(c))
	})
	return c
}

func expectForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: want Forbidden, got %v", what, err)
	}
}

// TestPermissionPhases runs the operator as the ServiceAccount the operator chart binds its generated roles to
// (impersonation, real RBAC): with the Phase 1 rules the Phase 1 test charts install (a Secret reference, a
// plaintext key, roles in kube-system), the Phase 2 chart waits with MissingPermissions naming the missing
// rules and the helm command, and a chart granting what the operator lacks fails early with the exact rules
// (no Helm release is made). The ServiceAccount itself cannot bind cluster-admin or create a Role beyond its
// rules. Granting the chart's extendedPermissions=true objects makes the Phase 2 chart install without a
// restart, flips Cluster.status.extendedPermissions and spot-handler's phase2Permissions.
func TestPermissionPhases(t *testing.T) {
	ns := newNamespace(t)
	rel := "cw" + ns[len(ns)-5:]
	ctx := context.Background()
	operatorChartRBAC(t, rel, ns, false, "rbac-phase1.yaml", "rbac-selfmanage.yaml")
	sa := asServiceAccount(env.Config, ns, rel)
	asSA, err := client.New(sa, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	// As the ServiceAccount: no escalation.
	expectForbidden(t, "RoleBinding to cluster-admin", asSA.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "to-admin", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: rel, Namespace: ns}}}))
	expectForbidden(t, "Role with a rule it lacks", asSA.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "exec", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}}}))
	expectForbidden(t, "ClusterRole patching nodes", asSA.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "nodes-" + ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"patch"}}}}))

	op := startOperatorAs(t, sa, ns, rel)
	createCluster(t, ns)
	for _, c := range []*castwarev1.Component{
		newComponent(ns, "castai-agent", "castai-agent", "0.2.0", nil),
		newComponent(ns, "spot-handler", "spot-handler", "0.2.0", nil),
		newComponent(ns, "plain-agent", "plain-agent", "1.0.0", nil),
		newComponent(ns, "node-manager", "node-manager", "1.0.0", nil),
		newComponent(ns, "overreacher", "overreacher", "1.0.0", nil),
	} {
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// Phase 1: the Phase 1 charts install.
	waitAvailable(t, ns, "castai-agent", "0.2.0", 3*time.Minute)
	waitAvailable(t, ns, "plain-agent", "1.0.0", 3*time.Minute)
	waitAvailable(t, ns, "spot-handler", "0.2.0", 3*time.Minute)
	if v := daemonSetEnv(t, ns, "castai-spot-handler", "PHASE2_PERMISSIONS"); v != "false" {
		t.Errorf("spot-handler PHASE2_PERMISSIONS=%q with Phase 1 only", v)
	}
	cl := &castwarev1.Cluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai"}, cl); err != nil {
		t.Fatal(err)
	}
	if cl.Status.ExtendedPermissions || !meta.IsStatusConditionFalse(cl.Status.Conditions, castwarev1.ConditionExtendedPermissions) {
		t.Errorf("Cluster with Phase 1 only: extendedPermissions=%t, conditions %+v", cl.Status.ExtendedPermissions, cl.Status.Conditions)
	}

	// The Phase 2 chart waits, naming the missing rules and the command that grants them.
	command := fmt.Sprintf("helm upgrade %s castai-helm/castware-operator -n %s --reuse-values --set extendedPermissions=true", rel, ns)
	c := waitCondition(t, ns, "node-manager", castwarev1.ConditionAvailable, metav1.ConditionFalse, castwarev1.ReasonMissingPermissions, time.Minute)
	msg := condition(c, castwarev1.ConditionAvailable).Message
	for _, want := range []string{command, "nodes: delete,patch,update", "pods/eviction: create", "certificatesigningrequests.certificates.k8s.io",
		"*.*: *", "in namespace " + ns} {
		if !strings.Contains(msg, want) {
			t.Errorf("node-manager's message lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("PHASE2 MSG: %s", msg)
	assertNoRelease(t, ns, "node-manager")

	// A chart granting what the operator does not hold fails early with exactly those rules.
	c = waitCondition(t, ns, "overreacher", castwarev1.ConditionProgressing, metav1.ConditionFalse, castwarev1.ReasonMissingPermissions, time.Minute)
	escalation := condition(c, castwarev1.ConditionProgressing).Message
	role := "overreacher-" + ns
	for _, want := range []string{"ClusterRole " + role + " (cluster-wide): nodes/proxy: get; secrets: get,list,watch",
		"ClusterRoleBinding " + role + " (to ClusterRole " + role + ") (cluster-wide): nodes/proxy: get; secrets: get,list,watch", "missing 8:"} {
		if !strings.Contains(escalation, want) {
			t.Errorf("overreacher's message lacks %q:\n%s", want, escalation)
		}
	}
	t.Logf("ESCALATION MSG: %s", escalation)
	if strings.Contains(escalation, "nodes: ") || strings.Contains(escalation, "attempting to grant") {
		t.Errorf("overreacher's message lists rules the operator holds or Helm's raw error:\n%s", escalation)
	}
	if a := condition(c, castwarev1.ConditionAvailable); a.Reason != castwarev1.ReasonMissingPermissions {
		t.Errorf("overreacher Available %s/%s", a.Status, a.Reason)
	}
	assertNoRelease(t, ns, "overreacher")

	// Grant Phase 2 with the chart's extendedPermissions=true objects: no restart needed.
	reviews := op.PermissionGate.Reviewer.Requests()
	operatorChartRBAC(t, rel, ns, true, "rbac-phase2.yaml")
	waitAvailable(t, ns, "node-manager", "1.0.0", 2*time.Minute)
	eventually(t, time.Minute, "Cluster.status.extendedPermissions", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai"}, cl); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(cl.Status.Conditions, castwarev1.ConditionExtendedPermissions)
		if !cl.Status.ExtendedPermissions || cond == nil || cond.Reason != castwarev1.ReasonPermissionsGranted {
			return fmt.Errorf("extendedPermissions=%t condition %+v", cl.Status.ExtendedPermissions, cond)
		}
		return nil
	})
	eventually(t, 2*time.Minute, "spot-handler upgraded with phase2Permissions=true", func() error {
		if v := daemonSetEnv(t, ns, "castai-spot-handler", "PHASE2_PERMISSIONS"); v != "true" {
			return fmt.Errorf("PHASE2_PERMISSIONS=%q", v)
		}
		return nil
	})
	if n := op.PermissionGate.Reviewer.Requests() - reviews; n > 12 {
		t.Errorf("%d rule reviews after granting Phase 2: reviews are not cached", n)
	}

	// Still refused: Phase 2 does not grant every Secret of the cluster.
	c = waitCondition(t, ns, "overreacher", castwarev1.ConditionProgressing, metav1.ConditionFalse, castwarev1.ReasonMissingPermissions, time.Minute)
	if m := condition(c, castwarev1.ConditionProgressing).Message; !strings.Contains(m, "secrets: get,list,watch") || strings.Contains(m, "extendedPermissions=true") {
		t.Errorf("overreacher after Phase 2:\n%s", m)
	}
	assertNoRelease(t, ns, "overreacher")

	// At idle, reconciles of installed components send no reviews (binding events and a 30-minute recheck do).
	reviews = op.PermissionGate.Reviewer.Requests()
	afterReconcile(t, func() {
		agent := getComponent(t, ns, "castai-agent")
		base := agent.DeepCopy()
		agent.Annotations = map[string]string{"test/touched": "yes"}
		if err := k8s.Patch(ctx, agent, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
	})
	if n := op.PermissionGate.Reviewer.Requests() - reviews; n != 0 {
		t.Errorf("%d rule reviews for reconciling an installed component", n)
	}

	// With Phase 2 the ServiceAccount still cannot bind cluster-admin cluster-wide or outside its namespace.
	expectForbidden(t, "ClusterRoleBinding to cluster-admin", asSA.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "admin-" + ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: rel, Namespace: ns}}}))
	expectForbidden(t, "RoleBinding to cluster-admin in kube-system", asSA.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "admin-" + ns, Namespace: "kube-system"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: rel, Namespace: ns}}}))
}

func daemonSetEnv(t *testing.T, ns, name, key string) string {
	t.Helper()
	d := &appsv1.DaemonSet{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == key {
			return e.Value
		}
	}
	return ""
}

func assertNoRelease(t *testing.T, ns, name string) {
	t.Helper()
	hist, err := env.History(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) > 0 {
		t.Errorf("release %s exists (%d revisions, last %s): the operator should have stopped before Helm", name, len(hist), hist[len(hist)-1].Info.Status)
	}
}
