package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// TestGateRefusesGroupSubjects: a chart binding a role to system:authenticated is refused by the install gate
// before Helm runs (no release, no ClusterRole), with a condition naming the binding and the subject, even for an
// operator that holds every permission (the harness admin).
func TestGateRefusesGroupSubjects(t *testing.T) {
	ns := newNamespace(t)
	cat := testCatalogPlus(t, `
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: group-binder
  chart: test-group-binding
  releaseName: group-binder
  phase: 1
`)
	startOperator(t, ns, func(o *operator.Options) { o.Catalog = cat })
	createCluster(t, ns)
	if err := k8s.Create(context.Background(), newComponent(ns, "group-binder", "group-binder", "1.0.0", nil)); err != nil {
		t.Fatal(err)
	}
	c := waitCondition(t, ns, "group-binder", castwarev1.ConditionProgressing, metav1.ConditionFalse, castwarev1.ReasonForbiddenSubjects, 2*time.Minute)
	msg := condition(c, castwarev1.ConditionProgressing).Message
	for _, want := range []string{"ClusterRoleBinding group-binder-" + ns + ": Group system:authenticated", "binds roles to subjects the operator never grants roles to",
		"only to ServiceAccounts in namespace " + ns} {
		if !strings.Contains(msg, want) {
			t.Errorf("condition message lacks %q:\n%s", want, msg)
		}
	}
	assertNoRelease(t, ns, "group-binder")
}
