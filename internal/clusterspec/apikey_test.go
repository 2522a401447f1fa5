package clusterspec

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/redact"
)

func TestReadAPIKey(t *testing.T) {
	secret := func(data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "key", ResourceVersion: "7"}, Data: data}
	}
	broken := interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return errors.New("connection refused")
	}}
	tests := []struct {
		name    string
		objs    []client.Object
		funcs   interceptor.Funcs
		key     string
		missing string // a *MissingKeyError containing this
		failure string // another error containing this
	}{
		{name: "trimmed key and version", objs: []client.Object{secret(map[string][]byte{"API_KEY": []byte(" clusterspec-test-key\n")})}, key: "clusterspec-test-key"},
		{name: "no Secret", missing: `API-key Secret "key" not found in namespace ns`},
		{name: "no entry", objs: []client.Object{secret(map[string][]byte{"OTHER": []byte("x")})}, missing: `Secret "key" has no API_KEY entry`},
		{name: "blank entry", objs: []client.Object{secret(map[string][]byte{"API_KEY": []byte("  ")})}, missing: "or it is empty"},
		{name: "API unreachable", funcs: broken, failure: "read API-key Secret key: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithObjects(tt.objs...).WithInterceptorFuncs(tt.funcs).Build()
			cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Spec: castwarev1.ClusterSpec{APIKeySecret: "key"}}
			key, version, err := ReadAPIKey(context.Background(), c, cl)
			var missing *MissingKeyError
			switch {
			case tt.key != "":
				if err != nil || key != tt.key || version == "" {
					t.Fatalf("ReadAPIKey = %q, %q, %v; want %q and a version", key, version, err, tt.key)
				}
				if !redact.Contains("x " + tt.key) {
					t.Fatal("the key was not registered for redaction")
				}
			case tt.missing != "":
				if !errors.As(err, &missing) || !strings.Contains(err.Error(), tt.missing) {
					t.Fatalf("error = %v, want a MissingKeyError containing %q", err, tt.missing)
				}
			default:
				if err == nil || errors.As(err, &missing) || !strings.Contains(err.Error(), tt.failure) {
					t.Fatalf("error = %v, want a retryable error containing %q", err, tt.failure)
				}
			}
		})
	}
}
