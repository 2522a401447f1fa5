package dependents

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Sync creates or updates each desired object. It never touches an object a Helm release owns (the chart
// renders it), never creates one that is not required, and adopts an unmanaged one only when required.
// Errors never contain the key.
func Sync(ctx context.Context, reader client.Reader, writer client.Client, objs []Object) error {
	for _, o := range objs {
		if err := syncSecret(ctx, reader, writer, o); err != nil {
			return fmt.Errorf("keep Secret %s/%s: %w", o.Secret.Namespace, o.Secret.Name, err)
		}
	}
	return nil
}

func syncSecret(ctx context.Context, reader client.Reader, writer client.Client, o Object) error {
	cur := &corev1.Secret{}
	err := reader.Get(ctx, client.ObjectKeyFromObject(o.Secret), cur)
	if apierrors.IsNotFound(err) {
		if !o.Create {
			return nil
		}
		log.FromContext(ctx).Info("creating Secret dependents expect", "secret", o.Secret.Name, "source", o.Secret.Annotations[AnnotationSource])
		return writer.Create(ctx, o.Secret.DeepCopy())
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !mayWrite(cur, o.Create) || inSync(cur, o.Secret) {
		return nil
	}
	log.FromContext(ctx).Info("updating Secret dependents expect", "secret", o.Secret.Name, "source", o.Secret.Annotations[AnnotationSource])
	return writer.Update(ctx, merged(cur, o.Secret))
}

// mayWrite: never a Helm release's object; the operator's own always; anyone else's only when required.
func mayWrite(cur *corev1.Secret, required bool) bool {
	if cur.Annotations[AnnotationHelmRelease] != "" {
		return false
	}
	return cur.Labels[LabelManagedBy] == ManagedByValue || required
}

// inSync reports whether cur already has want's data, labels and annotations.
func inSync(cur, want *corev1.Secret) bool {
	for k, v := range want.Data {
		if !bytes.Equal(cur.Data[k], v) {
			return false
		}
	}
	return subset(want.Labels, cur.Labels) && subset(want.Annotations, cur.Annotations)
}

// merged is cur with want's data, labels and annotations laid over it (other entries kept).
func merged(cur, want *corev1.Secret) *corev1.Secret {
	out := cur.DeepCopy()
	out.Data = overlay(out.Data, want.Data)
	out.Labels = overlay(out.Labels, want.Labels)
	out.Annotations = overlay(out.Annotations, want.Annotations)
	return out
}

func overlay[V any](dst, src map[string]V) map[string]V {
	if dst == nil {
		dst = map[string]V{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
