package testharness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// WebhookOptions install webhook configurations (envtest's WebhookInstallOptions) that send the API server's
// admission calls to a server the test runs on 127.0.0.1.
type WebhookOptions struct {
	// Paths are files or directories holding the configurations (default config/webhook, the generated ones).
	Paths []string
	// Namespace limits every webhook to objects in this namespace and suffixes the configuration names with
	// it, so tests sharing one control plane never see each other's webhooks (required).
	Namespace string
}

// Webhooks are installed webhook configurations.
type Webhooks struct {
	// Host and Port are where the API server calls the webhooks: the test's server must listen there.
	Host string
	// Port is the local port the configurations point at.
	Port int
	// CertDir holds a serving certificate (tls.crt, tls.key) for Host that the configurations trust (CAData).
	CertDir string
	// CAData is the CA the configurations' caBundle holds as installed.
	CAData []byte
	// Mutating and Validating are the installed configuration names.
	Mutating, Validating []string

	env     *Env
	install *envtest.WebhookInstallOptions
}

// InstallWebhooks installs the webhook configurations for one test, pointed at https://127.0.0.1:<free port>,
// and waits until they exist. Call Uninstall when done.
func (e *Env) InstallWebhooks(o WebhookOptions) (*Webhooks, error) {
	if o.Namespace == "" {
		return nil, errors.New("InstallWebhooks: Namespace is required")
	}
	paths := o.Paths
	if len(paths) == 0 {
		paths = []string{filepath.Join(RepoRoot(), "config", "webhook")}
	}
	inst := &envtest.WebhookInstallOptions{Paths: paths, LocalServingHost: "127.0.0.1"}
	if err := inst.PrepWithoutInstalling(); err != nil {
		return nil, fmt.Errorf("prepare webhooks: %w", err)
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": o.Namespace}}
	w := &Webhooks{Host: inst.LocalServingHost, Port: inst.LocalServingPort, CertDir: inst.LocalServingCertDir, CAData: inst.LocalServingCAData,
		env: e, install: inst}
	for _, c := range inst.MutatingWebhooks {
		c.Name += "-" + o.Namespace
		for i := range c.Webhooks {
			c.Webhooks[i].NamespaceSelector = sel
		}
		w.Mutating = append(w.Mutating, c.Name)
	}
	for _, c := range inst.ValidatingWebhooks {
		c.Name += "-" + o.Namespace
		for i := range c.Webhooks {
			c.Webhooks[i].NamespaceSelector = sel
		}
		w.Validating = append(w.Validating, c.Name)
	}
	if len(w.Mutating)+len(w.Validating) == 0 {
		_ = inst.Cleanup()
		return nil, fmt.Errorf("no webhook configurations in %v", paths)
	}
	if err := inst.Install(e.Config); err != nil {
		_ = inst.Cleanup()
		return nil, fmt.Errorf("install webhooks: %w", err)
	}
	return w, nil
}

// Uninstall deletes the configurations and envtest's certificate directory.
func (w *Webhooks) Uninstall(ctx context.Context) error {
	var errs []error
	for _, n := range w.Mutating {
		obj := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: n}}
		if err := w.env.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, n := range w.Validating {
		obj := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: n}}
		if err := w.env.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, w.install.Cleanup())...)
}
