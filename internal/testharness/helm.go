package testharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
)

// History returns a release's revisions from Helm's Secret storage, oldest first (nil when none).
func (e *Env) History(ctx context.Context, ns, name string) ([]*release.Release, error) {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return nil, err
	}
	d := driver.NewSecrets(cs.CoreV1().Secrets(ns))
	rels, err := d.Query(map[string]string{"name": name, "owner": "helm"})
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	return rels, nil
}

// SaveRelease writes a release record directly into Helm's storage (tests use it to fake a crashed operation).
func (e *Env) SaveRelease(ctx context.Context, rel *release.Release) error {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	d := driver.NewSecrets(cs.CoreV1().Secrets(rel.Namespace))
	key := fmt.Sprintf("sh.helm.release.v1.%s.v%d", rel.Name, rel.Version)
	if _, err := d.Get(key); err == nil {
		return d.Update(key, rel)
	}
	return d.Create(key, rel)
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
