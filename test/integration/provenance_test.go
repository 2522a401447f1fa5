package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v3/pkg/provenance"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// TestSignedChartsOnly: a Cluster with spec.helmVerify installs nothing while its keyring Secret is
// missing, installs a chart whose .prov verifies against the keyring, and refuses an unsigned version with
// a ChartUnavailable condition naming the chart, the version and the cause, the running release untouched.
func TestSignedChartsOnly(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	repo, err := testharness.NewChartServer(testharness.ChartsDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	key, err := openpgp.NewEntity("Chart Signer", "test", "signer@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	repo.SetProvenance("test-deployment", "0.1.0", signChart(t, key, "test-deployment-0.1.0.tgz", repo.Archive("test-deployment", "0.1.0")))

	startOperator(t, ns)
	createCluster(t, ns, func(cl *castwarev1.Cluster) {
		cl.Spec.HelmRepoURL = repo.URL()
		cl.Spec.HelmVerify = &castwarev1.HelmVerifySpec{KeyringSecretRef: castwarev1.KeyringSecretRef{Name: "chart-keyring"}}
	})
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitChartRefused(t, ns, "keyring Secret \"chart-keyring\" is not in namespace")
	if hist, _ := env.History(ctx, ns, "castai-agent"); len(hist) != 0 {
		t.Fatalf("installed without a keyring: %s", revs(hist))
	}

	var ring bytes.Buffer
	if err := key.Serialize(&ring); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chart-keyring", Namespace: ns}, Data: map[string][]byte{"keyring.gpg": ring.Bytes()}}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	triggerReconcile(t, ns, "castai-agent")
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)

	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	waitChartRefused(t, ns, "provenance", "test-deployment", "0.2.0", "no provenance file")
	c := getComponent(t, ns, "castai-agent")
	if c.Status.CurrentVersion != "0.1.0" || condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
		t.Fatalf("the running component was affected: %s", describe(c))
	}
	if hist, err := env.History(ctx, ns, "castai-agent"); err != nil || len(hist) != 1 {
		t.Fatalf("release touched: %s %v", revs(hist), err)
	}
}

// waitChartRefused waits for Progressing=False ChartUnavailable whose message holds every string of want.
func waitChartRefused(t *testing.T, ns string, want ...string) {
	t.Helper()
	eventually(t, 60*time.Second, "chart refused", func() error {
		c := getComponent(t, ns, "castai-agent")
		p := condition(c, castwarev1.ConditionProgressing)
		if p.Reason != castwarev1.ReasonChartUnavailable || p.ObservedGeneration != c.Generation {
			return errf("%s", describe(c))
		}
		for _, w := range want {
			if !strings.Contains(p.Message, w) {
				return errf("message %q lacks %q", p.Message, w)
			}
		}
		return nil
	})
}

// signChart returns the .prov Helm's Signatory makes for archive saved as file.
func signChart(t *testing.T, key *openpgp.Entity, file string, archive []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	sig, err := (&provenance.Signatory{Entity: key}).ClearSign(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(sig)
}
