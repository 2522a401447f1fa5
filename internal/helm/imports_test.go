package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// helmHomes are the packages (with their subpackages) that may import Helm: a Helm 4 port changes only them.
var helmHomes = []string{"internal/helm", "internal/charts"}

// allowedForNow are other packages that still import Helm, with why. Remove an entry as soon as its package
// stops importing Helm; the test fails while a stale entry remains so none outlives its reason.
var allowedForNow = map[string]string{}

// TestHelmImportsStayInHelmAndCharts fails for every package outside internal/helm and internal/charts whose
// non-test files import helm.sh/... (test files and the test/ tree may still import Helm).
func TestHelmImportsStayInHelmAndCharts(t *testing.T) {
	root, module := moduleRoot(t)
	for pkg, imports := range listImports(t, root) {
		rel, ok := strings.CutPrefix(pkg, module+"/")
		if pkg == module {
			rel, ok = "", true
		}
		if !ok || inHelmHome(rel) {
			continue
		}
		helmImports := importsOfHelm(imports)
		why, allowed := allowedForNow[rel]
		switch {
		case allowed && len(helmImports) == 0:
			t.Errorf("%s no longer imports Helm: delete its entry from allowedForNow", pkg)
		case !allowed && len(helmImports) > 0:
			t.Errorf("%s imports %s: name what it needs in internal/helm or internal/charts instead", pkg, strings.Join(helmImports, ", "))
		case allowed:
			t.Logf("%s still imports Helm (allowed for now: %s)", pkg, why)
		}
	}
}

// moduleRoot returns the directory holding go.mod above the working directory, and the module path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod has no module line", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// listImports runs go list in root and returns each package's non-test imports.
func listImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}
	cmd := exec.Command(gobin, "list", "-e", "-deps=false", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	}
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			pkgs[f[0]] = f[1:]
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func inHelmHome(rel string) bool {
	for _, h := range helmHomes {
		if rel == h || strings.HasPrefix(rel, h+"/") {
			return true
		}
	}
	return false
}

func importsOfHelm(imports []string) []string {
	var out []string
	for _, imp := range imports {
		if strings.HasPrefix(imp, "helm.sh/") {
			out = append(out, imp)
		}
	}
	sort.Strings(out)
	return out
}
