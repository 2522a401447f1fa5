package certs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const (
	testNS     = "castai-agent"
	testSecret = "castware-operator-webhook-certs"
	testMut    = "castware-operator-mutating-webhook-configuration"
	testVal    = "castware-operator-validating-webhook-configuration"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func webhookConfigs() []client.Object {
	path := "/validate"
	return []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: testMut},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mcluster.castware.cast.ai", ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Name: "svc", Namespace: testNS, Path: &path}}},
				{Name: "mcomponent.castware.cast.ai"}}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: testVal},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "vcluster.castware.cast.ai"}, {Name: "vcomponent.castware.cast.ai"}}},
	}
}

func testOptions(clk *clock) Options {
	return Options{Namespace: testNS, SecretName: testSecret, DNSNames: ServiceDNSNames("castware-operator-webhook-service", testNS),
		IPAddresses:                   []net.IP{net.ParseIP("127.0.0.1")},
		MutatingWebhookConfigurations: []string{testMut}, ValidatingWebhookConfigurations: []string{testVal, "not-installed"},
		CAValidity: 100 * time.Hour, ServingValidity: 30 * time.Hour, CheckInterval: time.Hour, Now: clk.Now}
}

func newTestManager(t *testing.T, c client.Client, opts Options) *Manager {
	t.Helper()
	m, err := newManager(c, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func getSecret(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: testSecret}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// bundles returns the caBundle of every webhook of both configurations.
func bundles(t *testing.T, c client.Client) [][]byte {
	t.Helper()
	var out [][]byte
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: testMut}, mut); err != nil {
		t.Fatal(err)
	}
	for _, w := range mut.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: testVal}, val); err != nil {
		t.Fatal(err)
	}
	for _, w := range val.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func leafOf(t *testing.T, s *corev1.Secret) *x509.Certificate {
	t.Helper()
	cs := parseCerts(s.Data[KeyCert])
	if len(cs) != 1 {
		t.Fatalf("tls.crt holds %d certificates", len(cs))
	}
	return cs[0]
}

func served(t *testing.T, m *Manager) *x509.Certificate {
	t.Helper()
	c, err := m.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

func reconcile(t *testing.T, m *Manager) time.Time {
	t.Helper()
	next, err := m.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func TestFreshInstallCreatesSecretInjectsAndServes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(webhookConfigs()...).Build()
	opts := testOptions(clk)
	opts.CheckInterval = 100 * time.Hour
	m := newTestManager(t, c, opts)
	if _, err := m.GetCertificate(nil); err == nil {
		t.Fatal("a certificate was served before the Secret held one")
	}
	if m.Checker(nil) == nil {
		t.Fatal("ready before a certificate was loaded")
	}
	next := reconcile(t, m)
	sec := getSecret(t, c)
	for _, k := range []string{KeyCACert, KeyCAKey, KeyCert, KeyKey} {
		if len(sec.Data[k]) == 0 {
			t.Errorf("Secret key %s is empty", k)
		}
	}
	for i, b := range bundles(t, c) {
		if !bytes.Equal(b, sec.Data[KeyCACert]) {
			t.Errorf("webhook %d: caBundle is not the Secret's ca.crt", i)
		}
	}
	leaf := leafOf(t, sec)
	cas := parseCerts(sec.Data[KeyCACert])
	if len(cas) != 1 {
		t.Fatalf("ca.crt holds %d certificates, want 1", len(cas))
	}
	pool := x509.NewCertPool()
	pool.AddCert(cas[0])
	for _, name := range []string{"castware-operator-webhook-service.castai-agent.svc", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: clk.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", name, err)
		}
	}
	if got := leaf.NotAfter.Sub(clk.Now()); got != 30*time.Hour {
		t.Errorf("serving certificate valid for %v, want 30h", got)
	}
	if !served(t, m).Equal(leaf) {
		t.Error("the manager does not serve the Secret's certificate")
	}
	if err := m.Checker(nil); err != nil {
		t.Errorf("not ready after the first reconcile: %v", err)
	}
	if want := RenewAt(leaf.NotBefore, leaf.NotAfter); !next.Equal(want) {
		t.Errorf("next check at %v, want the serving renewal at %v", next, want)
	}
	if m.Writes() != 2 {
		t.Errorf("%d Secret writes on a fresh install, want 2 (the CA, then the serving pair)", m.Writes())
	}
	// Nothing is due: a second pass writes nothing.
	reconcile(t, m)
	if m.Writes() != 2 {
		t.Errorf("a pass with valid certificates wrote the Secret (%d writes)", m.Writes())
	}
	if rv := getSecret(t, c).ResourceVersion; rv != sec.ResourceVersion {
		t.Errorf("Secret changed from %s to %s with nothing due", sec.ResourceVersion, rv)
	}
}

func TestPreCreatedEmptySecretIsFilled(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	empty := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret, Labels: map[string]string{"helm.sh/chart": "x"}}, Type: corev1.SecretTypeOpaque}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(append(webhookConfigs(), empty)...).Build()
	m := newTestManager(t, c, testOptions(clk))
	reconcile(t, m)
	sec := getSecret(t, c)
	if sec.Labels["helm.sh/chart"] != "x" || len(sec.Data[KeyCert]) == 0 {
		t.Fatalf("the chart's empty Secret was not filled in place: labels %v, keys %d", sec.Labels, len(sec.Data))
	}
}

// TestPreCreatedSecretIsNeverCreated: with SecretPrecreated (the chart), a missing Secret is waited for, never
// created, so a stopping operator cannot re-create one `helm uninstall` just deleted; once it exists it is filled.
func TestPreCreatedSecretIsNeverCreated(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(webhookConfigs()...).Build()
	opts := testOptions(clk)
	opts.SecretPrecreated = true
	m := newTestManager(t, c, opts)
	next, err := m.Reconcile(context.Background())
	if err != nil || !next.After(clk.Now()) {
		t.Fatalf("Reconcile without the Secret: next %v, err %v", next, err)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: testSecret}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Secret was created (err %v)", err)
	}
	if err := c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret}}); err != nil {
		t.Fatal(err)
	}
	reconcile(t, m)
	if len(getSecret(t, c).Data[KeyCert]) == 0 {
		t.Fatal("the pre-created Secret was not filled")
	}
}

func TestServingCertificateRenewedAtTwoThirds(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(webhookConfigs()...).Build()
	m := newTestManager(t, c, testOptions(clk))
	reconcile(t, m)
	first := leafOf(t, getSecret(t, c))
	caBefore := getSecret(t, c).Data[KeyCACert]

	clk.Advance(19 * time.Hour) // before 2/3 of 30h (+ backdate)
	reconcile(t, m)
	if !leafOf(t, getSecret(t, c)).Equal(first) {
		t.Fatal("renewed before two thirds of the lifetime")
	}
	clk.Advance(2 * time.Hour)
	reconcile(t, m)
	second := leafOf(t, getSecret(t, c))
	if second.Equal(first) {
		t.Fatal("not renewed after two thirds of the lifetime")
	}
	if !served(t, m).Equal(second) {
		t.Error("the renewed certificate is not served")
	}
	if !bytes.Equal(getSecret(t, c).Data[KeyCACert], caBefore) {
		t.Error("a serving renewal changed the CA")
	}
}

func TestCARotationTrustsNewCABeforeServingItsCertificate(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	var ops []string
	record := interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			mu.Lock()
			defer mu.Unlock()
			what := obj.GetObjectKind().GroupVersionKind().Kind
			switch o := obj.(type) {
			case *corev1.Secret:
				what = "secret:" + strings.Join(sortedKeys(o.Data), ",")
				if len(o.Data[KeyCert]) > 0 {
					what += ":serial=" + leafSerial(o.Data[KeyCert])
				}
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				what = "validating"
			case *admissionregistrationv1.MutatingWebhookConfiguration:
				what = "mutating"
			}
			ops = append(ops, what)
			return c.Update(ctx, obj, opts...)
		},
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(webhookConfigs()...).WithInterceptorFuncs(record).Build()
	m := newTestManager(t, c, testOptions(clk))
	reconcile(t, m)
	oldCA := parseCerts(getSecret(t, c).Data[KeyCACert])[0]
	oldLeaf := leafOf(t, getSecret(t, c))

	// The CA (100h, backdated 1h) is due at 66h20m. Serving certificates (30h, renewed 19h54m after issue)
	// are renewed at 20h, 40h and 60h on the way, so at 67h only the CA is due.
	for i := 0; i < 3; i++ {
		clk.Advance(20 * time.Hour)
		reconcile(t, m)
	}
	if n := len(parseCerts(getSecret(t, c).Data[KeyCACert])); n != 1 || !parseCerts(getSecret(t, c).Data[KeyCACert])[0].Equal(oldCA) {
		t.Fatal("the CA changed before it was due")
	}
	oldLeaf = leafOf(t, getSecret(t, c))
	mu.Lock()
	ops = nil
	mu.Unlock()
	clk.Advance(7 * time.Hour)
	reconcile(t, m)

	sec := getSecret(t, c)
	cas := parseCerts(sec.Data[KeyCACert])
	if len(cas) != 2 || !cas[1].Equal(oldCA) || cas[0].Equal(oldCA) {
		t.Fatalf("ca.crt after a CA rotation holds %d certificates; want the new CA followed by the old one", len(cas))
	}
	for i, b := range bundles(t, c) {
		if !bytes.Equal(b, sec.Data[KeyCACert]) {
			t.Errorf("webhook %d does not trust both CAs", i)
		}
	}
	leaf := leafOf(t, sec)
	if leaf.CheckSignatureFrom(cas[0]) != nil || leaf.Equal(oldLeaf) {
		t.Error("the serving certificate was not reissued by the new CA")
	}
	mu.Lock()
	got := strings.Join(ops, " → ")
	mu.Unlock()
	// The new CA is written and trusted by both configurations before a certificate it signed is written.
	if len(ops) != 4 || !strings.HasPrefix(ops[0], "secret:ca.crt,ca.key,tls.crt,tls.key:serial="+oldLeaf.SerialNumber.String()) ||
		ops[1] != "mutating" || ops[2] != "validating" || !strings.HasPrefix(ops[3], "secret:") || strings.HasSuffix(ops[3], oldLeaf.SerialNumber.String()) {
		t.Errorf("CA rotation order: %s", got)
	}

	// Once the old CA has expired it is dropped from the bundle.
	clk.Advance(40 * time.Hour)
	reconcile(t, m)
	if n := len(parseCerts(getSecret(t, c).Data[KeyCACert])); n != 1 {
		t.Errorf("ca.crt holds %d certificates after the old CA expired, want 1", n)
	}
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for _, k := range []string{KeyCACert, KeyCAKey, KeyCert, KeyKey} {
		if _, ok := m[k]; ok {
			ks = append(ks, k)
		}
	}
	return ks
}

func leafSerial(p []byte) string {
	cs := parseCerts(p)
	if len(cs) == 0 {
		return ""
	}
	return cs[0].SerialNumber.String()
}

func TestConcurrentWritersDoNotOverwriteEachOther(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var a, b *Manager
	interfered := false
	hooks := interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			err := c.Get(ctx, key, obj, opts...)
			// a reads the (missing) Secret; b then installs everything before a writes.
			if _, ok := obj.(*corev1.Secret); ok && ctx.Value(ctxKey{}) == "a" && !interfered {
				interfered = true
				if _, berr := b.Reconcile(context.Background()); berr != nil {
					t.Errorf("b: %v", berr)
				}
			}
			return err
		},
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(webhookConfigs()...).WithInterceptorFuncs(hooks).Build()
	a, b = newTestManager(t, c, testOptions(clk)), newTestManager(t, c, testOptions(clk))
	ctxA := context.WithValue(context.Background(), ctxKey{}, "a")
	_, err := a.Reconcile(ctxA)
	if !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
		t.Fatalf("a's write over b's: %v, want a conflict", err)
	}
	written := getSecret(t, c)
	if _, err := a.Reconcile(ctxA); err != nil {
		t.Fatal(err)
	}
	if a.Writes() != 0 || b.Writes() != 2 {
		t.Errorf("writes: a %d, b %d; want a 0 (it found b's certificates valid), b 2", a.Writes(), b.Writes())
	}
	if getSecret(t, c).ResourceVersion != written.ResourceVersion {
		t.Error("a rewrote the Secret b had written")
	}
	if !served(t, a).Equal(served(t, b)) {
		t.Error("the two instances serve different certificates")
	}
}

type ctxKey struct{}

func TestReusesCertControllerSecret(t *testing.T) {
	// A Secret the documented operator's cert-controller wrote: RSA keys in PKCS#1.
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := testOptions(clk)
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "castware-operator-webhooks-ca"},
		NotBefore: clk.Now().Add(-time.Hour), NotAfter: clk.Now().Add(87600 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: opts.DNSNames[0]}, DNSNames: opts.DNSNames,
		IPAddresses: opts.IPAddresses, NotBefore: clk.Now().Add(-time.Hour), NotAfter: clk.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret}, Data: map[string][]byte{
		KeyCACert: pemOf("CERTIFICATE", caDER), KeyCAKey: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(caKey)),
		KeyCert: pemOf("CERTIFICATE", der), KeyKey: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))}}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(append(webhookConfigs(), sec)...).Build()
	m := newTestManager(t, c, opts)
	reconcile(t, m)
	if m.Writes() != 0 {
		t.Errorf("a valid cert-controller Secret was rewritten (%d writes)", m.Writes())
	}
	if served(t, m).SerialNumber.Int64() != 8 {
		t.Error("the existing serving certificate is not served")
	}
	for i, b := range bundles(t, c) {
		if !bytes.Equal(b, sec.Data[KeyCACert]) {
			t.Errorf("webhook %d: the existing CA was not injected", i)
		}
	}
}

func TestServingProblem(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := newCA(now, 1000*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newCA(now, 1000*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"svc.ns.svc", "svc.ns"}
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	good, _ := ca.issue(names, ips, now, 30*time.Hour)
	foreign, _ := other.issue(names, ips, now, 30*time.Hour)
	fewer, _ := ca.issue(names[:1], ips, now, 30*time.Hour)
	noIP, _ := ca.issue(names, nil, now, 30*time.Hour)
	tests := []struct {
		name string
		p    *pair
		at   time.Time
		want string
	}{
		{"valid", good, now, ""},
		{"missing", nil, now, "no serving certificate"},
		{"another CA", foreign, now, "not issued by the current CA"},
		{"missing DNS name", fewer, now, "does not name svc.ns"},
		{"missing IP", noIP, now, "does not name 127.0.0.1"},
		{"due", good, now.Add(20 * time.Hour), "due for renewal"},
		{"not yet valid", good, now.Add(-2 * time.Hour), "not valid yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := servingProblem(tt.p, ca, names, ips, tt.at)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("servingProblem = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIssueNeverOutlivesTheCA(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, _ := newCA(now, 10*time.Hour)
	p, err := ca.issue([]string{"a.b.svc"}, nil, now, 100*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p.leaf.NotAfter.After(ca.cert.NotAfter) {
		t.Errorf("serving certificate expires %v, after its CA (%v)", p.leaf.NotAfter, ca.cert.NotAfter)
	}
}

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := RenewAt(nb, nb.Add(DefaultServingValidity)); got.Sub(nb) != DefaultServingValidity*2/3 {
		t.Errorf("a 1-year certificate renews after %v", got.Sub(nb))
	}
}

func TestParseMaterialIgnoresMismatchedKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, _ := newCA(now, time.Hour)
	other, _ := newCA(now, time.Hour)
	otherKey, _ := encodeKey(other.key)
	m := parseMaterial(map[string][]byte{KeyCACert: encodeCerts([]*x509.Certificate{ca.cert}), KeyCAKey: otherKey})
	if m.ca != nil {
		t.Error("a CA whose key does not match was accepted")
	}
	if len(m.trusted) != 1 {
		t.Errorf("trusted = %d certificates", len(m.trusted))
	}
	if parseMaterial(map[string][]byte{KeyCACert: []byte("garbage")}).ca != nil {
		t.Error("garbage parsed as a CA")
	}
}
