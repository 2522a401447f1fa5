package access

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/castware-operator/castware-operator/internal/permissions"
)

// rulesClient answers SelfSubjectRulesReviews with the rules held cluster-wide and in the namespace (a
// namespace's review includes the cluster-wide rules, as the API server computes it).
func rulesClient(cluster, namespaced []rbacv1.PolicyRule) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		req := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectRulesReview)
		rules := cluster
		if req.Spec.Namespace != ClusterScopeNamespace {
			rules = append(append([]rbacv1.PolicyRule{}, cluster...), namespaced...)
		}
		out := req.DeepCopy()
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 {
				out.Status.NonResourceRules = append(out.Status.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
				continue
			}
			out.Status.ResourceRules = append(out.Status.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups,
				Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
		return true, out, nil
	})
	return cs
}

// TestDetectBindingsAndRights: Phase 2 needs both what the documented operator looks for (the labelled
// bindings) and the rights those bindings should grant. Either alone is not Phase 2; a cluster-admin without
// the bindings is reported as such (it may install Phase 2 components) but is still not Phase 2.
func TestDetectBindingsAndRights(t *testing.T) {
	const ns = "castai-agent"
	p1, p2 := permissions.Phase1(), permissions.Phase2()
	phase1 := func() ([]rbacv1.PolicyRule, []rbacv1.PolicyRule) { return p1.Cluster, p1.Namespace }
	phase2 := func() ([]rbacv1.PolicyRule, []rbacv1.PolicyRule) {
		return append(append([]rbacv1.PolicyRule{}, p1.Cluster...), p2.Cluster...), append(append([]rbacv1.PolicyRule{}, p1.Namespace...), p2.Namespace...)
	}
	admin := func() ([]rbacv1.PolicyRule, []rbacv1.PolicyRule) { return permissions.FullAuthority(), nil }
	for _, tc := range []struct {
		name                   string
		rights                 func() ([]rbacv1.PolicyRule, []rbacv1.PolicyRule)
		bindings               bool
		extended, admin, lacks bool
	}{
		{"labelled bindings granting Phase 2", phase2, true, true, false, false},
		{"labelled bindings that grant nothing more than Phase 1", phase1, true, false, false, true},
		{"Phase 2 rights without the labelled bindings", phase2, false, false, false, false},
		{"Phase 1 only", phase1, false, false, false, true},
		{"cluster-admin without the bindings", admin, false, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, namespaced := tc.rights()
			r := NewReviewer(rulesClient(cluster, namespaced).AuthorizationV1(), 0)
			st, err := Detect(context.Background(), r, ns, tc.bindings)
			if err != nil {
				t.Fatal(err)
			}
			if st.Extended != tc.extended || st.Bindings != tc.bindings || st.Admin != tc.admin || (len(st.Missing) > 0) != tc.lacks {
				t.Fatalf("status %+v (missing %d rules), want extended=%v admin=%v lacks=%v", st, permissions.AtomCount(st.Missing), tc.extended, tc.admin, tc.lacks)
			}
		})
	}
}
