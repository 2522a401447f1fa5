package helm

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReleaseStamp names the Secrets that hold the revisions of release name in namespace, each with its
// resourceVersion, as meta (a metadata informer's reader) lists them. It changes whenever a revision is
// written or deleted, so a caller can keep what it read from the release until the stamp changes.
func ReleaseStamp(ctx context.Context, meta client.Reader, namespace, name string) (string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := meta.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{"owner": "helm", "name": name}); err != nil {
		return "", fmt.Errorf("list the revisions of release %s: %w", name, err)
	}
	parts := make([]string, 0, len(list.Items))
	for _, s := range list.Items {
		parts = append(parts, s.Name+"@"+s.ResourceVersion)
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), nil
}
