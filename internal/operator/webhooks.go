package operator

import (
	"cmp"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/certs"
	"github.com/castware-operator/castware-operator/internal/webhook"
)

// Webhook certificate modes.
const (
	// CertModeOperator: the operator generates, stores, rotates and injects its own certificates (no cert-manager).
	CertModeOperator = "operator"
	// CertModeExternal: certificates come from elsewhere (cert-manager, OLM) as tls.crt and tls.key in CertDir,
	// reloaded when they change; the operator writes no Secret and injects no caBundle.
	CertModeExternal = "external"
)

// DefaultWebhookPort is the port the webhook server listens on.
const DefaultWebhookPort = 9443

// WebhookOptions configure the admission webhook server. Names left empty derive from the operator's Helm
// release (CastAI.OperatorRelease, else $HELM_RELEASE_NAME, else castware-operator), as the chart names them.
type WebhookOptions struct {
	// Host and Port the server listens on (default: every address, port 9443).
	Host string
	// Port is the listening port (default 9443).
	Port int
	// CertMode is CertModeOperator (the default) or CertModeExternal.
	CertMode string
	// CertDir holds tls.crt and tls.key in external mode (default: controller-runtime's, which OLM uses).
	CertDir string
	// Namespace holds the certificate Secret and the webhook Service (default: the managed namespace).
	Namespace string
	// ServiceName is the webhook Service; the serving certificate names it (default <release>-webhook-service).
	ServiceName string
	// CertSecret is the Secret the certificates are kept in (default <release>-webhook-certs).
	CertSecret string
	// CertSecretExists means CertSecret is pre-created (the operator chart): it is updated, never created.
	CertSecretExists bool
	// MutatingConfiguration and ValidatingConfiguration receive the CA bundle
	// (default <release>-mutating-webhook-configuration and <release>-validating-webhook-configuration).
	MutatingConfiguration, ValidatingConfiguration string
	// DNSNames and IPAddresses are extra names the serving certificate carries.
	DNSNames []string
	// IPAddresses are extra IP addresses the serving certificate carries (a server reached by IP, as in tests).
	IPAddresses []net.IP
	// CAValidity, ServingValidity and CheckInterval tune rotation (defaults in internal/certs).
	CAValidity, ServingValidity, CheckInterval time.Duration
	// ExtendedPermissions answers whether the operator holds Phase 2 permissions in a namespace, from memory
	// (default: the operator's Phase 2 detector; with permission checks disabled, status.extendedPermissions of
	// the namespace's Clusters, read from the informer cache).
	ExtendedPermissions webhook.PermissionCheck
}

// WebhookNames returns the names the operator chart gives the webhook objects of release.
func WebhookNames(release string) (service, secret, mutating, validating string) {
	return release + "-webhook-service", release + "-webhook-certs", release + "-mutating-webhook-configuration", release + "-validating-webhook-configuration"
}

// connectWebhooks adds the webhook server (every replica serves) and, in operator mode, the certificate
// manager (every replica loads the Secret; the leader writes it and injects the CA bundle).
func (op *Operator) connectWebhooks(opts Options) error {
	mgr := op.Manager
	w := *opts.Webhooks
	release, _ := operatorRelease(opts)
	service, secret, mutating, validating := WebhookNames(release)
	w.ServiceName = cmp.Or(w.ServiceName, service)
	w.CertSecret = cmp.Or(w.CertSecret, secret)
	w.MutatingConfiguration = cmp.Or(w.MutatingConfiguration, mutating)
	w.ValidatingConfiguration = cmp.Or(w.ValidatingConfiguration, validating)
	w.Namespace = cmp.Or(w.Namespace, opts.Namespace)
	if w.Port == 0 {
		w.Port = DefaultWebhookPort
	}
	// HTTP/2 is off: the API server speaks HTTP/1.1 to webhooks, and this avoids the HTTP/2 stream-reset attacks.
	srvOpts := ctrlwebhook.Options{Host: w.Host, Port: w.Port, CertDir: w.CertDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}}
	switch cmp.Or(w.CertMode, CertModeOperator) {
	case CertModeOperator:
		cm, err := certs.New(mgr.GetConfig(), certs.Options{
			Namespace: w.Namespace, SecretName: w.CertSecret,
			DNSNames:                      append(certs.ServiceDNSNames(w.ServiceName, w.Namespace), w.DNSNames...),
			IPAddresses:                   w.IPAddresses,
			MutatingWebhookConfigurations: []string{w.MutatingConfiguration}, ValidatingWebhookConfigurations: []string{w.ValidatingConfiguration},
			CAValidity: w.CAValidity, ServingValidity: w.ServingValidity, CheckInterval: w.CheckInterval,
			SecretPrecreated: w.CertSecretExists,
		})
		if err != nil {
			return err
		}
		srvOpts.TLSOpts = append(srvOpts.TLSOpts, func(c *tls.Config) { c.GetCertificate = cm.GetCertificate })
		if err := mgr.Add(cm); err != nil {
			return err
		}
		if err := mgr.Add(cm.Rotator()); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook-certificate", cm.Checker); err != nil {
			return err
		}
		op.WebhookCerts = cm
	case CertModeExternal:
		// The files may be empty at first (cert-manager fills a pre-mounted Secret): serve them once they hold a
		// pair, ready only then, reloaded when they change.
		dir := w.CertDir
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs") // controller-runtime's default, which OLM uses
		}
		fs := certs.NewFileSource(dir, 0)
		srvOpts.TLSOpts = append(srvOpts.TLSOpts, func(c *tls.Config) { c.GetCertificate = fs.GetCertificate })
		if err := mgr.Add(fs); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook-certificate", fs.Checker); err != nil {
			return err
		}
	default:
		return fmt.Errorf("webhook certificate mode %q: want %s or %s", w.CertMode, CertModeOperator, CertModeExternal)
	}
	srv := ctrlwebhook.NewServer(srvOpts)
	perms := w.ExtendedPermissions
	switch {
	case perms != nil:
	case op.PermissionDetector != nil:
		// From memory, as a webhook must: the detector's result, and until its first detection what the Clusters'
		// status says (kept by the detector in an earlier run).
		det, fromStatus := op.PermissionDetector, clusterStatusPermissions(mgr.GetCache())
		perms = func(ctx context.Context, namespace string) bool {
			if st, ok := det.Known(); ok {
				return st.Extended
			}
			return fromStatus(ctx, namespace)
		}
	default:
		perms = clusterStatusPermissions(mgr.GetCache())
	}
	webhook.Register(srv, mgr.GetScheme(), webhook.Config{Catalog: opts.Catalog, ExtendedPermissions: perms, Clusters: mgr.GetCache(),
		Components: mgr.GetCache(), OwnRelease: opts.ownRelease()})
	if err := mgr.Add(srv); err != nil {
		return err
	}
	op.Webhooks = srv
	return mgr.AddReadyzCheck("webhook", srv.StartedChecker())
}

// clusterStatusPermissions reads status.extendedPermissions of the namespace's Clusters from the cache. When
// the cache cannot answer, it claims the permissions (no warning rather than a wrong one).
func clusterStatusPermissions(r client.Reader) webhook.PermissionCheck {
	return func(ctx context.Context, namespace string) bool {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		list := &castwarev1.ClusterList{}
		if err := r.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return true
		}
		for _, cl := range list.Items {
			if cl.Status.ExtendedPermissions {
				return true
			}
		}
		return false
	}
}

// BindWebhookFlags registers the webhook flags on fs, with defaults from the environment (the chart sets
// either), and points o.Webhooks at the options while the webhooks are enabled (--enable-webhooks or
// ENABLE_WEBHOOKS=true; off by default, so running the binary against a cluster without the webhook
// configurations changes nothing).
func BindWebhookFlags(fs *flag.FlagSet, getenv func(string) string, o *Options) {
	w := &WebhookOptions{}
	if on, _ := strconv.ParseBool(getenv("ENABLE_WEBHOOKS")); on {
		o.Webhooks = w
	}
	fs.BoolFunc("enable-webhooks", "serve the admission webhooks for Clusters and Components (env ENABLE_WEBHOOKS)", func(v string) error {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		o.Webhooks = nil
		if on {
			o.Webhooks = w
		}
		return nil
	})
	port := DefaultWebhookPort
	if p, err := strconv.Atoi(getenv("WEBHOOK_PORT")); err == nil && p > 0 {
		port = p
	}
	fs.IntVar(&w.Port, "webhook-port", port, "port the webhook server listens on (env WEBHOOK_PORT)")
	fs.StringVar(&w.Host, "webhook-host", "", "address the webhook server listens on (default: every address)")
	fs.StringVar(&w.CertMode, "webhook-cert-mode", cmp.Or(getenv("WEBHOOK_CERT_MODE"), CertModeOperator),
		"operator: generate, rotate and inject the webhook certificates; external: serve tls.crt/tls.key from --webhook-cert-dir (cert-manager, OLM) (env WEBHOOK_CERT_MODE)")
	fs.StringVar(&w.CertDir, "webhook-cert-dir", getenv("WEBHOOK_CERT_DIR"), "directory holding tls.crt and tls.key in external mode (env WEBHOOK_CERT_DIR; default controller-runtime's)")
	fs.StringVar(&w.CertSecret, "webhook-cert-secret", getenv("CERTS_SECRET"), "Secret the operator keeps the webhook certificates in (env CERTS_SECRET; default <release>-webhook-certs)")
	precreated, _ := strconv.ParseBool(getenv("WEBHOOK_CERT_SECRET_EXISTS"))
	fs.BoolVar(&w.CertSecretExists, "webhook-cert-secret-exists", precreated,
		"the certificate Secret is pre-created (the chart): update it, never create it (env WEBHOOK_CERT_SECRET_EXISTS)")
	fs.StringVar(&w.ServiceName, "webhook-service", getenv("WEBHOOK_SERVICE_NAME"), "Service the API server calls the webhooks through (env WEBHOOK_SERVICE_NAME; default <release>-webhook-service)")
	fs.StringVar(&w.MutatingConfiguration, "webhook-mutating-configuration", getenv("MUTATING_WEBHOOK_CONFIGURATION"),
		"MutatingWebhookConfiguration to inject the CA bundle into (env MUTATING_WEBHOOK_CONFIGURATION; default <release>-mutating-webhook-configuration)")
	fs.StringVar(&w.ValidatingConfiguration, "webhook-validating-configuration", getenv("VALIDATING_WEBHOOK_CONFIGURATION"),
		"ValidatingWebhookConfiguration to inject the CA bundle into (env VALIDATING_WEBHOOK_CONFIGURATION; default <release>-validating-webhook-configuration)")
	fs.Func("webhook-extra-dns-names", "comma-separated extra DNS names for the serving certificate (env WEBHOOK_EXTRA_DNS_NAMES)", func(v string) error {
		w.DNSNames = splitList(v)
		return nil
	})
	w.DNSNames = splitList(getenv("WEBHOOK_EXTRA_DNS_NAMES"))
	fs.DurationVar(&w.ServingValidity, "webhook-cert-validity", certs.DefaultServingValidity, "validity of a generated serving certificate; it is renewed after two thirds")
	fs.DurationVar(&w.CAValidity, "webhook-ca-validity", certs.DefaultCAValidity, "validity of a generated webhook CA; it is renewed after two thirds")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
