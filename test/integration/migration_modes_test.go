package integration

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// TestMigrationWriteYAML: an agent and a spot-handler installed from plain YAML, with the operator started in
// write mode on a Cluster that has no cluster ID yet. The cluster keeps the ID the agent registered; both
// are taken over by Helm at the version they run, as the same objects (same UIDs, one rollout at most) with
// every user setting preserved, the agent rewired to the operator's key Secret and its old Secret reported
// unused (not deleted); the old kube-system RBAC the chart replaces is removed, the ClusterRole it does not
// replace is kept; a Phase 2 component is left alone without Phase 2 permissions.
func TestMigrationWriteYAML(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeWrite, func(c *castwarev1.Cluster) { c.Spec.Cluster = nil })
	agentBefore := yamlAgent(t, cl)
	spotBefore := yamlSpotHandler(t, cl, legacyClusterID)
	rsBefore := replicaSets(t, agentBefore)
	ccLabels := map[string]string{"app": "cluster-controller"}
	createObjects(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "castai-cluster-controller", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptrTo(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: ccLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: ccLabels}, Spec: corev1.PodSpec{
				Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
				Containers:  []corev1.Container{{Name: "agent", Image: "registry.local/cluster-controller:v0.1.0"}}}}}})

	start := time.Now()
	startOperator(t, ns, withMigration(t))

	eventually(t, 30*time.Second, "the cluster keeps its existing ID", func() error {
		got := &castwarev1.Cluster{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cl), got); err != nil {
			return err
		}
		if got.ClusterID() != legacyClusterID {
			return errf("clusterID %q", got.ClusterID())
		}
		return nil
	})

	comp := waitComponent(t, ns, "castai-agent")
	if comp.Spec.Migration != castwarev1.MigrationYAML || comp.Spec.Version != "1.0.0" || comp.Spec.Readonly {
		t.Fatalf("adopting Component: %+v", comp.Spec)
	}
	vals := map[string]any{}
	_ = json.Unmarshal(comp.Spec.Values.Raw, &vals)
	want := map[string]any{
		"replicaCount":  3.0,
		"additionalEnv": map[string]any{"EKS_CLUSTER_NAME": "prod-cluster", "LOG_LEVEL": "debug", "PPROF_PORT": "6060"},
		"nodeSelector":  map[string]any{"type": "kwok"},
		"priorityClass": map[string]any{"enabled": true, "name": testPriorityClass},
		"resources":     map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "512Mi"}, "limits": map[string]any{"memory": "1Gi"}},
		"tolerations": []any{map[string]any{"key": "kwok.x-k8s.io/node", "operator": "Exists"},
			map[string]any{"key": "dedicated", "operator": "Equal", "value": "castai", "effect": "NoSchedule"}},
	}
	if !reflect.DeepEqual(vals, want) {
		got, _ := json.MarshalIndent(vals, "", " ")
		t.Fatalf("extracted values:\n%s", got)
	}

	c := waitAvailable(t, ns, "castai-agent", "1.0.0", 2*time.Minute)
	t.Logf("agent taken over and ready after %s", time.Since(start).Round(time.Millisecond))
	if a := c.Status.Adoption; a == nil || a.Source != castwarev1.MigrationYAML || a.Revision != 1 || a.WorkloadUID != string(agentBefore.UID) || a.PreviousAPIKeySecret != legacyKeySecret {
		t.Fatalf("adoption not recorded: %s", describeAdoption(c))
	}
	agentAfter := deployment(t, ns, "castai-agent")
	if agentAfter.UID != agentBefore.UID {
		t.Fatalf("the Deployment was re-created: UID %s -> %s", agentBefore.UID, agentAfter.UID)
	}
	if *agentAfter.Spec.Replicas != 3 {
		t.Fatalf("replicas %d, want 3", *agentAfter.Spec.Replicas)
	}
	if n := replicaSets(t, agentAfter); n > rsBefore+1 {
		t.Fatalf("%d rollouts for one takeover (ReplicaSets %d -> %d)", n-rsBefore, rsBefore, n)
	}
	assertTemplatePreserved(t, "agent", agentBefore.Spec.Template, agentAfter.Spec.Template, ".spec.containers[name=agent].envFrom")
	if got := envFromSecrets(agentAfter.Spec.Template.Spec, "agent"); !reflect.DeepEqual(got, []string{"castware-api-key"}) {
		t.Fatalf("agent reads its key from %v, want the operator's Secret castware-api-key", got)
	}
	if h := releaseHistory(t, ns, "castai-agent"); len(h) != 1 || h[0].Labels[helm.LabelSession] == "" || h[0].Chart.Metadata.Version != "1.0.0" {
		t.Fatalf("takeover release: %s", revs(h))
	}
	if agentAfter.Annotations["meta.helm.sh/release-name"] != "castai-agent" {
		t.Fatalf("the Deployment is not owned by the release: %v", agentAfter.Annotations)
	}

	waitAvailable(t, ns, "spot-handler", "0.1.0", 2*time.Minute)
	spotAfter := daemonSet(t, ns, "castai-spot-handler")
	if spotAfter.UID != spotBefore.UID {
		t.Fatalf("the DaemonSet was re-created")
	}
	assertTemplatePreserved(t, "spot-handler", spotBefore.Spec.Template, spotAfter.Spec.Template)

	// The old key Secret: left in place, reported unused once the new pods are ready.
	eventually(t, 30*time.Second, "old key Secret reported unused", func() error {
		c := getComponent(t, ns, "castai-agent")
		if a := c.Status.Adoption; a == nil || !a.PreviousAPIKeySecretUnused || !strings.Contains(a.Message, "no longer used") {
			return errf("%s", describeAdoption(c))
		}
		return nil
	})
	if !objectExists(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: legacyKeySecret, Namespace: ns}}) {
		t.Fatal("the old key Secret was deleted")
	}
	if evs := eventMessages(t, ns, "APIKeySecretUnused"); len(evs) == 0 || !strings.Contains(evs[0], legacyKeySecret) {
		t.Fatalf("no event reports the old key Secret unused: %v", evs)
	}

	// Old RBAC: what the chart replaces (its own kube-system Role and RoleBinding) is removed, the rest kept.
	legacy := "legacy-agent-" + ns
	c = getComponent(t, ns, "castai-agent")
	if objectExists(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: legacy, Namespace: "kube-system"}}) ||
		objectExists(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: legacy, Namespace: "kube-system"}}) {
		t.Fatalf("replaced kube-system RBAC not removed: %s", describeAdoption(c))
	}
	if !objectExists(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: legacy}}) {
		t.Fatal("a ClusterRole the chart does not replace was removed")
	}
	if a := c.Status.Adoption; !reflect.DeepEqual(a.Leftovers, []string{"ClusterRole " + legacy}) || len(a.Removed) != 2 {
		t.Fatalf("leftovers not reported: %s", describeAdoption(c))
	}

	// Phase 2 without Phase 2 permissions: not adopted.
	if objectExists(t, &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "cluster-controller", Namespace: ns}}) {
		t.Fatal("a Phase 2 component was adopted without Phase 2 permissions")
	}
	assertNoAPIKeys(t, ns, []string{"castai-agent", "castai-spot-handler"}, legacyKey(ns), apiKeyFor(ns))
}

// TestMigrationWriteHelm: an agent installed with the helm CLI (its release owns the namespace) becomes the
// Component's release as it is in write mode: no new revision, no rollout, same version. It is upgraded only
// when the user changes the spec; then the key is rewired to the operator's Secret and the namespace the old
// release rendered survives.
func TestMigrationWriteHelm(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeWrite)
	createObjects(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "legacy-agent-key", Namespace: ns}, StringData: map[string]string{"API_KEY": legacyKey(ns)}})
	before := helmAgent(t, cl, "1.0.0", "apiKeySecretRef=legacy-agent-key", "replicaCount=3", "additionalEnv.LOG_LEVEL=debug")
	startOperator(t, ns, withMigration(t))

	c := waitAvailable(t, ns, "castai-agent", "1.0.0", 90*time.Second)
	if c.Spec.Migration != castwarev1.MigrationHelm || c.Spec.Readonly {
		t.Fatalf("adopting Component: %+v", c.Spec)
	}
	vals := map[string]any{}
	_ = json.Unmarshal(c.Spec.Values.Raw, &vals)
	want := map[string]any{"replicaCount": 3.0, "additionalEnv": map[string]any{"LOG_LEVEL": "debug"}, "rbac": map[string]any{"configmapsReadAccessNamespaces": []any{}}}
	if !reflect.DeepEqual(vals, want) {
		t.Fatalf("adopted values %#v, want %#v (no key Secret reference, nothing the Cluster provides)", vals, want)
	}
	if a := c.Status.Adoption; a == nil || a.Source != castwarev1.MigrationHelm || a.Revision != 1 || a.PreviousAPIKeySecret != "legacy-agent-key" || a.PreviousAPIKeySecretUnused {
		t.Fatalf("adoption: %s", describeAdoption(c))
	}
	afterReconcile(t, func() { triggerReconcile(t, ns, "castai-agent") })
	h := releaseHistory(t, ns, "castai-agent")
	if len(h) != 1 || h[0].Labels[helm.LabelSession] != "" {
		t.Fatalf("adoption in write mode changed the release: %s", revs(h))
	}
	after := deployment(t, ns, "castai-agent")
	if after.Generation != before.Generation {
		t.Fatalf("adoption rolled the Deployment (generation %d -> %d)", before.Generation, after.Generation)
	}
	assertTemplatePreserved(t, "agent (write mode, no change expected)", before.Spec.Template, after.Spec.Template)

	// The user changes the spec: now the release is upgraded, with the operator's key Secret.
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) {
		c.Spec.Values = rawJSON(map[string]any{"replicaCount": 2, "additionalEnv": map[string]any{"LOG_LEVEL": "debug"}, "rbac": map[string]any{"configmapsReadAccessNamespaces": []any{}}})
	})
	eventually(t, 90*time.Second, "upgraded after the spec changed", func() error {
		c := getComponent(t, ns, "castai-agent")
		if h := releaseHistory(t, ns, "castai-agent"); len(h) != 2 || c.Status.Revision != 2 || condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue ||
			condition(c, castwarev1.ConditionProgressing).Status != metav1.ConditionFalse {
			return errf("%s %s", revs(h), describe(c))
		}
		return nil
	})
	d := deployment(t, ns, "castai-agent")
	if *d.Spec.Replicas != 2 || !reflect.DeepEqual(envFromSecrets(d.Spec.Template.Spec, "agent"), []string{"castware-api-key"}) {
		t.Fatalf("upgrade not applied: replicas %d, key from %v", *d.Spec.Replicas, envFromSecrets(d.Spec.Template.Spec, "agent"))
	}
	assertTemplatePreserved(t, "agent after the user's change", before.Spec.Template, d.Spec.Template, ".spec.containers[name=agent].envFrom")
	eventually(t, 60*time.Second, "old key Secret reported unused", func() error {
		c := getComponent(t, ns, "castai-agent")
		if a := c.Status.Adoption; a == nil || !a.PreviousAPIKeySecretUnused {
			return errf("%s", describeAdoption(c))
		}
		return nil
	})
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if !objectExists(t, nsObj) || nsObj.DeletionTimestamp != nil {
		t.Fatal("the namespace the old release owned was deleted by the upgrade")
	}
	if !objectExists(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "legacy-agent-key", Namespace: ns}}) {
		t.Fatal("the old key Secret was deleted")
	}
	_ = ctx
	assertNoAPIKeys(t, ns, []string{"castai-agent"}, legacyKey(ns), apiKeyFor(ns))
}

// TestMigrationAutoUpgrade: an agent installed with the helm CLI from a chart that renders the namespace and
// a plaintext key Secret, and a spot-handler installed from YAML, adopted in autoUpgrade mode: both run the
// latest version with every user setting preserved; the namespace the old release owned and the old key
// Secret it rendered both survive the upgrade; no plaintext key reaches a CR, a release the operator made or
// an event.
func TestMigrationAutoUpgrade(t *testing.T) {
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeAutoUpgrade)
	agentBefore := helmAgent(t, cl, "1.0.0", "apiKey="+legacyKey(ns), "replicaCount=3", "additionalEnv.LOG_LEVEL=debug", "nodeSelector.type=kwok")
	spotBefore := yamlSpotHandler(t, cl, testClusterID)
	startOperator(t, ns, withMigration(t))

	c := waitAvailable(t, ns, "castai-agent", "1.1.0", 2*time.Minute)
	if c.Spec.Migration != castwarev1.MigrationHelm || c.Spec.Version != "1.1.0" {
		t.Fatalf("adopting Component: %+v", c.Spec)
	}
	h := releaseHistory(t, ns, "castai-agent")
	if len(h) != 2 || h[0].Chart.Metadata.Version != "1.0.0" || h[1].Chart.Metadata.Version != "1.1.0" || h[1].Info.Status != "deployed" {
		t.Fatalf("release history: %s", revs(h))
	}
	agentAfter := deployment(t, ns, "castai-agent")
	if agentAfter.UID != agentBefore.UID || *agentAfter.Spec.Replicas != 3 {
		t.Fatalf("agent Deployment: UID %s -> %s, replicas %d", agentBefore.UID, agentAfter.UID, *agentAfter.Spec.Replicas)
	}
	assertTemplatePreserved(t, "agent upgraded to 1.1.0", agentBefore.Spec.Template, agentAfter.Spec.Template,
		".spec.containers[name=agent].image", ".spec.containers[name=agent].env[name=FEATURE_V11]", ".spec.containers[name=agent].envFrom")
	if got := envFromSecrets(agentAfter.Spec.Template.Spec, "agent"); !reflect.DeepEqual(got, []string{"castware-api-key"}) {
		t.Fatalf("agent reads its key from %v", got)
	}
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if !objectExists(t, nsObj) || nsObj.DeletionTimestamp != nil {
		t.Fatal("the namespace the old release owned was deleted")
	}
	if nsObj.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("namespace not protected: %v", nsObj.Annotations)
	}
	eventually(t, 60*time.Second, "old key Secret reported unused", func() error {
		c := getComponent(t, ns, "castai-agent")
		if a := c.Status.Adoption; a == nil || a.PreviousAPIKeySecret != "castai-agent" || !a.PreviousAPIKeySecretUnused {
			return errf("%s", describeAdoption(c))
		}
		return nil
	})
	if !objectExists(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: ns}}) {
		t.Fatal("the old key Secret the old release rendered was deleted by the upgrade")
	}

	waitAvailable(t, ns, "spot-handler", "0.2.0", 2*time.Minute)
	spotAfter := daemonSet(t, ns, "castai-spot-handler")
	if spotAfter.UID != spotBefore.UID {
		t.Fatal("the DaemonSet was re-created")
	}
	assertTemplatePreserved(t, "spot-handler taken over at 0.2.0", spotBefore.Spec.Template, spotAfter.Spec.Template,
		".spec.containers[name=spot-handler].image", ".spec.containers[name=spot-handler].env[name=FEATURE_V2]")
	if h := releaseHistory(t, ns, "castai-spot-handler"); len(h) != 1 || h[0].Chart.Metadata.Version != "0.2.0" {
		t.Fatalf("spot-handler taken over in more than one step: %s", revs(h))
	}
	assertNoAPIKeys(t, ns, []string{"castai-agent", "castai-spot-handler"}, legacyKey(ns), apiKeyFor(ns))
}

// TestMigrationAutoUpgradeYAML: in autoUpgrade mode a customised YAML agent (env, resources, replicas,
// tolerations, priority class, its own key Secret) is taken over at the latest version in one step: the same
// Deployment, one rollout, and every user setting in the pod template kept; only the image, the new
// version's variable and the key wiring change.
func TestMigrationAutoUpgradeYAML(t *testing.T) {
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeAutoUpgrade)
	before := yamlAgent(t, cl)
	rsBefore := replicaSets(t, before)
	startOperator(t, ns, withMigration(t))

	c := waitAvailable(t, ns, "castai-agent", "1.1.0", 2*time.Minute)
	if c.Spec.Migration != castwarev1.MigrationYAML || c.Spec.Readonly {
		t.Fatalf("adopting Component: %+v", c.Spec)
	}
	after := deployment(t, ns, "castai-agent")
	if after.UID != before.UID || *after.Spec.Replicas != 3 {
		t.Fatalf("agent Deployment: UID %s -> %s, replicas %d", before.UID, after.UID, *after.Spec.Replicas)
	}
	if n := replicaSets(t, after); n > rsBefore+1 {
		t.Fatalf("%d rollouts for one takeover (ReplicaSets %d -> %d)", n-rsBefore, rsBefore, n)
	}
	assertTemplatePreserved(t, "agent taken over at 1.1.0", before.Spec.Template, after.Spec.Template,
		".spec.containers[name=agent].image", ".spec.containers[name=agent].env[name=FEATURE_V11]", ".spec.containers[name=agent].envFrom")
	if got := envFromSecrets(after.Spec.Template.Spec, "agent"); !reflect.DeepEqual(got, []string{"castware-api-key"}) {
		t.Fatalf("agent reads its key from %v", got)
	}
	if h := releaseHistory(t, ns, "castai-agent"); len(h) != 1 || h[0].Chart.Metadata.Version != "1.1.0" {
		t.Fatalf("taken over in more than one step: %s", revs(h))
	}
	assertNoAPIKeys(t, ns, []string{"castai-agent"}, legacyKey(ns), apiKeyFor(ns))
}

// TestMigrationReadMode: in read mode a YAML agent and a Helm spot-handler get readonly Components that
// mirror their versions; nothing is installed, upgraded or restarted.
func TestMigrationReadMode(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeRead)
	agentBefore := yamlAgent(t, cl)
	if out, err := env.Helm(ctx, "install", "castai-spot-handler", charts.URL()+"/charts/test-daemonset-0.1.0.tgz", "-n", ns,
		"--set", "castai.clusterID="+testClusterID, "--set", "castai.provider=aws"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	spotBefore := waitDaemonSetReady(t, ns, "castai-spot-handler")
	startOperator(t, ns, withMigration(t))

	for _, tc := range []struct{ name, version string }{{"castai-agent", "1.0.0"}, {"spot-handler", "0.1.0"}} {
		eventually(t, 60*time.Second, tc.name+" mirrored read-only", func() error {
			c := &castwarev1.Component{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: tc.name}, c); err != nil {
				return err
			}
			if !c.Spec.Readonly || c.Status.CurrentVersion != tc.version || condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue ||
				condition(c, castwarev1.ConditionProgressing).Reason != castwarev1.ReasonReadonly {
				return errf("%s", describe(c))
			}
			if len(c.Finalizers) != 0 {
				return errf("readonly Component has finalizers %v", c.Finalizers)
			}
			return nil
		})
	}
	if c := getComponent(t, ns, "castai-agent"); c.Spec.Migration != castwarev1.MigrationYAML || c.Spec.Version != "1.0.0" {
		t.Fatalf("agent Component: %+v", c.Spec)
	}
	afterReconcile(t, func() { triggerReconcile(t, ns, "castai-agent"); triggerReconcile(t, ns, "spot-handler") })
	if h := releaseHistory(t, ns, "castai-agent"); len(h) != 0 {
		t.Fatalf("read mode installed a release: %s", revs(h))
	}
	if h := releaseHistory(t, ns, "castai-spot-handler"); len(h) != 1 {
		t.Fatalf("read mode changed the spot-handler release: %s", revs(h))
	}
	agentAfter := deployment(t, ns, "castai-agent")
	if agentAfter.UID != agentBefore.UID || agentAfter.Generation != agentBefore.Generation {
		t.Fatalf("read mode changed the agent Deployment (generation %d -> %d)", agentBefore.Generation, agentAfter.Generation)
	}
	assertTemplatePreserved(t, "agent (read mode)", agentBefore.Spec.Template, agentAfter.Spec.Template)
	if s := daemonSet(t, ns, "castai-spot-handler"); s.Generation != spotBefore.Generation {
		t.Fatal("read mode changed the spot-handler DaemonSet")
	}
}
