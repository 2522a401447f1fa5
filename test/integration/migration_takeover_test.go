package integration

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestMigrationTakeoverConflict: an agent from an old manifest whose Deployment selector differs from the
// chart's (selectors are immutable) cannot be taken over. The server-side dry run catches it before anything
// changes: the Component becomes readonly with a Degraded=True/MigrationFailed condition that says what
// failed and how to retry, and the workload is exactly as it was.
func TestMigrationTakeoverConflict(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeWrite)
	oldSelector := map[string]string{"name": "castai-agent"}
	before := yamlAgent(t, cl, func(d *appsv1.Deployment) {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: oldSelector}
		d.Spec.Template.Labels = oldSelector
	})
	rsBefore := replicaSets(t, before)
	startOperator(t, ns, withMigration(t))

	var c *castwarev1.Component
	eventually(t, 60*time.Second, "takeover refused and Component readonly", func() error {
		c = &castwarev1.Component{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-agent"}, c); err != nil {
			return err
		}
		if !c.Spec.Readonly || condition(c, castwarev1.ConditionDegraded).Reason != castwarev1.ReasonMigrationFailed ||
			condition(c, castwarev1.ConditionDegraded).Status != metav1.ConditionTrue {
			return errf("%s", describe(c))
		}
		return nil
	})
	msg := condition(c, castwarev1.ConditionDegraded).Message
	for _, want := range []string{"Deployment " + ns + "/castai-agent", "immutable", "dry run", "was not changed", "spec.readonly to false"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("condition does not say %q: %s", want, msg)
		}
	}
	if evs := eventMessages(t, ns, castwarev1.ReasonMigrationFailed); len(evs) == 0 {
		t.Fatal("no MigrationFailed event")
	}
	// Readonly now: the version is mirrored from the running workload, nothing is installed.
	eventually(t, 30*time.Second, "readonly mirror", func() error {
		c := getComponent(t, ns, "castai-agent")
		if c.Status.CurrentVersion != "1.0.0" || condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return errf("%s", describe(c))
		}
		return nil
	})
	if h := releaseHistory(t, ns, "castai-agent"); len(h) != 0 {
		t.Fatalf("a release was recorded for a refused takeover: %s", revs(h))
	}
	after := deployment(t, ns, "castai-agent")
	if after.UID != before.UID || after.Generation != before.Generation || replicaSets(t, after) != rsBefore {
		t.Fatalf("the workload changed: UID %s -> %s, generation %d -> %d", before.UID, after.UID, before.Generation, after.Generation)
	}
	assertTemplatePreserved(t, "agent after a refused takeover", before.Spec.Template, after.Spec.Template)
	if len(after.Annotations["meta.helm.sh/release-name"]) != 0 || after.Labels["castware.cast.ai/component"] != "" {
		t.Fatalf("the workload was marked as taken over: %v %v", after.Labels, after.Annotations)
	}

	// Retry as the condition says: remove the cause (the old Deployment) and set spec.readonly to false.
	if err := k8s.Delete(ctx, after); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "old Deployment gone", func() error {
		if objectExists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: ns}}) {
			return errf("still there")
		}
		return nil
	})
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Readonly = false })
	c = waitAvailable(t, ns, "castai-agent", "1.0.0", 2*time.Minute)
	if d := condition(c, castwarev1.ConditionDegraded); d.Status != metav1.ConditionFalse || d.Reason != castwarev1.ReasonAdopted {
		t.Fatalf("Degraded not cleared after the retry: %+v", d)
	}
	if h := releaseHistory(t, ns, "castai-agent"); len(h) != 1 {
		t.Fatalf("retry: %s", revs(h))
	}
	if d := deployment(t, ns, "castai-agent"); *d.Spec.Replicas != 3 {
		t.Fatalf("the user's settings were lost on retry: replicas %d", *d.Spec.Replicas)
	}
}

// TestMigrationLegacyKeyEnv: an old agent manifest passes API_KEY as an env entry from its Secret, which
// would win over the Secret the chart wires in. The takeover removes it in the same rollout (the Deployment
// is paused meanwhile): one rollout, the key read from the operator's Secret, the old Secret reported unused.
func TestMigrationLegacyKeyEnv(t *testing.T) {
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeWrite)
	before := yamlAgent(t, cl, func(d *appsv1.Deployment) {
		c := &d.Spec.Template.Spec.Containers[0]
		c.EnvFrom = nil
		c.Env = append(c.Env, corev1.EnvVar{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: legacyKeySecret}, Key: "API_KEY"}}})
	})
	rsBefore := replicaSets(t, before)
	startOperator(t, ns, withMigration(t))

	waitAvailable(t, ns, "castai-agent", "1.0.0", 2*time.Minute)
	after := deployment(t, ns, "castai-agent")
	if after.UID != before.UID || after.Spec.Paused {
		t.Fatalf("Deployment re-created or left paused (paused=%v)", after.Spec.Paused)
	}
	if n := replicaSets(t, after); n != rsBefore+1 {
		t.Fatalf("%d rollouts for one takeover", n-rsBefore)
	}
	assertTemplatePreserved(t, "agent", before.Spec.Template, after.Spec.Template, ".spec.containers[name=agent].env[name=API_KEY]", ".spec.containers[name=agent].envFrom")
	for _, e := range after.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "API_KEY" {
			t.Fatalf("the old API_KEY entry is still there: %+v", e)
		}
	}
	if got := envFromSecrets(after.Spec.Template.Spec, "agent"); !reflect.DeepEqual(got, []string{"castware-api-key"}) {
		t.Fatalf("agent reads its key from %v", got)
	}
	eventually(t, 30*time.Second, "old key Secret reported unused", func() error {
		c := getComponent(t, ns, "castai-agent")
		if a := c.Status.Adoption; a == nil || a.PreviousAPIKeySecret != legacyKeySecret || !a.PreviousAPIKeySecretUnused {
			return errf("%s", describeAdoption(c))
		}
		return nil
	})
}
