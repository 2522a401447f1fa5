// Package packaging tests what the project ships: the operator and components Helm charts (lint,
// golden renders, schema, RBAC), the RBAC rule sets (config/, chart and CSV agree), the OLM bundle
// (operator-framework/api validators), the Dockerfile, and, against a real control plane with kwok,
// the chart's install / upgrade / uninstall with the real helm binary and the operator's self-upgrade.
// The control plane starts on first use (static tests need none) and is its own, so deleting the CRDs
// never disturbs test/integration.
package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

var (
	root         = testharness.RepoRoot()
	operatorDir  = filepath.Join(root, packaging.OperatorChartDir)
	componentDir = filepath.Join(root, packaging.ComponentsChartDir)

	envOnce sync.Once
	env     *testharness.Env
	envErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv("CASTWARE_TEST_LOGS") == "1" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(discard{})))
	}
	code := m.Run()
	stopRelease()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop control plane:", err)
		}
	}
	os.Exit(code)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// controlPlane returns the package's control plane (envtest + kcm + scheduler + kwok, without the
// operator's CRDs: the chart installs them), starting it on first use.
func controlPlane(t *testing.T) *testharness.Env {
	t.Helper()
	envOnce.Do(func() { env, envErr = testharness.Start(testharness.Options{Kwok: true, Nodes: 1, NoCRDs: true}) })
	if envErr != nil {
		t.Fatalf("start control plane: %v", envErr)
	}
	return env
}

// templateCapabilities make `helm template` render as against the chart's newest requirement: Kubernetes
// 1.30 with the ValidatingAdmissionPolicy API (helm's offline default, v1.20.0, is below the chart's
// kubeVersion). A test that passes --kube-version itself chooses its own.
var templateCapabilities = []string{"--kube-version", "1.30.0", "--api-versions", "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"}

// helm runs the real helm binary without a cluster (template, lint), isolated from the user's config.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if len(args) > 0 && args[0] == "template" && !slices.Contains(args, "--kube-version") {
		args = append(append([]string{}, args...), templateCapabilities...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testharness.BinDir(), "helm"), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// render runs `helm template` and parses the result.
func render(t *testing.T, chartDir, release, namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s %v: %v\n%s", filepath.Base(chartDir), args, err, out)
	}
	objs, err := packaging.SplitYAML([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// find returns the rendered object of kind and name, failing the test when it is missing.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	var have []string
	for _, o := range objs {
		have = append(have, o.GetKind()+"/"+o.GetName())
	}
	t.Fatalf("%s %s not rendered; have %s", kind, name, strings.Join(have, ", "))
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// eventually polls fn until it returns nil, failing after timeout with fn's last error.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	testharness.Eventually(t, timeout, 200*time.Millisecond, what, fn)
}
