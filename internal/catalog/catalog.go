// Package catalog loads the component catalog (watches.yaml): for each component the operator can
// manage, its chart, release name, permission phase, default values, cadence, and how Cluster-level
// settings map into that chart's values. The file keeps helm-operator-plugins' watches.yaml fields
// (group, version, kind, chart, overrideValues, reconcilePeriod, maxConcurrentReconciles, selector,
// watchDependentResources) and extends each entry with what a catalog needs, so adding a component
// is a data change, not a Go change.
package catalog

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/values"
)

// Defaults applied to entries that leave a field out.
const (
	// DefaultReconcilePeriod is how often a healthy component is re-checked for drift when the entry sets no period.
	DefaultReconcilePeriod = 15 * time.Minute
	// DefaultMaxConcurrentReconciles is the per-entry concurrency when the entry sets none.
	DefaultMaxConcurrentReconciles = 1
	// DefaultPhase is the permission phase of an entry that sets none.
	DefaultPhase = 1
)

var (
	dnsLabel       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	allowedGroup   = "castware.cast.ai"
	allowedVersion = "v1alpha1"
	allowedKind    = "Component"
)

// Entry is one managed component.
type Entry struct {
	// Group, Version and Kind are helm-operator-plugins' GVK fields; always castware.cast.ai/v1alpha1 Component.
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`

	// Component is the value of Component.spec.component this entry serves (e.g. castai-agent).
	Component string `json:"component"`
	// Chart is the chart name in the Cluster's helmRepoURL (e.g. castai-agent).
	Chart string `json:"chart"`
	// Repository, when set, overrides the Cluster's helmRepoURL for this component.
	Repository string `json:"repository,omitempty"`
	// ReleaseName is the Helm release name (default: the chart name).
	ReleaseName string `json:"releaseName,omitempty"`
	// Phase is the permission phase the component needs: 1 (read-only cluster scope) or 2 (extended).
	Phase int `json:"phase,omitempty"`
	// Description is a one-line human description.
	Description string `json:"description,omitempty"`

	// Values are the catalog's default values, the lowest layer of the composed values.
	Values map[string]any `json:"values,omitempty"`
	// ClusterValues map Cluster settings into this chart's values. String leaves are Go templates over
	// ClusterFacts; a leaf that is exactly one field reference (e.g. "{{ .ExtendedPermissions }}") keeps the
	// field's type; a leaf rendering to "" is left out.
	ClusterValues map[string]any `json:"clusterValues,omitempty"`
	// Requires lists ClusterFacts that must be known before the component is installed (e.g. ClusterID).
	Requires []string `json:"requires,omitempty"`
	// OverrideValues are helm-operator-plugins overrides: "a.b.c" → value with $ENV expansion, applied last
	// (e.g. image.repository: $RELATED_IMAGE_AGENT for OLM). An override expanding to "" is skipped.
	OverrideValues map[string]string `json:"overrideValues,omitempty"`
	// ConsoleValues lists the value paths ("*" matches one key) a console action's valuesOverrides may
	// set; empty: any path that does not rewrite images or commands, widen access or move the API key
	// (values.CheckConsolePaths).
	ConsoleValues []string `json:"consoleValues,omitempty"`

	// ReconcilePeriod is how often a healthy component is re-checked (drift repair).
	ReconcilePeriod *metav1.Duration `json:"reconcilePeriod,omitempty"`
	// MaxConcurrentReconciles is how many of this component's CRs may reconcile at once.
	MaxConcurrentReconciles *int `json:"maxConcurrentReconciles,omitempty"`
	// Selector restricts the entry to Components whose labels match.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// WatchDependentResources enables drift repair triggered by changes to the release's workloads (default true).
	WatchDependentResources *bool `json:"watchDependentResources,omitempty"`

	// Workloads describe how to find this component installed without the operator (migration).
	Workloads []Workload `json:"workloads,omitempty"`
	// DriftIgnore lists fields of rendered objects the component manages itself; drift repair leaves them alone.
	DriftIgnore []DriftIgnore `json:"driftIgnore,omitempty"`
	// ReportParams are value paths (dot-separated) whose values are reported to Cast AI as component_params.
	ReportParams []string `json:"reportParams,omitempty"`
	// LegacyObjects are objects an installation made without the operator may have left outside what the
	// chart renders (e.g. the kube-system RBAC of old agent manifests); migration removes one only when the
	// chart renders a replacement for it.
	LegacyObjects []LegacyObject `json:"legacyObjects,omitempty"`
	// ForeignObjects are the objects of ScopedKinds the chart renders outside its release namespace
	// (cluster-scoped RBAC, SCCs, webhook configurations, CRDs; Roles in kube-system). The operator's RBAC
	// and admission policy are generated from them: it may change and create these objects by name only.
	ForeignObjects []ObjectRef `json:"foreignObjects,omitempty"`

	selector labels.Selector
}

// Workload identifies a workload of an existing installation.
type Workload struct {
	// Kind is Deployment, DaemonSet or StatefulSet.
	Kind string `json:"kind"`
	// Names are the object names to look for, newest naming first.
	Names []string `json:"names,omitempty"`
	// MatchLabels find the workload by labels when no name matches.
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// Container is the main container's name (its env and resources are the component's configuration).
	Container string `json:"container,omitempty"`
	// ChartEnv are the main container's environment variables the chart renders itself (from Cluster
	// settings); migration does not copy them into values. API_KEY is never copied.
	ChartEnv []string `json:"chartEnv,omitempty"`
	// Values say where migration writes the workload's settings in the chart's values.
	Values WorkloadValues `json:"values,omitempty"`
}

// WorkloadValues are the value paths (dot-separated) a migrated workload's settings are written to. An
// empty path takes the default named in each field's comment; "-" leaves the setting out.
type WorkloadValues struct {
	// Replicas of a Deployment or StatefulSet (default replicaCount).
	Replicas string `json:"replicas,omitempty"`
	// ImageRepository of the main container (default image.repository).
	ImageRepository string `json:"imageRepository,omitempty"`
	// ImageTag of the main container (default image.tag).
	ImageTag string `json:"imageTag,omitempty"`
	// Env receives the main container's extra environment variables as a name → value map (default additionalEnv).
	Env string `json:"env,omitempty"`
	// Resources of the main container (default resources).
	Resources string `json:"resources,omitempty"`
	// NodeSelector of the pods (default nodeSelector).
	NodeSelector string `json:"nodeSelector,omitempty"`
	// Tolerations of the pods (default tolerations).
	Tolerations string `json:"tolerations,omitempty"`
	// PriorityClassName of the pods (default priorityClassName).
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// PriorityClassEnabled is a boolean set to true next to the class name when the chart has one (no default).
	PriorityClassEnabled string `json:"priorityClassEnabled,omitempty"`
}

// Resolved returns the paths with defaults filled in and "-" turned into "" (left out).
func (v WorkloadValues) Resolved() WorkloadValues {
	pick := func(p, def string) string {
		switch p {
		case "":
			return def
		case "-":
			return ""
		}
		return p
	}
	return WorkloadValues{
		Replicas:             pick(v.Replicas, "replicaCount"),
		ImageRepository:      pick(v.ImageRepository, "image.repository"),
		ImageTag:             pick(v.ImageTag, "image.tag"),
		Env:                  pick(v.Env, "additionalEnv"),
		Resources:            pick(v.Resources, "resources"),
		NodeSelector:         pick(v.NodeSelector, "nodeSelector"),
		Tolerations:          pick(v.Tolerations, "tolerations"),
		PriorityClassName:    pick(v.PriorityClassName, "priorityClassName"),
		PriorityClassEnabled: pick(v.PriorityClassEnabled, ""),
	}
}

func (v WorkloadValues) paths() []string {
	r := v.Resolved()
	return []string{r.Replicas, r.ImageRepository, r.ImageTag, r.Env, r.Resources, r.NodeSelector, r.Tolerations, r.PriorityClassName, r.PriorityClassEnabled}
}

// LegacyObject names an object an installation made without the operator may have created outside the
// chart's objects. Namespace and Name are templates over ClusterFacts, like clusterValues.
type LegacyObject struct {
	// APIVersion and Kind of the object, e.g. rbac.authorization.k8s.io/v1 Role.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace of the object; empty for cluster-scoped kinds.
	Namespace string `json:"namespace,omitempty"`
	// Name of the object.
	Name string `json:"name"`
}

// DriftIgnore names fields of one rendered object that drift repair must not reset.
type DriftIgnore struct {
	// Kind of the object, e.g. Deployment.
	Kind string `json:"kind"`
	// Name of the object; empty matches every object of the kind.
	Name string `json:"name,omitempty"`
	// Container restricts container-level fields to one container; empty means every container.
	Container string `json:"container,omitempty"`
	// Fields are container fields (resources, env, image, ...) or object paths starting with "/" (JSON pointer).
	Fields []string `json:"fields"`
}

// Catalog is the loaded set of entries.
type Catalog struct {
	entries []*Entry
	// allowUncatalogued: see AllowUncatalogued.
	allowUncatalogued bool
}

// Load reads and validates a catalog file.
func Load(path string) (*Catalog, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates catalog YAML. Unknown fields are errors, so typos do not pass silently.
func Parse(raw []byte) (*Catalog, error) {
	var entries []*Entry
	if err := yaml.UnmarshalStrict(bytes.TrimSpace(raw), &entries); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	c := &Catalog{}
	seen := map[string]bool{}
	for i, e := range entries {
		if e == nil {
			return nil, fmt.Errorf("entry %d is empty", i)
		}
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("entry %d (%s): %w", i, e.Component, err)
		}
		key := e.Component + "|" + e.selector.String()
		if seen[key] {
			return nil, fmt.Errorf("entry %d: component %q appears twice with the same selector", i, e.Component)
		}
		seen[key] = true
		c.entries = append(c.entries, e)
	}
	return c, nil
}

func (e *Entry) validate() error {
	if e.Group != allowedGroup || e.Version != allowedVersion || e.Kind != allowedKind {
		return fmt.Errorf("group/version/kind must be %s/%s %s, got %s/%s %s", allowedGroup, allowedVersion, allowedKind, e.Group, e.Version, e.Kind)
	}
	if !dnsLabel.MatchString(e.Component) {
		return fmt.Errorf("component %q must be a DNS label", e.Component)
	}
	if e.Chart == "" {
		return fmt.Errorf("chart is required")
	}
	if e.ReleaseName == "" {
		e.ReleaseName = e.Chart
	}
	if !dnsLabel.MatchString(e.ReleaseName) || len(e.ReleaseName) > 53 {
		return fmt.Errorf("releaseName %q must be a DNS label of at most 53 characters", e.ReleaseName)
	}
	if e.Phase == 0 {
		e.Phase = DefaultPhase
	}
	if e.Phase != 1 && e.Phase != 2 {
		return fmt.Errorf("phase must be 1 or 2, got %d", e.Phase)
	}
	if e.ReconcilePeriod != nil && e.ReconcilePeriod.Duration < 0 {
		return fmt.Errorf("reconcilePeriod must not be negative")
	}
	if e.MaxConcurrentReconciles != nil && *e.MaxConcurrentReconciles < 1 {
		return fmt.Errorf("maxConcurrentReconciles must be at least 1")
	}
	for _, r := range e.Requires {
		if !knownFact(r) {
			return fmt.Errorf("requires names unknown cluster fact %q (known: %s)", r, strings.Join(factNames(), ", "))
		}
	}
	if _, err := values.Normalize(e.Values); err != nil {
		return fmt.Errorf("values: %w", err)
	}
	if err := checkTemplates(e.ClusterValues, ""); err != nil {
		return fmt.Errorf("clusterValues: %w", err)
	}
	for k := range e.OverrideValues {
		if _, err := values.SplitPath(k); err != nil {
			return fmt.Errorf("overrideValues: %w", err)
		}
	}
	for _, w := range e.Workloads {
		switch w.Kind {
		case "Deployment", "DaemonSet", "StatefulSet":
		default:
			return fmt.Errorf("workloads: kind %q must be Deployment, DaemonSet or StatefulSet", w.Kind)
		}
		if len(w.Names) == 0 && len(w.MatchLabels) == 0 {
			return fmt.Errorf("workloads: a %s entry needs names or matchLabels", w.Kind)
		}
		for _, p := range w.Values.paths() {
			if p == "" {
				continue
			}
			if _, err := values.SplitPath(p); err != nil {
				return fmt.Errorf("workloads: values: %w", err)
			}
		}
	}
	for _, o := range e.LegacyObjects {
		if o.APIVersion == "" || o.Kind == "" || o.Name == "" {
			return fmt.Errorf("legacyObjects: apiVersion, kind and name are required")
		}
		if _, err := o.For(ClusterFacts{}); err != nil {
			return fmt.Errorf("legacyObjects: %w", err)
		}
	}
	for _, o := range e.ForeignObjects {
		if err := o.validate(); err != nil {
			return fmt.Errorf("foreignObjects: %w", err)
		}
	}
	for _, p := range e.ReportParams {
		if _, err := values.SplitPath(p); err != nil {
			return fmt.Errorf("reportParams: %w", err)
		}
	}
	for _, d := range e.DriftIgnore {
		if d.Kind == "" || len(d.Fields) == 0 {
			return fmt.Errorf("driftIgnore: kind and fields are required")
		}
	}
	e.selector = labels.Everything()
	if e.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(e.Selector)
		if err != nil {
			return fmt.Errorf("selector: %w", err)
		}
		e.selector = s
	}
	return nil
}

// Entries returns all entries in file order.
func (c *Catalog) Entries() []*Entry { return c.entries }

// Components returns the sorted, distinct component names.
func (c *Catalog) Components() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range c.entries {
		if !seen[e.Component] {
			seen[e.Component] = true
			out = append(out, e.Component)
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns the entry serving component for a CR with the given labels: the first entry whose
// component matches and whose selector matches the labels.
func (c *Catalog) Lookup(component string, crLabels map[string]string) (*Entry, bool) {
	for _, e := range c.entries {
		if e.Component == component && e.selector.Matches(labels.Set(crLabels)) {
			return e, true
		}
	}
	return nil, false
}

// Known reports whether any entry serves component.
func (c *Catalog) Known(component string) bool {
	for _, e := range c.entries {
		if e.Component == component {
			return true
		}
	}
	return false
}

// MaxConcurrentReconciles is the sum of the entries' concurrency: the Component controller's worker count.
func (c *Catalog) MaxConcurrentReconciles() int {
	n := 0
	for _, e := range c.entries {
		n += e.Concurrency()
	}
	if n < 1 {
		n = 1
	}
	return n
}

// Period returns the entry's reconcile period, or DefaultReconcilePeriod.
func (e *Entry) Period() time.Duration {
	if e.ReconcilePeriod == nil {
		return DefaultReconcilePeriod
	}
	return e.ReconcilePeriod.Duration
}

// Concurrency returns the entry's max concurrent reconciles, or DefaultMaxConcurrentReconciles.
func (e *Entry) Concurrency() int {
	if e.MaxConcurrentReconciles == nil {
		return DefaultMaxConcurrentReconciles
	}
	return *e.MaxConcurrentReconciles
}

// WatchesDependents reports whether the release's workloads are watched for drift (default true).
func (e *Entry) WatchesDependents() bool {
	return e.WatchDependentResources == nil || *e.WatchDependentResources
}
