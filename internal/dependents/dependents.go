// Package dependents keeps the objects other Cast AI components expect by name — Secret
// castai-cluster-controller with API_KEY — present and in sync with the Cluster's API-key Secret.
//
// cluster-controller given castai.apiKeySecretRef (as the catalog does) no longer renders that Secret,
// yet evictor, workload-autoscaler and spot-handler (without a key of their own) read it by default, and
// Cast AI installs some of them through cluster-controller rather than through this operator. The copy is
// an ordinary Secret: no ownerReference, so it outlives the operator's CRs, and the key never enters
// Helm release values. See docs/dependents.md.
package dependents

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

const (
	// ClusterControllerSecret is the Secret cluster-controller's chart used to render and dependents read.
	ClusterControllerSecret = "castai-cluster-controller"
	// ClusterControllerComponent is the catalog name of cluster-controller.
	ClusterControllerComponent = "cluster-controller"
	// LabelManagedBy marks the objects this package writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value on those objects.
	ManagedByValue = "castware-operator"
	// AnnotationSource names the Secret (in the same namespace) the copy's key comes from.
	AnnotationSource = "castware.cast.ai/api-key-source"
	// AnnotationHelmRelease is set by Helm on every object a release owns.
	AnnotationHelmRelease = "meta.helm.sh/release-name"
)

// Input is everything that decides the dependents' objects.
type Input struct {
	// Namespace is the Cluster's (and the operator's) namespace.
	Namespace string
	// SourceSecret is the Cluster's spec.apiKeySecret.
	SourceSecret string
	// APIKey is the key read from SourceSecret.
	APIKey string
	// Enabled lists the catalog names of the Cluster's enabled Components.
	Enabled []string
}

// Object is one object dependents expect, with whether it must be created when it is missing.
type Object struct {
	// Secret is the desired object.
	Secret *corev1.Secret
	// Create is true when the object must exist; false means only refresh a copy the operator already made.
	Create bool
}

// Desired says which objects must exist with which data. The copy of the key is always described, so an
// existing one follows rotations; it must be created only while cluster-controller is enabled.
func Desired(in Input) []Object {
	if in.APIKey == "" || in.SourceSecret == "" || in.SourceSecret == ClusterControllerSecret {
		return nil
	}
	return []Object{{Secret: keySecret(in), Create: contains(in.Enabled, ClusterControllerComponent)}}
}

func keySecret(in Input) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: ClusterControllerSecret, Namespace: in.Namespace,
			Labels:      map[string]string{LabelManagedBy: ManagedByValue},
			Annotations: map[string]string{AnnotationSource: in.SourceSecret},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{castwarev1.APIKeySecretKey: []byte(in.APIKey)},
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
