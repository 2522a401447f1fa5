package testharness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/castware-operator/castware-operator/internal/helm"
)

// History returns a release's revisions from Helm's Secret storage, oldest first (nil when none).
func (e *Env) History(ctx context.Context, ns, name string) ([]*helm.Release, error) {
	return helm.History(ctx, e.Config, ns, name)
}

// SaveRelease writes a release record directly into Helm's storage (tests use it to fake a crashed operation).
func (e *Env) SaveRelease(ctx context.Context, rel *helm.Release) error {
	return helm.SaveRevision(e.Config, rel)
}

// Helm runs the real helm binary against the control plane and returns its combined output.
func (e *Env) Helm(ctx context.Context, args ...string) (string, error) {
	return e.run(ctx, "helm", args...)
}

// Kubectl runs the real kubectl binary against the control plane and returns its combined output.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	return e.run(ctx, "kubectl", args...)
}

func (e *Env) run(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.BinDir, bin), args...)
	home := filepath.Join(e.Dir, "home")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.KubeconfigPath, "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %v: %w\n%s", bin, args, err, out.String())
	}
	return out.String(), nil
}
