package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// AnnotationTakeoverPaused marks a Deployment a takeover paused (so a takeover interrupted before it
// resumed it is resumed by the next one).
const AnnotationTakeoverPaused = "castware.cast.ai/takeover-paused"

// Workloads reads and patches the workloads, Secrets and leftover objects of an installation being taken
// over. The Component controller decides when; Workloads only knows how.
type Workloads struct {
	// Client patches workloads and Secrets and deletes leftovers.
	Client client.Client
	// Reader reads them; it must not be the manager's cache (which holds only the operator's own objects).
	Reader client.Reader
}

// PausedByTakeover reports whether a takeover paused the workload and did not resume it.
func (w *Workload) PausedByTakeover() bool { return w.Annotations[AnnotationTakeoverPaused] == "true" }

// PreviousKeySecret returns the Secret the workload reads API_KEY from, when it is not clusterSecret (the
// Cluster's) and holds a key; "" otherwise.
func (ws Workloads) PreviousKeySecret(ctx context.Context, wl *Workload, spec catalog.Workload, clusterSecret string) string {
	for _, name := range Extract(wl, spec).KeySecretCandidates {
		if name == clusterSecret {
			return ""
		}
		sec := &corev1.Secret{}
		if err := ws.Reader.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: name}, sec); err == nil && len(sec.Data[APIKeyEnv]) > 0 {
			return name
		}
	}
	return ""
}

// KeepSecret annotates a Secret so Helm leaves it in place when a release stops rendering it. A missing
// Secret is not an error.
func (ws Workloads) KeepSecret(ctx context.Context, namespace, name string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{"helm.sh/resource-policy": "keep"}}})
	if err != nil {
		return err
	}
	sec := &corev1.Secret{}
	sec.Namespace, sec.Name = namespace, name
	if err := ws.Client.Patch(ctx, sec, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("keep Secret %s: %w", name, err)
	}
	return nil
}

// RewireLegacyKeyEnv (for a chart that does not render API_KEY) points an API_KEY env entry (a literal key,
// or a reference to a legacy Secret) at secret, the Cluster's, before the takeover install. Such an entry
// wins over the envFrom the chart renders, and a take-ownership patch removes nothing; pointing it at the
// Secret the chart wires in drops the plaintext key at once and leaves the workload reading a valid key
// whatever becomes of the install. DropRewiredKeyEnv removes the entry once the chart's wiring is in place.
// A Deployment is paused meanwhile (and marked, see PausedByTakeover), so the rewiring, the install and the
// removal roll out once; resume (nil when nothing was changed) unpauses it.
func (ws Workloads) RewireLegacyKeyEnv(ctx context.Context, wl *Workload, spec catalog.Workload, secret string) (resume func(), err error) {
	c := wl.MainContainer(spec.Container)
	i := LegacyKeyEnv(c)
	if i < 0 || readsKeyFrom(c.Env[i], secret) {
		return nil, nil
	}
	paused := wl.Kind == "Deployment"
	if paused {
		if err := ws.setPaused(ctx, wl, true); err != nil {
			return nil, fmt.Errorf("pause %s for the takeover: %w", wl.Ref(), err)
		}
	}
	rewired := corev1.EnvVar{Name: APIKeyEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: APIKeyEnv}}}
	path := envPath(wl, c.Name, i)
	if err := ws.patchJSON(ctx, wl, []map[string]any{{"op": "test", "path": path + "/name", "value": APIKeyEnv},
		{"op": "replace", "path": path, "value": rewired}}); err != nil {
		if paused {
			ws.Resume(ctx, wl)()
		}
		return nil, fmt.Errorf("point the legacy API_KEY variable of %s at Secret %s: %w", wl.Ref(), secret, err)
	}
	if !paused {
		return nil, nil
	}
	return ws.Resume(ctx, wl), nil
}

// DropRewiredKeyEnv removes the API_KEY entry RewireLegacyKeyEnv left (it reads the same Secret as the
// chart's wiring, so it only duplicates it) once the takeover install succeeded. An entry reading another
// Secret is left alone.
func (ws Workloads) DropRewiredKeyEnv(ctx context.Context, wl *Workload, spec catalog.Workload, secret string) error {
	cur, err := GetWorkload(ctx, ws.Reader, wl.Kind, wl.Namespace, wl.Name)
	if err != nil || cur == nil {
		return err
	}
	c := cur.MainContainer(spec.Container)
	i := LegacyKeyEnv(c)
	if i < 0 || !readsKeyFrom(c.Env[i], secret) {
		return nil
	}
	path := envPath(cur, c.Name, i)
	return ws.patchJSON(ctx, cur, []map[string]any{{"op": "test", "path": path + "/name", "value": APIKeyEnv}, {"op": "remove", "path": path}})
}

// Resume returns a function that unpauses a Deployment a takeover paused; a failure is logged (the next
// takeover check resumes it, see PausedByTakeover).
func (ws Workloads) Resume(ctx context.Context, wl *Workload) func() {
	return func() {
		if err := ws.setPaused(ctx, wl, false); err != nil {
			log.FromContext(ctx).Error(err, "resume Deployment after the takeover", "deployment", wl.Name)
		}
	}
}

// setPaused pauses (and marks) or resumes (and unmarks) a Deployment.
func (ws Workloads) setPaused(ctx context.Context, wl *Workload, paused bool) error {
	var mark any // nil removes the annotation
	if paused {
		mark = "true"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationTakeoverPaused: mark}},
		"spec": map[string]any{"paused": paused}})
	if err != nil {
		return err
	}
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = wl.Namespace, wl.Name
	return ws.Client.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch))
}

// readsKeyFrom reports whether an env entry takes API_KEY from the Secret named secret.
func readsKeyFrom(e corev1.EnvVar, secret string) bool {
	return e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
		e.ValueFrom.SecretKeyRef.Name == secret && e.ValueFrom.SecretKeyRef.Key == APIKeyEnv
}

// envPath is the JSON pointer of env entry i of the named container in the workload's pod template.
func envPath(wl *Workload, container string, i int) string {
	j := 0
	for k := range wl.Template.Spec.Containers {
		if wl.Template.Spec.Containers[k].Name == container {
			j = k
			break
		}
	}
	return fmt.Sprintf("/spec/template/spec/containers/%d/env/%d", j, i)
}

// patchJSON applies a JSON patch to a workload.
func (ws Workloads) patchJSON(ctx context.Context, wl *Workload, ops []map[string]any) error {
	obj := newWorkloadObject(wl.Kind)
	if obj == nil {
		return fmt.Errorf("unsupported workload kind %q", wl.Kind)
	}
	obj.SetNamespace(wl.Namespace)
	obj.SetName(wl.Name)
	raw, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return ws.Client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, raw))
}

// Ready reads a workload's readiness with the Helm engine's rules.
func (ws Workloads) Ready(ctx context.Context, wl *Workload) (helm.WorkloadStatus, error) {
	obj := newWorkloadObject(wl.Kind)
	if obj == nil {
		obj = &appsv1.StatefulSet{}
	}
	if err := ws.Reader.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: wl.Name}, obj); err != nil {
		return helm.WorkloadStatus{}, err
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return helm.DeploymentReady(o), nil
	case *appsv1.DaemonSet:
		return helm.DaemonSetReady(o), nil
	default:
		return helm.StatefulSetReady(obj.(*appsv1.StatefulSet)), nil
	}
}

// SecretInUse reports whether a Secret is still read: by a release's manifest, or else by the live pod
// template of workload ("Kind/name" in namespace; "" or a deleted workload reads nothing).
func (ws Workloads) SecretInUse(ctx context.Context, manifest, secret, namespace, workload string) (bool, error) {
	used, err := ManifestReadsSecret(manifest, secret)
	if err != nil || used || workload == "" {
		return used, err
	}
	kind, name, _ := strings.Cut(workload, "/")
	live, err := GetWorkload(ctx, ws.Reader, kind, namespace, name)
	if err != nil || live == nil {
		return false, err
	}
	return PodSpecReadsSecret(live.Template.Spec, secret), nil
}

// Leftovers reads which of an old installation's objects exist and plans them against a release's
// manifest (PlanLeftovers): those the chart replaces are to be removed, the others kept.
func (ws Workloads) Leftovers(ctx context.Context, legacy []catalog.LegacyObject, manifest, release, namespace string) (remove, keep []ObjectRef, err error) {
	live, err := LiveLegacyObjects(ctx, ws.Reader, legacy)
	if err != nil {
		return nil, nil, err
	}
	rendered, err := RenderedRefs(ws.Client, manifest, namespace)
	if err != nil {
		return nil, nil, err
	}
	remove, keep = PlanLeftovers(live, rendered, release, namespace)
	return remove, keep, nil
}

// Remove deletes objects (a missing one is not an error) and returns their descriptions; on an error it
// returns none.
func (ws Workloads) Remove(ctx context.Context, objs []ObjectRef) ([]string, error) {
	var removed []string
	for _, o := range objs {
		if err := o.Delete(ctx, ws.Client); err != nil {
			return nil, err
		}
		removed = append(removed, o.String())
	}
	return removed, nil
}
