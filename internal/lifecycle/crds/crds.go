// Package crds applies the operator's CustomResourceDefinitions server-side: the logic of the
// `crd-apply` subcommand that the operator chart's pre-install/pre-upgrade hook runs (Helm installs a
// chart's crds/ once and never upgrades them).
package crds

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Names are the only CRDs crd-apply applies; the hook's ClusterRole is limited to them.
var Names = []string{"clusters.castware.cast.ai", "components.castware.cast.ai"}

// FieldManager is the server-side apply field manager of the CRDs.
const FieldManager = "castware-operator"

// DefaultTimeout bounds how long Apply waits for the CRDs to be established.
const DefaultTimeout = 2 * time.Minute

// LoadDir reads the CRDs from every .yaml/.yml file in dir. It refuses any other kind and any CRD
// that is not one of Names, and requires every name in Names.
func LoadDir(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		got, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, got...)
	}
	seen := map[string]bool{}
	for _, c := range out {
		if seen[c.Name] {
			return nil, fmt.Errorf("CRD %s appears twice in %s", c.Name, dir)
		}
		seen[c.Name] = true
	}
	for _, n := range Names {
		if !seen[n] {
			return nil, fmt.Errorf("CRD %s not found in %s", n, dir)
		}
	}
	return out, nil
}

// Parse reads CRDs from a multi-document YAML stream, refusing other kinds and names.
func Parse(data []byte) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, doc := range strings.Split("\n"+string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict([]byte(doc), crd); err != nil {
			return nil, fmt.Errorf("parse CRD: %w", err)
		}
		if crd.Kind == "" && crd.Name == "" {
			continue
		}
		if crd.Kind != "CustomResourceDefinition" || crd.APIVersion != apiextensionsv1.SchemeGroupVersion.String() {
			return nil, fmt.Errorf("%s %s is not an %s CustomResourceDefinition", crd.Kind, crd.Name, apiextensionsv1.SchemeGroupVersion)
		}
		if !allowed(crd.Name) {
			return nil, fmt.Errorf("CRD %s is not one of the operator's CRDs (%s)", crd.Name, strings.Join(Names, ", "))
		}
		out = append(out, crd)
	}
	return out, nil
}

func allowed(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// Apply applies each CRD server-side with FieldManager, forcing ownership of fields another manager set
// (Helm's crds/ install, an earlier `kubectl apply`), then waits until every CRD is Established with its
// names accepted. Progress lines go to out.
func Apply(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	for _, crd := range crds {
		u, err := toApplyObject(crd)
		if err != nil {
			return err
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.Name, err)
		}
		fmt.Fprintf(out, "customresourcedefinition.apiextensions.k8s.io/%s serverside-applied\n", crd.Name)
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, c, crd); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "CRDs applied successfully")
	return nil
}

// toApplyObject turns a CRD into the object to apply: only what the file sets (no status, no server-set
// metadata), with apiVersion and kind.
func toApplyObject(crd *apiextensionsv1.CustomResourceDefinition) (*unstructured.Unstructured, error) {
	clean := crd.DeepCopy()
	clean.APIVersion = apiextensionsv1.SchemeGroupVersion.String()
	clean.Kind = "CustomResourceDefinition"
	clean.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	clean.ResourceVersion, clean.UID, clean.ManagedFields = "", "", nil
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(clean)
	if err != nil {
		return nil, fmt.Errorf("convert CRD %s: %w", crd.Name, err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func waitEstablished(ctx context.Context, c client.Client, crd *apiextensionsv1.CustomResourceDefinition) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		live := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, types.NamespacedName{Name: crd.Name}, live); err != nil {
			last = err.Error()
			return false, nil
		}
		established, accepted := false, false
		for _, cond := range live.Status.Conditions {
			switch cond.Type {
			case apiextensionsv1.Established:
				established = cond.Status == apiextensionsv1.ConditionTrue
			case apiextensionsv1.NamesAccepted:
				accepted = cond.Status == apiextensionsv1.ConditionTrue
				if !accepted {
					last = cond.Message
				}
			}
		}
		if established && accepted {
			return true, nil
		}
		if last == "" {
			last = "not established yet"
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %s: %w", crd.Name, last, err)
	}
	return nil
}

// NewScheme returns a scheme with the apiextensions types, for clients Apply is given.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(s)
	return s
}
