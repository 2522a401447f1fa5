package release

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// versionPkg is the package whose Version and Commit the linker sets.
const versionPkg = "github.com/castware-operator/castware-operator/internal/version"

// LDFlags returns the linker flags of the operator binary: stripped, with version and commit set (the
// same as the Makefile's LDFLAGS, which `make build` uses).
func LDFlags(version, commit string) string {
	return fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s", versionPkg, version, versionPkg, commit)
}

// BuildBinary builds the static operator binary of root's main package for linux/arch into out, as
// `make build` does (CGO_ENABLED=0, -trimpath, LDFlags) and without VCS stamping, so the bytes depend
// only on the source, the Go toolchain, the version and the commit.
func BuildBinary(ctx context.Context, root, arch, version, commit, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("binary folder: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", LDFlags(version, commit), "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build linux/%s: %w\n%s", arch, err, stderr.String())
	}
	return nil
}
