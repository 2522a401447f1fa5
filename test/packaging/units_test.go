package packaging

import (
	"context"
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/lifecycle/cleanup"
	"github.com/castware-operator/castware-operator/internal/lifecycle/crds"
	"github.com/castware-operator/castware-operator/internal/lifecycle/preflight"
	"github.com/castware-operator/castware-operator/internal/lifecycle/removal"
	"github.com/castware-operator/castware-operator/internal/permissions"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
)

// TestCoversMatchesRBACSemantics: permissions.Covers, which the RBAC tests rely on, follows Kubernetes'
// rule matching (wildcards, subresources, resourceNames, non-resource URL prefixes).
func TestCoversMatchesRBACSemantics(t *testing.T) {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"api-key"}, Verbs: []string{"get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"*"}, Verbs: []string{"watch"}},
		{APIGroups: []string{"*"}, Resources: []string{"*/scale"}, Verbs: []string{"update"}},
		{NonResourceURLs: []string{"/metrics/*"}, Verbs: []string{"get"}},
	}
	cases := []struct {
		a    permissions.Atom
		want bool
	}{
		{permissions.Atom{Group: "apps", Resource: "deployments", Verb: "get"}, true},
		{permissions.Atom{Group: "apps", Resource: "deployments", Verb: "delete"}, false},
		{permissions.Atom{Group: "apps", Resource: "deployments/status", Verb: "get"}, false},
		{permissions.Atom{Group: "", Resource: "secrets", Name: "api-key", Verb: "get"}, true},
		{permissions.Atom{Group: "", Resource: "secrets", Verb: "get"}, false},
		{permissions.Atom{Group: "", Resource: "secrets", Name: "other", Verb: "get"}, false},
		{permissions.Atom{Group: "batch", Resource: "jobs/status", Verb: "watch"}, true},
		{permissions.Atom{Group: "apps", Resource: "deployments/scale", Verb: "update"}, true},
		{permissions.Atom{Group: "apps", Resource: "deployments", Verb: "update"}, false},
		{permissions.Atom{URL: "/metrics/cadvisor", Verb: "get"}, true},
		{permissions.Atom{URL: "/healthz", Verb: "get"}, false},
	}
	for _, c := range cases {
		if got := permissions.Covers(rules, c.a); got != c.want {
			t.Errorf("Covers(%s) = %t, want %t", c.a, got, c.want)
		}
	}
	if got := len(permissions.Atoms(rules[:1])); got != 2 {
		t.Errorf("Atoms of one rule with two verbs: %d", got)
	}
}

// TestSelfUpgradeDecisions: the pure parts of the self-upgrade (values reused and un-pinned, when an
// auto-update starts).
func TestSelfUpgradeDecisions(t *testing.T) {
	cfg := map[string]any{"image": map[string]any{"tag": "v0.1.0", "repository": "r"}, "apiKeySecret": map[string]any{"apiKey": "k"}}
	vals := selfupgrade.UpgradeValues(cfg)
	if img := vals["image"].(map[string]any); img["tag"] != nil || img["repository"] != "r" {
		t.Errorf("image values %v: the tag must be removed, the rest kept", img)
	}
	if cfg["image"].(map[string]any)["tag"] != "v0.1.0" {
		t.Errorf("UpgradeValues modified the release's config")
	}
	if only := selfupgrade.UpgradeValues(map[string]any{"image": map[string]any{"tag": "x"}}); only["image"] != nil {
		t.Errorf("an image map left empty should go: %v", only)
	}
	failed := &castwarev1.OperatorUpgradeStatus{ToVersion: "0.3.0", Phase: castwarev1.OperatorUpgradeRolledBack}
	for _, c := range []struct {
		current, latest string
		last            *castwarev1.OperatorUpgradeStatus
		want            string
	}{
		{"0.2.0", "0.3.0", nil, "0.3.0"},
		{"0.2.0", "v0.3.0", nil, "v0.3.0"},
		{"0.3.0", "0.3.0", nil, ""},
		{"0.3.0", "0.2.0", nil, ""},
		{"0.2.0", "0.3.0-rc1", nil, ""},
		{"0.2.0", "0.3.0", failed, ""},
		{"0.2.0", "0.3.1", failed, "0.3.1"},
		{"0.2.0", "garbage", nil, ""},
	} {
		if got := selfupgrade.AutoUpdateTarget(c.current, c.latest, c.last); got != c.want {
			t.Errorf("AutoUpdateTarget(%s, %s) = %q, want %q", c.current, c.latest, got, c.want)
		}
	}
	env := map[string]string{"HELM_RELEASE_NAME": "cwop", "OPERATOR_CHART_VERSION": "0.2.0", "OPERATOR_CONDITION_NAME": "castware-operator.v0.2.0"}
	o := selfupgrade.OptionsFromEnv(func(k string) string { return env[k] })
	if o.ReleaseName != "cwop" || o.ChartVersion != "0.2.0" || o.OLM == "" {
		t.Errorf("options from env %+v", o)
	}
	u := selfupgrade.New(nil, nil, nil, nil, nil, o)
	if err := u.Start(context.Background(), &castwarev1.Cluster{}, "0.3.0", "a"); !errors.Is(err, selfupgrade.ErrManagedByOLM) {
		t.Errorf("start under OLM: %v", err)
	}
	u = selfupgrade.New(nil, nil, nil, nil, nil, selfupgrade.Options{ReleaseName: "cwop"})
	if err := u.Start(context.Background(), &castwarev1.Cluster{}, "0.3.0", "a"); !errors.Is(err, selfupgrade.ErrNotHelm) {
		t.Errorf("start without a chart version: %v", err)
	}
}

// TestPreflightReadsValuesNotDefaults: the previous revision's extendedPermissions comes from its
// user-supplied values over the chart's defaults; without a deployed revision, from the Phase 2 bindings.
func TestPreflightReadsValuesNotDefaults(t *testing.T) {
	ctx := context.Background()
	ch := &chart.Chart{Metadata: &chart.Metadata{Name: "castware-operator", Version: "0.1.0"}, Values: map[string]any{"extendedPermissions": false}}
	rev := func(v int, st release.Status, cfg map[string]any) *release.Release {
		return &release.Release{Name: "cwop", Version: v, Chart: ch, Config: cfg, Info: &release.Info{Status: st}}
	}
	c := fake.NewClientBuilder().WithScheme(cleanup.NewScheme()).Build()
	hist := []*release.Release{
		rev(1, release.StatusSuperseded, map[string]any{}),
		rev(2, release.StatusDeployed, map[string]any{"extendedPermissions": true}),
		rev(3, release.StatusPendingUpgrade, map[string]any{"extendedPermissions": false}),
	}
	prev, err := preflight.PreviousExtended(ctx, c, "ns", "cwop", hist)
	if err != nil || !prev.Extended || prev.Source != "revision 2 values" {
		t.Fatalf("previous %+v, %v", prev, err)
	}
	if err := preflight.CheckExtendedPermissions(prev, false, "cwop", "ns"); !errors.Is(err, preflight.ErrDowngrade) ||
		!strings.Contains(err.Error(), "cannot downgrade extended permissions once they are already set") {
		t.Errorf("downgrade: %v", err)
	}
	if err := preflight.CheckExtendedPermissions(prev, true, "cwop", "ns"); err != nil {
		t.Errorf("keeping them: %v", err)
	}
	// No deployed revision: the labelled bindings decide.
	labels := map[string]string{permissions.LabelExtendedPermissions: "true", "app.kubernetes.io/instance": "cwop"}
	c = fake.NewClientBuilder().WithScheme(cleanup.NewScheme()).WithObjects(
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cwop-phase2", Labels: labels}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cwop-phase2", Namespace: "ns", Labels: labels}},
	).Build()
	prev, err = preflight.PreviousExtended(ctx, c, "ns", "cwop", []*release.Release{rev(1, release.StatusFailed, nil)})
	if err != nil || !prev.Extended || prev.Source != "Phase 2 bindings" {
		t.Errorf("from bindings: %+v, %v", prev, err)
	}
}

// TestCRDInputsAreChecked: crd-apply applies only the operator's two CRDs and needs both.
func TestCRDInputsAreChecked(t *testing.T) {
	other := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"
	if _, err := crds.Parse([]byte(other)); err == nil || !strings.Contains(err.Error(), "not one of the operator's CRDs") {
		t.Errorf("foreign CRD accepted: %v", err)
	}
	notCRD := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
	if _, err := crds.Parse([]byte(notCRD)); err == nil {
		t.Errorf("a ConfigMap was accepted as a CRD")
	}
	if _, err := crds.LoadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("an empty directory: %v", err)
	}
	list, err := crds.LoadDir(operatorDir + "/crds")
	if err != nil || len(list) != 2 {
		t.Errorf("the chart's crds/: %d CRDs, %v", len(list), err)
	}
	if removal.FromEnv(func(string) string { return "" }, "ns") != nil {
		t.Errorf("a removal guard without the chart's environment")
	}
}
