package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

const testCatalogYAML = `
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: castai-agent, chart: castai-agent, releaseName: castai-agent, phase: 1}
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: spot-handler, chart: castai-spot-handler, phase: 1}
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: cluster-controller, chart: castai-cluster-controller, releaseName: cluster-controller, phase: 2}
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: canary, chart: canary-chart, selector: {matchLabels: {track: canary}}}
`

func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse([]byte(testCatalogYAML))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func component(name, comp string) *castwarev1.Component {
	return &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "castai-agent"},
		Spec:       castwarev1.ComponentSpec{Component: comp, Cluster: "castai", Enabled: true},
	}
}

func rawValues(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func deepValues(levels int) *apiextensionsv1.JSON {
	v := any("leaf")
	for i := 0; i < levels; i++ {
		v = map[string]any{"a": v}
	}
	b, _ := json.Marshal(v)
	return &apiextensionsv1.JSON{Raw: b}
}

func TestValidateComponentCreate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*castwarev1.Component)
		deny    []string
		warning string
	}{
		{name: "catalog component"},
		{name: "exact version", mutate: func(c *castwarev1.Component) { c.Spec.Version = "0.161.0" }},
		{name: "v-prefixed version", mutate: func(c *castwarev1.Component) { c.Spec.Version = "v1.2.3" }},
		{name: "pre-release and build", mutate: func(c *castwarev1.Component) { c.Spec.Version = "1.2.3-rc.1+build.5" }},
		{name: "values object", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`{"replicaCount":2,"a":{"b":[1,2]}}`) }},
		{name: "null values", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`null`) }},
		{name: "unknown component", mutate: func(c *castwarev1.Component) { c.Spec.Component = "evictor" },
			deny: []string{`spec.component "evictor" is not in the component catalog`, "known: canary, castai-agent, cluster-controller, spot-handler", castwarev1.LabelHelmChart}},
		{name: "unknown component with a chart the catalog does not install", mutate: func(c *castwarev1.Component) {
			c.Spec.Component = "evictor"
			c.Labels = map[string]string{castwarev1.LabelHelmChart: "castai-evictor"}
		}, deny: []string{`chart "castai-evictor"`, "--allow-uncatalogued-charts"}},
		{name: "unknown component with a catalog chart", mutate: func(c *castwarev1.Component) {
			c.Spec.Component = "agent-canary"
			c.Labels = map[string]string{castwarev1.LabelHelmChart: "castai-agent"}
		}, warning: "chart castai-agent is installed"},
		{name: "selector-only entry without its label", mutate: func(c *castwarev1.Component) { c.Spec.Component = "canary" }, deny: []string{`"canary" is not in the component catalog`}},
		{name: "selector-only entry with its label", mutate: func(c *castwarev1.Component) {
			c.Spec.Component = "canary"
			c.Labels = map[string]string{"track": "canary"}
		}},
		{name: "two-part version", mutate: func(c *castwarev1.Component) { c.Spec.Version = "1.2" }, deny: []string{`spec.version "1.2" is not an exact chart version`}},
		{name: "range instead of version", mutate: func(c *castwarev1.Component) { c.Spec.Version = ">=1.2.3" }, deny: []string{"spec.version"}},
		{name: "latest is not a version", mutate: func(c *castwarev1.Component) { c.Spec.Version = "latest" }, deny: []string{"spec.version"}},
		{name: "leading zero", mutate: func(c *castwarev1.Component) { c.Spec.Version = "01.2.3" }, deny: []string{"spec.version"}},
		{name: "leading zero in a numeric pre-release (passes the CRD pattern)", mutate: func(c *castwarev1.Component) { c.Spec.Version = "1.2.3-01" },
			deny: []string{`spec.version "1.2.3-01" is not an exact chart version`}},
		{name: "digest pin without a version", mutate: func(c *castwarev1.Component) { c.Spec.ChartDigest = "sha256:" + strings.Repeat("a", 64) },
			deny: []string{"spec.chartDigest", "spec.version must name one"}},
		{name: "digest pin with a version", mutate: func(c *castwarev1.Component) {
			c.Spec.Version, c.Spec.ChartDigest = "0.1.0", "sha256:"+strings.Repeat("a", 64)
		}},
		{name: "values list", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`[1,2]`) }, deny: []string{"spec.values: values must be an object, got a list"}},
		{name: "values string", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`"x"`) }, deny: []string{"spec.values: values must be an object"}},
		{name: "values carrying the API key", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`{"castai":{"apiKey":"k"}}`) },
			deny: []string{"spec.values", "castai.apiKey", "spec.apiKeySecret"}},
		{name: "values too deep", mutate: func(c *castwarev1.Component) { c.Spec.Values = deepValues(200) }, deny: []string{"spec.values", "nest deeper"}},
		{name: "every problem reported", mutate: func(c *castwarev1.Component) {
			c.Spec.Component, c.Spec.Version, c.Spec.Values = "nope", "x", rawValues(`[]`)
		}, deny: []string{"spec.component", "spec.version", "spec.values"}},
	}
	cat := testCatalog(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := component("x", "castai-agent")
			if tt.mutate != nil {
				tt.mutate(c)
			}
			warnings, err := ValidateComponent(nil, c, cat)
			checkResult(t, warnings, err, tt.deny, tt.warning)
		})
	}
}

func TestValidateComponentUpdate(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name    string
		old     func(*castwarev1.Component)
		mutate  func(*castwarev1.Component)
		deny    []string
		warning string
	}{
		{name: "version upgrade", mutate: func(c *castwarev1.Component) { c.Spec.Version = "0.162.0" }},
		{name: "disable", mutate: func(c *castwarev1.Component) { c.Spec.Enabled = false }},
		{name: "values edit", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`{"x":1}`) }},
		{name: "chart label swapped on a running Component", old: func(c *castwarev1.Component) {
			c.Labels = map[string]string{castwarev1.LabelHelmChart: "castai-agent"}
			c.Status.CurrentVersion, c.Status.Chart = "0.161.0", "castai-agent"
		}, mutate: func(c *castwarev1.Component) { c.Labels[castwarev1.LabelHelmChart] = "castware-operator" },
			deny: []string{"label castware.cast.ai/helm-chart cannot change", "disable the Component first"}},
		{name: "chart label added naming the running chart", old: func(c *castwarev1.Component) { c.Status.CurrentVersion, c.Status.Chart = "0.161.0", "castai-agent" },
			mutate: func(c *castwarev1.Component) { c.Labels = map[string]string{castwarev1.LabelHelmChart: "castai-agent"} }},
		{name: "chart label changed before anything runs", mutate: func(c *castwarev1.Component) {
			c.Labels = map[string]string{castwarev1.LabelHelmChart: "castai-agent-v2"}
		}},
		{name: "release renamed after the install", old: func(c *castwarev1.Component) {
			c.Spec.ReleaseName, c.Status.ReleaseName, c.Status.Revision = "castai-agent", "castai-agent", 2
		}, mutate: func(c *castwarev1.Component) { c.Spec.ReleaseName = "castware-operator" }, deny: []string{"spec.releaseName cannot change once installed"}},
		{name: "release renamed before the install", old: func(c *castwarev1.Component) { c.Spec.ReleaseName = "castai-agent" },
			mutate: func(c *castwarev1.Component) { c.Spec.ReleaseName = "agent2" }},
		{name: "component changes", mutate: func(c *castwarev1.Component) { c.Spec.Component = "spot-handler" },
			deny: []string{`spec.component is immutable: it is "castai-agent" and cannot become "spot-handler"`}},
		{name: "cluster changes", mutate: func(c *castwarev1.Component) { c.Spec.Cluster = "other" }, deny: []string{"spec.cluster is immutable"}},
		{name: "malformed version", mutate: func(c *castwarev1.Component) { c.Spec.Version = "1.x" }, deny: []string{`spec.version "1.x"`}},
		{name: "unchanged malformed version does not block disabling (ratchet)", old: func(c *castwarev1.Component) { c.Spec.Version = "1.x" },
			mutate: func(c *castwarev1.Component) { c.Spec.Enabled = false }},
		{name: "values become a list", mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`[]`) }, deny: []string{"spec.values"}},
		{name: "values reformatted are not a change", old: func(c *castwarev1.Component) { c.Spec.Readonly = true; c.Spec.Values = rawValues(`{"a":1,"b":2}`) },
			mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`{ "b": 2, "a": 1 }`) }},
		{name: "migration cleared", old: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationHelm },
			mutate: func(c *castwarev1.Component) { c.Spec.Migration = "" }},
		{name: "migration set after creation", mutate: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationHelm },
			deny: []string{`spec.migration can only be cleared`}},
		{name: "migration re-set to terraform (re-applied Terraform chart)", old: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationHelm },
			mutate: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationTerraform }, deny: []string{"spec.migration can only be cleared"}},
		{name: "terraform handover to helm", old: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationTerraform },
			mutate: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationHelm; c.Spec.Version = "0.150.0" }},
		{name: "terraform handover in read mode makes it readonly with the running version",
			old: func(c *castwarev1.Component) { c.Spec.Migration = castwarev1.MigrationTerraform },
			mutate: func(c *castwarev1.Component) {
				c.Spec.Migration, c.Spec.Readonly, c.Spec.Version = castwarev1.MigrationYAML, true, "0.150.0"
				c.Spec.Values = rawValues(`{"replicas":2}`)
			}},
		{name: "readonly: version change refused", old: func(c *castwarev1.Component) { c.Spec.Readonly = true },
			mutate: func(c *castwarev1.Component) { c.Spec.Version = "0.162.0" }, deny: []string{"Component castai-agent/x is readonly", "set spec.readonly to false"}},
		{name: "readonly: values change refused", old: func(c *castwarev1.Component) { c.Spec.Readonly = true },
			mutate: func(c *castwarev1.Component) { c.Spec.Values = rawValues(`{"a":1}`) }, deny: []string{"is readonly"}},
		{name: "readonly: finalizer removal allowed", old: func(c *castwarev1.Component) {
			c.Spec.Readonly = true
			c.Finalizers = []string{castwarev1.FinalizerCleanupHelm}
		}, mutate: func(c *castwarev1.Component) { c.Finalizers = nil }},
		{name: "readonly: label and annotation edits allowed", old: func(c *castwarev1.Component) { c.Spec.Readonly = true },
			mutate: func(c *castwarev1.Component) {
				c.Labels = map[string]string{castwarev1.LabelDeleteCandidate: "true"}
				c.Annotations = map[string]string{"note": "x"}
			}},
		{name: "readonly: status edits allowed", old: func(c *castwarev1.Component) { c.Spec.Readonly = true },
			mutate: func(c *castwarev1.Component) { c.Status.RollbackRequestID = "r1"; c.Status.CurrentVersion = "1.0.0" }},
		{name: "readonly: spec edit while being deleted allowed", old: func(c *castwarev1.Component) { c.Spec.Readonly = true },
			mutate: func(c *castwarev1.Component) { c.DeletionTimestamp = &now; c.Spec.Enabled = false }},
		{name: "readonly turned off with a change", old: func(c *castwarev1.Component) { c.Spec.Readonly = true },
			mutate: func(c *castwarev1.Component) { c.Spec.Readonly = false; c.Spec.Version = "0.162.0" }},
		{name: "readonly turned on alone", mutate: func(c *castwarev1.Component) { c.Spec.Readonly = true }},
		{name: "readonly turned on with a change", mutate: func(c *castwarev1.Component) { c.Spec.Readonly = true; c.Spec.Version = "0.162.0" },
			deny: []string{"spec.readonly can only be turned on by itself"}},
		{name: "component removed from the catalog can still be disabled", old: func(c *castwarev1.Component) { c.Spec.Component = "retired" },
			mutate: func(c *castwarev1.Component) { c.Spec.Enabled = false }, warning: `"retired" is no longer in the component catalog`},
	}
	cat := testCatalog(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := component("x", "castai-agent")
			old.Spec.Version = "0.161.0"
			if tt.old != nil {
				tt.old(old)
			}
			c := old.DeepCopy()
			if tt.mutate != nil {
				tt.mutate(c)
			}
			warnings, err := ValidateComponent(old, c, cat)
			checkResult(t, warnings, err, tt.deny, tt.warning)
		})
	}
}

func TestComponentValidatorWarnings(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = castwarev1.AddToScheme(scheme)
	cluster := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "castai-agent"}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cluster).Build()
	var asked []string
	perms := map[bool]PermissionCheck{}
	for _, has := range []bool{true, false} {
		perms[has] = func(_ context.Context, ns string) bool { asked = append(asked, ns); return has }
	}
	tests := []struct {
		name     string
		hasPerms bool
		old      *castwarev1.Component
		c        *castwarev1.Component
		warning  string
	}{
		{name: "phase 1 component", c: component("a", "castai-agent")},
		{name: "phase 2 without permissions warns, does not deny", c: component("cc", "cluster-controller"),
			warning: "needs the operator's extended (Phase 2) permissions"},
		{name: "phase 2 with permissions", hasPerms: true, c: component("cc", "cluster-controller")},
		{name: "disabled phase 2 component", c: func() *castwarev1.Component {
			c := component("cc", "cluster-controller")
			c.Spec.Enabled = false
			return c
		}()},
		{name: "phase 2 enabled later warns", old: func() *castwarev1.Component {
			c := component("cc", "cluster-controller")
			c.Spec.Enabled = false
			return c
		}(),
			c: component("cc", "cluster-controller"), warning: "MissingPermissions"},
		{name: "missing Cluster warns", c: func() *castwarev1.Component { c := component("a", "castai-agent"); c.Spec.Cluster = "nope"; return c }(),
			warning: `Cluster "nope" does not exist in namespace castai-agent yet`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ComponentValidator{Catalog: testCatalog(t), ExtendedPermissions: perms[tt.hasPerms], Clusters: reader}
			var warnings []string
			var err error
			if tt.old == nil {
				warnings, err = v.ValidateCreate(context.Background(), tt.c)
			} else {
				warnings, err = v.ValidateUpdate(context.Background(), tt.old, tt.c)
			}
			checkResult(t, warnings, err, nil, tt.warning)
		})
	}
	if len(asked) == 0 || asked[0] != "castai-agent" {
		t.Errorf("the permission check was asked about %v, want the Component's namespace", asked)
	}
	// A metadata-only update never runs the environment checks.
	asked = nil
	v := ComponentValidator{Catalog: testCatalog(t), ExtendedPermissions: perms[false], Clusters: reader}
	old := component("cc", "cluster-controller")
	c := old.DeepCopy()
	c.Finalizers = []string{"x"}
	if w, err := v.ValidateUpdate(context.Background(), old, c); err != nil || len(w) != 0 || len(asked) != 0 {
		t.Errorf("metadata-only update: warnings %v, err %v, permission checks %v", w, err, asked)
	}
}

func TestDefaultComponent(t *testing.T) {
	cat := testCatalog(t)
	tests := []struct {
		name        string
		c           *castwarev1.Component
		wantRelease string
		wantChart   string
	}{
		{name: "release and chart from the catalog", c: component("a", "spot-handler"), wantRelease: "castai-spot-handler", wantChart: "castai-spot-handler"},
		{name: "explicit release kept", c: func() *castwarev1.Component {
			c := component("a", "spot-handler")
			c.Spec.ReleaseName = "my-spot"
			return c
		}(), wantRelease: "my-spot", wantChart: "castai-spot-handler"},
		{name: "chart label kept", c: func() *castwarev1.Component {
			c := component("a", "castai-agent")
			c.Labels = map[string]string{castwarev1.LabelHelmChart: "castai-agent-fork"}
			return c
		}(), wantRelease: "castai-agent", wantChart: "castai-agent-fork"},
		{name: "installed release name wins over the catalog's", c: func() *castwarev1.Component {
			c := component("a", "castai-agent")
			c.Status.ReleaseName = "agent-legacy"
			return c
		}(), wantRelease: "agent-legacy", wantChart: "castai-agent"},
		{name: "unknown component left alone", c: component("a", "evictor")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			DefaultComponent(tt.c, cat)
			if tt.c.Spec.ReleaseName != tt.wantRelease || tt.c.Labels[castwarev1.LabelHelmChart] != tt.wantChart {
				t.Errorf("releaseName=%q chart label=%q, want %q %q", tt.c.Spec.ReleaseName, tt.c.Labels[castwarev1.LabelHelmChart], tt.wantRelease, tt.wantChart)
			}
			if tt.c.Spec.Version != "" {
				t.Error("the defaulter must not pick a version (that needs the network)")
			}
		})
	}
}

func TestDenialListsEveryProblem(t *testing.T) {
	d := denial{"a is wrong", "b is wrong"}
	if !strings.Contains(d.Error(), "a is wrong; b is wrong") {
		t.Error(d.Error())
	}
}

func TestReleaseNamesBelongToTheirComponent(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = castwarev1.AddToScheme(scheme)
	spot := component("spot", "spot-handler")
	spot.Spec.ReleaseName = "spot-handler"
	spot.Status = castwarev1.ComponentStatus{ReleaseName: "spot-handler", Revision: 1}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(spot).WithStatusSubresource(spot).Build()
	if err := reader.Status().Update(context.Background(), spot); err != nil {
		t.Fatal(err)
	}
	v := ComponentValidator{Catalog: testCatalog(t), Components: reader, OwnRelease: "castware-operator"}
	for release, deny := range map[string]string{
		"castware-operator": "operator's own release",
		"spot-handler":      "belongs to Component castai-agent/spot",
		"castai-agent":      "",
	} {
		c := component("x", "castai-agent")
		c.Spec.ReleaseName = release
		_, err := v.ValidateCreate(context.Background(), c)
		if deny == "" {
			if err != nil {
				t.Errorf("release %s: unexpected %v", release, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), deny) {
			t.Errorf("release %s: err = %v, want it refused (%s)", release, err, deny)
		}
		// The same name set by an update (a console action, kubectl edit) is refused too.
		old := component("x", "castai-agent")
		old.Spec.ReleaseName = "castai-agent"
		if _, err := v.ValidateUpdate(context.Background(), old, c); err == nil {
			t.Errorf("release %s set by an update was allowed", release)
		}
	}
}
