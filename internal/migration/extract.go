package migration

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/values"
)

// APIKeyEnv is the environment variable (and Secret key) every Cast AI component reads its API key from.
const APIKeyEnv = "API_KEY"

// Labels and annotations of installed objects migration reads.
const (
	// LabelChart is the helm.sh/chart label every Cast AI chart puts on its workloads ("<chart>-<version>").
	LabelChart = "helm.sh/chart"
	// LabelInstance is the app.kubernetes.io/instance label: the release name the manifests were rendered for.
	LabelInstance = "app.kubernetes.io/instance"
	// AnnotationReleaseName and AnnotationReleaseNamespace are set by Helm on the objects of a release.
	AnnotationReleaseName      = "meta.helm.sh/release-name"
	AnnotationReleaseNamespace = "meta.helm.sh/release-namespace"
)

// Workload is what migration reads of an installed Deployment, DaemonSet or StatefulSet.
type Workload struct {
	// Kind is Deployment, DaemonSet or StatefulSet.
	Kind string
	// Namespace, Name and UID identify the object.
	Namespace, Name, UID string
	// Generation is the object's metadata.generation.
	Generation int64
	// Labels and Annotations are the object's.
	Labels, Annotations map[string]string
	// Replicas is spec.replicas (nil for DaemonSets).
	Replicas *int32
	// Selector is spec.selector.
	Selector map[string]string
	// Template is the pod template.
	Template corev1.PodTemplateSpec
}

// WorkloadFrom reads a Deployment, DaemonSet or StatefulSet; ok is false for other objects.
func WorkloadFrom(obj client.Object) (w *Workload, ok bool) {
	w = &Workload{Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID()), Generation: obj.GetGeneration(),
		Labels: obj.GetLabels(), Annotations: obj.GetAnnotations()}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		w.Kind, w.Replicas, w.Template = "Deployment", o.Spec.Replicas, o.Spec.Template
		if o.Spec.Selector != nil {
			w.Selector = o.Spec.Selector.MatchLabels
		}
	case *appsv1.DaemonSet:
		w.Kind, w.Template = "DaemonSet", o.Spec.Template
		if o.Spec.Selector != nil {
			w.Selector = o.Spec.Selector.MatchLabels
		}
	case *appsv1.StatefulSet:
		w.Kind, w.Replicas, w.Template = "StatefulSet", o.Spec.Replicas, o.Spec.Template
		if o.Spec.Selector != nil {
			w.Selector = o.Spec.Selector.MatchLabels
		}
	default:
		return nil, false
	}
	return w, true
}

// Ref formats the workload as "<Kind>/<name>".
func (w *Workload) Ref() string { return w.Kind + "/" + w.Name }

// MainContainer returns the container named name, else the first container, else nil.
func (w *Workload) MainContainer(name string) *corev1.Container {
	cs := w.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

// ReleaseOwner returns the Helm release the workload's annotations say it belongs to ("" when none).
func (w *Workload) ReleaseOwner() (name, namespace string) {
	return w.Annotations[AnnotationReleaseName], w.Annotations[AnnotationReleaseNamespace]
}

// Extraction is what a workload installed from YAML says about the component's configuration.
type Extraction struct {
	// Values are the user's settings as chart values; they never hold key material.
	Values map[string]any
	// Version is the chart version the manifests were rendered from, read from their helm.sh/chart label (""
	// when unlabelled: an image tag is an app version, not a chart version; see ResolveChartVersion).
	Version string
	// ImageTag is the main container's image tag ("" without one).
	ImageTag string
	// KeySecretCandidates are Secrets the main container takes its API key from: a secretKeyRef of API_KEY
	// first, then every envFrom Secret (the caller checks which one holds API_KEY).
	KeySecretCandidates []string
	// PlaintextKey is true when the main container carries API_KEY as a literal value (never copied).
	PlaintextKey bool
	// NotCarried lists settings the chart's values cannot express; they stay on the workload, which a
	// takeover patches without removing them, but spec.values does not show them.
	NotCarried []string
}

// Extract maps a YAML-installed workload to chart values following the catalog's workload description.
// charts are the chart names its helm.sh/chart label may carry. It is a pure function.
func Extract(w *Workload, spec catalog.Workload, charts ...string) Extraction {
	ex := Extraction{Values: map[string]any{}}
	paths := spec.Values.Resolved()
	ex.Version = VersionFromChartLabel(w.Labels[LabelChart], charts...)
	if ex.Version == "" {
		ex.Version = VersionFromChartLabel(w.Template.Labels[LabelChart], charts...)
	}
	set := func(path string, v any) {
		if path == "" {
			return
		}
		_ = values.SetPath(ex.Values, path, v) // paths are validated by the catalog; a clash keeps the first value
	}
	if w.Replicas != nil && w.Kind != "DaemonSet" {
		set(paths.Replicas, int64(*w.Replicas))
	}
	pod := w.Template.Spec
	if len(pod.NodeSelector) > 0 {
		set(paths.NodeSelector, toValue(pod.NodeSelector))
	}
	if len(pod.Tolerations) > 0 {
		set(paths.Tolerations, toValue(pod.Tolerations))
	}
	if pod.PriorityClassName != "" && paths.PriorityClassName != "" {
		set(paths.PriorityClassName, pod.PriorityClassName)
		set(paths.PriorityClassEnabled, true)
	}
	c := w.MainContainer(spec.Container)
	if c == nil {
		return ex
	}
	if repo, tag := ImageParts(c.Image); repo != "" {
		ex.ImageTag = tag
		set(paths.ImageRepository, repo)
		if tag != "" {
			set(paths.ImageTag, tag)
		}
	}
	if len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 {
		set(paths.Resources, toValue(c.Resources))
	}
	chartEnv := map[string]bool{}
	for _, n := range spec.ChartEnv {
		chartEnv[n] = true
	}
	env := map[string]any{}
	for _, e := range c.Env {
		switch {
		case e.Name == APIKeyEnv:
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ex.KeySecretCandidates = append(ex.KeySecretCandidates, e.ValueFrom.SecretKeyRef.Name)
			} else if e.Value != "" {
				ex.PlaintextKey = true
			}
		case chartEnv[e.Name]:
		case e.ValueFrom != nil:
			ex.NotCarried = append(ex.NotCarried, fmt.Sprintf("env %s (valueFrom)", e.Name))
		case paths.Env == "":
			ex.NotCarried = append(ex.NotCarried, fmt.Sprintf("env %s", e.Name))
		default:
			env[e.Name] = e.Value
		}
	}
	if len(env) > 0 {
		set(paths.Env, env)
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			ex.KeySecretCandidates = append(ex.KeySecretCandidates, ef.SecretRef.Name)
		case ef.ConfigMapRef != nil:
			ex.NotCarried = append(ex.NotCarried, fmt.Sprintf("envFrom ConfigMap %s", ef.ConfigMapRef.Name))
		}
	}
	if n, err := values.Normalize(ex.Values); err == nil {
		ex.Values = n
	}
	sort.Strings(ex.NotCarried)
	return ex
}

// toValue turns a Kubernetes API struct into JSON-compatible values (quantities become strings).
func toValue(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil
	}
	return out
}

// PruneImage removes image settings that only repeat what the chart renders by default, so the image keeps
// following the chart version on upgrades: a tag equal to the chart's appVersion, its default tag, the
// version or "v"+version, and a repository equal to the chart's default repository. chartDefaults (the
// chart's values.yaml) and appVersion may be empty when the chart could not be read.
func PruneImage(vals map[string]any, spec catalog.Workload, chartDefaults map[string]any, version, appVersion string) {
	paths := spec.Values.Resolved()
	if paths.ImageTag != "" {
		if tag, ok := values.GetPath(vals, paths.ImageTag); ok {
			def, _ := values.GetPath(chartDefaults, paths.ImageTag)
			t, _ := tag.(string)
			if t == "" || (version != "" && (t == version || t == "v"+version)) || (appVersion != "" && t == appVersion) || (def != nil && def != "" && t == def) {
				values.DeletePath(vals, paths.ImageTag)
			}
		}
	}
	if paths.ImageRepository != "" {
		if repo, ok := values.GetPath(vals, paths.ImageRepository); ok {
			if def, ok := values.GetPath(chartDefaults, paths.ImageRepository); ok && def == repo {
				values.DeletePath(vals, paths.ImageRepository)
			}
		}
	}
	dropEmptyMaps(vals)
}

// secretValuePaths are values that carry API-key material or point the chart at a key Secret: they are
// never copied from an old release into spec.values (the Cluster's Secret is wired in instead).
var secretValuePaths = []string{
	"apiKey", "apiKeySecretRef", "additionalSecretEnv",
	"castai.apiKey", "castai.apiKeySecretRef",
	"global.castai.apiKey", "global.castai.apiKeySecretRef",
}

// SanitizeReleaseValues turns the user-supplied values of a release the operator did not make into
// spec.values: key material and key-Secret references are dropped, so is createNamespace (the operator owns
// the namespace), and so is every path the Cluster provides for the chart (clusterPaths, the catalog's
// clusterValues): those stay driven by the Cluster. It returns the new values and the dropped paths (never the
// dropped values).
func SanitizeReleaseValues(config map[string]any, clusterPaths []string) (map[string]any, []string) {
	out := values.Copy(config)
	if out == nil {
		out = map[string]any{}
	}
	var dropped []string
	for _, p := range append(append(append([]string{}, secretValuePaths...), "createNamespace"), clusterPaths...) {
		if _, ok := values.GetPath(out, p); ok {
			values.DeletePath(out, p)
			dropped = append(dropped, p)
		}
	}
	dropEmptyMaps(out)
	sort.Strings(dropped)
	return out, dedupe(dropped)
}

func dedupe(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// dropEmptyMaps removes maps left empty by deletions.
func dropEmptyMaps(m map[string]any) {
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			dropEmptyMaps(mm)
			if len(mm) == 0 {
				delete(m, k)
			}
		}
	}
}

// minKeyMatch is the shortest key looked for inside longer strings; shorter ones must match a whole value.
const minKeyMatch = 8

// containsKeyMaterial reports whether any string leaf of v holds one of keys (used to refuse writing a
// plaintext key anywhere, whatever the path).
func containsKeyMaterial(v any, keys ...string) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, c := range t {
			if containsKeyMaterial(c, keys...) {
				return true
			}
		}
	case []any:
		for _, c := range t {
			if containsKeyMaterial(c, keys...) {
				return true
			}
		}
	case string:
		for _, k := range keys {
			if k != "" && (t == k || (len(k) >= minKeyMatch && strings.Contains(t, k))) {
				return true
			}
		}
	}
	return false
}

// RemoveKeyMaterial deletes every leaf of vals whose string value contains one of keys, and returns their
// paths. It is the last guard before values are written into a Component.
func RemoveKeyMaterial(vals map[string]any, keys ...string) []string {
	var removed []string
	for _, p := range values.Paths(vals) {
		if v, ok := values.GetPath(vals, p); ok && containsKeyMaterial(v, keys...) {
			values.DeletePath(vals, p)
			removed = append(removed, p)
		}
	}
	dropEmptyMaps(vals)
	return removed
}
