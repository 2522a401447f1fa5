package integration

import (
	"context"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestMigrationTerraform: with Cluster.spec.terraform nothing is scanned; Components Terraform creates with
// spec.migration "terraform" are picked up instead. In write mode a YAML agent's version and settings are
// detected and it is taken over where it runs; in autoUpgrade mode a Helm agent is adopted and upgraded to
// the latest version.
func TestMigrationTerraform(t *testing.T) {
	t.Run("write", func(t *testing.T) {
		ctx := context.Background()
		ns := newNamespace(t)
		cl := migrationCluster(t, ns, castwarev1.MigrationModeWrite, func(c *castwarev1.Cluster) { c.Spec.Terraform = true })
		before := yamlAgent(t, cl)
		yamlSpotHandler(t, cl, testClusterID)
		startOperator(t, ns, withMigration(t))
		tf := newComponent(ns, "castai-agent", "castai-agent", "", nil)
		tf.Spec.Migration = castwarev1.MigrationTerraform
		if err := k8s.Create(ctx, tf); err != nil {
			t.Fatal(err)
		}
		c := waitAvailable(t, ns, "castai-agent", "1.0.0", 2*time.Minute)
		if c.Spec.Migration != castwarev1.MigrationYAML || c.Spec.Version != "1.0.0" || c.Spec.Values == nil {
			t.Fatalf("handed-over Component: %+v", c.Spec)
		}
		after := deployment(t, ns, "castai-agent")
		if after.UID != before.UID || *after.Spec.Replicas != 3 {
			t.Fatalf("agent Deployment: UID %s -> %s, replicas %d", before.UID, after.UID, *after.Spec.Replicas)
		}
		assertTemplatePreserved(t, "agent taken over through Terraform", before.Spec.Template, after.Spec.Template, ".spec.containers[name=agent].envFrom")
		if got := envFromSecrets(after.Spec.Template.Spec, "agent"); !reflect.DeepEqual(got, []string{"castware-api-key"}) {
			t.Fatalf("agent reads its key from %v", got)
		}
		if objectExists(t, &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "spot-handler", Namespace: ns}}) {
			t.Fatal("a component without a Terraform Component was adopted although spec.terraform is true")
		}
		if h := releaseHistory(t, ns, "castai-spot-handler"); len(h) != 0 {
			t.Fatal("spot-handler taken over although spec.terraform is true")
		}
		if evs := eventMessages(t, ns, "TerraformHandedOver"); len(evs) == 0 {
			t.Fatal("no TerraformHandedOver event")
		}
		assertNoAPIKeys(t, ns, []string{"castai-agent"}, legacyKey(ns), apiKeyFor(ns))
	})

	t.Run("autoUpgrade", func(t *testing.T) {
		ctx := context.Background()
		ns := newNamespace(t)
		cl := migrationCluster(t, ns, castwarev1.MigrationModeAutoUpgrade, func(c *castwarev1.Cluster) { c.Spec.Terraform = true })
		createObjects(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "legacy-agent-key", Namespace: ns}, StringData: map[string]string{"API_KEY": legacyKey(ns)}})
		before := helmAgent(t, cl, "1.0.0", "apiKeySecretRef=legacy-agent-key", "replicaCount=1")
		startOperator(t, ns, withMigration(t))
		tf := newComponent(ns, "castai-agent", "castai-agent", "", nil)
		tf.Spec.Migration = castwarev1.MigrationTerraform
		if err := k8s.Create(ctx, tf); err != nil {
			t.Fatal(err)
		}
		c := waitAvailable(t, ns, "castai-agent", "1.1.0", 2*time.Minute)
		if c.Spec.Migration != castwarev1.MigrationHelm {
			t.Fatalf("handed-over Component: %+v", c.Spec)
		}
		if h := releaseHistory(t, ns, "castai-agent"); len(h) != 2 || h[1].Chart.Metadata.Version != "1.1.0" {
			t.Fatalf("release history: %s", revs(h))
		}
		after := deployment(t, ns, "castai-agent")
		if after.UID != before.UID || *after.Spec.Replicas != 1 {
			t.Fatalf("agent Deployment: UID %s -> %s, replicas %d", before.UID, after.UID, *after.Spec.Replicas)
		}
		assertTemplatePreserved(t, "agent upgraded through Terraform", before.Spec.Template, after.Spec.Template,
			".spec.containers[name=agent].image", ".spec.containers[name=agent].env[name=FEATURE_V11]", ".spec.containers[name=agent].envFrom")
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if !objectExists(t, nsObj) || nsObj.DeletionTimestamp != nil {
			t.Fatal("namespace deleted")
		}
		assertNoAPIKeys(t, ns, []string{"castai-agent"}, legacyKey(ns), apiKeyFor(ns))
	})
}
