package clusterspec

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// MissingKeyError says the Cluster's API-key Secret, or its API_KEY entry, does not exist (or is empty):
// something the user must create, not an error to retry.
type MissingKeyError struct{ msg string }

// Error implements error.
func (e *MissingKeyError) Error() string { return e.msg }

// ReadAPIKey reads API_KEY from the Cluster's Secret through reader (which should be uncached), trimmed,
// and the Secret's resourceVersion. From then on the key is scrubbed from every message and log line; it
// never appears in an error. A missing Secret or entry is a *MissingKeyError.
func ReadAPIKey(ctx context.Context, reader client.Reader, cl *castwarev1.Cluster) (key, resourceVersion string, err error) {
	sec := &corev1.Secret{}
	err = reader.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: cl.Spec.APIKeySecret}, sec)
	if apierrors.IsNotFound(err) {
		return "", "", &MissingKeyError{fmt.Sprintf("API-key Secret %q not found in namespace %s (create it with an %s entry)", cl.Spec.APIKeySecret, cl.Namespace, castwarev1.APIKeySecretKey)}
	}
	if err != nil {
		return "", "", fmt.Errorf("read API-key Secret %s: %w", cl.Spec.APIKeySecret, err)
	}
	key = strings.TrimSpace(string(sec.Data[castwarev1.APIKeySecretKey]))
	redact.Add(key)
	if key == "" {
		return "", "", &MissingKeyError{fmt.Sprintf("Secret %q has no %s entry (or it is empty)", cl.Spec.APIKeySecret, castwarev1.APIKeySecretKey)}
	}
	return key, sec.ResourceVersion, nil
}
