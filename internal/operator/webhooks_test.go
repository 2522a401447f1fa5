package operator

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestBindWebhookFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		enabled bool
		check   func(*testing.T, *WebhookOptions)
	}{
		{name: "off by default", enabled: false},
		{name: "enabled by env, names from env", enabled: true,
			env: map[string]string{"ENABLE_WEBHOOKS": "true", "WEBHOOK_PORT": "9555", "CERTS_SECRET": "my-certs", "WEBHOOK_SERVICE_NAME": "my-svc",
				"WEBHOOK_CERT_MODE": "external", "WEBHOOK_EXTRA_DNS_NAMES": "a.example, b.example", "WEBHOOK_CERT_SECRET_EXISTS": "true"},
			check: func(t *testing.T, w *WebhookOptions) {
				if w.Port != 9555 || w.CertSecret != "my-certs" || w.ServiceName != "my-svc" || w.CertMode != CertModeExternal ||
					!slices.Equal(w.DNSNames, []string{"a.example", "b.example"}) || !w.CertSecretExists {
					t.Errorf("options %+v", *w)
				}
			}},
		{name: "flag overrides env", env: map[string]string{"ENABLE_WEBHOOKS": "true"}, args: []string{"--enable-webhooks=false"}, enabled: false},
		{name: "enabled by flag with defaults", args: []string{"--enable-webhooks", "--webhook-mutating-configuration=m"}, enabled: true,
			check: func(t *testing.T, w *WebhookOptions) {
				if w.Port != DefaultWebhookPort || w.CertMode != CertModeOperator || w.MutatingConfiguration != "m" || w.ServiceName != "" || w.CertSecretExists {
					t.Errorf("options %+v", *w)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var o Options
			BindWebhookFlags(fs, func(k string) string { return tt.env[k] }, &o)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if (o.Webhooks != nil) != tt.enabled {
				t.Fatalf("webhooks enabled = %v, want %v", o.Webhooks != nil, tt.enabled)
			}
			if tt.check != nil {
				tt.check(t, o.Webhooks)
			}
		})
	}
}

func TestWebhookNamesDeriveFromTheRelease(t *testing.T) {
	svc, secret, mut, val := WebhookNames("castware-operator")
	if svc != "castware-operator-webhook-service" || secret != "castware-operator-webhook-certs" ||
		mut != "castware-operator-mutating-webhook-configuration" || val != "castware-operator-validating-webhook-configuration" {
		t.Errorf("names %s %s %s %s", svc, secret, mut, val)
	}
}
