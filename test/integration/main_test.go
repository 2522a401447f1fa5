// Package integration holds the operator's integration tests: a real kube-apiserver and etcd, with
// kube-controller-manager, kube-scheduler and kwok so Pods become Ready, real Helm releases, and charts
// served over HTTP. One control plane serves every test; each test gets its own namespace and its own
// operator instance.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/operator"
)

var (
	env    *testharness.Env
	charts *testharness.ChartServer
	k8s    client.Client
)

const testClusterID = "3f1c9a52-7d4e-4b8a-9c2d-1e5f6a7b8c9d"

func TestMain(m *testing.M) {
	if os.Getenv("CASTWARE_TEST_LOGS") == "1" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(ioDiscard{})))
	}
	var err error
	env, err = testharness.Start(testharness.Options{Kwok: true, Nodes: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		os.Exit(1)
	}
	k8s = env.Client
	charts, err = testharness.NewChartServer(testharness.ChartsDir())
	if err != nil {
		_ = env.Stop()
		fmt.Fprintln(os.Stderr, "chart server:", err)
		os.Exit(1)
	}
	code := m.Run()
	charts.Close()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(filepath.Join("testdata", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// opt changes the operator options of one test.
type opt func(*operator.Options)

func withReadyTimeout(d time.Duration) opt { return func(o *operator.Options) { o.ReadyTimeout = d } }
func withPendingTimeout(d time.Duration) opt {
	return func(o *operator.Options) { o.PendingTimeout = d }
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + fmt.Sprint(time.Now().UnixNano()%100000)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

// startOperator runs an operator for ns until the test ends.
func startOperator(t *testing.T, ns string, opts ...opt) *operator.Operator {
	t.Helper()
	return startOperatorCtx(t, context.Background(), ns, opts...)
}

// startOperatorCtx runs an operator for ns until ctx ends or the test ends.
func startOperatorCtx(t *testing.T, parent context.Context, ns string, opts ...opt) *operator.Operator {
	t.Helper()
	op, _ := runOperator(t, parent, ns, opts...)
	return op
}

// stoppableOperator runs an operator for ns; stop ends it and returns once it has stopped.
func stoppableOperator(t *testing.T, ns string, opts ...opt) (stop func()) {
	t.Helper()
	_, stop = runOperator(t, context.Background(), ns, opts...)
	return stop
}

// runOperator runs an operator for ns until ctx ends, stop is called or the test ends.
func runOperator(t *testing.T, parent context.Context, ns string, opts ...opt) (*operator.Operator, func()) {
	t.Helper()
	return runOperatorOn(t, parent, env.Config, ns, opts...)
}

// runOperatorOn is runOperator talking to kube-apiserver through cfg.
func runOperatorOn(t *testing.T, parent context.Context, cfg *rest.Config, ns string, opts ...opt) (*operator.Operator, func()) {
	t.Helper()
	o := operator.Options{Namespace: ns, Catalog: testCatalog(t), SkipControllerNameValidation: true, ReadyTimeout: time.Minute,
		Env: testEnvVars, CastAI: operator.CastAIOptions{PollInterval: 200 * time.Millisecond, LongPoll: time.Minute},
		// Adopting what already runs is on only in the migration tests (withMigration), so a release a test
		// installs with the helm CLI before creating its own Component is not adopted first.
		Migration: operator.MigrationOptions{Disabled: true}}
	for _, f := range opts {
		f(&o)
	}
	op, err := operator.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	stop := testharness.RunManager(t, op.Manager)
	if parent.Done() != nil {
		go func() { <-parent.Done(); stop() }()
	}
	return op, stop
}

// testEnvVars is the operator's environment in tests: EKS metadata comes from env, so no test ever
// reaches for a cloud metadata service.
func testEnvVars(key string) string {
	return map[string]string{"EKS_ACCOUNT_ID": "123456789012", "EKS_REGION": "eu-central-1", "EKS_CLUSTER_NAME": "test-cluster"}[key]
}

var (
	fakeAPIsMu sync.Mutex
	fakeAPIs   = map[string]*fake.Server{}
)

// apiKeyFor is the API key of the Cluster created in ns.
func apiKeyFor(ns string) string { return "test-key-" + ns }

// newFakeAPI starts a fake Cast AI API for ns (holding polls, as the real API may) for the test's duration.
func newFakeAPI(t *testing.T, ns string) *fake.Server {
	t.Helper()
	api := fake.NewServer(fake.WithKeys(apiKeyFor(ns)), fake.WithHold(30*time.Second))
	t.Cleanup(api.Close)
	fakeAPIsMu.Lock()
	fakeAPIs[ns] = api
	fakeAPIsMu.Unlock()
	return api
}

// fakeAPI returns the fake Cast AI API of the Cluster created in ns.
func fakeAPI(t *testing.T, ns string) *fake.Server {
	t.Helper()
	fakeAPIsMu.Lock()
	defer fakeAPIsMu.Unlock()
	api := fakeAPIs[ns]
	if api == nil {
		t.Fatalf("no fake API for namespace %s", ns)
	}
	return api
}

// createCluster creates the API-key Secret and a Cluster named "castai" talking to a fresh fake Cast AI API.
func createCluster(t *testing.T, ns string, mutate ...func(*castwarev1.Cluster)) *castwarev1.Cluster {
	t.Helper()
	ctx := context.Background()
	api := newFakeAPI(t, ns)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: ns}, StringData: map[string]string{"API_KEY": apiKeyFor(ns)}}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	cl := &castwarev1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: ns},
		Spec: castwarev1.ClusterSpec{
			Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: api.URL()},
			HelmRepoURL: charts.URL(), Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: testClusterID},
		},
	}
	for _, m := range mutate {
		m(cl)
	}
	if err := k8s.Create(ctx, cl); err != nil {
		t.Fatal(err)
	}
	return cl
}

func newComponent(ns, name, component, version string, vals map[string]any) *castwarev1.Component {
	c := &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       castwarev1.ComponentSpec{Component: component, Cluster: "castai", Enabled: true, Version: version},
	}
	if vals != nil {
		raw, _ := json.Marshal(vals)
		c.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	}
	return c
}

// eventually polls fn until it returns nil, failing the test after timeout with fn's last error.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	testharness.Eventually(t, timeout, 100*time.Millisecond, what, fn)
}

func getComponent(t *testing.T, ns, name string) *castwarev1.Component {
	t.Helper()
	c := &castwarev1.Component{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// condition returns the condition of a Component, or an empty one.
func condition(c *castwarev1.Component, typ string) metav1.Condition {
	return testharness.Condition(c.Status.Conditions, typ)
}

func describe(c *castwarev1.Component) string { return testharness.Describe(c) }

// waitAvailable waits until the Component is Available at version with nothing in progress.
func waitAvailable(t *testing.T, ns, name, version string, timeout time.Duration) *castwarev1.Component {
	t.Helper()
	var c *castwarev1.Component
	eventually(t, timeout, fmt.Sprintf("component %s Available at %s", name, version), func() error {
		c = &castwarev1.Component{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
			return err
		}
		return testharness.AvailableAt(c, version)
	})
	return c
}

func deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}
