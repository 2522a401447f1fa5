package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// DefaultCheckInterval bounds how long the leader goes without re-checking the Secret and the webhook
// configurations when no watch event wakes it (renewals themselves are scheduled exactly).
const DefaultCheckInterval = 10 * time.Minute

// Options configure a Manager.
type Options struct {
	// Namespace and SecretName locate the certificate Secret (required).
	Namespace, SecretName string
	// DNSNames are the serving certificate's DNS names, the first one its subject (required; ServiceDNSNames
	// gives a Service's).
	DNSNames []string
	// IPAddresses are extra IP addresses the serving certificate names (a webhook server reached by IP).
	IPAddresses []net.IP
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations name the configurations the CA bundle
	// is injected into; a configuration that does not exist (yet) is skipped until it appears.
	MutatingWebhookConfigurations, ValidatingWebhookConfigurations []string
	// CAValidity is how long a generated CA is valid (default 10 years).
	CAValidity time.Duration
	// ServingValidity is how long a serving certificate is valid (default 1 year).
	ServingValidity time.Duration
	// CheckInterval is the longest pause between two checks by the leader (default 10 minutes).
	CheckInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SecretPrecreated means someone else creates the Secret (the operator chart, as a release resource): it is
	// never created here, only updated. A missing Secret is waited for, so a stopping operator cannot re-create
	// one `helm uninstall` has just deleted.
	SecretPrecreated bool
}

// ServiceDNSNames returns the names a Service is reached by from inside the cluster; the API server uses the
// first one (<service>.<namespace>.svc) to call a webhook.
func ServiceDNSNames(service, namespace string) []string {
	return []string{service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local", service + "." + namespace, service}
}

// Manager keeps the webhook serving certificate: every replica serves what the Secret holds (Start), the
// leader writes and rotates it and injects the CA bundle (Rotator).
type Manager struct {
	opts      Options
	client    client.Client
	clientset kubernetes.Interface
	current   atomic.Pointer[tls.Certificate]
	wake      chan struct{}
	writes    atomic.Int64
	log       logr.Logger
}

// New returns a Manager talking to the API server at cfg.
func New(cfg *rest.Config, opts Options) (*Manager, error) {
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return nil, fmt.Errorf("certificate manager client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("certificate manager clientset: %w", err)
	}
	return newManager(c, cs, opts)
}

func newManager(c client.Client, cs kubernetes.Interface, opts Options) (*Manager, error) {
	if opts.Namespace == "" || opts.SecretName == "" || len(opts.DNSNames) == 0 {
		return nil, errors.New("certificate manager: Namespace, SecretName and DNSNames are required")
	}
	if opts.CAValidity <= 0 {
		opts.CAValidity = DefaultCAValidity
	}
	if opts.ServingValidity <= 0 {
		opts.ServingValidity = DefaultServingValidity
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{opts: opts, client: c, clientset: cs, wake: make(chan struct{}, 1),
		log: log.Log.WithName("webhook-certs").WithValues("secret", opts.Namespace+"/"+opts.SecretName)}, nil
}

// GetCertificate returns the serving certificate the Secret holds (for tls.Config.GetCertificate): a new
// pair is served from the next handshake on, without a restart.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := m.current.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no webhook serving certificate yet: Secret %s/%s holds none", m.opts.Namespace, m.opts.SecretName)
}

// Checker is a readiness check: ready while a serving certificate that has not expired is loaded.
func (m *Manager) Checker(*http.Request) error {
	c := m.current.Load()
	if c == nil {
		return errors.New("no webhook serving certificate loaded yet")
	}
	if c.Leaf != nil && !m.opts.Now().Before(c.Leaf.NotAfter) {
		return errors.New("the webhook serving certificate has expired")
	}
	return nil
}

// Writes returns how many times this instance wrote the certificate Secret.
func (m *Manager) Writes() int64 { return m.writes.Load() }

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (m *Manager) NeedLeaderElection() bool { return false }

// Start watches the certificate Secret and serves the pair it holds until ctx ends. Every replica runs it.
func (m *Manager) Start(ctx context.Context) error {
	sel := fields.OneTermEqualSelector("metadata.name", m.opts.SecretName).String()
	lw := toolscache.NewFilteredListWatchFromClient(m.clientset.CoreV1().RESTClient(), "secrets", m.opts.Namespace,
		func(o *metav1.ListOptions) { o.FieldSelector = sel })
	_, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { m.observed(obj) },
			UpdateFunc: func(_, obj any) { m.observed(obj) },
			DeleteFunc: func(any) { m.poke() },
		},
	})
	informer.RunWithContext(ctx)
	return nil
}

func (m *Manager) observed(obj any) {
	if s, ok := obj.(*corev1.Secret); ok {
		m.load(s.Data)
	}
	m.poke()
}

// poke wakes the rotator (when this replica runs it).
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// load serves the pair in Secret data, keeping the current one when the data holds no usable pair.
func (m *Manager) load(data map[string][]byte) {
	crt, key := data[KeyCert], data[KeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return
	}
	if cur := m.current.Load(); cur != nil && cur.Leaf != nil {
		if cs := parseCerts(crt); len(cs) > 0 && cs[0].Equal(cur.Leaf) {
			return // already serving it
		}
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		m.log.Error(err, "the certificate Secret holds an unusable serving pair; still serving the previous one")
		return
	}
	m.current.Store(&pair)
	m.log.Info("serving webhook certificate", "serial", pair.Leaf.SerialNumber.String(), "notAfter", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// Rotator returns the runnable that creates, renews and distributes the certificates; the manager runs it on
// the leader only, so one replica writes while all serve.
func (m *Manager) Rotator() manager.Runnable { return rotator{m} }

type rotator struct{ m *Manager }

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (rotator) NeedLeaderElection() bool { return true }

// Start runs the rotation loop until ctx ends.
func (r rotator) Start(ctx context.Context) error {
	m := r.m
	for _, name := range m.opts.MutatingWebhookConfigurations {
		go m.watchConfiguration(ctx, "mutatingwebhookconfigurations", name, &admissionregistrationv1.MutatingWebhookConfiguration{})
	}
	for _, name := range m.opts.ValidatingWebhookConfigurations {
		go m.watchConfiguration(ctx, "validatingwebhookconfigurations", name, &admissionregistrationv1.ValidatingWebhookConfiguration{})
	}
	var backoff time.Duration
	for {
		next, err := m.Reconcile(ctx)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			backoff = min(max(2*backoff, 200*time.Millisecond), m.opts.CheckInterval)
			wait = backoff
			m.log.Error(err, "webhook certificates not reconciled; retrying", "in", wait.String())
		} else {
			backoff = 0
			wait = max(next.Sub(m.opts.Now()), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// watchConfiguration wakes the rotator whenever the named webhook configuration appears or changes (a chart
// install or upgrade may create or replace it after the operator started).
func (m *Manager) watchConfiguration(ctx context.Context, resource, name string, obj runtime.Object) {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := toolscache.NewFilteredListWatchFromClient(m.clientset.AdmissionregistrationV1().RESTClient(), resource, "",
		func(o *metav1.ListOptions) { o.FieldSelector = sel })
	_, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    obj,
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { m.poke() },
			UpdateFunc: func(any, any) { m.poke() },
		},
	})
	informer.RunWithContext(ctx)
}

// Reconcile brings the Secret and the webhook configurations up to date and returns when to look again.
// The order makes a rotation safe: a new CA is first written and added to every configuration's caBundle
// next to the previous CA, and only then is a serving certificate it signed written (and served). Writes carry
// the resourceVersion read, so two writers never overwrite each other: the loser re-reads and finds the
// winner's certificates valid.
func (m *Manager) Reconcile(ctx context.Context) (time.Time, error) {
	now := m.opts.Now()
	key := client.ObjectKey{Namespace: m.opts.Namespace, Name: m.opts.SecretName}
	sec := &corev1.Secret{}
	exists := true
	if err := m.client.Get(ctx, key, sec); apierrors.IsNotFound(err) {
		if m.opts.SecretPrecreated {
			m.log.Info("waiting for the certificate Secret to be created (it is pre-created by the chart)")
			return now.Add(m.opts.CheckInterval), nil // its creation wakes the rotator
		}
		exists = false
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "castware-operator"}}, Type: corev1.SecretTypeOpaque}
	} else if err != nil {
		return now, fmt.Errorf("read Secret %s: %w", key, err)
	}
	mat := parseMaterial(sec.Data)
	data := maps.Clone(sec.Data)
	if data == nil {
		data = map[string][]byte{}
	}

	ca := mat.ca
	if !usableCA(ca, now) {
		why := "no CA"
		if ca != nil {
			why = "the CA is due for renewal"
		}
		var err error
		if ca, err = newCA(now, m.opts.CAValidity); err != nil {
			return now, err
		}
		if data[KeyCAKey], err = encodeKey(ca.key); err != nil {
			return now, err
		}
		m.log.Info("generated a webhook CA", "reason", why, "serial", ca.cert.SerialNumber.String(), "notAfter", ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	trusted := trustedBundle(ca, mat.trusted, now)
	bundle := encodeCerts(trusted)
	data[KeyCACert] = bundle
	if !bytes.Equal(data[KeyCACert], sec.Data[KeyCACert]) || !bytes.Equal(data[KeyCAKey], sec.Data[KeyCAKey]) {
		if err := m.write(ctx, sec, data, exists); err != nil {
			return now, err
		}
		exists = true
	}

	if err := m.inject(ctx, bundle); err != nil {
		return now, err
	}

	serving := mat.serving
	if why := servingProblem(serving, ca, m.opts.DNSNames, m.opts.IPAddresses, now); why != "" {
		p, err := ca.issue(m.opts.DNSNames, m.opts.IPAddresses, now, m.opts.ServingValidity)
		if err != nil {
			return now, err
		}
		data = maps.Clone(sec.Data)
		data[KeyCert], data[KeyKey] = p.certPEM, p.keyPEM
		if err := m.write(ctx, sec, data, exists); err != nil {
			return now, err
		}
		serving = p
		m.log.Info("issued a webhook serving certificate", "reason", why, "serial", p.leaf.SerialNumber.String(),
			"notAfter", p.leaf.NotAfter.UTC().Format(time.RFC3339), "dnsNames", p.leaf.DNSNames)
	}
	m.load(sec.Data)

	next := now.Add(m.opts.CheckInterval)
	for _, t := range []time.Time{RenewAt(ca.cert.NotBefore, ca.cert.NotAfter), RenewAt(serving.leaf.NotBefore, serving.leaf.NotAfter)} {
		if t.Before(next) {
			next = t
		}
	}
	for _, c := range trusted[1:] {
		if c.NotAfter.Before(next) {
			next = c.NotAfter // drop it from the bundle once it expired
		}
	}
	return next, nil
}

// write stores data in the Secret: a Create when it does not exist, else an Update carrying the
// resourceVersion read (a concurrent writer makes it fail with a conflict instead of being overwritten).
func (m *Manager) write(ctx context.Context, sec *corev1.Secret, data map[string][]byte, exists bool) error {
	sec.Data = data
	var err error
	if exists {
		err = m.client.Update(ctx, sec)
	} else {
		err = m.client.Create(ctx, sec)
	}
	if err != nil {
		return fmt.Errorf("write Secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	m.writes.Add(1)
	return nil
}

// inject sets caBundle on every webhook of the configured webhook configurations.
func (m *Manager) inject(ctx context.Context, bundle []byte) error {
	for _, name := range m.opts.MutatingWebhookConfigurations {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := m.client.Get(ctx, client.ObjectKey{Name: name}, cfg); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read MutatingWebhookConfiguration %s: %w", name, err)
		}
		changed := false
		for i := range cfg.Webhooks {
			if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
				cfg.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
			}
		}
		if changed {
			if err := m.client.Update(ctx, cfg); err != nil {
				return fmt.Errorf("inject the CA bundle into MutatingWebhookConfiguration %s: %w", name, err)
			}
			m.log.Info("injected the CA bundle", "mutatingWebhookConfiguration", name)
		}
	}
	for _, name := range m.opts.ValidatingWebhookConfigurations {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := m.client.Get(ctx, client.ObjectKey{Name: name}, cfg); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read ValidatingWebhookConfiguration %s: %w", name, err)
		}
		changed := false
		for i := range cfg.Webhooks {
			if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
				cfg.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
			}
		}
		if changed {
			if err := m.client.Update(ctx, cfg); err != nil {
				return fmt.Errorf("inject the CA bundle into ValidatingWebhookConfiguration %s: %w", name, err)
			}
			m.log.Info("injected the CA bundle", "validatingWebhookConfiguration", name)
		}
	}
	return nil
}
