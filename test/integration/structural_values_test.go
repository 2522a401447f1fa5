package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	chartpkg "github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/operator"
	"github.com/castware-operator/castware-operator/internal/values"
)

// mappingFacts are Cluster facts that differ from every structural chart's defaults, so a value the catalog
// fails to map shows up as a default in the rendered objects.
func mappingFacts(ns string) catalog.ClusterFacts {
	return catalog.ClusterFacts{APIURL: "https://api.cluster.test", GRPCURL: "grpc.cluster.test:443", Provider: "gke",
		ProviderCloud: catalog.ProviderCloud("gke"), ClusterID: testClusterID, APIKeySecret: "castware-api-key", Namespace: ns}
}

// renderedObjects renders the entry's structural chart (version 1.0.0) with the values the operator composes
// from the catalog entry, the facts and user values, through the operator's own Helm engine.
func renderedObjects(t *testing.T, eng *helm.Engine, ns string, e *catalog.Entry, f catalog.ClusterFacts, user map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	vals, err := e.Compose(f, user, testEnvVars)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chartpkg.LoadDir(filepath.Join(structuralChartsDir(), e.Chart, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	owner := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: e.Component}}
	r, err := eng.Render(context.Background(), helm.Request{Owner: owner, ReleaseName: e.ReleaseName, Chart: ch, Values: vals}, false)
	if err != nil {
		return nil, err
	}
	objs, err := packaging.SplitYAML([]byte(strings.Join(r.Manifests, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	return objs, nil
}

// findObject returns the rendered object of kind and name, or nil.
func findObject(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// containerOf returns the named container of a rendered workload.
func containerOf(o *unstructured.Unstructured, name string) (map[string]any, error) {
	if o == nil {
		return nil, fmt.Errorf("workload not rendered")
	}
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && m["name"] == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%s %s has no container %s", o.GetKind(), o.GetName(), name)
}

// renderedEnv returns a container's env as name -> value, or name -> "secret:<name>/<key>" / "configmap:<name>/<key>"
// for references, and its envFrom Secret names.
func renderedEnv(c map[string]any) (env map[string]string, secretRefs []string) {
	env = map[string]string{}
	list, _, _ := unstructured.NestedSlice(c, "env")
	for _, e := range list {
		m := e.(map[string]any)
		name, _ := m["name"].(string)
		if v, ok := m["value"].(string); ok {
			env[name] = v
		}
		if n, ok, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "name"); ok {
			k, _, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "key")
			env[name] = "secret:" + n + "/" + k
		}
		if n, ok, _ := unstructured.NestedString(m, "valueFrom", "configMapKeyRef", "name"); ok {
			k, _, _ := unstructured.NestedString(m, "valueFrom", "configMapKeyRef", "key")
			env[name] = "configmap:" + n + "/" + k
		}
	}
	from, _, _ := unstructured.NestedSlice(c, "envFrom")
	for _, e := range from {
		if n, ok, _ := unstructured.NestedString(e.(map[string]any), "secretRef", "name"); ok {
			secretRefs = append(secretRefs, n)
		}
	}
	return env, secretRefs
}

// want compares rendered settings with the facts: every mismatch is one line of the error.
type want map[string][2]string

func (w want) err() error {
	var bad []string
	for what, gw := range w {
		if gw[0] != gw[1] {
			bad = append(bad, fmt.Sprintf("%s = %q, want %q", what, gw[0], gw[1]))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s", strings.Join(bad, "; "))
}

// noSecret fails when the chart rendered its own API key Secret although the catalog gives a reference.
func noSecret(objs []*unstructured.Unstructured, name string) error {
	if findObject(objs, "Secret", name) != nil {
		return fmt.Errorf("Secret %s rendered although the catalog gives a Secret reference", name)
	}
	return nil
}

// structuralChecks check that a structural chart's rendered objects carry the Cluster's facts the way the real
// chart needs them.
var structuralChecks = map[string]func(objs []*unstructured.Unstructured, f catalog.ClusterFacts) error{
	"castai-agent": func(objs []*unstructured.Unstructured, f catalog.ClusterFacts) error {
		c, err := containerOf(findObject(objs, "Deployment", "castai-agent"), "agent")
		if err != nil {
			return err
		}
		env, refs := renderedEnv(c)
		if findObject(objs, "Namespace", f.Namespace) != nil {
			return fmt.Errorf("the agent renders the operator's namespace %s", f.Namespace)
		}
		if err := noSecret(objs, "castai-agent"); err != nil {
			return err
		}
		return want{"API_URL": {env["API_URL"], f.APIURL}, "PROVIDER": {env["PROVIDER"], f.Provider},
			"envFrom Secret": {strings.Join(refs, ","), f.APIKeySecret}}.err()
	},
	"spot-handler": func(objs []*unstructured.Unstructured, f catalog.ClusterFacts) error {
		c, err := containerOf(findObject(objs, "DaemonSet", "castai-spot-handler"), "spot-handler")
		if err != nil {
			return err
		}
		env, refs := renderedEnv(c)
		if err := noSecret(objs, "castai-spot-handler"); err != nil {
			return err
		}
		return want{"API_URL": {env["API_URL"], f.APIURL}, "CLUSTER_ID": {env["CLUSTER_ID"], f.ClusterID},
			"PROVIDER": {env["PROVIDER"], f.ProviderCloud}, "PHASE2_PERMISSIONS": {env["PHASE2_PERMISSIONS"], fmt.Sprint(f.ExtendedPermissions)},
			"envFrom Secret": {strings.Join(refs, ","), f.APIKeySecret}}.err()
	},
	"cluster-controller": func(objs []*unstructured.Unstructured, f catalog.ClusterFacts) error {
		c, err := containerOf(findObject(objs, "Deployment", "castai-cluster-controller"), "cluster-controller")
		if err != nil {
			return err
		}
		_, refs := renderedEnv(c)
		cm := findObject(objs, "ConfigMap", "castai-cluster-controller")
		if cm == nil {
			return fmt.Errorf("ConfigMap castai-cluster-controller not rendered")
		}
		url, _, _ := unstructured.NestedString(cm.Object, "data", "API_URL")
		id, _, _ := unstructured.NestedString(cm.Object, "data", "CLUSTER_ID")
		if err := noSecret(objs, "castai-cluster-controller"); err != nil {
			return err
		}
		return want{"ConfigMap API_URL": {url, f.APIURL}, "ConfigMap CLUSTER_ID": {id, f.ClusterID},
			"envFrom Secret": {strings.Join(refs, ","), f.APIKeySecret}}.err()
	},
	"evictor": func(objs []*unstructured.Unstructured, f catalog.ClusterFacts) error {
		c, err := containerOf(findObject(objs, "Deployment", "castai-evictor"), "castai-evictor")
		if err != nil {
			return err
		}
		env, _ := renderedEnv(c)
		return want{"API_KEY": {env["API_KEY"], "secret:" + f.APIKeySecret + "/API_KEY"}}.err()
	},
}

// requiredFailures are the messages the structural charts fail with, as the real charts do, when the shipped
// catalog no longer maps the value (component -> clusterValues path -> message).
var requiredFailures = map[string]map[string]string{
	"castai-agent": {"apiKeySecretRef": "apiKey or apiKeySecretRef must be provided"},
	"spot-handler": {
		"castai.clusterID": "castai.clusterID, castai.clusterIdSecretKeyRef or castai.clusterIdConfigMapKeyRef must be provided",
		"castai.provider":  "castai.provider must be provided",
	},
	"cluster-controller": {
		"castai.apiKeySecretRef": "castai.apiKey or castai.apiKeySecretRef must be provided",
		"castai.clusterID":       "castai.clusterID or castai.clusterIdSecretKeyRef must be provided",
	},
}

// leafPaths returns the dotted paths of every leaf of a clusterValues tree, sorted.
func leafPaths(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		p := prefix + k
		if sub, ok := v.(map[string]any); ok {
			out = append(out, leafPaths(sub, p+".")...)
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// withoutMapping returns a copy of e whose clusterValues lack the leaf at path.
func withoutMapping(t *testing.T, e *catalog.Entry, path string) *catalog.Entry {
	t.Helper()
	cp := *e
	cv, err := values.Normalize(values.Merge(e.ClusterValues))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(path, ".")
	unstructured.RemoveNestedField(cv, parts...)
	cp.ClusterValues = cv
	return &cp
}

// TestShippedMappingsMatter: with the shipped catalog every structural chart renders the Cluster's facts where
// the real chart needs them; removing any one clusterValues mapping from the shipped watches.yaml makes the
// render fail (with the real chart's message where it has a required value) or lose a fact.
func TestShippedMappingsMatter(t *testing.T) {
	ns := newNamespace(t)
	op := startOperator(t, ns, func(o *operator.Options) { o.Catalog = shippedCatalog(t, 0) })
	cat := shippedCatalog(t, 0)
	f := mappingFacts(ns)
	for _, sc := range structuralComponents {
		e, ok := cat.Lookup(sc.component, nil)
		if !ok {
			t.Fatalf("the shipped catalog has no %s", sc.component)
		}
		check := structuralChecks[sc.component]
		t.Run(sc.component, func(t *testing.T) {
			objs, err := renderedObjects(t, op.Engine, ns, e, f, nil)
			if err != nil {
				t.Fatalf("render with the shipped catalog: %v", err)
			}
			if err := check(objs, f); err != nil {
				t.Fatalf("with the shipped catalog: %v", err)
			}
			paths := leafPaths(e.ClusterValues, "")
			if len(paths) == 0 {
				t.Fatal("the entry maps no cluster values")
			}
			for _, p := range paths {
				objs, err := renderedObjects(t, op.Engine, ns, withoutMapping(t, e, p), f, nil)
				msg, required := requiredFailures[sc.component][p]
				switch {
				case required && (err == nil || !strings.Contains(err.Error(), msg)):
					t.Errorf("without clusterValues %s: render error %v, want %q", p, err, msg)
				case err == nil && check(objs, f) == nil:
					t.Errorf("without clusterValues %s the chart still renders every fact: the mapping is untested", p)
				default:
					t.Logf("without clusterValues %s: %v", p, firstErr(err, check(objs, f)))
				}
			}
		})
	}
	// The catalog's own default createNamespace=false is what keeps the agent from owning (and on uninstall
	// deleting) the operator's namespace.
	t.Run("castai-agent/createNamespace", func(t *testing.T) {
		e, _ := cat.Lookup("castai-agent", nil)
		cp := *e
		cp.Values = values.Merge(e.Values)
		delete(cp.Values, "createNamespace")
		objs, err := renderedObjects(t, op.Engine, ns, &cp, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if findObject(objs, "Namespace", ns) == nil {
			t.Fatalf("without the catalog's createNamespace=false the agent does not render namespace %s", ns)
		}
		if err := structuralChecks["castai-agent"](objs, f); err == nil {
			t.Fatal("the agent check passes although the chart renders the operator's namespace")
		}
	})
	t.Run("castai-agent/apiURL-empty", func(t *testing.T) {
		e, _ := cat.Lookup("castai-agent", nil)
		_, err := renderedObjects(t, op.Engine, ns, e, f, map[string]any{"apiURL": ""})
		if err == nil || !strings.Contains(err.Error(), "apiURL must be provided") {
			t.Fatalf("render with an empty apiURL: %v, want apiURL must be provided", err)
		}
	})
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
