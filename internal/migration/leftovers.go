package migration

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// ObjectRef identifies an object.
type ObjectRef struct {
	// APIVersion, Kind, Namespace ("" when cluster-scoped) and Name identify the object.
	APIVersion, Kind, Namespace, Name string
}

// String formats the reference as "<Kind> <namespace>/<name>" or "<Kind> <name>".
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// LiveLegacy is a legacy object that exists, with the release its Helm annotations name ("" when none).
type LiveLegacy struct {
	ObjectRef
	// OwnerRelease and OwnerNamespace come from its meta.helm.sh annotations.
	OwnerRelease, OwnerNamespace string
}

// PlanLeftovers decides what happens to the objects an old installation left outside the release once a
// takeover is ready. An object the release now owns was adopted in place: nothing to do. An object the chart
// replaces (it renders an object of the same kind in the same namespace under another name) is removed.
// Anything else stays and is reported, so nothing the chart does not replace disappears. It is pure.
func PlanLeftovers(legacy []LiveLegacy, rendered []ObjectRef, releaseName, namespace string) (remove, keep []ObjectRef) {
	renders := map[string]bool{}
	for _, r := range rendered {
		renders[r.Kind+"|"+r.Namespace] = true
	}
	for _, l := range legacy {
		if l.OwnerRelease == releaseName && (l.OwnerNamespace == "" || l.OwnerNamespace == namespace) {
			continue // adopted by the takeover
		}
		if l.OwnerRelease == "" && renders[l.Kind+"|"+l.Namespace] {
			remove = append(remove, l.ObjectRef)
			continue
		}
		keep = append(keep, l.ObjectRef)
	}
	return remove, keep
}

// RenderedRefs lists the objects of a manifest, namespaced ones defaulted to namespace.
func RenderedRefs(c client.Client, manifest, namespace string) ([]ObjectRef, error) {
	objs, err := helm.Objects(manifest, "")
	if err != nil {
		return nil, err
	}
	var out []ObjectRef
	for _, o := range objs {
		ns := o.GetNamespace()
		if namespaced, err := c.IsObjectNamespaced(o); err == nil && namespaced && ns == "" {
			ns = namespace
		}
		out = append(out, ObjectRef{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: ns, Name: o.GetName()})
	}
	return out, nil
}

// LiveLegacyObjects reads which of the catalog's legacy objects exist.
func LiveLegacyObjects(ctx context.Context, r client.Reader, objs []catalog.LegacyObject) ([]LiveLegacy, error) {
	var out []LiveLegacy
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.FromAPIVersionAndKind(o.APIVersion, o.Kind))
		err := r.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, u)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s %s/%s: %w", o.Kind, o.Namespace, o.Name, err)
		}
		ann := u.GetAnnotations()
		out = append(out, LiveLegacy{ObjectRef: ObjectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name},
			OwnerRelease: ann[AnnotationReleaseName], OwnerNamespace: ann[AnnotationReleaseNamespace]})
	}
	return out, nil
}

// Delete removes one object; a missing object is not an error.
func (r ObjectRef) Delete(ctx context.Context, c client.Client) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.FromAPIVersionAndKind(r.APIVersion, r.Kind))
	u.SetNamespace(r.Namespace)
	u.SetName(r.Name)
	if err := c.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", r, err)
	}
	return nil
}
