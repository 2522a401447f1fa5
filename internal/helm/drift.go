package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/catalog"
)

// Repair is one object drift repair changed.
type Repair struct {
	// Kind, Namespace and Name identify the object.
	Kind, Namespace, Name string
	// Action is "created" (it was deleted) or "patched" (it was edited).
	Action string
}

// String formats the repair for events.
func (r Repair) String() string { return fmt.Sprintf("%s %s %s", r.Action, r.Kind, r.Name) }

// RepairDrift makes the live objects of a deployed revision match its stored manifest again: deleted
// objects are re-created, fields the chart sets and someone changed are patched back. Fields the
// component manages itself (catalog driftIgnore) and fields the chart does not set are left alone.
func (e *Engine) RepairDrift(ctx context.Context, owner client.Object, rel *release.Release, ignore []catalog.DriftIgnore) ([]Repair, error) {
	ac, err := e.client(ctx, owner)
	if err != nil {
		return nil, err
	}
	infos, err := ac.Config().KubeClient.Build(bytes.NewBufferString(rel.Manifest), false)
	if err != nil {
		return nil, fmt.Errorf("build objects of %s revision %d: %w", rel.Name, rel.Version, err)
	}
	done := e.begin(owner, rel.Name)
	defer done()
	var repairs []Repair
	err = infos.Visit(func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("unexpected object type %T in manifest", info.Object)
		}
		if u.GetAnnotations()[kube.ResourcePolicyAnno] == kube.KeepPolicy {
			return nil
		}
		helper := resource.NewHelper(info.Client, info.Mapping)
		live, err := helper.Get(info.Namespace, info.Name)
		if apierrors.IsNotFound(err) {
			if _, err := helper.Create(info.Namespace, true, info.Object); err != nil {
				return fmt.Errorf("re-create %s %s: %w", u.GetKind(), info.Name, err)
			}
			repairs = append(repairs, Repair{Kind: u.GetKind(), Namespace: info.Namespace, Name: info.Name, Action: "created"})
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", u.GetKind(), info.Name, err)
		}
		expected := u.DeepCopy()
		StripIgnored(expected, ignore)
		patch, patchType, err := driftPatch(live, expected, info)
		if err != nil {
			return fmt.Errorf("diff %s %s: %w", u.GetKind(), info.Name, err)
		}
		if patch == nil {
			return nil
		}
		// The manifest and the stored object may differ only in how the API server normalises what it stores
		// (defaults, quantities, null fields): ask it what the repair would store before writing anything.
		// DryRun changes the Helper it is called on: the dry run gets a Helper of its own.
		dry, err := resource.NewHelper(info.Client, info.Mapping).DryRun(true).Patch(info.Namespace, info.Name, patchType, patch, &metav1.PatchOptions{})
		if apierrors.IsInvalid(err) && patchType == types.StrategicMergePatchType && !ignoresAny(u, ignore) {
			// An additive patch cannot undo an edit of a list element's merge key (a Service port renumbered):
			// it adds the chart's element next to the edited one, and the object is invalid. Replace the lists
			// that differ from the chart's instead.
			if patch, patchType, err = replaceListsPatch(live, expected); err == nil {
				dry, err = resource.NewHelper(info.Client, info.Mapping).DryRun(true).Patch(info.Namespace, info.Name, patchType, patch, &metav1.PatchOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("dry-run repair of %s %s: %w", u.GetKind(), info.Name, err)
		}
		if same, err := sameStored(live, dry); err != nil || same {
			return err
		}
		after, err := helper.Patch(info.Namespace, info.Name, patchType, patch, &metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("repair %s %s: %w", u.GetKind(), info.Name, err)
		}
		if resourceVersion(after) == resourceVersion(live) {
			return nil // the server stored nothing new: not a repair
		}
		repairs = append(repairs, Repair{Kind: u.GetKind(), Namespace: info.Namespace, Name: info.Name, Action: "patched"})
		return nil
	})
	return repairs, err
}

// driftPatch computes a patch that re-asserts the fields of expected on live without removing fields
// expected does not mention. Built-in kinds get a strategic merge patch; other kinds a JSON merge patch.
func driftPatch(live runtime.Object, expected *unstructured.Unstructured, info *resource.Info) ([]byte, types.PatchType, error) {
	versioned := kube.AsVersioned(&resource.Info{Object: expected, Mapping: info.Mapping})
	if _, isUnstructured := versioned.(runtime.Unstructured); isUnstructured {
		// Merge patch that only adds or replaces what the manifest sets.
		b, err := additionsPatch(live, expected)
		if b == nil || err != nil {
			return nil, "", err
		}
		return b, types.MergePatchType, nil
	}
	liveJSON, err := json.Marshal(live)
	if err != nil {
		return nil, "", err
	}
	expJSON, err := json.Marshal(expected.Object)
	if err != nil {
		return nil, "", err
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(versioned)
	if err != nil {
		return nil, "", err
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(expJSON, expJSON, liveJSON, meta, true)
	if err != nil {
		return nil, "", err
	}
	if len(patch) == 0 || string(patch) == "{}" {
		return nil, "", nil
	}
	return patch, types.StrategicMergePatchType, nil
}

// replaceListsPatch is a JSON merge patch re-asserting expected's fields on live, with every list that differs
// replaced whole (the server defaults the elements' fields again). It never removes a field the manifest does
// not set, and fails when no field differs (a merge patch "null" would wipe the object).
func replaceListsPatch(live runtime.Object, expected *unstructured.Unstructured) ([]byte, types.PatchType, error) {
	b, err := additionsPatch(live, expected)
	if err == nil && b == nil {
		err = fmt.Errorf("no field differs from the chart's")
	}
	return b, types.MergePatchType, err
}

// additionsPatch returns the JSON merge patch of the fields expected sets that differ on live (lists whole),
// or nil when none does.
func additionsPatch(live runtime.Object, expected *unstructured.Unstructured) ([]byte, error) {
	raw, err := json.Marshal(live)
	if err != nil {
		return nil, err
	}
	var liveMap map[string]any
	if err := json.Unmarshal(raw, &liveMap); err != nil {
		return nil, err
	}
	patch := mergeAdditions(liveMap, expected.Object)
	if patch == nil {
		return nil, nil
	}
	return json.Marshal(patch)
}

// ignoresAny reports whether a driftIgnore rule applies to the object (whole-list replacement would reset the
// fields it leaves to the component).
func ignoresAny(u *unstructured.Unstructured, ignore []catalog.DriftIgnore) bool {
	for _, ig := range ignore {
		if ig.Kind == u.GetKind() && (ig.Name == "" || ig.Name == u.GetName()) {
			return true
		}
	}
	return false
}

// volatileMeta are the metadata fields a write changes whatever it writes.
var volatileMeta = []string{"resourceVersion", "generation", "managedFields"}

// sameStored reports whether two versions of an object hold the same content, ignoring status and the metadata
// every write changes.
func sameStored(a, b runtime.Object) (bool, error) {
	ma, err := contentOf(a)
	if err != nil {
		return false, err
	}
	mb, err := contentOf(b)
	if err != nil {
		return false, err
	}
	return jsonEqual(ma, mb), nil
}

// contentOf returns an object as JSON-compatible values without status and volatile metadata.
func contentOf(obj runtime.Object) (map[string]any, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, f := range volatileMeta {
			delete(meta, f)
		}
	}
	return m, nil
}

// resourceVersion returns an object's resourceVersion ("" when it has none).
func resourceVersion(obj runtime.Object) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetResourceVersion()
	}
	return ""
}

// mergeAdditions returns the parts of want that differ from have (nil when none), never removals.
func mergeAdditions(have, want map[string]any) map[string]any {
	out := map[string]any{}
	for k, wv := range want {
		hv, ok := have[k]
		wm, wIsMap := wv.(map[string]any)
		hm, hIsMap := hv.(map[string]any)
		switch {
		case wIsMap && hIsMap:
			if sub := mergeAdditions(hm, wm); sub != nil {
				out[k] = sub
			}
		case !ok || !jsonEqual(hv, wv):
			out[k] = wv
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// StripIgnored removes from a rendered object the fields a catalog entry says the component manages itself,
// so drift repair neither resets nor reports them.
func StripIgnored(u *unstructured.Unstructured, ignore []catalog.DriftIgnore) {
	for _, ig := range ignore {
		if ig.Kind != u.GetKind() || (ig.Name != "" && ig.Name != u.GetName()) {
			continue
		}
		for _, f := range ig.Fields {
			if strings.HasPrefix(f, "/") {
				removePointer(u.Object, f)
				continue
			}
			for _, path := range [][]string{{"spec", "template", "spec", "containers"}, {"spec", "template", "spec", "initContainers"}, {"spec", "containers"}} {
				list, found, _ := unstructured.NestedSlice(u.Object, path...)
				if !found {
					continue
				}
				for i := range list {
					c, ok := list[i].(map[string]any)
					if !ok || (ig.Container != "" && c["name"] != ig.Container) {
						continue
					}
					delete(c, f)
				}
				_ = unstructured.SetNestedSlice(u.Object, list, path...)
			}
		}
	}
}

// removePointer deletes the field at a JSON pointer (RFC 6901) in obj; missing paths are ignored.
func removePointer(obj map[string]any, pointer string) {
	parts := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	for i := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(parts[i], "~1", "/"), "~0", "~")
	}
	cur := obj
	for _, p := range parts[:len(parts)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
	delete(cur, parts[len(parts)-1])
}
