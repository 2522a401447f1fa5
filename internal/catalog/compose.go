package catalog

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/values"
)

// ClusterFacts are the Cluster-level settings catalog templates may use.
type ClusterFacts struct {
	// APIURL is the Cast AI API URL.
	APIURL string
	// GRPCURL is the Cast AI gRPC endpoint.
	GRPCURL string
	// KvisorGRPCURL is the kvisor gRPC endpoint.
	KvisorGRPCURL string
	// Provider is the Cluster's provider as written (eks, gke, aks, ...).
	Provider string
	// ProviderCloud is the cloud name some charts want (aws, gcp, azure); empty for other providers.
	ProviderCloud string
	// ClusterID is the Cast AI cluster ID; empty until registered.
	ClusterID string
	// APIKeySecret is the name of the Secret holding API_KEY.
	APIKeySecret string
	// APIKey is the plaintext key, filled only for charts that cannot take a Secret reference.
	APIKey string
	// Namespace is the namespace the component is installed into.
	Namespace string
	// ExtendedPermissions is true when the operator holds Phase 2 permissions.
	ExtendedPermissions bool
}

var factFields = func() []string {
	t := reflect.TypeOf(ClusterFacts{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Name
	}
	sort.Strings(out)
	return out
}()

func factNames() []string { return factFields }

func knownFact(name string) bool {
	for _, f := range factFields {
		if f == name {
			return true
		}
	}
	return false
}

// ProviderCloud maps a Kubernetes provider to the cloud name charts such as spot-handler expect.
func ProviderCloud(provider string) string {
	switch provider {
	case "eks":
		return "aws"
	case "gke":
		return "gcp"
	case "aks":
		return "azure"
	}
	return ""
}

// singleField matches a template that is exactly one field reference, e.g. "{{ .ClusterID }}".
var singleField = regexp.MustCompile(`^\{\{-?\s*\.([A-Za-z]+)\s*-?\}\}$`)

func checkTemplates(v any, path string) error {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if err := checkTemplates(c, p); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range t {
			if err := checkTemplates(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case string:
		if _, err := renderLeaf(t, ClusterFacts{}); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// UsesFact reports whether the entry's clusterValues reference the named fact (e.g. "APIKey").
func (e *Entry) UsesFact(name string) bool {
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		case string:
			if regexp.MustCompile(`\.` + regexp.QuoteMeta(name) + `\b`).MatchString(t) {
				found = true
			}
		}
	}
	walk(e.ClusterValues)
	return found
}

// MissingFacts returns the required facts that are empty in f.
func (e *Entry) MissingFacts(f ClusterFacts) []string {
	rv := reflect.ValueOf(f)
	var missing []string
	for _, r := range e.Requires {
		if rv.FieldByName(r).IsZero() {
			missing = append(missing, r)
		}
	}
	return missing
}

// ClusterValuesFor renders the entry's clusterValues for one Cluster.
func (e *Entry) ClusterValuesFor(f ClusterFacts) (map[string]any, error) {
	out, err := renderTree(e.ClusterValues, f)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func renderTree(v any, f ClusterFacts) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range t {
			r, err := renderTree(c, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if r == nil {
				continue
			}
			if rm, ok := r.(map[string]any); ok && len(rm) == 0 {
				if cm, ok := c.(map[string]any); ok && len(cm) > 0 {
					continue // everything under it rendered empty
				}
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(t))
		for _, c := range t {
			r, err := renderTree(c, f)
			if err != nil {
				return nil, err
			}
			if r != nil {
				out = append(out, r)
			}
		}
		return out, nil
	case string:
		return renderLeaf(t, f)
	default:
		return v, nil
	}
}

func renderLeaf(s string, f ClusterFacts) (any, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	if m := singleField.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		fv := reflect.ValueOf(f).FieldByName(m[1])
		if !fv.IsValid() {
			return nil, fmt.Errorf("unknown field .%s (known: %s)", m[1], strings.Join(factFields, ", "))
		}
		if fv.Kind() == reflect.String && fv.String() == "" {
			return nil, nil
		}
		return fv.Interface(), nil
	}
	tpl, err := template.New("v").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", s, err)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, f); err != nil {
		return nil, fmt.Errorf("template %q: %w", s, err)
	}
	if buf.Len() == 0 {
		return nil, nil
	}
	return buf.String(), nil
}

// Overrides returns the entry's overrideValues with $ENV references expanded by lookup (os.Getenv when nil),
// parsed like helm --set; overrides that expand to "" are skipped.
func (e *Entry) Overrides(lookup func(string) string) (map[string]any, error) {
	if lookup == nil {
		lookup = os.Getenv
	}
	out := map[string]any{}
	keys := make([]string, 0, len(e.OverrideValues))
	for k := range e.OverrideValues {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := os.Expand(e.OverrideValues[k], lookup)
		if v == "" {
			continue
		}
		if err := charts.ParseSet(k+"="+v, out); err != nil {
			return nil, fmt.Errorf("overrideValues %s: %w", k, err)
		}
	}
	return out, nil
}

// Compose returns the values for one Component: catalog defaults, then the Cluster-derived values, then the
// user's spec.values, then the entry's overrides. Each layer deep-merges over the previous one.
func (e *Entry) Compose(f ClusterFacts, user map[string]any, lookup func(string) string) (map[string]any, error) {
	derived, err := e.ClusterValuesFor(f)
	if err != nil {
		return nil, fmt.Errorf("cluster values for %s: %w", e.Component, err)
	}
	overrides, err := e.Overrides(lookup)
	if err != nil {
		return nil, err
	}
	merged := values.Merge(e.Values, derived, user, overrides)
	return values.Normalize(merged)
}

// For renders the object's namespace and name for one Cluster.
func (o LegacyObject) For(f ClusterFacts) (LegacyObject, error) {
	out := o
	for _, field := range []*string{&out.Namespace, &out.Name} {
		r, err := renderLeaf(*field, f)
		if err != nil {
			return o, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
		}
		s, _ := r.(string)
		*field = s
	}
	return out, nil
}

// LegacyObjectsFor renders the entry's legacy objects for one Cluster; objects whose name renders empty are left out.
func (e *Entry) LegacyObjectsFor(f ClusterFacts) ([]LegacyObject, error) {
	var out []LegacyObject
	for _, o := range e.LegacyObjects {
		r, err := o.For(f)
		if err != nil {
			return nil, err
		}
		if r.Name != "" {
			out = append(out, r)
		}
	}
	return out, nil
}
