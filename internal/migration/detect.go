package migration

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
	"github.com/castware-operator/castware-operator/internal/values"
)

// ComponentDirectory names a component's release and chart as Cast AI knows them (the API's getByName).
// The Cast AI API client satisfies it through a one-line adapter; nil falls back to the catalog.
type ComponentDirectory interface {
	// Component returns the release name and chart of a component.
	Component(ctx context.Context, name string) (releaseName, chart string, err error)
}

// ReleaseReader reads Helm releases.
type ReleaseReader interface {
	// Release returns the latest revision of a release in namespace, nil when there is none.
	Release(ctx context.Context, namespace, name string) (*helm.Release, error)
}

// EngineReleases reads releases through the operator's Helm engine.
type EngineReleases struct {
	// Engine is the Helm engine (*helm.Engine).
	Engine interface {
		Get(ctx context.Context, owner client.Object, name string) (*helm.Release, error)
	}
	// Meta lists Secrets' metadata from an informer (optional): a release no Secret holds is not read, which
	// spares kube-apiserver a discovery request and a Secret list per catalog entry and scan.
	Meta client.Reader
}

// Release implements ReleaseReader.
func (e EngineReleases) Release(ctx context.Context, namespace, name string) (*helm.Release, error) {
	if e.Meta != nil {
		if stamp, err := helm.ReleaseStamp(ctx, e.Meta, namespace, name); err == nil && stamp == "" {
			return nil, nil
		}
	}
	probe := &castwarev1.Component{}
	probe.Namespace, probe.Name = namespace, name
	rel, err := e.Engine.Get(ctx, probe, name)
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", name, err)
	}
	return rel, nil
}

// PermissionChecker says whether the operator holds the Phase 2 (extended) permissions.
type PermissionChecker interface {
	// ExtendedPermissions reports whether Phase 2 components may be adopted in namespace.
	ExtendedPermissions(ctx context.Context, namespace string) (bool, error)
}

// LabelExtendedPermissions marks the RoleBinding and ClusterRoleBinding the operator chart renders with
// extendedPermissions=true.
const LabelExtendedPermissions = "castware.cast.ai/extended-permissions"

// LabelledBindings detects Phase 2 the way the documented operator does: a RoleBinding in the namespace and a
// ClusterRoleBinding, both labelled castware.cast.ai/extended-permissions=true.
type LabelledBindings struct {
	// Reader lists bindings (uncached).
	Reader client.Reader
}

// ExtendedPermissions implements PermissionChecker.
func (l LabelledBindings) ExtendedPermissions(ctx context.Context, namespace string) (bool, error) {
	sel := client.MatchingLabels{LabelExtendedPermissions: "true"}
	rbs := &rbacv1.RoleBindingList{}
	if err := l.Reader.List(ctx, rbs, client.InNamespace(namespace), sel, client.Limit(1)); err != nil {
		return false, fmt.Errorf("list extended-permission RoleBindings: %w", err)
	}
	if len(rbs.Items) == 0 {
		return false, nil
	}
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := l.Reader.List(ctx, crbs, sel, client.Limit(1)); err != nil {
		return false, fmt.Errorf("list extended-permission ClusterRoleBindings: %w", err)
	}
	return len(crbs.Items) > 0, nil
}

// Found is an installation of a catalog component the operator did not make.
type Found struct {
	// Entry is the catalog entry.
	Entry *catalog.Entry
	// Source is helm (a release made with the helm CLI) or yaml (plain manifests).
	Source castwarev1.Migration
	// ReleaseName is the release to adopt, or to install a YAML takeover as (the name its selectors carry).
	ReleaseName string
	// Chart is the chart name.
	Chart string
	// Version is the installed chart version ("" when unknown).
	Version string
	// VersionNote says what was looked for when Version is unknown (YAML installs without a chart label).
	VersionNote string
	// Values are the user's settings as chart values; never key material.
	Values map[string]any
	// Release is the adopted release (Helm installs).
	Release *helm.Release
	// Workload is the main workload, when found.
	Workload *Workload
	// WorkloadSpec is the catalog description the workload matched.
	WorkloadSpec catalog.Workload
	// APIKeySecret is the Secret the workload reads API_KEY from ("" when unknown or a literal value).
	APIKeySecret string
	// Notes say what was not carried over, for humans (never values).
	Notes []string
}

// Describe says in a few words what was found.
func (f *Found) Describe() string {
	v := f.Version
	if v == "" {
		v = "unknown version"
	}
	switch {
	case f.Source == castwarev1.MigrationHelm:
		return fmt.Sprintf("Helm release %s (%s %s)", f.ReleaseName, f.Chart, v)
	case f.Workload != nil:
		return fmt.Sprintf("%s installed from YAML (%s)", f.Workload.Ref(), v)
	}
	return "nothing"
}

// Detector finds installations of catalog components.
type Detector struct {
	// Reader reads workloads, Secrets and ConfigMaps; it must not be the manager's cache (which holds only
	// objects the operator made).
	Reader client.Reader
	// Releases reads Helm releases.
	Releases ReleaseReader
	// Directory names releases and charts (optional; the catalog is the fallback).
	Directory ComponentDirectory
	// OwnRelease is the operator's own Helm release (optional): never an installation to adopt, whatever
	// its chart renders.
	OwnRelease string
}

// Names returns the release name and chart of a catalog entry: from the directory when it answers, else the catalog.
func (d Detector) Names(ctx context.Context, entry *catalog.Entry) (releaseName, chart string) {
	if d.Directory != nil {
		if r, c, err := d.Directory.Component(ctx, entry.Component); err == nil {
			return entry.ReleaseFor(r), entry.ChartFor(c)
		}
	}
	return entry.ReleaseFor(), entry.ChartFor()
}

// MadeByOperator reports whether a release revision was made by this operator (any of its processes).
func MadeByOperator(rel *helm.Release) bool {
	return rel != nil && rel.Labels[helm.LabelSession] != ""
}

// Detect finds entry's installation in namespace: a Helm release by its release name, else a workload the
// catalog describes (a workload that belongs to another Helm release is that release). Installations the
// operator made itself (a release with its revision labels, objects with its component label) are not
// returned: a Component deleted with its workloads left running is not re-adopted. nil when nothing is found.
func (d Detector) Detect(ctx context.Context, namespace string, entry *catalog.Entry) (*Found, error) {
	releaseName, chart := d.Names(ctx, entry)
	rel, err := d.Releases.Release(ctx, namespace, releaseName)
	if err != nil {
		return nil, err
	}
	if rel != nil {
		if MadeByOperator(rel) || d.own(rel.Name) || rel.Info == nil || rel.Info.Status == helm.StatusUninstalled {
			return nil, nil
		}
		f := d.fromRelease(entry, rel)
		if w, spec, err := d.FindWorkload(ctx, namespace, entry, ""); err == nil && w != nil {
			f.Workload, f.WorkloadSpec = w, spec
			f.APIKeySecret, _ = d.keySecret(ctx, namespace, Extract(w, spec, chart))
		}
		return f, nil
	}
	w, spec, err := d.FindWorkload(ctx, namespace, entry, "")
	if err != nil || w == nil {
		return nil, err
	}
	if owner, ownerNS := w.ReleaseOwner(); owner != "" && (ownerNS == "" || ownerNS == namespace) {
		if d.own(owner) {
			return nil, nil
		}
		other, err := d.Releases.Release(ctx, namespace, owner)
		if err != nil {
			return nil, err
		}
		if other != nil && other.Info != nil && other.Info.Status != helm.StatusUninstalled {
			if MadeByOperator(other) {
				return nil, nil
			}
			f := d.fromRelease(entry, other)
			f.Workload, f.WorkloadSpec = w, spec
			f.APIKeySecret, _ = d.keySecret(ctx, namespace, Extract(w, spec, chart))
			return f, nil
		}
	}
	ex := Extract(w, spec, chart, entry.Chart)
	f := &Found{Entry: entry, Source: castwarev1.MigrationYAML, ReleaseName: releaseName, Chart: chart, Version: ex.Version,
		Values: ex.Values, Workload: w, WorkloadSpec: spec}
	if inst := w.Selector[LabelInstance]; inst != "" && inst != releaseName && validReleaseName(inst) {
		// The workload's immutable selector carries the release name it was rendered for: keep it.
		f.ReleaseName = inst
	}
	keySecret, err := d.keySecret(ctx, namespace, ex)
	if err != nil {
		return nil, err
	}
	f.APIKeySecret = keySecret
	if ex.PlaintextKey {
		f.Notes = append(f.Notes, "the workload carries API_KEY as a literal value; it was not copied (the Cluster's Secret is used)")
	}
	if len(ex.NotCarried) > 0 {
		f.Notes = append(f.Notes, "kept on the workload but not in spec.values: "+strings.Join(ex.NotCarried, ", "))
	}
	return f, nil
}

// own reports whether a release is the operator's own.
func (d Detector) own(release string) bool { return d.OwnRelease != "" && release == d.OwnRelease }

func (d Detector) fromRelease(entry *catalog.Entry, rel *helm.Release) *Found {
	f := &Found{Entry: entry, Source: castwarev1.MigrationHelm, ReleaseName: rel.Name, Chart: entry.Chart, Release: rel}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		f.Chart, f.Version = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version
	}
	if !ValidVersion(f.Version) {
		f.Version = ""
	}
	vals, dropped := SanitizeReleaseValues(rel.Config, values.Paths(entry.ClusterValues))
	f.Values = vals
	if len(dropped) > 0 {
		f.Notes = append(f.Notes, "not copied from the release values (the Cluster provides them): "+strings.Join(dropped, ", "))
	}
	return f
}

// KeyMaterial returns the API keys an installation holds (in its key Secret and as plaintext release values),
// so they can be kept out of anything the operator writes. It never returns "".
func (d Detector) KeyMaterial(ctx context.Context, namespace string, f *Found) ([]string, error) {
	var keys []string
	if f.APIKeySecret != "" {
		sec := &corev1.Secret{}
		err := d.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: f.APIKeySecret}, sec)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read Secret %s: %w", f.APIKeySecret, err)
		}
		if k := strings.TrimSpace(string(sec.Data[APIKeyEnv])); k != "" {
			keys = append(keys, k)
		}
	}
	if f.Release != nil {
		for _, p := range []string{"apiKey", "castai.apiKey", "global.castai.apiKey"} {
			if v, ok := values.GetPath(f.Release.Config, p); ok {
				if k, _ := v.(string); strings.TrimSpace(k) != "" {
					keys = append(keys, strings.TrimSpace(k))
				}
			}
		}
	}
	for _, k := range keys {
		redact.Add(k) // scrubbed from every message and log line from now on
	}
	return keys, nil
}

// keySecret returns the first candidate Secret that holds API_KEY.
func (d Detector) keySecret(ctx context.Context, namespace string, ex Extraction) (string, error) {
	for _, name := range ex.KeySecretCandidates {
		sec := &corev1.Secret{}
		err := d.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sec)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read Secret %s: %w", name, err)
		}
		if len(sec.Data[APIKeyEnv]) > 0 {
			return name, nil
		}
	}
	return "", nil
}

// FindWorkload returns the first workload the entry describes: by name first, then by labels. Objects
// the operator labelled as its own are skipped, except those of the Component named owner ("" for none).
func (d Detector) FindWorkload(ctx context.Context, namespace string, entry *catalog.Entry, owner string) (*Workload, catalog.Workload, error) {
	for _, spec := range entry.Workloads {
		for _, name := range spec.Names {
			obj := newWorkloadObject(spec.Kind)
			err := d.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, spec, fmt.Errorf("read %s %s: %w", spec.Kind, name, err)
			}
			if w, ok := WorkloadFrom(obj); ok && usable(w, owner) {
				return w, spec, nil
			}
		}
		if len(spec.MatchLabels) == 0 {
			continue
		}
		found, err := d.listWorkloads(ctx, namespace, spec, owner)
		if err != nil {
			return nil, spec, err
		}
		if len(found) > 0 {
			return found[0], spec, nil
		}
	}
	return nil, catalog.Workload{}, nil
}

func usable(w *Workload, owner string) bool {
	l := w.Labels[helm.LabelComponent]
	return l == "" || (owner != "" && l == owner)
}

func (d Detector) listWorkloads(ctx context.Context, namespace string, spec catalog.Workload, owner string) ([]*Workload, error) {
	opts := []client.ListOption{client.InNamespace(namespace), client.MatchingLabels(spec.MatchLabels)}
	var objs []client.Object
	switch spec.Kind {
	case "Deployment":
		l := &appsv1.DeploymentList{}
		if err := d.Reader.List(ctx, l, opts...); err != nil {
			return nil, fmt.Errorf("list Deployments: %w", err)
		}
		for i := range l.Items {
			objs = append(objs, &l.Items[i])
		}
	case "DaemonSet":
		l := &appsv1.DaemonSetList{}
		if err := d.Reader.List(ctx, l, opts...); err != nil {
			return nil, fmt.Errorf("list DaemonSets: %w", err)
		}
		for i := range l.Items {
			objs = append(objs, &l.Items[i])
		}
	case "StatefulSet":
		l := &appsv1.StatefulSetList{}
		if err := d.Reader.List(ctx, l, opts...); err != nil {
			return nil, fmt.Errorf("list StatefulSets: %w", err)
		}
		for i := range l.Items {
			objs = append(objs, &l.Items[i])
		}
	}
	var out []*Workload
	for _, o := range objs {
		if w, ok := WorkloadFrom(o); ok && usable(w, owner) {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetWorkload reads one workload by kind and name (nil when it does not exist).
func GetWorkload(ctx context.Context, r client.Reader, kind, namespace, name string) (*Workload, error) {
	obj := newWorkloadObject(kind)
	if obj == nil {
		return nil, fmt.Errorf("unsupported workload kind %q", kind)
	}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", kind, name, err)
	}
	w, _ := WorkloadFrom(obj)
	return w, nil
}

func newWorkloadObject(kind string) client.Object {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	}
	return nil
}

func validReleaseName(s string) bool {
	if len(s) == 0 || len(s) > 53 {
		return false
	}
	for i, c := range s {
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if !alnum && !(c == '-' && i > 0 && i < len(s)-1) {
			return false
		}
	}
	return true
}
