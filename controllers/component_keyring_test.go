package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

func TestReadKeyring(t *testing.T) {
	t.Parallel()
	secret := func(ns, name, key string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{key: []byte("ring")}}
	}
	verify := &castwarev1.HelmVerifySpec{KeyringSecretRef: castwarev1.KeyringSecretRef{Name: "keys"}}
	tests := []struct {
		name        string
		verify      *castwarev1.HelmVerifySpec
		secret      *corev1.Secret
		wantKeyring string
		wantMsg     string
	}{
		{name: "no verification", secret: secret("ops", "keys", "keyring.gpg")},
		{name: "default key", verify: verify, secret: secret("ops", "keys", "keyring.gpg"), wantKeyring: "ring"},
		{name: "named key", verify: &castwarev1.HelmVerifySpec{KeyringSecretRef: castwarev1.KeyringSecretRef{Name: "keys", Key: "pub.asc"}},
			secret: secret("ops", "keys", "pub.asc"), wantKeyring: "ring"},
		{name: "Secret missing", verify: verify, secret: secret("ops", "other", "keyring.gpg"), wantMsg: `keyring Secret "keys" is not in namespace ops`},
		{name: "Secret in another namespace", verify: verify, secret: secret("elsewhere", "keys", "keyring.gpg"), wantMsg: "is not in namespace ops"},
		{name: "entry missing", verify: verify, secret: secret("ops", "keys", "other"), wantMsg: `has no "keyring.gpg" entry`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			scheme := runtime.NewScheme()
			if err := corev1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.secret).Build()
			r := &ComponentReconciler{APIReader: c}
			w := &work{cluster: &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "castai"},
				Spec: castwarev1.ClusterSpec{HelmVerify: tc.verify}}}
			msg, err := r.readKeyring(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if string(w.keyring) != tc.wantKeyring || (tc.wantMsg == "") != (msg == "") || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("keyring %q, message %q; want %q, %q", w.keyring, msg, tc.wantKeyring, tc.wantMsg)
			}
		})
	}
}
