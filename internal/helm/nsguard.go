package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NamespaceWriter patches namespaces; the manager's client satisfies it.
type NamespaceWriter interface {
	Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error
}

// WithNamespaceWriter sets the client used to protect namespaces (default: none, and then releases that
// render a Namespace are refused an upgrade or uninstall rather than risk deleting it).
func WithNamespaceWriter(w NamespaceWriter) Option { return func(e *Engine) { e.nsWriter = w } }

// GuardNamespaces annotates every Namespace a revision rendered with helm.sh/resource-policy=keep before
// an upgrade or rollback, so Helm never deletes a namespace (and everything in it, the operator
// included) when a chart stops rendering it. A castai-agent release installed with createNamespace=true
// owns its namespace; this keeps that namespace when the operator takes the release over. Helm's upgrade
// honours the annotation on the live object; its uninstall reads the stored manifest instead, so
// guardForUninstall also rewrites the stored revision.
func (e *Engine) GuardNamespaces(ctx context.Context, rel *release.Release) error {
	objs, err := Objects(rel.Manifest, rel.Namespace)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" || o.GetAPIVersion() != "v1" {
			continue
		}
		if ann := o.GetAnnotations(); ann[kube.ResourcePolicyAnno] == kube.KeepPolicy {
			continue
		}
		if e.nsWriter == nil {
			return fmt.Errorf("release %s renders namespace %s and no client is configured to protect it", rel.Name, o.GetName())
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{kube.ResourcePolicyAnno: kube.KeepPolicy}}})
		ns := &corev1.Namespace{}
		ns.Name = o.GetName()
		if err := e.nsWriter.Patch(ctx, ns, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("protect namespace %s from deletion: %w", o.GetName(), err)
		}
	}
	return nil
}

// guardForUninstall protects the live namespaces and marks them keep in the stored manifest of the revision
// Helm's uninstall will read.
func (e *Engine) guardForUninstall(ctx context.Context, cfg *action.Configuration, rel *release.Release) error {
	if err := e.GuardNamespaces(ctx, rel); err != nil {
		return err
	}
	manifest, changed, err := keepNamespacesInManifest(rel.Manifest)
	if err != nil || !changed {
		return err
	}
	rel.Manifest = manifest
	if err := cfg.Releases.Update(rel); err != nil {
		return fmt.Errorf("protect namespaces of release %s: %w", rel.Name, err)
	}
	return nil
}

// keepNamespacesInManifest adds helm.sh/resource-policy=keep to every v1 Namespace document.
func keepNamespacesInManifest(manifest string) (string, bool, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := sortedKeys(docs)
	var b strings.Builder
	changed := false
	for _, k := range keys {
		doc := docs[k]
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return "", false, fmt.Errorf("parse manifest: %w", err)
		}
		if m["kind"] == "Namespace" && m["apiVersion"] == "v1" {
			ann := ensureMap(m, "metadata", "annotations")
			if ann[kube.ResourcePolicyAnno] != kube.KeepPolicy {
				ann[kube.ResourcePolicyAnno] = kube.KeepPolicy
				changed = true
				out, err := yaml.Marshal(m)
				if err != nil {
					return "", false, err
				}
				doc = string(out)
			}
		}
		b.WriteString("---\n")
		b.WriteString(doc)
		b.WriteString("\n")
	}
	return b.String(), changed, nil
}
