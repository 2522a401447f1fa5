package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
)

// policyRefusal is how the chart's admission policy starts its refusals (validation messages).
const (
	nameRefusal    = "castware-operator may create or change only the"
	subjectRefusal = "castware-operator may bind roles only to ServiceAccounts in namespace"
)

// TestAdmissionPolicyConfinesOperator applies the operator chart's RBAC and its ValidatingAdmissionPolicy (the
// real kube-apiserver enforces it) and acts as the chart's ServiceAccount: creating a ClusterRole the catalog does
// not name and binding a catalog role to system:authenticated, to a user or to a ServiceAccount of another
// namespace are refused by the policy; the catalog's own names, and every RBAC object the structural test charts
// (shaped like Cast AI's) render, are allowed. Another identity is not affected.
func TestAdmissionPolicyConfinesOperator(t *testing.T) {
	ns := newNamespace(t)
	rel := "cw" + ns[len(ns)-5:]
	ctx := context.Background()
	operatorChartRBAC(t, rel, ns, true, "rbac-phase1.yaml", "rbac-phase2.yaml", "rbac-selfmanage.yaml", "rbac-own.yaml", "admission-policy.yaml")
	asSA, err := client.New(asServiceAccount(env.Config, ns, rel), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	dry := client.DryRunAll
	foreign := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "foreign-" + ns}}
	// The policy takes effect once the API server has loaded and type-checked it.
	eventually(t, time.Minute, "the admission policy refuses a foreign ClusterRole", func() error {
		err := asSA.Create(ctx, foreign.DeepCopy(), dry)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), nameRefusal) {
			return nil
		}
		return fmt.Errorf("create ClusterRole %s: %v", foreign.Name, err)
	})
	// The harness admin (not the operator) is not confined.
	if err := k8s.Create(ctx, foreign.DeepCopy(), dry); err != nil {
		t.Errorf("the admin's ClusterRole %s: %v", foreign.Name, err)
	}

	// A catalog name is allowed (castai-pod-mutator: no other test creates it); bindings only to this namespace's ServiceAccounts.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "castai-pod-mutator"}}
	if err := asSA.Create(ctx, role); err != nil {
		t.Fatalf("create the catalog's ClusterRole %s: %v", role.Name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), role) })
	binding := func(subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "castai-pod-mutator"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}, Subjects: subjects}
	}
	for what, s := range map[string]rbacv1.Subject{
		"group system:authenticated":   {Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"},
		"group system:unauthenticated": {Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:unauthenticated"},
		"group system:masters":         {Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:masters"},
		"a user":                       {Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"},
		"a ServiceAccount in default":  {Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: "default"},
	} {
		err := asSA.Create(ctx, binding(s), dry)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), subjectRefusal) {
			t.Errorf("ClusterRoleBinding to %s: want the policy's refusal, got %v", what, err)
		}
	}
	roleBinding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "to-everyone", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}}}
	if err := asSA.Create(ctx, roleBinding, dry); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), subjectRefusal) {
		t.Errorf("RoleBinding in the operator's namespace to system:authenticated: want the policy's refusal, got %v", err)
	}
	if err := asSA.Create(ctx, binding(rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "castai-pod-mutator", Namespace: ns}), dry); err != nil {
		t.Errorf("ClusterRoleBinding of the catalog to a ServiceAccount in %s: %v", ns, err)
	}
	// A Role in kube-system the catalog does not name.
	ksRole := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "foreign-" + ns, Namespace: "kube-system"}}
	if err := asSA.Create(ctx, ksRole, dry); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), nameRefusal) {
		t.Errorf("Role %s in kube-system: want the policy's refusal, got %v", ksRole.Name, err)
	}

	structuralAllowed(t, ns, asSA)
}

// structuralAllowed: every RBAC object the structural charts render is admitted (dry run) for the operator's
// ServiceAccount. The test grants it bind and escalate first, so that RBAC's own escalation check (a binding's
// role exists only in the dry run) does not decide: only the policy does.
func structuralAllowed(t *testing.T, ns string, asSA client.Client) {
	t.Helper()
	ctx := context.Background()
	grant := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "test-bind-" + ns}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles", "roles"}, Verbs: []string{"bind", "escalate"}}}}
	grantBinding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "test-bind-" + ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: grant.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "cw" + ns[len(ns)-5:], Namespace: ns}}}
	for _, o := range []client.Object{grant, grantBinding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		obj := o
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	}
	checked := 0
	for _, c := range structuralComponents {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := env.Helm(rctx, "template", c.chart, filepath.Join(structuralChartsDir(), c.chart, "1.1.0"), "-n", ns,
			"--set", "apiKeySecretRef=k", "--set", "apiURL=https://api.cast.ai", "--set", "provider=eks", "--set", "createNamespace=false",
			"--set", "castai.apiKeySecretRef=k", "--set", "castai.apiURL=https://api.cast.ai", "--set", "castai.provider=aws",
			"--set", "castai.clusterID=11111111-1111-1111-1111-111111111111")
		cancel()
		if err != nil {
			t.Fatalf("render %s: %v\n%s", c.chart, err, out)
		}
		objs, err := packaging.SplitYAML([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if _, scoped := catalog.ScopedKinds[o.GetKind()]; !scoped {
				continue
			}
			eventually(t, 30*time.Second, fmt.Sprintf("%s %s/%s admitted", o.GetKind(), o.GetNamespace(), o.GetName()), func() error {
				// RBAC caches the new bind grant for a moment; the policy's refusal would be final.
				err := asSA.Create(ctx, o.DeepCopy(), client.DryRunAll)
				if err != nil && strings.Contains(err.Error(), "castware-operator may") {
					t.Fatalf("%s %s/%s of chart %s refused by the policy: %v", o.GetKind(), o.GetNamespace(), o.GetName(), c.chart, err)
				}
				if apierrors.IsAlreadyExists(err) {
					return nil
				}
				return err
			})
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("checked only %d structural RBAC objects", checked)
	}
	t.Logf("%d RBAC objects of the structural charts admitted", checked)
}
