package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/metrics"
)

// TestMetricsSecureEndpoint runs the operator binary with --metrics-secure and the chart's RBAC, installs
// castai-agent and upgrades it through console actions, then scrapes /metrics over HTTPS: without a token
// the answer is 401, with a token not bound to the chart's metrics-reader role 403, and with one bound to it
// the metrics show one successful install and one successful upgrade, the component Available at revision 2
// and Cast AI API requests counted by endpoint.
func TestMetricsSecureEndpoint(t *testing.T) {
	ns := newNamespace(t)
	rel := "mt" + ns[len(ns)-5:]
	operatorChartRBAC(t, rel, ns, false, "rbac-phase1.yaml", "rbac-selfmanage.yaml", "metrics-reader.yaml")
	createCluster(t, ns)
	api := fakeAPI(t, ns)
	op := startSecureMetricsOperator(t, ns, rel)
	clusterID := waitClusterAvailable(t, ns)

	api.EnqueueAction(clusterID, castai.Action{Install: &castai.ChartAction{Component: "castai-agent", Version: "0.1.0"}})
	waitAvailable(t, ns, "castai-agent", "0.1.0", 3*time.Minute)
	api.EnqueueAction(clusterID, castai.Action{Upgrade: &castai.ChartAction{Component: "castai-agent", Version: "0.2.0"}})
	waitAvailable(t, ns, "castai-agent", "0.2.0", 3*time.Minute)

	url := "https://" + op.MetricsAddr + "/metrics"
	if code, body := scrape(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: HTTP %d, want 401 (%.200s)", code, body)
	}
	if code, body := scrape(t, url, serviceAccountToken(t, ns, "stranger", "")); code != http.StatusForbidden {
		t.Errorf("with a token not allowed GET /metrics: HTTP %d, want 403 (%.200s)", code, body)
	}
	token := serviceAccountToken(t, ns, "scraper", rel+"-metrics-reader")
	eventually(t, time.Minute, "metrics after install and upgrade", func() error {
		code, body := scrape(t, url, token)
		if code != http.StatusOK {
			return fmt.Errorf("HTTP %d: %.300s", code, body)
		}
		return checkScrape(body, ns)
	})
}

// startSecureMetricsOperator runs the operator binary as the chart's ServiceAccount of release rel, with
// secure metrics.
func startSecureMetricsOperator(t *testing.T, ns, rel string) *testharness.OperatorProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := testharness.BuildOperator(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	logDir := t.TempDir()
	op, err := testharness.StartOperator(ctx, testharness.OperatorConfig{Binary: bin, Kubeconfig: impersonatingKubeconfig(t, ns, rel), Namespace: ns,
		LogDir: logDir, Env: []string{"HELM_RELEASE_NAME=" + rel, "EKS_ACCOUNT_ID=123456789012", "EKS_REGION=eu-central-1", "EKS_CLUSTER_NAME=test-cluster"},
		Args: []string{"--watches-file=" + filepath.Join(wd, "testdata", "watches.yaml"), "--metrics-secure=true", "--ready-timeout=1m"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		op.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(op.LogPath)
			t.Logf("operator log (tail):\n%s", tailLines(string(b), 60))
		}
	})
	return op
}

// waitClusterAvailable waits until the Cluster "castai" of ns is Available and returns its cluster ID.
func waitClusterAvailable(t *testing.T, ns string) string {
	t.Helper()
	var id string
	eventually(t, time.Minute, "cluster Available", func() error {
		cl := getCluster(t, ns)
		if id = cl.ClusterID(); id == "" || clusterCondition(cl, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return fmt.Errorf("status %+v", cl.Status)
		}
		return nil
	})
	return id
}

// serviceAccountToken creates ServiceAccount sa in ns, binds it to clusterRole (none when empty) and
// returns a token of it.
func serviceAccountToken(t *testing.T, ns, sa, clusterRole string) string {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	if clusterRole != "" {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + sa},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}}}
		if err := k8s.Create(ctx, crb); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), crb) })
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	expiry := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// scrape GETs url over TLS (the operator's certificate is self-signed), with token as bearer when set.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkScrape checks the values the install and upgrade must have left, and that every castware_* metric
// and controller-runtime's reconcile counter are served.
func checkScrape(body, ns string) error {
	comp := []string{`namespace="` + ns + `"`, `component="castai-agent"`}
	want := []struct {
		name   string
		labels []string
		ok     func(float64) bool
		says   string
	}{
		{"castware_helm_operations_total", []string{`operation="install"`, `outcome="success"`}, eq(1), "1"},
		{"castware_helm_operations_total", []string{`operation="upgrade"`, `outcome="success"`}, eq(1), "1"},
		{"castware_component_available", comp, eq(1), "1"},
		{"castware_component_progressing", comp, eq(0), "0"},
		{"castware_component_helm_revision", comp, eq(2), "2"},
		{"castware_console_actions_total", []string{`kind="upgrade"`, `outcome="success"`}, eq(1), "1"},
		{"castware_castai_api_requests_total", []string{`endpoint="PollActions"`, `code="200"`}, atLeast(1), ">= 1"},
		{"castware_castai_api_requests_total", []string{`endpoint="AckAction"`, `code="200"`}, atLeast(2), ">= 2"},
		{"castware_castai_api_requests_total", []string{`endpoint="RecordActionResult"`, `code="200"`}, atLeast(2), ">= 2"},
	}
	for _, w := range want {
		v, found := sample(body, w.name, w.labels...)
		if !found || !w.ok(v) {
			return fmt.Errorf("%s{%s} = %v (found %t), want %s", w.name, strings.Join(w.labels, ","), v, found, w.says)
		}
	}
	for _, n := range append(metrics.Names(), "controller_runtime_reconcile_total") {
		if !strings.Contains(body, "# TYPE "+n+" ") {
			return fmt.Errorf("%s is not served", n)
		}
	}
	return nil
}

func eq(want float64) func(float64) bool      { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

// sample sums the series of metric name whose labels include every one of labels (`key="value"`).
func sample(body, name string, labels ...string) (float64, bool) {
	total, found := 0.0, false
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || strings.HasPrefix(line, "#") || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		lbls, value, _ := strings.Cut(rest, "} ")
		if !strings.HasPrefix(rest, "{") {
			lbls, value = "", strings.TrimSpace(rest)
		}
		if !containsAll(lbls, labels) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			total, found = total+v, true
		}
	}
	return total, found
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
