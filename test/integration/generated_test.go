package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// TestGeneratedFilesUpToDate regenerates deepcopy code, CRDs and the RBAC rule sets with controller-gen
// (the same commands as `make generate`) into a scratch directory and compares them with the committed
// files; test/packaging checks what hack/shipgen derives from them.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root := testharness.RepoRoot()
	gen := filepath.Join(testharness.BinDir(), "controller-gen")
	out := t.TempDir()
	runs := [][]string{
		{"object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:object:dir=" + filepath.Join(out, "object")},
		{"crd", "paths=./api/...", "output:crd:dir=" + filepath.Join(out, "crd")},
		{"webhook", "paths=./internal/webhook/...", "output:webhook:dir=" + filepath.Join(out, "webhook")},
		{"rbac:roleName=phase1", "paths=./...", "output:rbac:dir=" + filepath.Join(out, "rbac")},
		{"--load-build-tags=rbacmarkers", "rbac:roleName=phase2", "paths=./internal/permissions/phase2/...", "output:rbac:dir=" + filepath.Join(out, "rbac-phase2")},
		{"--load-build-tags=rbacmarkers", "rbac:roleName=selfmanage", "paths=./internal/permissions/selfmanage/...", "output:rbac:dir=" + filepath.Join(out, "rbac-selfmanage")},
	}
	for _, args := range runs {
		cmd := exec.Command(gen, args...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, b)
		}
	}
	compare := map[string]string{
		filepath.Join(out, "object", "zz_generated.deepcopy.go"):      filepath.Join(root, "api", "v1alpha1", "zz_generated.deepcopy.go"),
		filepath.Join(out, "crd", "castware.cast.ai_clusters.yaml"):   filepath.Join(root, "config", "crd", "bases", "castware.cast.ai_clusters.yaml"),
		filepath.Join(out, "crd", "castware.cast.ai_components.yaml"): filepath.Join(root, "config", "crd", "bases", "castware.cast.ai_components.yaml"),
		filepath.Join(out, "webhook", "manifests.yaml"):               filepath.Join(root, "config", "webhook", "manifests.yaml"),
		filepath.Join(out, "rbac", "role.yaml"):                       filepath.Join(root, "config", "rbac", "role.yaml"),
		filepath.Join(out, "rbac-phase2", "role.yaml"):                filepath.Join(root, "config", "rbac", "phase2", "role.yaml"),
		filepath.Join(out, "rbac-selfmanage", "role.yaml"):            filepath.Join(root, "config", "rbac", "selfmanage", "role.yaml"),
	}
	for fresh, committed := range compare {
		a, err := os.ReadFile(fresh)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(committed)
		if err != nil {
			t.Fatalf("%v (run `make generate`)", err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is stale: run `make generate` and commit the result", committed)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(out, "crd"))
	if len(entries) != 2 {
		t.Errorf("controller-gen produced %d CRDs, the repository holds 2", len(entries))
	}
}
