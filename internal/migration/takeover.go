package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/helm"
)

// Conflict is one reason a takeover cannot proceed.
type Conflict struct {
	// Object is "<Kind> <namespace>/<name>" (or "<Kind> <name>" when cluster-scoped).
	Object string
	// Reason says what is wrong, in the API server's words where it answered.
	Reason string
}

// String formats the conflict for conditions.
func (c Conflict) String() string { return c.Object + ": " + c.Reason }

// Conflicts formats a list of conflicts for a condition message.
func Conflicts(cs []Conflict) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, "; ")
}

// Takeover checks, against the API server and without changing anything, what installing a rendered
// manifest with Helm's take-ownership would do to the objects already there.
type Takeover struct {
	// Reader reads live objects (uncached).
	Reader client.Reader
	// Writer sends the dry-run requests (the manager's client: writes go straight to the API server).
	Writer client.Client
}

// Check sends, for every object of manifest, exactly the request Helm's take-ownership install would send
// (a create for a missing object; for an existing one the three-way patch from the rendered object to the
// live one, which sets what the chart renders and removes nothing) as a server-side dry run. Objects that
// belong to another Helm release and Namespaces that would be taken over are conflicts too.
func (t Takeover) Check(ctx context.Context, manifest, releaseName, namespace string) ([]Conflict, error) {
	objs, err := helm.Objects(manifest, "")
	if err != nil {
		return nil, fmt.Errorf("parse rendered manifest: %w", err)
	}
	var conflicts []Conflict
	for _, o := range objs {
		namespaced, err := t.Writer.IsObjectNamespaced(o)
		if err != nil {
			conflicts = append(conflicts, Conflict{Object: objectRef(o), Reason: fmt.Sprintf("unknown kind: %v", err)})
			continue
		}
		if namespaced && o.GetNamespace() == "" {
			o.SetNamespace(namespace)
		}
		if !namespaced {
			o.SetNamespace("")
		}
		markOwned(o, releaseName, namespace)
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		err = t.Reader.Get(ctx, client.ObjectKeyFromObject(o), live)
		if apierrors.IsNotFound(err) {
			if err := t.Writer.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
				conflicts = append(conflicts, Conflict{Object: objectRef(o), Reason: "cannot be created: " + apiMessage(err)})
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", objectRef(o), err)
		}
		if c := ownershipConflict(o, live, releaseName, namespace); c != "" {
			conflicts = append(conflicts, Conflict{Object: objectRef(o), Reason: c})
			continue
		}
		patch, patchType, err := takeoverPatch(o, live)
		if err != nil {
			conflicts = append(conflicts, Conflict{Object: objectRef(o), Reason: "cannot compute the takeover patch: " + err.Error()})
			continue
		}
		if string(patch) == "{}" {
			continue
		}
		if err := t.Writer.Patch(ctx, live.DeepCopy(), client.RawPatch(patchType, patch), client.DryRunAll); err != nil {
			conflicts = append(conflicts, Conflict{Object: objectRef(o), Reason: "cannot be taken over: " + apiMessage(err)})
		}
	}
	sort.SliceStable(conflicts, func(i, j int) bool { return conflicts[i].Object < conflicts[j].Object })
	return conflicts, nil
}

// ownershipConflict says why an existing object must not be taken over ("" when it may).
func ownershipConflict(rendered, live *unstructured.Unstructured, releaseName, namespace string) string {
	if rendered.GetKind() == "Namespace" && rendered.GetAPIVersion() == "v1" {
		return "the chart renders this namespace, which exists already: taking it over would let an uninstall delete it " +
			"(set createNamespace: false in spec.values)"
	}
	ann := live.GetAnnotations()
	owner, ownerNS := ann[AnnotationReleaseName], ann[AnnotationReleaseNamespace]
	if owner != "" && (owner != releaseName || (ownerNS != "" && ownerNS != namespace)) {
		return fmt.Sprintf("it belongs to Helm release %s in namespace %s", owner, ownerNS)
	}
	return ""
}

// markOwned adds the metadata Helm sets on every object of a release.
func markOwned(o *unstructured.Unstructured, releaseName, namespace string) {
	l := o.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l["app.kubernetes.io/managed-by"] = "Helm"
	o.SetLabels(l)
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationReleaseName], a[AnnotationReleaseNamespace] = releaseName, namespace
	o.SetAnnotations(a)
}

// takeoverPatch is the patch Helm's take-ownership install sends for an existing object: a three-way merge
// whose original and target are both the rendered object, so it sets the rendered fields and deletes nothing.
func takeoverPatch(rendered, live *unstructured.Unstructured) ([]byte, types.PatchType, error) {
	target, err := json.Marshal(rendered.Object)
	if err != nil {
		return nil, "", err
	}
	current, err := json.Marshal(live.Object)
	if err != nil {
		return nil, "", err
	}
	typed, err := scheme.Scheme.New(rendered.GroupVersionKind())
	if err != nil {
		patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(target, target, current)
		return patch, types.MergePatchType, err
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(typed)
	if err != nil {
		return nil, "", err
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(target, target, current, meta, true)
	return patch, types.StrategicMergePatchType, err
}

func objectRef(o client.Object) string {
	kind := o.GetObjectKind().GroupVersionKind().Kind
	if o.GetNamespace() == "" {
		return kind + " " + o.GetName()
	}
	return kind + " " + o.GetNamespace() + "/" + o.GetName()
}

// apiMessage returns the API server's message for an error (its details, without the request noise).
func apiMessage(err error) string {
	if s, ok := err.(apierrors.APIStatus); ok && s.Status().Message != "" {
		return s.Status().Message
	}
	return err.Error()
}
