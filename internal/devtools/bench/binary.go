package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// makeVariable prints one variable of the repository's Makefile as `make` computes it, so the bench builds
// with exactly the flags `make build` uses instead of a copy that drifts.
func makeVariable(ctx context.Context, name string) (string, error) {
	target := "castware-bench-print-" + strings.ToLower(name)
	cmd := exec.CommandContext(ctx, "make", "-s", "--no-print-directory", "--eval", target+": ; @echo $("+name+")", target)
	cmd.Dir = testharness.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("read %s from the Makefile: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// buildOperator compiles the operator into dir as `make build` does (static, -trimpath, the Makefile's
// LDFLAGS: stripped, version stamped), so the size and memory rows describe the binary that ships.
func buildOperator(ctx context.Context, dir string) (string, error) {
	ldflags, err := makeVariable(ctx, "LDFLAGS")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "castware-operator")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Dir = testharness.RepoRoot()
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the operator as make build does: %w\n%s", err, b)
	}
	return out, nil
}

// fileSize returns the size of a file in bytes.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return fi.Size(), nil
}
