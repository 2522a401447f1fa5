package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// impersonatingKubeconfig writes a kubeconfig acting as ServiceAccount sa of ns (the admin's credentials with
// impersonation), for the operator binary.
func impersonatingKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa)
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// keyForms are the forms a key could leak in: as is and base64-encoded (Secret data).
func keyForms(keys ...string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k, base64.StdEncoding.EncodeToString([]byte(k)))
	}
	return out
}

// leaks returns where text holds any of forms.
func leaks(where, text string, forms []string) []string {
	var out []string
	for _, f := range forms {
		if i := strings.Index(text, f); i >= 0 {
			start := max(0, i-120)
			out = append(out, fmt.Sprintf("%s: ...%s...", where, text[start:min(len(text), i+len(f)+40)]))
		}
	}
	return out
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSecretsNeverLeak runs the operator binary as the chart's ServiceAccount (Phase 1 roles, impersonation)
// at debug log level, with Cast AI log shipping on, through a full install and an API-key rotation: a chart
// taking a Secret reference, charts that only take the key in plaintext (rendered from the Secret at install
// time and re-rendered on rotation: the rendered Secret follows the key), and a chart whose render fails with
// an error quoting the key. Then it scans everything the operator wrote — its log, the Events, every Cluster
// and Component, the releases of charts taking a Secret reference, what it sent Cast AI (reports and shipped
// logs) — for both keys, as is and base64-encoded, and finds none.
func TestSecretsNeverLeak(t *testing.T) {
	ns := newNamespace(t)
	rel := "sk" + ns[len(ns)-5:]
	ctx := context.Background()
	operatorChartRBAC(t, rel, ns, false, "rbac-phase1.yaml", "rbac-selfmanage.yaml")
	oldKey, newKey := randomKey(t), randomKey(t)
	forms := keyForms(oldKey, newKey)

	api := fake.NewServer(fake.WithKeys(oldKey, newKey), fake.WithHold(30*time.Second))
	t.Cleanup(api.Close)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: ns}, StringData: map[string]string{"API_KEY": oldKey}}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: ns}, Spec: castwarev1.ClusterSpec{
		Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: api.URL()}, HelmRepoURL: charts.URL(),
		Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: testClusterID}}}
	if err := k8s.Create(ctx, cl); err != nil {
		t.Fatal(err)
	}

	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	bin, err := testharness.BuildOperator(bctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	wd, _ := os.Getwd()
	op, err := testharness.StartOperator(bctx, testharness.OperatorConfig{Binary: bin, Kubeconfig: impersonatingKubeconfig(t, ns, rel), Namespace: ns,
		LogDir: logDir, Env: []string{"HELM_RELEASE_NAME=" + rel, "EKS_ACCOUNT_ID=123456789012", "EKS_REGION=eu-central-1", "EKS_CLUSTER_NAME=test-cluster"},
		Args: []string{"--watches-file=" + filepath.Join(wd, "testdata", "permissions-watches.yaml"), "--zap-log-level=debug", "--ready-timeout=1m"}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			op.Stop()
		}
	}
	t.Cleanup(stop)

	leaky := newComponent(ns, "leaky", "leaky", "1.0.0", map[string]any{"leakInError": true})
	for _, c := range []*castwarev1.Component{
		newComponent(ns, "castai-agent", "castai-agent", "0.2.0", nil),
		newComponent(ns, "plain-agent", "plain-agent", "1.0.0", nil),
		newComponent(ns, "spot-handler", "spot-handler", "0.2.0", nil),
		leaky,
	} {
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	waitAvailable(t, ns, "castai-agent", "0.2.0", 3*time.Minute)
	waitAvailable(t, ns, "spot-handler", "0.2.0", 3*time.Minute)
	plain := waitAvailable(t, ns, "plain-agent", "1.0.0", 3*time.Minute)
	renderedKey := func(name string) string {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return "error: " + err.Error()
		}
		return string(s.Data["API_KEY"])
	}
	if got := renderedKey("plain-agent"); got != oldKey {
		t.Fatalf("plain-agent's Secret does not hold the key from the Cluster's Secret (%d bytes)", len(got))
	}

	// A render error quoting the key: the failure is reported, the key is not.
	c := waitCondition(t, ns, "leaky", castwarev1.ConditionProgressing, metav1.ConditionFalse, castwarev1.ReasonFailed, 2*time.Minute)
	if m := condition(c, castwarev1.ConditionProgressing).Message; !strings.Contains(m, "refusing to install with the API key [REDACTED]") {
		t.Errorf("leaky's failure is not reported as the redacted error: %q", m)
	}
	base := c.DeepCopy()
	c.Spec.Values = nil
	if err := k8s.Patch(ctx, c, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "leaky", "1.0.0", 2*time.Minute)

	shippedBatches := func() int {
		n := 0
		for _, rc := range api.Clusters() {
			n += len(api.Logs(rc.ID))
		}
		return n
	}
	shippedBefore := shippedBatches()

	// Rotation: the plaintext charts are upgraded with the new key; the Secret-reference chart is left alone.
	agentRevision := getComponent(t, ns, "castai-agent").Status.Revision
	base2 := sec.DeepCopy()
	sec.StringData = map[string]string{"API_KEY": newKey}
	if err := k8s.Patch(ctx, sec, client.MergeFrom(base2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "plaintext charts re-rendered with the new key", func() error {
		for _, name := range []string{"plain-agent", "leaky"} {
			if renderedKey(name) != newKey {
				return fmt.Errorf("%s's Secret still holds another key", name)
			}
		}
		c := getComponent(t, ns, "plain-agent")
		if c.Status.Revision <= plain.Status.Revision || c.Status.AppliedValuesHash == plain.Status.AppliedValuesHash {
			return fmt.Errorf("plain-agent revision %d hash %s (before %d %s)", c.Status.Revision, c.Status.AppliedValuesHash, plain.Status.Revision, plain.Status.AppliedValuesHash)
		}
		return nil
	})
	waitAvailable(t, ns, "plain-agent", "1.0.0", 2*time.Minute)
	if r := getComponent(t, ns, "castai-agent").Status.Revision; r != agentRevision {
		t.Errorf("castai-agent (Secret reference) was upgraded on rotation: revision %d -> %d", agentRevision, r)
	}
	// Shipped logs cover the rotation too (the shipper flushes every 10 s).
	eventually(t, time.Minute, "logs shipped to Cast AI after the rotation", func() error {
		if shippedBatches() <= shippedBefore {
			return fmt.Errorf("%d batches, as before the rotation", shippedBefore)
		}
		return nil
	})
	stop() // its log is complete

	var found []string
	logData, err := os.ReadFile(op.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logData), `"level":"debug"`) && !strings.Contains(string(logData), "DEBUG") {
		t.Errorf("the operator log has no debug lines: the scan would miss them")
	}
	found = append(found, leaks("operator log", string(logData), forms)...)
	evs := &corev1.EventList{}
	if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	found = append(found, leaks("events", asJSON(t, evs), forms)...)
	nevs := &eventsv1.EventList{}
	if err := k8s.List(ctx, nevs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	found = append(found, leaks("events.k8s.io", asJSON(t, nevs), forms)...)
	if len(evs.Items)+len(nevs.Items) == 0 {
		t.Error("no events recorded: the scan would miss them")
	}
	comps := &castwarev1.ComponentList{}
	if err := k8s.List(ctx, comps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	found = append(found, leaks("Components", asJSON(t, comps), forms)...)
	clusters := &castwarev1.ClusterList{}
	if err := k8s.List(ctx, clusters, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	found = append(found, leaks("Clusters", asJSON(t, clusters), forms)...)
	for _, r := range []string{"castai-agent", "castai-spot-handler"} {
		hist, err := env.History(ctx, ns, r)
		if err != nil || len(hist) == 0 {
			t.Fatalf("release %s: %v", r, err)
		}
		for _, h := range hist {
			found = append(found, leaks("release "+r, asJSON(t, h.Config)+h.Manifest, forms)...)
		}
	}
	shippedLines := 0
	for _, rc := range api.Clusters() {
		found = append(found, leaks("reports to Cast AI", asJSON(t, api.ActionResults(rc.ID)), forms)...)
		for _, b := range api.Logs(rc.ID) {
			shippedLines += len(b.Entries)
			found = append(found, leaks("logs shipped to Cast AI", asJSON(t, b), forms)...)
		}
	}
	if shippedLines == 0 {
		t.Error("no logs were shipped to Cast AI: the scan would miss them")
	}
	for _, f := range found {
		t.Error("key material found in " + f)
	}

	// The scan finds a key where it is expected: in the release of the chart that takes it in plaintext.
	hist, err := env.History(ctx, ns, "plain-agent")
	if err != nil || len(hist) == 0 {
		t.Fatalf("plain-agent release: %v", err)
	}
	if len(leaks("plain-agent", hist[len(hist)-1].Manifest, keyForms(newKey))) == 0 {
		t.Error("the scan does not find the new key in the plaintext chart's rendered Secret: it cannot be trusted")
	}
}
