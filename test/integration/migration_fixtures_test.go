package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// Fixtures for the migration tests: installations made without the operator, the way users made them.

const (
	legacyKeySecret   = "castai-agent" // the Secret a YAML agent install reads its key from
	testPriorityClass = "castware-test-high"
	legacyClusterID   = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
)

// legacyKey is the API key the old installation in ns uses (never to be copied anywhere).
func legacyKey(ns string) string { return "legacy-key-" + ns }

// withMigration runs the operator with migration on and the catalog testdata/migration-watches.yaml.
func withMigration(t *testing.T) opt {
	c, err := catalog.Load(filepath.Join("testdata", "migration-watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return func(o *operator.Options) { o.Catalog, o.Migration.Disabled = c, false }
}

// migrationCluster creates the Cluster (before the operator starts, so its first scan sees the fixtures).
func migrationCluster(t *testing.T, ns string, mode castwarev1.MigrationMode, mutate ...func(*castwarev1.Cluster)) *castwarev1.Cluster {
	t.Helper()
	return createCluster(t, ns, append([]func(*castwarev1.Cluster){func(c *castwarev1.Cluster) { c.Spec.MigrationMode = mode }}, mutate...)...)
}

func createObjects(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// createCleanup creates cluster-scoped or kube-system objects and deletes them when the test ends.
func createCleanup(t *testing.T, objs ...client.Object) {
	t.Helper()
	createObjects(t, objs...)
	t.Cleanup(func() {
		for _, o := range objs {
			_ = k8s.Delete(context.Background(), o)
		}
	})
}

// yamlAgent applies a castai-agent installed from plain YAML (rendered from test-agent 1.0.0, as Cast AI's
// agent.yaml was rendered from the castai-agent chart) that its user then customised: 3 replicas, extra
// env, bigger resources, a node selector, an extra toleration, a priority class. It reads its key from its
// own Secret. Old manifests' RBAC sits in kube-system and at cluster scope. mutate edits the Deployment.
func yamlAgent(t *testing.T, cl *castwarev1.Cluster, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	ns := cl.Namespace
	legacy := "legacy-agent-" + ns
	createObjects(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: legacyKeySecret, Namespace: ns}, StringData: map[string]string{"API_KEY": legacyKey(ns)}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: ns}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent-metadata", Namespace: ns}, Data: map[string]string{"CLUSTER_ID": legacyClusterID}},
	)
	createCleanup(t,
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: testPriorityClass}, Value: 1000},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: legacy, Namespace: "kube-system"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: legacy, Namespace: "kube-system"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: legacy},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "castai-agent", Namespace: ns}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: legacy},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}}},
	)
	t.Cleanup(func() { // what the chart renders in kube-system once the install is taken over
		for _, o := range []client.Object{&rbacv1.Role{}, &rbacv1.RoleBinding{}} {
			o.SetNamespace("kube-system")
			o.SetName("castai-agent-" + ns)
			_ = k8s.Delete(context.Background(), o)
		}
	})
	sel := map[string]string{"app.kubernetes.io/name": "test-agent", "app.kubernetes.io/instance": "castai-agent"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/name": "test-agent", "app.kubernetes.io/instance": "castai-agent", "app.kubernetes.io/version": "v1.0.0",
				"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "test-agent-1.0.0"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Deployment","metadata":{"name":"castai-agent"}}`}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{
					ServiceAccountName: "castai-agent",
					PriorityClassName:  testPriorityClass,
					NodeSelector:       map[string]string{"type": "kwok"},
					Tolerations: []corev1.Toleration{
						{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists},
						{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "castai", Effect: corev1.TaintEffectNoSchedule},
					},
					Containers: []corev1.Container{{
						Name:  "agent",
						Image: "registry.local/test-agent:v1.0.0",
						Env: []corev1.EnvVar{
							{Name: "API_URL", Value: cl.Spec.API.APIURL},
							{Name: "PROVIDER", Value: "eks"},
							{Name: "SELF_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
							{Name: "EKS_CLUSTER_NAME", Value: "prod-cluster"},
							{Name: "LOG_LEVEL", Value: "debug"},
							{Name: "PPROF_PORT", Value: "6060"},
						},
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: legacyKeySecret}}}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
						},
					}},
				},
			},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	createObjects(t, d)
	return waitDeploymentReady(t, ns, "castai-agent")
}

// yamlSpotHandler applies the spot-handler DaemonSet the way a YAML install has it: test-daemonset 0.1.0
// rendered with helm template and applied with kubectl (no Helm release, no Helm annotations).
func yamlSpotHandler(t *testing.T, cl *castwarev1.Cluster, clusterID string) *appsv1.DaemonSet {
	t.Helper()
	ctx := context.Background()
	out, err := env.Helm(ctx, "template", "castai-spot-handler", charts.URL()+"/charts/test-daemonset-0.1.0.tgz", "-n", cl.Namespace,
		"--set", "castai.apiURL="+cl.Spec.API.APIURL, "--set", "castai.clusterID="+clusterID, "--set", "castai.provider=aws", "--set", "phase2Permissions=false")
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	if _, err := kubectlApply(ctx, cl.Namespace, out); err != nil {
		t.Fatalf("kubectl apply: %v", err)
	}
	return waitDaemonSetReady(t, cl.Namespace, "castai-spot-handler")
}

// kubectlApply pipes manifests into kubectl apply -f - (through a file, the harness has no stdin plumbing).
func kubectlApply(ctx context.Context, ns, manifests string) (string, error) {
	f := filepath.Join(env.Dir, fmt.Sprintf("apply-%d.yaml", time.Now().UnixNano()))
	if err := writeFile(f, manifests); err != nil {
		return "", err
	}
	return env.Kubectl(ctx, "apply", "-n", ns, "-f", f)
}

// helmAgent installs castai-agent with the helm CLI from test-agent, with a plaintext key, the way the
// castai-agent chart was installed before the operator: the release renders (and so owns) the namespace.
func helmAgent(t *testing.T, cl *castwarev1.Cluster, version string, set ...string) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	ns := cl.Namespace
	// Let the release own the existing namespace, as if it had created it.
	patchObject(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, func(o client.Object) {
		o.SetLabels(merged(o.GetLabels(), map[string]string{"app.kubernetes.io/managed-by": "Helm"}))
		o.SetAnnotations(merged(o.GetAnnotations(), map[string]string{"meta.helm.sh/release-name": "castai-agent", "meta.helm.sh/release-namespace": ns}))
	})
	args := []string{"install", "castai-agent", charts.URL() + "/charts/test-agent-" + version + ".tgz", "-n", ns,
		"--set", "apiURL=" + cl.Spec.API.APIURL, "--set", "provider=eks", "--set-json", "rbac.configmapsReadAccessNamespaces=[]"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	if out, err := env.Helm(ctx, args...); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	return waitDeploymentReady(t, ns, "castai-agent")
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

func merged(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// patchObject reads obj, applies mutate and merge-patches it.
func patchObject(t *testing.T, obj client.Object, mutate func(client.Object)) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	mutate(obj)
	if err := k8s.Patch(ctx, obj, patch); err != nil {
		t.Fatal(err)
	}
}

func waitDeploymentReady(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, 90*time.Second, "Deployment "+name+" ready", func() error {
		d = &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		if ws := helm.DeploymentReady(d); !ws.Ready {
			return errf("%s", ws.Detail)
		}
		return nil
	})
	return d
}

func waitDaemonSetReady(t *testing.T, ns, name string) *appsv1.DaemonSet {
	t.Helper()
	var d *appsv1.DaemonSet
	eventually(t, 90*time.Second, "DaemonSet "+name+" ready", func() error {
		d = &appsv1.DaemonSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		if ws := helm.DaemonSetReady(d); !ws.Ready || d.Status.DesiredNumberScheduled == 0 {
			return errf("%s", ws.Detail)
		}
		return nil
	})
	return d
}

func daemonSet(t *testing.T, ns, name string) *appsv1.DaemonSet {
	t.Helper()
	d := &appsv1.DaemonSet{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitComponent waits until the Component named name exists and returns it.
func waitComponent(t *testing.T, ns, name string) *castwarev1.Component {
	t.Helper()
	var c *castwarev1.Component
	eventually(t, 60*time.Second, "Component "+name+" created", func() error {
		c = &castwarev1.Component{}
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c)
	})
	return c
}

// flattenFields turns a pod template into path → value, keying lists of named items by name (containers, env,
// volumes, ...), so two templates compare field by field whatever the order of named items.
func flattenFields(v any) map[string]string {
	raw, _ := json.Marshal(v)
	var m any
	_ = json.Unmarshal(raw, &m)
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 {
				out[prefix] = "{}"
			}
			for k, c := range t {
				walk(prefix+"."+k, c)
			}
		case []any:
			if len(t) == 0 {
				out[prefix] = "[]"
			}
			for i, c := range t {
				key := fmt.Sprint(i)
				if mm, ok := c.(map[string]any); ok {
					if n, ok := mm["name"].(string); ok {
						key = "name=" + n
					}
				}
				walk(prefix+"["+key+"]", c)
			}
		default:
			out[prefix] = fmt.Sprint(t)
		}
	}
	walk("", m)
	return out
}

// templateDiff lists the fields that differ between two pod templates, except those allowed to change.
func templateDiff(before, after corev1.PodTemplateSpec, allowed ...string) []string {
	b, a := flattenFields(before), flattenFields(after)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		if b[k] == a[k] {
			continue
		}
		ok := false
		for _, p := range allowed {
			if strings.HasPrefix(k, p) {
				ok = true
			}
		}
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %q -> %q", k, b[k], a[k]))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// assertTemplatePreserved fails with the field-by-field diff when a user setting changed.
func assertTemplatePreserved(t *testing.T, what string, before, after corev1.PodTemplateSpec, allowed ...string) {
	t.Helper()
	if d := templateDiff(before, after, allowed...); len(d) > 0 {
		t.Fatalf("%s: pod template changed beyond %v:\n  %s", what, allowed, strings.Join(d, "\n  "))
	}
}

// envFromSecrets lists the Secrets a container takes env from.
func envFromSecrets(spec corev1.PodSpec, container string) []string {
	var out []string
	for _, c := range spec.Containers {
		if c.Name != container {
			continue
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				out = append(out, ef.SecretRef.Name)
			}
		}
	}
	return out
}

// assertNoKeyMaterial scans the namespace's Components and Cluster, the values and manifests of every
// revision the operator made, and every Event for the given keys (plain and base64).
func assertNoAPIKeys(t *testing.T, ns string, releases []string, keys ...string) {
	t.Helper()
	ctx := context.Background()
	var needles []string
	for _, k := range keys {
		needles = append(needles, k, b64(k))
	}
	check := func(where, text string) {
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Fatalf("API key material found in %s", where)
			}
		}
	}
	comps := &castwarev1.ComponentList{}
	if err := k8s.List(ctx, comps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(comps)
	check("Components", string(raw))
	cls := &castwarev1.ClusterList{}
	if err := k8s.List(ctx, cls, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(cls)
	check("Clusters", string(raw))
	for _, name := range releases {
		hist, err := env.History(ctx, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range hist {
			if r.Labels[helm.LabelSession] == "" {
				continue // made with the helm CLI before the operator: the user's own history
			}
			raw, _ := json.Marshal(r.Config)
			check(fmt.Sprintf("values of release %s revision %d", name, r.Version), string(raw))
			check(fmt.Sprintf("manifest of release %s revision %d", name, r.Version), r.Manifest)
		}
	}
	evs := &corev1.EventList{}
	if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		check("event "+e.Reason, e.Message)
	}
}

func b64(s string) string {
	raw, _ := json.Marshal([]byte(s)) // encoding/json encodes []byte as standard base64
	return strings.Trim(string(raw), `"`)
}

// eventMessages returns the namespace's Event messages with the given reason.
func eventMessages(t *testing.T, ns, reason string) []string {
	t.Helper()
	var out []string
	for _, e := range events(t, ns, reason) {
		out = append(out, e.Message)
	}
	return out
}

// events returns the namespace's Events with the given reason.
func events(t *testing.T, ns, reason string) []corev1.Event {
	t.Helper()
	evs := &corev1.EventList{}
	if err := k8s.List(context.Background(), evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// releaseHistory returns a release's revisions, oldest first.
func releaseHistory(t *testing.T, ns, name string) []*release.Release {
	t.Helper()
	h, err := env.History(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// replicaSets counts the ReplicaSets of a Deployment (one per rollout).
func replicaSets(t *testing.T, d *appsv1.Deployment) int {
	t.Helper()
	list := &appsv1.ReplicaSetList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(d.Namespace)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rs := range list.Items {
		for _, o := range rs.OwnerReferences {
			if o.UID == d.UID {
				n++
			}
		}
	}
	return n
}

func objectExists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func describeAdoption(c *castwarev1.Component) string {
	raw, _ := json.Marshal(c.Status.Adoption)
	return describe(c) + " adoption=" + string(raw)
}
