package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
)

// generatedWebhooks reads config/webhook/manifests.yaml: webhook name → (failurePolicy, rules, ...) as generated.
func generatedWebhooks(t *testing.T) map[string]admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, packaging.WebhookManifests))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := packaging.SplitYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]admissionregistrationv1.ValidatingWebhook{}
	for _, o := range objs {
		for _, w := range webhooksOf(t, o) {
			out[w.Name] = w
		}
	}
	return out
}

// webhooksOf returns a configuration's webhooks, mutating ones converted to the validating type (the fields
// compared here are the same).
func webhooksOf(t *testing.T, o *unstructured.Unstructured) []admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	raw, err := yaml.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	switch o.GetKind() {
	case "ValidatingWebhookConfiguration":
		var c admissionregistrationv1.ValidatingWebhookConfiguration
		if err := yaml.UnmarshalStrict(raw, &c); err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		return c.Webhooks
	case "MutatingWebhookConfiguration":
		var c admissionregistrationv1.MutatingWebhookConfiguration
		if err := yaml.UnmarshalStrict(raw, &c); err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		var out []admissionregistrationv1.ValidatingWebhook
		for _, w := range c.Webhooks {
			out = append(out, admissionregistrationv1.ValidatingWebhook{Name: w.Name, ClientConfig: w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy,
				MatchPolicy: w.MatchPolicy, NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector, SideEffects: w.SideEffects,
				TimeoutSeconds: w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions, MatchConditions: w.MatchConditions})
		}
		return out
	}
	t.Fatalf("%s %s is not a webhook configuration", o.GetKind(), o.GetName())
	return nil
}

func deploymentOf(t *testing.T, objs []*unstructured.Unstructured, name string) (appsv1.Deployment, map[string]string, string) {
	t.Helper()
	var d appsv1.Deployment
	toTyped(t, find(t, objs, "Deployment", name), &d)
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return d, env, strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
}

// TestChartWebhooks: the chart's webhook configurations are config/webhook/manifests.yaml with failurePolicy,
// rules and match conditions as generated, plus the chart-defaults condition; names, the Service and the
// namespace come from the release; no caBundle; the operator gets the same names and its port; both
// certificate modes, webhook.url, disabling and fullnameOverride render consistently.
func TestChartWebhooks(t *testing.T) {
	generated := generatedWebhooks(t)
	base := []string{"--set", "apiKeySecret.apiKey=k", "--set", "defaultCluster.provider=eks"}

	t.Run("operator mode", func(t *testing.T) {
		objs := render(t, operatorDir, testRelease, testNamespace, base...)
		_, env, args := deploymentOf(t, objs, testRelease)
		for _, want := range []string{"--enable-webhooks=true", "--webhook-port=9443"} {
			if !strings.Contains(args, want) {
				t.Errorf("operator args %q lack %s", args, want)
			}
		}
		if strings.Contains(args, "--webhook-cert-mode") {
			t.Errorf("operator mode must not set a certificate mode: %q", args)
		}
		wantEnv := map[string]string{"WEBHOOK_SERVICE_NAME": testRelease + "-webhook-service", "CERTS_SECRET": testRelease + "-webhook-certs",
			"WEBHOOK_CERT_SECRET_EXISTS": "true", "MUTATING_WEBHOOK_CONFIGURATION": testRelease + "-mutating-webhook-configuration",
			"VALIDATING_WEBHOOK_CONFIGURATION": testRelease + "-validating-webhook-configuration"}
		for k, v := range wantEnv {
			if env[k] != v {
				t.Errorf("env %s=%q, want %q", k, env[k], v)
			}
		}
		var svc corev1.Service
		toTyped(t, find(t, objs, "Service", env["WEBHOOK_SERVICE_NAME"]), &svc)
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.String() != "webhook" {
			t.Errorf("webhook Service ports %+v", svc.Spec.Ports)
		}
		var sec corev1.Secret
		toTyped(t, find(t, objs, "Secret", env["CERTS_SECRET"]), &sec)
		if len(sec.Data)+len(sec.StringData) != 0 || sec.Annotations["helm.sh/resource-policy"] != "" {
			t.Errorf("the certificate Secret must be created empty and removed by helm uninstall: %+v", sec)
		}
		seen := map[string]bool{}
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			prefix := strings.ToLower(strings.TrimSuffix(kind, "WebhookConfiguration"))
			cfg := find(t, objs, kind, env[strings.ToUpper(prefix)+"_WEBHOOK_CONFIGURATION"])
			if len(cfg.GetAnnotations()) != 0 {
				t.Errorf("%s annotations %v in operator mode", kind, cfg.GetAnnotations())
			}
			for _, w := range webhooksOf(t, cfg) {
				seen[w.Name] = true
				g, ok := generated[w.Name]
				if !ok {
					t.Errorf("webhook %s is not in %s", w.Name, packaging.WebhookManifests)
					continue
				}
				if !reflect.DeepEqual(w.FailurePolicy, g.FailurePolicy) || !reflect.DeepEqual(w.Rules, g.Rules) || !reflect.DeepEqual(w.SideEffects, g.SideEffects) ||
					!reflect.DeepEqual(w.MatchPolicy, g.MatchPolicy) || !reflect.DeepEqual(w.AdmissionReviewVersions, g.AdmissionReviewVersions) {
					t.Errorf("webhook %s differs from the generated one", w.Name)
				}
				n := len(g.MatchConditions)
				if len(w.MatchConditions) != n+1 || !reflect.DeepEqual(w.MatchConditions[:n], g.MatchConditions) ||
					w.MatchConditions[n].Name != packaging.ChartDefaultsCondition ||
					!strings.Contains(w.MatchConditions[n].Expression, "['meta.helm.sh/release-name'] != '"+testRelease+"'") ||
					!strings.Contains(w.MatchConditions[n].Expression, "['meta.helm.sh/release-namespace'] != '"+testNamespace+"'") {
					t.Errorf("webhook %s match conditions %+v", w.Name, w.MatchConditions)
				}
				s := w.ClientConfig.Service
				if s == nil || s.Name != svc.Name || s.Namespace != testNamespace || s.Path == nil || *s.Path != *g.ClientConfig.Service.Path ||
					w.ClientConfig.URL != nil || len(w.ClientConfig.CABundle) != 0 {
					t.Errorf("webhook %s clientConfig %+v", w.Name, w.ClientConfig)
				}
				if w.TimeoutSeconds == nil || *w.TimeoutSeconds > 5 {
					t.Errorf("webhook %s timeoutSeconds %v", w.Name, w.TimeoutSeconds)
				}
				if sel := w.NamespaceSelector; sel == nil || !reflect.DeepEqual(sel.MatchLabels, map[string]string{"kubernetes.io/metadata.name": testNamespace}) {
					t.Errorf("webhook %s namespaceSelector %+v", w.Name, w.NamespaceSelector)
				}
			}
		}
		if len(seen) != len(generated) {
			t.Errorf("rendered webhooks %v, generated %d", seen, len(generated))
		}
	})

	t.Run("disabled", func(t *testing.T) {
		objs := render(t, operatorDir, testRelease, testNamespace, append(base, "--set", "webhook.enabled=false")...)
		d, env, args := deploymentOf(t, objs, testRelease)
		if strings.Contains(args, "webhook") || env["CERTS_SECRET"] != "" {
			t.Errorf("webhooks disabled, yet args %q env %v", args, env)
		}
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			if p.Name == "webhook" {
				t.Error("webhooks disabled, yet a webhook port")
			}
		}
		for _, o := range objs {
			if strings.Contains(o.GetKind(), "Webhook") || strings.Contains(o.GetName(), "webhook") {
				t.Errorf("webhooks disabled, yet %s %s", o.GetKind(), o.GetName())
			}
		}
	})

	t.Run("cert-manager mode", func(t *testing.T) {
		objs := render(t, operatorDir, testRelease, testNamespace, append(base, "--set", "webhook.certMode=certManager",
			"--set", "webhook.extraDNSNames[0]=operator.example.com", "--set", "webhook.env.GKE_REGION=europe-west1")...)
		d, env, args := deploymentOf(t, objs, testRelease)
		cert := find(t, objs, "Certificate", env["CERTS_SECRET"])
		if s, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); s != env["CERTS_SECRET"] {
			t.Errorf("Certificate writes %q, the operator reads %q", s, env["CERTS_SECRET"])
		}
		dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		if fmt.Sprint(dns) != fmt.Sprintf("[%s-webhook-service.%s.svc %s-webhook-service.%s.svc.cluster.local operator.example.com]", testRelease, testNamespace, testRelease, testNamespace) {
			t.Errorf("Certificate dnsNames %v", dns)
		}
		if ref, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name"); ref != testRelease+"-webhook-selfsigned" {
			t.Errorf("issuerRef %q", ref)
		}
		find(t, objs, "Issuer", testRelease+"-webhook-selfsigned")
		var sec corev1.Secret
		toTyped(t, find(t, objs, "Secret", env["CERTS_SECRET"]), &sec)
		if sec.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %q: cert-manager writes kubernetes.io/tls", sec.Type)
		}
		if !strings.Contains(args, "--webhook-cert-mode=external") || !strings.Contains(args, "--webhook-cert-dir=/webhook-certs") {
			t.Errorf("args %q", args)
		}
		mounted := false
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == env["CERTS_SECRET"] {
				for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
					mounted = mounted || (m.Name == v.Name && m.MountPath == "/webhook-certs")
				}
			}
		}
		if !mounted {
			t.Error("the certificate Secret is not mounted at /webhook-certs")
		}
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			for _, o := range ofKind(objs, kind) {
				if a := o.GetAnnotations()["cert-manager.io/inject-ca-from"]; a != testNamespace+"/"+cert.GetName() {
					t.Errorf("%s inject-ca-from %q", kind, a)
				}
			}
		}
		if env["GKE_REGION"] != "europe-west1" {
			t.Errorf("webhook.env (the documented chart's extra env) not rendered: %v", env)
		}
		objs = render(t, operatorDir, testRelease, testNamespace, append(base, "--set", "webhook.certMode=certManager",
			"--set", "webhook.certManager.issuerRef.name=corp-ca", "--set", "webhook.certManager.issuerRef.kind=ClusterIssuer")...)
		if len(ofKind(objs, "Issuer")) != 0 {
			t.Error("a self-signed Issuer although issuerRef is set")
		}
		if k, _, _ := unstructured.NestedString(ofKind(objs, "Certificate")[0].Object, "spec", "issuerRef", "kind"); k != "ClusterIssuer" {
			t.Errorf("issuerRef kind %q", k)
		}
	})

	t.Run("url and fullnameOverride", func(t *testing.T) {
		objs := render(t, operatorDir, testRelease, testNamespace, append(base, "--set", "webhook.url=https://127.0.0.1:9443/", "--set", "fullnameOverride=cwop")...)
		_, env, _ := deploymentOf(t, objs, "cwop")
		if env["CERTS_SECRET"] != "cwop-webhook-certs" || env["VALIDATING_WEBHOOK_CONFIGURATION"] != "cwop-validating-webhook-configuration" {
			t.Errorf("names do not follow fullnameOverride: %v", env)
		}
		for _, w := range webhooksOf(t, find(t, objs, "ValidatingWebhookConfiguration", "cwop-validating-webhook-configuration")) {
			if w.ClientConfig.URL == nil || *w.ClientConfig.URL != "https://127.0.0.1:9443"+*generated[w.Name].ClientConfig.Service.Path || w.ClientConfig.Service != nil {
				t.Errorf("webhook %s clientConfig %+v", w.Name, w.ClientConfig)
			}
		}
	})

	t.Run("schema", func(t *testing.T) {
		for _, c := range []struct{ set, want string }{
			{"webhook.timeoutSeconds=10", "at '/webhook/timeoutSeconds'"},
			{"webhook.certMode=vault", "at '/webhook/certMode'"},
			{"webhook.url=http://insecure", "at '/webhook/url'"},
		} {
			out, err := helm(t, append([]string{"template", "x", operatorDir, "--set", c.set}, base...)...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("--set %s: want the schema to refuse it (%s), got %v:\n%s", c.set, c.want, err, firstLines(out, 5))
			}
		}
	})
}

// TestChartWebhooksGenerator: the generator refuses configurations the chart could not template safely.
func TestChartWebhooksGenerator(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(root, packaging.WebhookManifests))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := packaging.ChartWebhooks(good, "x"); err != nil {
		t.Fatalf("generated manifests refused: %v", err)
	}
	for name, mutate := range map[string]func(string) string{
		"a caBundle": func(s string) string {
			return strings.Replace(s, "clientConfig:\n", "clientConfig:\n    caBundle: Zm9v\n", 1)
		},
		"a timeout above 5s": func(s string) string { return strings.Replace(s, "timeoutSeconds: 5", "timeoutSeconds: 10", 1) },
		"a URL instead of Service": func(s string) string {
			return strings.Replace(s, "clientConfig:\n", "clientConfig:\n    url: https://x\n", 1)
		},
	} {
		if _, err := packaging.ChartWebhooks([]byte(mutate(string(good))), "x"); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}
