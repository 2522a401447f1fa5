package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/certs"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/operator"
	"github.com/castware-operator/castware-operator/internal/values"
)

// testHold is a finalizer the tests put on Components so they outlive their delete until the test removes it.
const testHold = "castware.cast.ai/test-hold"

func withWebhooks(w operator.WebhookOptions) opt {
	return func(o *operator.Options) { o.Webhooks = &w }
}

// installWebhooks installs the generated webhook configurations for ns, pointed at 127.0.0.1.
func installWebhooks(t *testing.T, ns string) *testharness.Webhooks {
	t.Helper()
	wh, err := env.InstallWebhooks(testharness.WebhookOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := wh.Uninstall(context.Background()); err != nil {
			t.Errorf("uninstall webhooks: %v", err)
		}
	})
	return wh
}

// webhookCatalog is the test catalog plus a Phase 2 component.
func webhookCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	return testCatalogPlus(t, `
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: cluster-controller
  chart: test-deployment
  releaseName: castai-cluster-controller
  phase: 2
`)
}

// testCatalogPlus is the test catalog (testdata/watches.yaml) with more entries appended.
func testCatalogPlus(t *testing.T, entries string) *catalog.Catalog {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Parse(append(raw, entries...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// warningCollector records the API server's warnings.
type warningCollector struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningCollector) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningCollector) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.Join(w.msgs, "\n")
	w.msgs = nil
	return s
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// hangingAddr returns a loopback address that accepts connections and never answers: a down API that a
// network call from a webhook would wait on until the API server's webhook timeout.
func hangingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// expectDenied fails unless err is an admission denial containing every want.
func expectDenied(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: admitted, want a denial mentioning %q", what, want)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: denial %q does not mention %q", what, err, w)
		}
	}
}

func mergePatch(t *testing.T, obj client.Object, mutate func()) error {
	t.Helper()
	base := obj.DeepCopyObject().(client.Object)
	mutate()
	return k8s.Patch(context.Background(), obj, client.MergeFrom(base))
}

func TestWebhookAdmission(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	wh := installWebhooks(t, ns)
	apiDown, repoDown := hangingAddr(t), closedAddr(t)
	opCtx, stopOperator := context.WithCancel(ctx)
	defer stopOperator()
	startOperatorCtx(t, opCtx, ns, withWebhooks(operator.WebhookOptions{Host: wh.Host, Port: wh.Port, CertMode: operator.CertModeExternal, CertDir: wh.CertDir}),
		func(o *operator.Options) {
			o.Catalog = webhookCatalog(t)
			o.CastAI.ClientOptions = []castai.Option{castai.WithTimeout(2 * time.Second)}
		})

	warnings := &warningCollector{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = warnings
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The webhooks are served once the manager runs (validation fails closed until then).
	eventually(t, 30*time.Second, "the webhooks answer", func() error {
		return c.Create(ctx, newComponent(ns, "probe", "castai-agent", "", nil), client.DryRunAll)
	})
	warnings.take()

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: ns}, StringData: map[string]string{"API_KEY": apiKeyFor(ns)}}
	if err := c.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	newCluster := func(mutate func(*castwarev1.Cluster)) *castwarev1.Cluster {
		cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: ns},
			Spec: castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: "http://" + apiDown},
				HelmRepoURL: "http://" + repoDown, Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: testClusterID}}}
		if mutate != nil {
			mutate(cl)
		}
		return cl
	}

	t.Run("invalid Clusters are rejected", func(t *testing.T) {
		expectDenied(t, "no provider", c.Create(ctx, newCluster(func(cl *castwarev1.Cluster) { cl.Spec.Provider = "" })),
			`admission webhook "vcluster.castware.cast.ai" denied the request`, "spec.provider is required")
		expectDenied(t, "ftp API URL", c.Create(ctx, newCluster(func(cl *castwarev1.Cluster) { cl.Spec.API.APIURL = "ftp://api.cast.ai" })),
			`spec.api.apiUrl "ftp://api.cast.ai" must start with https://`)
		expectDenied(t, "bad repository", c.Create(ctx, newCluster(func(cl *castwarev1.Cluster) { cl.Spec.HelmRepoURL = "gopher://charts" })),
			"spec.helmRepoURL", `unsupported repository scheme "gopher"`)
	})

	t.Run("Cluster defaults", func(t *testing.T) {
		cl := newCluster(func(cl *castwarev1.Cluster) { cl.Spec.API.APIURL = "https://api.eu.cast.ai" })
		if err := c.Create(ctx, cl, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if cl.Spec.API.GrpcURL != "grpc.eu.cast.ai" || cl.Spec.API.KvisorGrpcURL != "kvisor.eu.cast.ai" {
			t.Errorf("grpcUrl %q, kvisorGrpcUrl %q: not derived from the API URL", cl.Spec.API.GrpcURL, cl.Spec.API.KvisorGrpcURL)
		}
	})

	cluster := newCluster(nil)
	if err := c.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}

	t.Run("immutable Cluster fields", func(t *testing.T) {
		cl := &castwarev1.Cluster{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(cluster), cl); err != nil {
			t.Fatal(err)
		}
		expectDenied(t, "provider change", mergePatch(t, cl, func() { cl.Spec.Provider = "gke" }), `spec.provider is immutable: it is "eks" and cannot become "gke"`)
		if err := c.Get(ctx, client.ObjectKeyFromObject(cluster), cl); err != nil {
			t.Fatal(err)
		}
		expectDenied(t, "cluster ID change", mergePatch(t, cl, func() { cl.Spec.Cluster.ClusterID = "11111111-2222-4333-8444-555555555555" }),
			"spec.cluster.clusterID is immutable once set")
	})

	t.Run("invalid Components are rejected", func(t *testing.T) {
		expectDenied(t, "unknown component", c.Create(ctx, newComponent(ns, "evictor", "evictor", "", nil)),
			`admission webhook "vcomponent.castware.cast.ai" denied the request`, `spec.component "evictor" is not in the component catalog`, castwarev1.LabelHelmChart)
		expectDenied(t, "malformed version", c.Create(ctx, newComponent(ns, "agent-x", "castai-agent", "1.2.3-01", nil)),
			`spec.version "1.2.3-01" is not an exact chart version`)
		pinned := newComponent(ns, "agent-p", "castai-agent", "", nil)
		pinned.Spec.ChartDigest = "sha256:" + strings.Repeat("0", 64)
		expectDenied(t, "digest pin without a version", c.Create(ctx, pinned), "spec.chartDigest", "spec.version must name one")
		pinned = newComponent(ns, "agent-q", "castai-agent", "0.1.0", nil)
		pinned.Spec.ChartDigest = "md5:0"
		expectDenied(t, "malformed digest pin", c.Create(ctx, pinned), "spec.chartDigest")
		deep := any("leaf")
		for i := 0; i < values.MaxDepth+2; i++ {
			deep = map[string]any{"a": deep}
		}
		expectDenied(t, "values too deep", c.Create(ctx, newComponent(ns, "agent-y", "castai-agent", "", map[string]any{"x": deep})),
			"spec.values", "nest deeper")
	})

	t.Run("Component defaults and updates", func(t *testing.T) {
		comp := newComponent(ns, "spot", "spot-handler", "", nil)
		comp.Spec.Enabled = false
		if err := c.Create(ctx, comp); err != nil {
			t.Fatal(err)
		}
		if comp.Spec.ReleaseName != "castai-spot-handler" || comp.Labels[castwarev1.LabelHelmChart] != "test-daemonset" {
			t.Errorf("releaseName %q, chart label %q: not defaulted from the catalog", comp.Spec.ReleaseName, comp.Labels[castwarev1.LabelHelmChart])
		}
		expectDenied(t, "component change", mergePatch(t, comp, func() { comp.Spec.Component = "castai-agent" }), "spec.component is immutable")
		comp = getComponent(t, ns, "spot")
		expectDenied(t, "migration set", mergePatch(t, comp, func() { comp.Spec.Migration = castwarev1.MigrationHelm }), "spec.migration can only be cleared")
		comp = getComponent(t, ns, "spot")
		if err := mergePatch(t, comp, func() { comp.Spec.Version = "0.1.0" }); err != nil {
			t.Errorf("a valid version change was refused: %v", err)
		}
	})

	t.Run("Phase 2 without permissions is a warning", func(t *testing.T) {
		warnings.take()
		comp := newComponent(ns, "cluster-controller", "cluster-controller", "", nil)
		comp.Spec.Enabled = false // admitted and left alone: this test is about admission
		comp.Spec.Readonly = true
		if err := c.Create(ctx, comp); err != nil {
			t.Fatalf("a Phase 2 component was refused: %v", err)
		}
		if w := warnings.take(); w != "" {
			t.Errorf("a disabled Phase 2 component got warnings: %s", w)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(comp), comp); err != nil {
			t.Fatal(err)
		}
		base := comp.DeepCopy()
		comp.Spec.Readonly = false
		comp.Spec.Enabled = true
		if err := c.Patch(ctx, comp, client.MergeFrom(base)); err != nil {
			t.Fatalf("enabling a Phase 2 component was refused: %v", err)
		}
		if w := warnings.take(); !strings.Contains(w, "needs the operator's extended (Phase 2) permissions") {
			t.Errorf("warnings %q do not name the missing permissions", w)
		}
	})

	// Components held by finalizers, created while everything is up.
	held := func(name string) *castwarev1.Component {
		comp := newComponent(ns, name, "castai-agent", "", nil)
		comp.Spec.Readonly = true
		comp.Finalizers = []string{testHold}
		if err := c.Create(ctx, comp); err != nil {
			t.Fatal(err)
		}
		return comp
	}
	heldUp, heldDown := held("held-up"), held("held-down")
	agent := newComponent(ns, "agent", "castai-agent", "", nil)
	if err := c.Create(ctx, agent); err != nil {
		t.Fatal(err)
	}

	// metadataStatusDelete runs every operation that must never depend on the webhooks on a readonly Component.
	metadataStatusDelete := func(t *testing.T, name string) {
		t.Helper()
		comp := getComponent(t, ns, name)
		if err := mergePatch(t, comp, func() { comp.Labels = map[string]string{"team": "a"} }); err != nil {
			t.Fatalf("label-only update: %v", err)
		}
		if err := mergePatch(t, comp, func() { comp.Annotations = map[string]string{"note": "x"} }); err != nil {
			t.Fatalf("annotation-only update: %v", err)
		}
		base := comp.DeepCopy()
		comp.Status.RollbackRequestID = "status-edit"
		if err := k8s.Status().Patch(ctx, comp, client.MergeFrom(base)); err != nil {
			t.Fatalf("status update: %v", err)
		}
		if err := k8s.Delete(ctx, comp); err != nil {
			t.Fatalf("delete: %v", err)
		}
		comp = getComponent(t, ns, name)
		if comp.DeletionTimestamp.IsZero() {
			t.Fatal("not being deleted after the delete")
		}
		if err := mergePatch(t, comp, func() { comp.Labels = map[string]string{"team": "b"} }); err != nil {
			t.Fatalf("label update while being deleted: %v", err)
		}
		if err := mergePatch(t, comp, func() { controllerutil.RemoveFinalizer(comp, testHold) }); err != nil {
			t.Fatalf("finalizer removal: %v", err)
		}
		eventually(t, 10*time.Second, name+" gone", func() error {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(comp), &castwarev1.Component{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (%v)", err)
		})
	}

	t.Run("Cast AI and the chart repository down: metadata, status, finalizers and deletes pass", func(t *testing.T) {
		comp := getComponent(t, ns, heldUp.Name)
		expectDenied(t, "readonly spec edit", mergePatch(t, comp, func() { comp.Spec.Enabled = false }), "is readonly", "set spec.readonly to false")
		comp = getComponent(t, ns, heldUp.Name)
		expectDenied(t, "readonly values edit", mergePatch(t, comp, func() { comp.Spec.Values = &apiextensionsv1.JSON{Raw: []byte(`{"nested":{"list":[1,2]}}`)} }),
			"is readonly")
		metadataStatusDelete(t, heldUp.Name)

		// The operator's own finalizer: added, and removed on delete, with the API and the repository down.
		eventually(t, 30*time.Second, "the operator's finalizer on agent", func() error {
			if controllerutil.ContainsFinalizer(getComponent(t, ns, "agent"), castwarev1.FinalizerCleanupHelm) {
				return nil
			}
			return errors.New("no finalizer yet")
		})
		if err := k8s.Delete(ctx, agent); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "agent deleted by the operator", func() error {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(agent), &castwarev1.Component{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (%v)", err)
		})
	})

	t.Run("operator down: spec changes fail closed, everything else passes", func(t *testing.T) {
		stopOperator()
		eventually(t, 30*time.Second, "the validating webhook unreachable", func() error {
			comp := getComponent(t, ns, "spot")
			err := mergePatch(t, comp, func() { comp.Spec.Version = "0.2.0" })
			if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
				return nil
			}
			return fmt.Errorf("spec change: %v", err)
		})
		metadataStatusDelete(t, heldDown.Name)
		cl := &castwarev1.Cluster{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cluster), cl); err != nil {
			t.Fatal(err)
		}
		if err := mergePatch(t, cl, func() { cl.Labels = map[string]string{"team": "a"} }); err != nil {
			t.Errorf("Cluster label update with the operator down: %v", err)
		}
		if err := k8s.Delete(ctx, cl); err != nil {
			t.Errorf("Cluster delete with the operator down: %v", err)
		}
	})
}

// servedCertificate returns the certificate the TLS server at addr presents.
func servedCertificate(addr string) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test inspects what is served
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func firstCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certSecret(ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return nil, err
	}
	for _, k := range []string{certs.KeyCACert, certs.KeyCAKey, certs.KeyCert, certs.KeyKey} {
		if len(s.Data[k]) == 0 {
			return nil, fmt.Errorf("Secret key %s is empty", k)
		}
	}
	return s, nil
}

func freeAddrPort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(closedAddr(t))
	var p int
	_, _ = fmt.Sscan(port, &p)
	return p
}

func TestWebhookCertificates(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	wh := installWebhooks(t, ns)
	const secretName = "webhook-certs"
	certOpts := operator.WebhookOptions{Host: wh.Host, Port: wh.Port, CertMode: operator.CertModeOperator, CertSecret: secretName,
		MutatingConfiguration: wh.Mutating[0], ValidatingConfiguration: wh.Validating[0], IPAddresses: []net.IP{net.ParseIP(wh.Host)},
		ServingValidity: 9 * time.Second, CheckInterval: time.Second}
	leader := func(o *operator.Options) {
		o.LeaderElection, o.LeaderElectionID = true, "webhook-certs-test"
		o.CastAI.Disabled = true
	}
	opA := startOperator(t, ns, withWebhooks(certOpts), leader)
	addrA := net.JoinHostPort(wh.Host, fmt.Sprint(wh.Port))

	// checkServing waits until the Secret is complete, both configurations trust its CA, and addr serves its
	// certificate; it returns the Secret.
	checkServing := func(what, addr string) *corev1.Secret {
		t.Helper()
		var sec *corev1.Secret
		eventually(t, 30*time.Second, what, func() error {
			s, err := certSecret(ns, secretName)
			if err != nil {
				return err
			}
			for _, n := range wh.Mutating {
				m := &admissionregistrationv1.MutatingWebhookConfiguration{}
				if err := k8s.Get(ctx, client.ObjectKey{Name: n}, m); err != nil {
					return err
				}
				for _, w := range m.Webhooks {
					if string(w.ClientConfig.CABundle) != string(s.Data[certs.KeyCACert]) {
						return fmt.Errorf("%s/%s: caBundle is not the Secret's CA", n, w.Name)
					}
				}
			}
			for _, n := range wh.Validating {
				v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
				if err := k8s.Get(ctx, client.ObjectKey{Name: n}, v); err != nil {
					return err
				}
				for _, w := range v.Webhooks {
					if string(w.ClientConfig.CABundle) != string(s.Data[certs.KeyCACert]) {
						return fmt.Errorf("%s/%s: caBundle is not the Secret's CA", n, w.Name)
					}
				}
			}
			got, err := servedCertificate(addr)
			if err != nil {
				return err
			}
			if want := firstCert(t, s.Data[certs.KeyCert]); !got.Equal(want) {
				return fmt.Errorf("%s serves serial %s, the Secret holds %s", addr, got.SerialNumber, want.SerialNumber)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(s.Data[certs.KeyCACert])
			if _, err := got.Verify(x509.VerifyOptions{Roots: pool, DNSName: wh.Host}); err != nil {
				return fmt.Errorf("served certificate does not verify against the injected CA: %w", err)
			}
			sec = s
			return nil
		})
		return sec
	}
	// admits checks that the API server reaches the webhooks through the injected CA.
	admits := func(what string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() error {
			err := k8s.Create(ctx, newComponent(ns, "nope", "nope", "", nil), client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "is not in the component catalog") {
				return fmt.Errorf("unknown component: %v", err)
			}
			return k8s.Create(ctx, newComponent(ns, "agent", "castai-agent", "", nil), client.DryRunAll)
		})
	}

	sec := checkServing("first install: Secret created, caBundle injected, certificate served", addrA)
	caBefore := string(sec.Data[certs.KeyCACert])
	first := firstCert(t, sec.Data[certs.KeyCert])
	admits("admission through the generated CA")

	// A second instance: not the leader, it serves what the Secret holds and writes nothing.
	optsB := certOpts
	optsB.Port = freeAddrPort(t)
	opB := startOperator(t, ns, withWebhooks(optsB), leader)
	addrB := net.JoinHostPort(wh.Host, fmt.Sprint(optsB.Port))

	// The 9s serving certificate is renewed after 6s: both instances serve the renewed one, without a restart.
	eventually(t, 30*time.Second, "a rotation", func() error {
		s, err := certSecret(ns, secretName)
		if err != nil {
			return err
		}
		if firstCert(t, s.Data[certs.KeyCert]).Equal(first) {
			return errors.New("not rotated yet")
		}
		return nil
	})
	sec = checkServing("the leader serves the rotated certificate", addrA)
	checkServing("the second instance serves the rotated certificate", addrB)
	admits("admission after the rotation")
	if string(sec.Data[certs.KeyCACert]) != caBefore {
		t.Error("a serving-certificate rotation changed the CA")
	}
	if n := opB.WebhookCerts.Writes(); n != 0 {
		t.Errorf("the second instance wrote the Secret %d times", n)
	}
	if n := opA.WebhookCerts.Writes(); n < 3 {
		t.Errorf("the leader wrote the Secret %d times, want the CA, the first certificate and at least one renewal", n)
	}
	select {
	case <-opB.Manager.Elected():
		t.Error("the second instance became leader while the first runs")
	default:
	}
}

// TestWebhookCertificatesWithoutLeaderElection starts two certificate managers on one fresh Secret at once,
// with no leader election: the optimistic-concurrency writes make one win and the other adopt its pair.
func TestWebhookCertificatesWithoutLeaderElection(t *testing.T) {
	ns := newNamespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	opts := certs.Options{Namespace: ns, SecretName: "race-certs", DNSNames: certs.ServiceDNSNames("svc", ns), CheckInterval: time.Second}
	var ms []*certs.Manager
	for i := 0; i < 2; i++ {
		m, err := certs.New(env.Config, opts)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	for _, m := range ms {
		for _, r := range []interface{ Start(context.Context) error }{m, m.Rotator()} {
			wg.Add(1)
			go func() { defer wg.Done(); _ = r.Start(ctx) }()
		}
	}
	eventually(t, 30*time.Second, "both serve the Secret's certificate", func() error {
		s, err := certSecret(ns, "race-certs")
		if err != nil {
			return err
		}
		want := firstCert(t, s.Data[certs.KeyCert])
		for i, m := range ms {
			c, err := m.GetCertificate(nil)
			if err != nil {
				return fmt.Errorf("manager %d: %w", i, err)
			}
			if !c.Leaf.Equal(want) {
				return fmt.Errorf("manager %d serves serial %s, the Secret holds %s", i, c.Leaf.SerialNumber, want.SerialNumber)
			}
		}
		return nil
	})
	if total := ms[0].Writes() + ms[1].Writes(); total != 2 {
		t.Errorf("%d + %d Secret writes, want 2 in all (one CA, one serving pair)", ms[0].Writes(), ms[1].Writes())
	}
}
