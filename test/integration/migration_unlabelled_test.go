package integration

import (
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	chartpkg "github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// legacyAgentChart and legacyAgentApp are an older test-agent chart whose version is not its app version, as
// with the real charts (castai-agent chart 0.x packages agent v0.y).
const legacyAgentChart, legacyAgentApp = "0.9.0", "v0.48.2"

// TestMigrationUnlabelledYAML: an agent applied from YAML long ago carries no helm.sh/chart label, only an
// image tag. The operator looks the tag up in the repository index, finds the older chart whose appVersion it
// is, and takes the install over at that chart version as the same Deployment, without inventing a chart
// version from the tag.
func TestMigrationUnlabelledYAML(t *testing.T) {
	ch, err := chartpkg.LoadDir(filepath.Join(testharness.ChartsDir(), "test-agent", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Version, ch.Metadata.AppVersion = legacyAgentChart, legacyAgentApp
	if err := charts.Add(ch); err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	cl := migrationCluster(t, ns, castwarev1.MigrationModeWrite)
	before := yamlAgent(t, cl, func(d *appsv1.Deployment) {
		d.Labels = map[string]string{"app.kubernetes.io/name": "test-agent", "app.kubernetes.io/instance": "castai-agent"}
		d.Spec.Template.Spec.Containers[0].Image = "registry.local/test-agent:" + legacyAgentApp
	})
	startOperator(t, ns, withMigration(t))

	comp := waitComponent(t, ns, "castai-agent")
	if comp.Spec.Migration != castwarev1.MigrationYAML || comp.Spec.Version != legacyAgentChart || comp.Spec.Readonly {
		t.Fatalf("adopting Component: %+v (annotations %v)", comp.Spec, comp.Annotations)
	}
	c := waitAvailable(t, ns, "castai-agent", legacyAgentChart, 2*time.Minute)
	if a := c.Status.Adoption; a == nil || a.WorkloadUID != string(before.UID) {
		t.Fatalf("adoption not recorded: %s", describeAdoption(c))
	}
	after := deployment(t, ns, "castai-agent")
	if after.UID != before.UID {
		t.Fatalf("the Deployment was re-created: UID %s -> %s", before.UID, after.UID)
	}
	if img := after.Spec.Template.Spec.Containers[0].Image; img != "registry.local/test-agent:"+legacyAgentApp {
		t.Fatalf("image %s after the takeover, want the tag it ran", img)
	}
	if h := releaseHistory(t, ns, "castai-agent"); len(h) != 1 || h[0].Chart.Metadata.Version != legacyAgentChart {
		t.Fatalf("takeover release: %s", revs(h))
	}
}
