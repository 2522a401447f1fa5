package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/values"
)

// ComponentDefaulter sets the Component defaults the catalog gives (see DefaultComponent).
type ComponentDefaulter struct {
	// Catalog is the component catalog.
	Catalog *catalog.Catalog
}

// Default implements admission.Defaulter.
func (d ComponentDefaulter) Default(_ context.Context, c *castwarev1.Component) error {
	DefaultComponent(c, d.Catalog)
	return nil
}

// DefaultComponent fills what the catalog knows about a Component, as the documented operator does from the
// Cast AI API: spec.releaseName when empty (the release the Component is installed as, else the catalog's
// release name) and the castware.cast.ai/helm-chart label when absent. spec.version is not defaulted here:
// the latest version needs the network, so the controller resolves it and writes it back. It is a pure function.
func DefaultComponent(c *castwarev1.Component, cat *catalog.Catalog) {
	if cat == nil {
		return
	}
	entry, ok := cat.Lookup(c.Spec.Component, c.Labels)
	if !ok {
		return
	}
	if c.Spec.ReleaseName == "" {
		c.Spec.ReleaseName = entry.ReleaseFor(c.Status.ReleaseName)
	}
	if entry.Chart != "" && c.Labels[castwarev1.LabelHelmChart] == "" {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[castwarev1.LabelHelmChart] = entry.Chart
	}
}

// ComponentValidator validates Components (see ValidateComponent).
type ComponentValidator Config

// ValidateCreate implements admission.Validator.
func (v ComponentValidator) ValidateCreate(ctx context.Context, c *castwarev1.Component) (admission.Warnings, error) {
	warnings, err := ValidateComponent(nil, c, v.Catalog)
	return append(warnings, v.environmentWarnings(ctx, nil, c)...), withProblem(err, v.releaseConflict(ctx, nil, c))
}

// ValidateUpdate implements admission.Validator.
func (v ComponentValidator) ValidateUpdate(ctx context.Context, old, c *castwarev1.Component) (admission.Warnings, error) {
	warnings, err := ValidateComponent(old, c, v.Catalog)
	err = withProblem(err, v.releaseConflict(ctx, old, c))
	if specEqual(&old.Spec, &c.Spec) {
		return warnings, err
	}
	return append(warnings, v.environmentWarnings(ctx, old, c)...), err
}

// ValidateDelete implements admission.Validator: deletes are never blocked (and never sent).
func (ComponentValidator) ValidateDelete(context.Context, *castwarev1.Component) (admission.Warnings, error) {
	return nil, nil
}

// releaseConflict refuses a release name that is the operator's own or another Component's, when it is
// set or changed ("" when allowed; catalog.ReleaseConflict decides).
func (v ComponentValidator) releaseConflict(ctx context.Context, old, c *castwarev1.Component) string {
	name := c.Spec.ReleaseName
	if name == "" || c.Spec.Readonly || !c.DeletionTimestamp.IsZero() || (old != nil && old.Spec.ReleaseName == name) {
		return ""
	}
	self := catalog.Claim{Component: c.Namespace + "/" + c.Name, Release: name, Created: c.CreationTimestamp.Time}
	if self.Created.IsZero() {
		self.Created = time.Now() // a create: younger than every Component that exists
	}
	var others []catalog.Claim
	if v.Components != nil {
		var list castwarev1.ComponentList
		if err := v.Components.List(ctx, &list, client.InNamespace(c.Namespace)); err == nil {
			for _, o := range list.Items {
				others = append(others, catalog.Claim{Component: o.Namespace + "/" + o.Name, Release: cmp.Or(o.Status.ReleaseName, o.Spec.ReleaseName),
					Installed: o.Status.Revision > 0, Created: o.CreationTimestamp.Time})
			}
		}
	}
	if msg := catalog.ReleaseConflict(self, v.OwnRelease, others); msg != "" {
		return "spec.releaseName: " + msg
	}
	return ""
}

// environmentWarnings are warnings that depend on the cluster's state, read from memory: a Phase 2 component
// without the extended permissions (it will wait, Available=False/MissingPermissions, rather than be refused,
// so GitOps tools converge), and a Cluster that does not exist yet.
func (v ComponentValidator) environmentWarnings(ctx context.Context, old, c *castwarev1.Component) admission.Warnings {
	var w admission.Warnings
	if c.Spec.Enabled && !c.Spec.Readonly && v.Catalog != nil && v.ExtendedPermissions != nil {
		if e, ok := v.Catalog.Lookup(c.Spec.Component, c.Labels); ok && e.Phase >= 2 && !v.ExtendedPermissions(ctx, c.Namespace) {
			w = append(w, fmt.Sprintf("component %s needs the operator's extended (Phase 2) permissions, which it does not hold: it waits "+
				"(Available=False, reason MissingPermissions) until they are granted, e.g. helm upgrade <release> -n %s --set extendedPermissions=true --reuse-values <chart>",
				c.Spec.Component, c.Namespace))
		}
	}
	if old == nil && v.Clusters != nil {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := v.Clusters.Get(rctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.Cluster}, &castwarev1.Cluster{})
		if apierrors.IsNotFound(err) {
			w = append(w, fmt.Sprintf("Cluster %q does not exist in namespace %s yet: the component waits for it", c.Spec.Cluster, c.Namespace))
		}
	}
	return w
}

// ValidateComponent checks a Component being created (old is nil) or updated. It is a pure function.
//
// On create: the component must be in the catalog, or carry the castware.cast.ai/helm-chart label naming its
// chart; spec.version, when set, must be an exact semantic version; spec.values must be an object.
//
// On update, an unchanged spec is always allowed (metadata, labels, annotations and finalizers can always be
// edited, even on a readonly Component, and status never comes here). Otherwise spec.component and
// spec.cluster are immutable; spec.migration may only be cleared, except the operator's Terraform handover
// (terraform → helm or yaml); a changed version or values must be valid. A readonly Component's spec cannot
// change while spec.readonly stays true, and spec.readonly can only be turned on by itself (both except the
// Terraform handover, which records what runs).
func ValidateComponent(old, c *castwarev1.Component, cat *catalog.Catalog) (admission.Warnings, error) {
	var problems []string
	var warnings admission.Warnings
	spec, name := &c.Spec, c.Namespace+"/"+c.Name
	if old == nil {
		if cat != nil && !known(cat, c) {
			problems = append(problems, fmt.Sprintf("spec.component %q is not in the component catalog (known: %s) and the Component has no %s label naming its chart",
				spec.Component, strings.Join(cat.Components(), ", "), castwarev1.LabelHelmChart))
		}
		problems = appendIf(problems, validateVersion(spec.Version))
		problems = appendIf(problems, validateChartDigest(spec))
		problems = appendIf(problems, validateValues(spec.Values))
		if cat != nil && known(cat, c) && !cat.Known(spec.Component) {
			if _, err := cat.Uncatalogued(spec.Component, c.Labels[castwarev1.LabelHelmChart]); err != nil {
				problems = append(problems, err.Error())
				return result(problems, nil)
			}
			warnings = append(warnings, fmt.Sprintf("component %q is not in the catalog: chart %s is installed with the values every Cast AI chart understands",
				spec.Component, c.Labels[castwarev1.LabelHelmChart]))
		}
		return result(problems, warnings)
	}
	if !c.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	problems = appendIf(problems, chartLabelChange(old, c))
	if specEqual(&old.Spec, spec) {
		return result(problems, nil)
	}
	was := &old.Spec
	if spec.Component != was.Component {
		problems = append(problems, fmt.Sprintf("spec.component is immutable: it is %q and cannot become %q (create a new Component instead)", was.Component, spec.Component))
	}
	if spec.Cluster != was.Cluster {
		problems = append(problems, fmt.Sprintf("spec.cluster is immutable: it is %q and cannot become %q", was.Cluster, spec.Cluster))
	}
	handover := was.Migration == castwarev1.MigrationTerraform &&
		(spec.Migration == castwarev1.MigrationNone || spec.Migration == castwarev1.MigrationHelm || spec.Migration == castwarev1.MigrationYAML)
	if spec.Migration != was.Migration && spec.Migration != castwarev1.MigrationNone && !handover {
		problems = append(problems, fmt.Sprintf("spec.migration can only be cleared (set to \"\") after creation: it is %q and cannot become %q", was.Migration, spec.Migration))
	}
	if spec.ReleaseName != was.ReleaseName && old.Status.Revision > 0 && old.Status.ReleaseName != "" && spec.ReleaseName != old.Status.ReleaseName {
		problems = append(problems, fmt.Sprintf("spec.releaseName cannot change once installed: the release is %q (to move it, disable the Component first)", old.Status.ReleaseName))
	}
	if spec.Version != was.Version {
		problems = appendIf(problems, validateVersion(spec.Version))
	}
	if spec.Version != was.Version || spec.ChartDigest != was.ChartDigest {
		problems = appendIf(problems, validateChartDigest(spec))
	}
	if !valuesEqual(spec.Values, was.Values) {
		problems = appendIf(problems, validateValues(spec.Values))
	}
	if !handover {
		switch {
		case was.Readonly && spec.Readonly:
			problems = append(problems, fmt.Sprintf("Component %s is readonly: its spec cannot change while spec.readonly is true "+
				"(set spec.readonly to false, alone or with the change; labels, annotations, finalizers and status can always be changed)", name))
		case !was.Readonly && spec.Readonly:
			without := *spec
			without.Readonly = false
			if !specEqual(was, &without) {
				problems = append(problems, "spec.readonly can only be turned on by itself: apply the other spec changes first, then set spec.readonly to true")
			}
		}
	}
	if cat != nil && !known(cat, c) {
		warnings = append(warnings, fmt.Sprintf("spec.component %q is no longer in the component catalog (known: %s): the operator cannot manage it",
			spec.Component, strings.Join(cat.Components(), ", ")))
	}
	return result(problems, warnings)
}

// chartLabelChange refuses a change of the chart label while another chart runs: the label names the
// chart a Component installs, and swapping it would replace a running release with another product.
func chartLabelChange(old, c *castwarev1.Component) error {
	was, now := old.Labels[castwarev1.LabelHelmChart], c.Labels[castwarev1.LabelHelmChart]
	if was == now || old.Status.CurrentVersion == "" || now == old.Status.Chart {
		return nil
	}
	return fmt.Errorf("label %s cannot change from %q to %q while chart %s %s runs (disable the Component first, or create another)",
		castwarev1.LabelHelmChart, was, now, old.Status.Chart, old.Status.CurrentVersion)
}

// known reports whether the operator can manage c: its component is in the catalog, or a label names its chart.
func known(cat *catalog.Catalog, c *castwarev1.Component) bool {
	if _, ok := cat.Lookup(c.Spec.Component, c.Labels); ok {
		return true
	}
	return c.Labels[castwarev1.LabelHelmChart] != ""
}

// validateVersion requires an exact chart version: MAJOR.MINOR.PATCH with optional pre-release and build, an
// optional leading "v". "" (the latest) is valid.
func validateVersion(v string) error {
	if v == "" {
		return nil
	}
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v")); err != nil {
		return fmt.Errorf("spec.version %q is not an exact chart version (MAJOR.MINOR.PATCH such as 0.161.0, or empty for the latest): %w", v, err)
	}
	return nil
}

// validateChartDigest requires a digest pin to name an exact version: a pin on "the latest" would refuse
// every new release.
func validateChartDigest(spec *castwarev1.ComponentSpec) error {
	if spec.ChartDigest != "" && spec.Version == "" {
		return fmt.Errorf("spec.chartDigest %s pins a chart version, so spec.version must name one", spec.ChartDigest)
	}
	return nil
}

// validateValues requires spec.values to be a JSON object (Helm values), within the nesting limit, without
// an API key.
func validateValues(v *apiextensionsv1.JSON) error {
	if v == nil {
		return nil
	}
	parsed, err := values.Parse(v.Raw)
	if err == nil {
		err = values.RejectKeys(parsed)
	}
	if err != nil {
		return fmt.Errorf("spec.values: %w", err)
	}
	return nil
}

// specEqual compares two Component specs, values by meaning (an absent, null and empty object are the same;
// key order and spacing do not matter).
func specEqual(a, b *castwarev1.ComponentSpec) bool {
	x, y := *a, *b
	x.Values, y.Values = nil, nil
	return equality.Semantic.DeepEqual(x, y) && valuesEqual(a.Values, b.Values)
}

func valuesEqual(a, b *apiextensionsv1.JSON) bool {
	return reflect.DeepEqual(decodeValues(a), decodeValues(b))
}

// decodeValues decodes raw values for comparison; what does not decode compares as its raw text.
func decodeValues(v *apiextensionsv1.JSON) any {
	if v == nil || len(v.Raw) == 0 {
		return map[string]any{}
	}
	var out any
	if err := json.Unmarshal(v.Raw, &out); err != nil {
		return string(v.Raw)
	}
	if out == nil {
		return map[string]any{}
	}
	return out
}
