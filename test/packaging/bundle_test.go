package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
)

// TestGeneratedFilesUpToDate: the chart's RBAC templates and CRDs, internal/permissions' rule sets and
// the OLM bundle are what hack/shipgen generates from config/ now (`make generate`, `make bundle`).
func TestGeneratedFilesUpToDate(t *testing.T) {
	chart, err := packaging.ChartFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if stale := packaging.Stale(root, chart); len(stale) > 0 {
		t.Errorf("stale generated files (run `make generate`): %s", strings.Join(stale, ", "))
	}
	bundle, err := packaging.BundleFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if stale := packaging.Stale(root, bundle); len(stale) > 0 {
		t.Errorf("stale bundle files (run `make bundle`): %s", strings.Join(stale, ", "))
	}
	for _, dir := range []string{"manifests", packaging.ScorecardBundleDir} {
		entries, err := os.ReadDir(filepath.Join(root, packaging.BundleDir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := bundle[filepath.Join(packaging.BundleDir, dir, e.Name())]; !ok {
				t.Errorf("%s is not generated any more (run `make bundle`)", filepath.Join(packaging.BundleDir, dir, e.Name()))
			}
		}
	}
}

// TestBundleValidation runs operator-framework/api's default bundle validators and the operatorframework
// suite (OperatorHub, capabilities, categories, deprecated APIs, good practices) on bundle/: no error,
// no warning. Deliberately broken copies must fail (`make bundle-validate`).
func TestBundleValidation(t *testing.T) {
	dir := filepath.Join(root, packaging.BundleDir)
	errs, warns, err := packaging.ValidateBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("error: %s", e)
	}
	for _, w := range warns {
		t.Errorf("warning: %s", w)
	}
	csvName := packaging.BundlePackage + ".clusterserviceversion.yaml"
	csv, err := os.ReadFile(filepath.Join(dir, "manifests", csvName))
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"capabilities: Seamless Upgrades", "alm-examples:", "minKubeVersion:", "relatedImages:",
		"base64data:", "maintainers:", "links:", "type: OwnNamespace", "type: SingleNamespace"} {
		if !strings.Contains(string(csv), needle) {
			t.Errorf("CSV lacks %q", needle)
		}
	}

	broken := []struct {
		name       string
		edit       func(string) string
		wantErr    string
		wantWarnig string
	}{
		{name: "no provider", edit: func(s string) string {
			return strings.Replace(s, "provider:\n    name: castware-operator", "provider:\n    name: \"\"", 1)
		}, wantErr: "csv.Spec.Provider.Name not specified"},
		{name: "unknown category", edit: func(s string) string {
			return strings.Replace(s, "categories: Monitoring,Integration & Delivery", "categories: Whatever", 1)
		}, wantErr: `value "Whatever" is not in the set of standard categories`},
		{name: "unknown capability", edit: func(s string) string {
			return strings.Replace(s, "capabilities: Seamless Upgrades", "capabilities: Magic", 1)
		}, wantErr: "capabilities"},
		{name: "no install modes", edit: func(s string) string {
			return strings.Replace(s, "supported: true", "supported: false", -1)
		}, wantErr: "none of InstallModeTypes are supported"},
		{name: "CRD write permissions", edit: func(s string) string {
			return strings.Replace(s, "      clusterPermissions:\n      - rules:\n", "      clusterPermissions:\n      - rules:\n        - apiGroups: [apiextensions.k8s.io]\n          resources: [customresourcedefinitions]\n          verbs: [create]\n", 1)
		}, wantWarnig: "CSV contains permissions to create CRD"},
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			copyDir := t.TempDir()
			if err := copyTree(dir, copyDir); err != nil {
				t.Fatal(err)
			}
			edited := b.edit(string(csv))
			if edited == string(csv) {
				t.Fatalf("the edit changed nothing")
			}
			if err := os.WriteFile(filepath.Join(copyDir, "manifests", csvName), []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			errs, warns, err := packaging.ValidateBundle(copyDir)
			if err != nil {
				t.Fatal(err)
			}
			want, got := b.wantErr, errs
			if want == "" {
				want, got = b.wantWarnig, warns
			}
			if !strings.Contains(strings.Join(got, "\n"), want) {
				t.Errorf("broken bundle (%s) not reported with %q; errors %v warnings %v", b.name, want, errs, warns)
			}
		})
	}
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
