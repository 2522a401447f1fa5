package migration

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
)

const (
	testNS        = "castai-agent"
	clusterAPIKey = "cluster-key-0123456789abcdef"
	legacyAPIKey  = "4f6c0d2e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
)

var testCatalog = func() *catalog.Catalog {
	c, err := catalog.Parse([]byte(`
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: castai-agent, chart: castai-agent, releaseName: castai-agent, phase: 1,
   values: {createNamespace: false},
   clusterValues: {apiURL: "{{ .APIURL }}", apiKeySecretRef: "{{ .APIKeySecret }}", provider: "{{ .Provider }}"},
   workloads: [{kind: Deployment, names: [castai-agent], matchLabels: {app.kubernetes.io/name: castai-agent}, container: agent, chartEnv: [API_URL, PROVIDER]}]}
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: cluster-controller, chart: castai-cluster-controller, releaseName: cluster-controller, phase: 2,
   workloads: [{kind: Deployment, names: [castai-cluster-controller], container: cluster-controller}]}
`))
	if err != nil {
		panic(err)
	}
	return c
}()

func entry(name string) *catalog.Entry {
	e, _ := testCatalog.Lookup(name, nil)
	return e
}

// fakeReleases serves releases from memory.
type fakeReleases map[string]*release.Release

func (f fakeReleases) Release(_ context.Context, _, name string) (*release.Release, error) {
	return f[name], nil
}

func cliRelease(name, chartName, version string, config map[string]any, labels map[string]string) *release.Release {
	return &release.Release{Name: name, Namespace: testNS, Version: 1, Config: config, Labels: labels,
		Info:  &release.Info{Status: release.StatusDeployed},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: chartName, Version: version}}}
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := castwarev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func testCluster(mode castwarev1.MigrationMode) *castwarev1.Cluster {
	return &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: testNS, UID: "cl-uid"},
		Spec: castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: "https://api.cast.ai"},
			MigrationMode: mode, Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: idA}}}
}

func newScanner(t *testing.T, rels fakeReleases, objs ...client.Object) (*Scanner, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	return &Scanner{Client: c, Reader: c, Catalog: testCatalog,
		Detector: Detector{Reader: c, Releases: rels, OwnRelease: "castware-operator"}, ClusterIDs: ClusterIDFinder{Reader: c}}, c
}

func components(t *testing.T, c client.Client) map[string]castwarev1.ComponentSpec {
	t.Helper()
	l := &castwarev1.ComponentList{}
	if err := c.List(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	out := map[string]castwarev1.ComponentSpec{}
	for _, i := range l.Items {
		out[i.Name] = i.Spec
	}
	return out
}

func valuesOf(s castwarev1.ComponentSpec) string {
	if s.Values == nil {
		return ""
	}
	return string(s.Values.Raw)
}

func TestScannerAdopts(t *testing.T) {
	yamlAgent := agentDeployment()
	keySecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: testNS}, Data: map[string][]byte{"API_KEY": []byte(legacyAPIKey)}}
	cc := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "castai-cluster-controller", Namespace: testNS},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "cluster-controller", Image: "cc:v0.1.0"}}}}}}
	phase2 := []client.Object{
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: testNS, Labels: map[string]string{LabelExtendedPermissions: "true"}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ext", Labels: map[string]string{LabelExtendedPermissions: "true"}}},
	}
	helmConfig := map[string]any{"apiKey": "plaintext", "apiURL": "https://api.cast.ai", "replicaCount": 1.0, "createNamespace": true}

	tests := []struct {
		name  string
		mode  castwarev1.MigrationMode
		rels  fakeReleases
		objs  []client.Object
		want  map[string]castwarev1.ComponentSpec
		value map[string]string // component → values JSON
	}{
		{"nothing installed", castwarev1.MigrationModeWrite, nil, nil, map[string]castwarev1.ComponentSpec{}, nil},
		{"YAML agent, write: version kept", castwarev1.MigrationModeWrite, nil, []client.Object{yamlAgent, keySecret},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "0.153.2", Migration: castwarev1.MigrationYAML}},
			map[string]string{"castai-agent": `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`}},
		{"an API key copied into another variable is left out", castwarev1.MigrationModeWrite, nil, []client.Object{keySecret, agentDeployment(func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "CASTAI_TOKEN", Value: legacyAPIKey}, corev1.EnvVar{Name: "CLUSTER_KEY", Value: "the cluster key " + clusterAPIKey})
		})},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "0.153.2", Migration: castwarev1.MigrationYAML}},
			map[string]string{"castai-agent": `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`}},
		{"YAML agent, autoUpgrade: version left to latest", castwarev1.MigrationModeAutoUpgrade, nil, []client.Object{yamlAgent},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Migration: castwarev1.MigrationYAML}}, nil},
		{"YAML agent, read: readonly", castwarev1.MigrationModeRead, nil, []client.Object{yamlAgent},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "0.153.2", Migration: castwarev1.MigrationYAML, Readonly: true}}, nil},
		{"Helm agent: release adopted, key and namespace ownership not copied",
			castwarev1.MigrationModeWrite, fakeReleases{"castai-agent": cliRelease("castai-agent", "castai-agent", "0.150.0", helmConfig, nil)}, []client.Object{yamlAgent},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "0.150.0", Migration: castwarev1.MigrationHelm}},
			map[string]string{"castai-agent": `{"replicaCount":1}`}},
		{"a release the operator made is not re-adopted",
			castwarev1.MigrationModeWrite, fakeReleases{"castai-agent": cliRelease("castai-agent", "castai-agent", "0.150.0", nil, map[string]string{helm.LabelSession: "s1"})}, nil,
			map[string]castwarev1.ComponentSpec{}, nil},
		{"a workload the operator labelled is not re-adopted", castwarev1.MigrationModeWrite, nil,
			[]client.Object{agentDeployment(func(d *appsv1.Deployment) { d.Labels[helm.LabelComponent] = "castai-agent" })}, map[string]castwarev1.ComponentSpec{}, nil},
		{"workload of a release under another name: that release is adopted",
			castwarev1.MigrationModeWrite, fakeReleases{"castai": cliRelease("castai", "castai-agent", "0.151.0", nil, nil)},
			[]client.Object{agentDeployment(func(d *appsv1.Deployment) {
				d.Annotations = map[string]string{AnnotationReleaseName: "castai", AnnotationReleaseNamespace: testNS}
			})},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "0.151.0", Migration: castwarev1.MigrationHelm, ReleaseName: "castai"}}, nil},
		{"the operator's own release is never adopted, whatever its chart renders",
			castwarev1.MigrationModeWrite, fakeReleases{"castware-operator": cliRelease("castware-operator", "castware-operator", "0.3.0", nil, nil)},
			[]client.Object{agentDeployment(func(d *appsv1.Deployment) {
				d.Annotations = map[string]string{AnnotationReleaseName: "castware-operator", AnnotationReleaseNamespace: testNS}
			})},
			map[string]castwarev1.ComponentSpec{}, nil},
		{"YAML install rendered for another release name keeps it (selectors are immutable)", castwarev1.MigrationModeWrite, nil,
			[]client.Object{agentDeployment(func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels[LabelInstance] = "agent" })},
			map[string]castwarev1.ComponentSpec{"castai-agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "0.153.2", Migration: castwarev1.MigrationYAML, ReleaseName: "agent"}}, nil},
		{"Phase 2 without permissions: skipped", castwarev1.MigrationModeWrite, nil, []client.Object{cc}, map[string]castwarev1.ComponentSpec{}, nil},
		{"Phase 2 with the labelled bindings: adopted", castwarev1.MigrationModeWrite, nil, append([]client.Object{cc}, phase2...),
			// No chart label and no repository to look its image tag up in: the version is not made up from the tag.
			map[string]castwarev1.ComponentSpec{"cluster-controller": {Component: "cluster-controller", Cluster: "castai", Enabled: true, Migration: castwarev1.MigrationYAML, Readonly: true}}, nil},
		{"operator removal under way: nothing adopted", castwarev1.MigrationModeWrite, nil, []client.Object{yamlAgent,
			&castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "spot-handler", Namespace: testNS, Labels: map[string]string{castwarev1.LabelDeleteCandidate: "true"}},
				Spec: castwarev1.ComponentSpec{Component: "spot-handler", Cluster: "castai"}}},
			map[string]castwarev1.ComponentSpec{"spot-handler": {Component: "spot-handler", Cluster: "castai"}}, nil},
		{"a component with a Component is left alone", castwarev1.MigrationModeWrite, nil, []client.Object{yamlAgent,
			&castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: testNS}, Spec: castwarev1.ComponentSpec{Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "1.0.0"}}},
			map[string]castwarev1.ComponentSpec{"agent": {Component: "castai-agent", Cluster: "castai", Enabled: true, Version: "1.0.0"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := testCluster(tt.mode)
			s, c := newScanner(t, tt.rels, append([]client.Object{cl}, tt.objs...)...)
			if _, err := s.Reconcile(context.Background(), cl, clusterAPIKey); err != nil {
				t.Fatal(err)
			}
			got := components(t, c)
			for name, spec := range got {
				if want, ok := tt.value[name]; ok && valuesOf(spec) != want {
					t.Errorf("%s values = %s, want %s", name, valuesOf(spec), want)
				}
				spec.Values = nil
				got[name] = spec
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Components\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestScannerRecoversClusterID(t *testing.T) {
	cl := testCluster(castwarev1.MigrationModeWrite)
	cl.Spec.Cluster = nil
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: AgentMetadataConfigMap, Namespace: testNS}, Data: map[string]string{ClusterIDKey: idB}}
	s, c := newScanner(t, nil, cl, cm)
	if _, err := s.Reconcile(context.Background(), cl, ""); err != nil {
		t.Fatal(err)
	}
	got := &castwarev1.Cluster{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cl), got); err != nil {
		t.Fatal(err)
	}
	if got.ClusterID() != idB || cl.ClusterID() != idB {
		t.Fatalf("cluster ID = %q (in memory %q), want %q", got.ClusterID(), cl.ClusterID(), idB)
	}
}

func TestScannerHandsOverTerraform(t *testing.T) {
	tfComp := func(version string, vals map[string]any) *castwarev1.Component {
		c := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: testNS},
			Spec: castwarev1.ComponentSpec{Component: "castai-agent", Cluster: "castai", Enabled: true, Version: version, Migration: castwarev1.MigrationTerraform}}
		if vals != nil {
			raw, _ := json.Marshal(vals)
			c.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
		}
		return c
	}
	tests := []struct {
		name    string
		mode    castwarev1.MigrationMode
		comp    *castwarev1.Component
		objs    []client.Object
		version string
		mig     castwarev1.Migration
		values  string
	}{
		{"write, YAML: version and values detected", castwarev1.MigrationModeWrite, tfComp("", nil), []client.Object{agentDeployment()},
			"0.153.2", castwarev1.MigrationYAML, `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`},
		{"autoUpgrade, YAML: version left to latest", castwarev1.MigrationModeAutoUpgrade, tfComp("", nil), []client.Object{agentDeployment()},
			"", castwarev1.MigrationYAML, `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`},
		{"Terraform's version and values are kept", castwarev1.MigrationModeWrite, tfComp("0.160.0", map[string]any{"replicaCount": 5}), []client.Object{agentDeployment()},
			"0.160.0", castwarev1.MigrationYAML, `{"replicaCount":5}`},
		{"nothing installed: a fresh install", castwarev1.MigrationModeWrite, tfComp("", nil), nil, "", castwarev1.MigrationNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := testCluster(tt.mode)
			cl.Spec.Terraform = true
			s, c := newScanner(t, nil, append([]client.Object{cl, tt.comp}, tt.objs...)...)
			if _, err := s.Reconcile(context.Background(), cl, ""); err != nil {
				t.Fatal(err)
			}
			got := components(t, c)["castai-agent"]
			if got.Version != tt.version || got.Migration != tt.mig || valuesOf(got) != tt.values {
				t.Fatalf("got version %q migration %q values %s", got.Version, got.Migration, valuesOf(got))
			}
		})
	}
}

func TestScannerSkipsTerraformScan(t *testing.T) {
	cl := testCluster(castwarev1.MigrationModeWrite)
	cl.Spec.Terraform = true
	s, c := newScanner(t, nil, cl, agentDeployment())
	if _, err := s.Reconcile(context.Background(), cl, ""); err != nil {
		t.Fatal(err)
	}
	if got := components(t, c); len(got) != 0 {
		t.Fatalf("scanned although spec.terraform is true: %v", got)
	}
}

func TestNewComponent(t *testing.T) {
	cl := testCluster(castwarev1.MigrationModeWrite)
	f := &Found{Entry: entry("castai-agent"), Source: castwarev1.MigrationYAML, ReleaseName: "castai-agent", Chart: "castai-agent", Version: "1.2.3",
		Values: map[string]any{"replicaCount": 3}, Workload: &Workload{Kind: "Deployment", Name: "castai-agent"}}
	for _, tt := range []struct {
		mode     castwarev1.MigrationMode
		version  string
		readonly bool
	}{{"", "1.2.3", false}, {castwarev1.MigrationModeWrite, "1.2.3", false}, {castwarev1.MigrationModeAutoUpgrade, "", false}, {castwarev1.MigrationModeRead, "1.2.3", true}} {
		c, err := NewComponent(cl, f, tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		if c.Spec.Version != tt.version || c.Spec.Readonly != tt.readonly || c.Spec.Migration != castwarev1.MigrationYAML || c.Spec.ReleaseName != "" ||
			string(c.Spec.Values.Raw) != `{"replicaCount":3}` || !strings.Contains(c.Annotations[AnnotationAdoptedFrom], "Deployment/castai-agent") {
			t.Errorf("mode %q: %+v %v", tt.mode, c.Spec, c.Annotations)
		}
	}
}

func TestPlanLeftovers(t *testing.T) {
	ref := func(kind, ns, name string) ObjectRef {
		return ObjectRef{APIVersion: "rbac.authorization.k8s.io/v1", Kind: kind, Namespace: ns, Name: name}
	}
	live := func(kind, ns, name, owner string) LiveLegacy {
		return LiveLegacy{ObjectRef: ref(kind, ns, name), OwnerRelease: owner, OwnerNamespace: testNS}
	}
	rendered := []ObjectRef{ref("Role", "kube-system", "castai-agent-v2"), ref("Role", testNS, "castai-agent"), ref("ClusterRole", "", "castai-agent")}
	tests := []struct {
		name         string
		legacy       []LiveLegacy
		remove, keep []ObjectRef
	}{
		{"replaced by a chart object of the same kind in the same namespace: removed", []LiveLegacy{live("Role", "kube-system", "castai-agent", "")},
			[]ObjectRef{ref("Role", "kube-system", "castai-agent")}, nil},
		{"adopted in place by the release: nothing to do", []LiveLegacy{live("Role", "kube-system", "castai-agent-v2", "castai-agent")}, nil, nil},
		{"not replaced: kept", []LiveLegacy{live("RoleBinding", "kube-system", "castai-agent", "")}, nil, []ObjectRef{ref("RoleBinding", "kube-system", "castai-agent")}},
		{"belongs to another release: kept", []LiveLegacy{live("Role", "kube-system", "other", "someone-else")}, nil, []ObjectRef{ref("Role", "kube-system", "other")}},
		{"cluster-scoped replaced", []LiveLegacy{live("ClusterRole", "", "castai-agent-old", "")}, []ObjectRef{ref("ClusterRole", "", "castai-agent-old")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remove, keep := PlanLeftovers(tt.legacy, rendered, "castai-agent", testNS)
			if !reflect.DeepEqual(remove, tt.remove) || !reflect.DeepEqual(keep, tt.keep) {
				t.Fatalf("remove %v keep %v, want %v %v", remove, keep, tt.remove, tt.keep)
			}
		})
	}
}
