package packaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	helmengine "github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/lifecycle/cleanup"
	"github.com/castware-operator/castware-operator/internal/lifecycle/crds"
	"github.com/castware-operator/castware-operator/internal/lifecycle/preflight"
	"github.com/castware-operator/castware-operator/internal/lifecycle/removal"
	"github.com/castware-operator/castware-operator/internal/lifecycle/subcmd"
	"github.com/castware-operator/castware-operator/internal/operator"
)

const (
	docsRelease   = "castware-operator"
	docsNamespace = "castai-agent"
	testClusterID = "3f1c9a52-7d4e-4b8a-9c2d-1e5f6a7b8c9d"
	// upgradeField is a field only the second chart version's Cluster CRD declares.
	upgradeField = "testOnlyUpgradeField"
)

// kube runs the real helm or kubectl binary against the control plane, bounded by timeout.
func kube(t *testing.T, e *testharness.Env, timeout time.Duration, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if bin == "helm" {
		return e.Helm(ctx, args...)
	}
	return e.Kubectl(ctx, args...)
}

func mustKube(t *testing.T, e *testharness.Env, timeout time.Duration, bin string, args ...string) string {
	t.Helper()
	out, err := kube(t, e, timeout, bin, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// asServiceAccount returns a copy of cfg that acts as a ServiceAccount (impersonation), so the real RBAC
// the chart renders decides what the code may do.
func asServiceAccount(cfg *rest.Config, ns, name string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, name),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	return c
}

func clientFor(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: cleanup.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// chartVersion copies the operator chart into a temporary directory with another version; with
// newField its Cluster CRD also declares upgradeField.
func chartVersion(t *testing.T, version string, newField bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "castware-operator")
	if err := copyTree(operatorDir, dir); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(dir, "Chart.yaml")
	data, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("\nversion: 0.1.0\n"), []byte("\nversion: "+version+"\n"), 1)
	data = bytes.Replace(data, []byte("\nappVersion: \"v0.1.0\"\n"), []byte("\nappVersion: \"v"+version+"\"\n"), 1)
	if err := os.WriteFile(chartYAML, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if newField {
		p := filepath.Join(dir, "crds", "castware.cast.ai_clusters.yaml")
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			t.Fatal(err)
		}
		spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Properties[upgradeField] = apiextensionsv1.JSONSchemaProps{Type: "string", Description: "Declared by the second chart version only."}
		crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		out, err := yaml.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append([]byte("---\n"), out...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runCRDHook does what the chart's CRD-upgrade hook does when Helm runs it. Hook Jobs under kwok never
// run the operator binary, so the test renders the hook of chartDir with the release's values, creates
// its ServiceAccount, ClusterRole and ClusterRoleBinding as Helm does, writes the ConfigMap the Job mounts
// into a directory, and runs the Job's own arguments through the binary's subcommand code (subcmd.Run)
// as the hook's ServiceAccount. Afterwards the hook objects are removed as hook-succeeded does.
func runCRDHook(t *testing.T, e *testharness.Env, chartDir, rel, ns string, valueArgs []string) string {
	t.Helper()
	// --dry-run=server: rendered against the cluster, as Helm renders hooks during the upgrade (lookup works);
	// helm template still checks the chart's kubeVersion against its offline default (v1.20.0) unless told.
	out, err := kube(t, e, time.Minute, "helm", append([]string{"template", rel, chartDir, "-n", ns, "--dry-run=server", "--show-only", "templates/crd-upgrade.yaml",
		"--kube-version", "1.30.0"}, valueArgs...)...)
	if err != nil {
		t.Fatalf("render CRD hook: %v\n%s", err, out)
	}
	objs, err := packaging.SplitYAML([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	name := rel + "-crd-upgrade"
	ctx := context.Background()
	admin := clientFor(t, e.Config)
	var created []client.Object
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		o := find(t, objs, kind, name).DeepCopy()
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		created = append(created, o)
	}
	defer func() {
		for _, o := range created {
			_ = admin.Delete(ctx, o)
		}
	}()
	cm := find(t, objs, "ConfigMap", name)
	var job batchv1.Job
	toTyped(t, find(t, objs, "Job", name), &job)
	container := job.Spec.Template.Spec.Containers[0]
	if job.Spec.Template.Spec.ServiceAccountName != name || len(container.VolumeMounts) != 1 {
		t.Fatalf("CRD hook Job: service account %q, mounts %v", job.Spec.Template.Spec.ServiceAccountName, container.VolumeMounts)
	}
	mount := container.VolumeMounts[0].MountPath
	dir := t.TempDir()
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	for file, content := range data {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := make([]string, len(container.Args))
	for i, a := range container.Args {
		args[i] = strings.Replace(a, "="+mount, "="+dir, 1)
	}
	var log bytes.Buffer
	hookCfg := asServiceAccount(e.Config, ns, name)
	if err := subcmd.Run(ctx, args[0], args[1:], &log, func() (*rest.Config, error) { return hookCfg, nil }); err != nil {
		t.Fatalf("crd-apply %v as %s: %v\n%s", args[1:], name, err, log.String())
	}
	if !strings.Contains(log.String(), "CRDs applied successfully") {
		t.Fatalf("crd-apply output:\n%s", log.String())
	}
	return log.String()
}

// startOperator runs the operator in this process, as the chart's ServiceAccount (so only the RBAC the
// chart grants applies), with the test catalog, until the returned stop is called. With webhooks it also
// serves the admission webhooks and keeps their certificates in the chart's Secret and configurations.
func startOperator(t *testing.T, e *testharness.Env, ns, sa string, webhooks *operator.WebhookOptions) (stop func()) {
	t.Helper()
	cat, err := catalog.Load(filepath.Join("testdata", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := operator.New(asServiceAccount(e.Config, ns, sa), operator.Options{
		Namespace: ns, Catalog: cat, SkipControllerNameValidation: true, ReadyTimeout: time.Minute,
		CastAI: operator.CastAIOptions{Disabled: true, OperatorRelease: docsRelease}, Migration: operator.MigrationOptions{Disabled: true},
		Webhooks: webhooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return testharness.RunManager(t, op.Manager)
}

func waitComponentAvailable(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	eventually(t, 3*time.Minute, "component "+name+" Available", func() error {
		comp := &castwarev1.Component{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, comp); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) {
			return nil
		}
		return fmt.Errorf("conditions %+v", comp.Status.Conditions)
	})
}

func latestRelease(t *testing.T, e *testharness.Env, ns, name string) *release.Release {
	t.Helper()
	hist, err := e.History(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) == 0 {
		t.Fatalf("release %s/%s not found", ns, name)
	}
	return hist[len(hist)-1]
}

func assertGone(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(o), o)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s still exists (err=%v)", o, o.GetName(), err)
		}
	}
}

func assertPresent(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			t.Errorf("%T %s: %v", o, o.GetName(), err)
		}
	}
}

func crdObjects() []client.Object {
	var out []client.Object
	for _, n := range crds.Names {
		out = append(out, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	return out
}

func named(o client.Object, ns, name string) client.Object {
	o.SetNamespace(ns)
	o.SetName(name)
	return o
}

// TestChartLifecycle drives the operator chart with the real helm binary against a real API server with
// kube-controller-manager, kube-scheduler and kwok (the operator's pod is simulated; the CRDs, CRs and
// RBAC are real): the docs' exact install command with --atomic --wait, re-run idempotently; the docs'
// reinstall command; default Components installed by an operator that runs as the chart's
// ServiceAccount; an upgrade to a second chart version whose CRD hook applies the new schema; the
// preflight refusal to drop extendedPermissions; `helm uninstall` (CRs and CRDs gone, components still
// running, no hang); and `helm uninstall --no-hooks` followed by the docs' manual steps. The Terraform
// components chart and its operator check run against the same operator.
func TestChartLifecycle(t *testing.T) {
	e := controlPlane(t)
	ctx := context.Background()
	c := clientFor(t, e.Config)
	srv, err := testharness.NewChartServer(testharness.ChartsDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	v1 := chartVersion(t, "0.1.0", false)
	v2 := chartVersion(t, "0.2.0", true)
	dir := t.TempDir()
	opSA := docsRelease

	// 1. Fresh install with the documented command (provider placeholder filled in).
	install := docsCommand(t, docsInstall, v1, "eks", dir, false)
	mustKube(t, e, 4*time.Minute, "helm", append(install, "--timeout", "3m")...)
	assertPresent(t, c, crdObjects()...)
	assertPresent(t, c, named(&castwarev1.Cluster{}, docsNamespace, "castai"), named(&corev1.Secret{}, docsNamespace, "castware-api-key"))
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: docsRelease}, d); err != nil || d.Status.AvailableReplicas != 1 {
		t.Fatalf("operator deployment after --wait: available %d, err %v", d.Status.AvailableReplicas, err)
	}
	rel := latestRelease(t, e, docsNamespace, docsRelease)
	if rel.Info.Status != release.StatusDeployed || !hookRan(rel, "castware-operator-crd-upgrade") {
		t.Errorf("after install: status %s, CRD hook ran %t", rel.Info.Status, hookRan(rel, "castware-operator-crd-upgrade"))
	}
	// The hook's objects are cleaned up after success; the docs' troubleshooting names are the hook's.
	assertGone(t, c, named(&corev1.ServiceAccount{}, docsNamespace, "castware-operator-crd-upgrade"),
		named(&rbacv1.ClusterRole{}, "", "castware-operator-crd-upgrade"), named(&rbacv1.ClusterRoleBinding{}, "", "castware-operator-crd-upgrade"),
		named(&batchv1.Job{}, docsNamespace, "castware-operator-crd-upgrade"))
	// What the hook Job does on that install: CRDs created by Helm's crds/ are taken over server-side.
	runCRDHook(t, e, v1, docsRelease, docsNamespace, docsCommand(t, docsInstall, v1, "eks", dir, true)[3:])

	// The Terraform components chart: its pre-install check (run as the Job would, as its ServiceAccount
	// with the documented RoleBinding) passes once the operator has a Ready pod, then the chart installs
	// one Component per enabled entry, marked migration=terraform, through the operator's admission webhooks.
	// The operator's pod is simulated (kwok) and serves nothing: the operator runs in this process and serves
	// the webhooks on loopback, and the chart's webhook configurations are pointed at it (webhook.url).
	stopWebhooks, webhookPort := serveWebhooks(t, e, opSA)
	waitCABundle(t, c, docsRelease+"-validating-webhook-configuration", docsRelease+"-mutating-webhook-configuration")
	mustKube(t, e, 4*time.Minute, "helm", "upgrade", docsRelease, v1, "-n", docsNamespace, "--reuse-values", "--atomic", "--wait", "--timeout", "3m",
		"--set", fmt.Sprintf("webhook.url=https://127.0.0.1:%d", webhookPort))
	runCheckOperatorHook(t, e, "tf", docsNamespace)
	mustKube(t, e, 3*time.Minute, "helm", "install", "tf", componentDir, "-n", docsNamespace, "--wait", "--timeout", "2m",
		"--set", "components.spot-handler.enabled=false")
	tfComp := &castwarev1.Component{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai-agent"}, tfComp); err != nil || tfComp.Spec.Migration != castwarev1.MigrationTerraform {
		t.Errorf("components chart: %+v, %v", tfComp.Spec, err)
	}
	mustKube(t, e, 3*time.Minute, "helm", "uninstall", "tf", "-n", docsNamespace, "--wait", "--timeout", "2m")
	stopWebhooks()

	// 2. Re-running the install is idempotent: same resources, no error, the Cluster unchanged.
	before := &castwarev1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai"}, before); err != nil {
		t.Fatal(err)
	}
	mustKube(t, e, 4*time.Minute, "helm", append(install, "--timeout", "3m")...)
	after := &castwarev1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai"}, after); err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation {
		t.Errorf("re-running the install changed the Cluster spec (generation %d -> %d)", before.Generation, after.Generation)
	}
	// Unlike post-install hooks, the default Cluster is re-applied by every run: deleted, it comes back.
	if err := c.Delete(ctx, after); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "default Cluster deleted", func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai"}, &castwarev1.Cluster{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	mustKube(t, e, 4*time.Minute, "helm", append(install, "--timeout", "3m")...)
	assertPresent(t, c, named(&castwarev1.Cluster{}, docsNamespace, "castai"))
	// Up to here nothing served the webhooks: the chart's own default Cluster and Components do not depend on
	// them. The next commands change the default Cluster while no operator runs, which the validating webhook
	// (failurePolicy Fail) would refuse: in this control plane they run with the webhooks off (DESIGN §5).
	mustKube(t, e, 4*time.Minute, "helm", "upgrade", docsRelease, v1, "-n", docsNamespace, "--reuse-values", "--atomic", "--wait", "--timeout", "3m",
		"--set", "webhook.enabled=false")
	assertGone(t, c, named(&admissionregistrationv1.ValidatingWebhookConfiguration{}, "", docsRelease+"-validating-webhook-configuration"),
		named(&admissionregistrationv1.MutatingWebhookConfiguration{}, "", docsRelease+"-mutating-webhook-configuration"),
		named(&corev1.Secret{}, docsNamespace, docsRelease+"-webhook-certs"))
	// The docs' "reinstall" command sets only the API key: the provider of the existing Cluster is kept.
	mustKube(t, e, 4*time.Minute, "helm", append(docsCommand(t, docsReinstall, v1, "eks", dir, false), "--timeout", "3m", "--wait",
		"--set", "webhook.enabled=false")...)
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai"}, after); err != nil || after.Spec.Provider != "eks" {
		t.Fatalf("after the reinstall command: provider %q, err %v", after.Spec.Provider, err)
	}

	// The docs' IMDS fix on an installed operator: --reuse-values plus the metadata env.
	mustKube(t, e, 4*time.Minute, "helm", append(docsCommand(t, docsIMDSUpdate, v1, "eks", dir, false), "--wait", "--timeout", "3m")...)
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: docsRelease}, d); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Containers[0].Env {
		env[v.Name] = v.Value
	}
	if env["EKS_REGION"] != "<your-eks-region>" || env["EKS_ACCOUNT_ID"] != "<your-aws-account-id>" || env["EKS_CLUSTER_NAME"] != "<your-cluster-name>" {
		t.Errorf("operator env after the IMDS update: %v", env)
	}

	// 3. Default Components, installed by the operator running with the chart's RBAC only.
	mustKube(t, e, 4*time.Minute, "helm", "upgrade", docsRelease, v1, "-n", docsNamespace, "--reuse-values", "--atomic", "--wait", "--timeout", "3m",
		"--set", "defaultComponents.enabled=true", "--set", "defaultCluster.helmRepoURL="+srv.URL(),
		"--set", "defaultCluster.cluster.clusterID="+testClusterID, "--set", "defaultComponents.components.castai-agent.version=0.2.0",
		"--set", "defaultComponents.components.spot-handler.version=0.2.0")
	// The operator's pod is simulated (kwok): the operator runs in this process and serves the admission
	// webhooks on loopback; the webhooks are on again, pointed at it (webhook.url). It keeps the certificate
	// in the Secret the chart pre-created and injects its CA into the chart's configurations.
	stopOperator, webhookPort := serveWebhooks(t, e, opSA)
	mustKube(t, e, 4*time.Minute, "helm", "upgrade", docsRelease, v1, "-n", docsNamespace, "--reuse-values", "--atomic", "--wait", "--timeout", "3m",
		"--set", "webhook.enabled=true", "--set", fmt.Sprintf("webhook.url=https://127.0.0.1:%d", webhookPort))
	waitCABundle(t, c, docsRelease+"-validating-webhook-configuration", docsRelease+"-mutating-webhook-configuration")
	// From now on every change of the default resources goes through the webhooks; an invalid one is refused.
	cl := &castwarev1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai"}, cl); err != nil {
		t.Fatal(err)
	}
	bad := cl.DeepCopy()
	bad.Spec.Provider = "gke"
	if err := c.Patch(ctx, bad, client.MergeFrom(cl)); err == nil || !strings.Contains(err.Error(), "provider") ||
		!strings.Contains(err.Error(), "admission webhook") {
		t.Fatalf("changing the provider through the chart's webhook configuration: %v", err)
	}
	certs := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: docsRelease + "-webhook-certs"}, certs); err != nil || len(certs.Data["tls.crt"]) == 0 {
		t.Fatalf("the chart's webhook Secret holds no certificate (err %v)", err)
	}
	waitComponentAvailable(t, c, docsNamespace, "castai-agent")
	waitComponentAvailable(t, c, docsNamespace, "spot-handler")

	// 4. Upgrade to the second chart version: its CRD hook (run as the Job would) applies the new schema.
	valuesFile := filepath.Join(dir, "release-values.yaml")
	if err := os.WriteFile(valuesFile, []byte(mustKube(t, e, time.Minute, "helm", "get", "values", docsRelease, "-n", docsNamespace, "-o", "yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	hookLog := runCRDHook(t, e, v2, docsRelease, docsNamespace, []string{"-f", valuesFile})
	if !strings.Contains(hookLog, "clusters.castware.cast.ai serverside-applied") {
		t.Errorf("CRD hook output:\n%s", hookLog)
	}
	mustKube(t, e, 4*time.Minute, "helm", "upgrade", docsRelease, v2, "-n", docsNamespace, "--reuse-values", "--atomic", "--wait", "--timeout", "3m")
	rel = latestRelease(t, e, docsNamespace, docsRelease)
	if rel.Chart.Metadata.Version != "0.2.0" || rel.Info.Status != release.StatusDeployed || !hookRan(rel, "castware-operator-crd-upgrade") || !hookRan(rel, "castware-operator-preflight") {
		t.Errorf("after upgrade: chart %s status %s, CRD hook ran %t, preflight ran %t", rel.Chart.Metadata.Version, rel.Info.Status,
			hookRan(rel, "castware-operator-crd-upgrade"), hookRan(rel, "castware-operator-preflight"))
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: "clusters.castware.cast.ai"}, crd); err != nil {
		t.Fatal(err)
	}
	if _, ok := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties[upgradeField]; !ok {
		t.Fatalf("the upgraded CRD lacks %s", upgradeField)
	}
	eventually(t, 30*time.Second, "a Cluster keeps the new field (not pruned)", func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(castwarev1.GroupVersion.WithKind("Cluster"))
		u.SetNamespace(docsNamespace)
		u.SetName("castai")
		patch := []byte(`{"spec":{"` + upgradeField + `":"kept"}}`)
		if err := c.Patch(ctx, u, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			return err
		}
		if v, _, _ := unstructured.NestedString(u.Object, "spec", upgradeField); v != "kept" {
			return fmt.Errorf("field pruned: spec=%v", u.Object["spec"])
		}
		return nil
	})

	// 5. Preflight: extendedPermissions true -> false is refused; keeping it passes.
	mustKube(t, e, 4*time.Minute, "helm", "upgrade", docsRelease, v2, "-n", docsNamespace, "--reuse-values", "--atomic", "--wait", "--timeout", "3m",
		"--set", "extendedPermissions=true")
	checkPreflight(t, e, opSA)

	// 6. `helm uninstall`: the pre-delete cleanup hook (run as the Job would, as the operator's
	// ServiceAccount, while the operator still runs), then Helm's deletion; then the operator pod stops.
	runHook(t, e, docsRelease, docsNamespace, "castware-operator-cleanup", asServiceAccount(e.Config, docsNamespace, opSA))
	mustKube(t, e, 3*time.Minute, "helm", "uninstall", docsRelease, "-n", docsNamespace, "--wait", "--timeout", "2m")
	stopOperator()
	guard := guardFromRelease(t, rel)
	res, err := guard.OnShutdown(ctx, clientFor(t, asServiceAccount(e.Config, docsNamespace, opSA)))
	if err != nil || !res.Removing {
		t.Fatalf("operator shutdown after uninstall: %+v, %v", res, err)
	}
	assertGone(t, c, crdObjects()...)
	assertGone(t, c, named(&appsv1.Deployment{}, docsNamespace, docsRelease), named(&rbacv1.ClusterRole{}, "", "castware-operator-phase1"),
		named(&rbacv1.ClusterRole{}, "", "castware-operator-phase2"), named(&rbacv1.Role{}, "kube-system", "castware-operator-phase1"),
		named(&rbacv1.Role{}, docsNamespace, "castware-operator-uninstall-guard"), named(&corev1.ServiceAccount{}, docsNamespace, opSA),
		named(&corev1.Secret{}, docsNamespace, docsRelease+"-webhook-certs"), named(&corev1.Service{}, docsNamespace, docsRelease+"-webhook-service"),
		named(&admissionregistrationv1.ValidatingWebhookConfiguration{}, "", docsRelease+"-validating-webhook-configuration"),
		named(&admissionregistrationv1.MutatingWebhookConfiguration{}, "", docsRelease+"-mutating-webhook-configuration"))
	// The components keep running, with the Secret they read.
	assertPresent(t, c, named(&appsv1.Deployment{}, docsNamespace, "castai-agent"), named(&appsv1.DaemonSet{}, docsNamespace, "castai-spot-handler"),
		named(&corev1.Secret{}, docsNamespace, "castware-api-key"), named(&corev1.Secret{}, docsNamespace, "sh.helm.release.v1.castai-agent.v1"))

	// 7. `helm uninstall --no-hooks` and the docs' manual steps end clean too, although the operator had
	// put its finalizer on the Components: it releases them when it stops and finds its Deployment gone.
	mustKube(t, e, 4*time.Minute, "helm", append(docsCommand(t, docsInstall, v2, "eks", dir, false), "--timeout", "3m",
		"--set", "defaultComponents.enabled=true", "--set", "defaultCluster.helmRepoURL="+srv.URL(), "--set", "defaultCluster.cluster.clusterID="+testClusterID,
		"--set", "defaultComponents.components.castai-agent.version=0.2.0", "--set", "defaultComponents.components.spot-handler.version=0.2.0")...)
	stopOperator = startOperator(t, e, docsNamespace, opSA, nil)
	waitComponentAvailable(t, c, docsNamespace, "castai-agent")
	comp := &castwarev1.Component{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: docsNamespace, Name: "castai-agent"}, comp); err != nil || len(comp.Finalizers) == 0 {
		t.Fatalf("component finalizers %v (err %v): the no-hooks path must cope with the operator's finalizer", comp.Finalizers, err)
	}
	mustKube(t, e, 3*time.Minute, "helm", "uninstall", docsRelease, "-n", docsNamespace, "--no-hooks", "--wait", "--timeout", "2m")
	stopOperator()
	res, err = guard.OnShutdown(ctx, clientFor(t, asServiceAccount(e.Config, docsNamespace, opSA)))
	if err != nil || len(res.Released) != 2 {
		t.Fatalf("operator shutdown after --no-hooks uninstall: %+v, %v", res, err)
	}
	for _, step := range [][]string{
		{"delete", "clusters.castware.cast.ai", "--all", "-n", docsNamespace},
		{"delete", "components.castware.cast.ai", "--all", "-n", docsNamespace},
		{"delete", "crd", "clusters.castware.cast.ai"},
		{"delete", "crd", "components.castware.cast.ai"},
	} {
		mustKube(t, e, time.Minute, "kubectl", append(step, "--timeout=50s")...)
	}
	assertGone(t, c, crdObjects()...)
	out := mustKube(t, e, time.Minute, "kubectl", "get", "all", "-n", docsNamespace)
	if strings.Contains(out, "castware-operator") {
		t.Errorf("`kubectl get all -n %s` still shows castware-operator:\n%s", docsNamespace, out)
	}
	assertPresent(t, c, named(&appsv1.Deployment{}, docsNamespace, "castai-agent"), named(&appsv1.DaemonSet{}, docsNamespace, "castai-spot-handler"))

	// 8. On a cluster without the CRDs the CRD hook's ServiceAccount can also create them (server-side
	// apply authorized by the two names), then they are removed again.
	runCRDHook(t, e, v2, docsRelease, docsNamespace, docsCommand(t, docsInstall, v2, "eks", dir, true)[3:])
	assertPresent(t, c, crdObjects()...)
	for _, o := range crdObjects() {
		if err := c.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// runCheckOperatorHook runs the castware-components chart's check hook as its Job would: the hook's
// ServiceAccount, Role and RoleBinding are created from the chart's render (as Helm does) and the Job's
// arguments run through the binary's subcommand code as that ServiceAccount. A check for a Deployment
// that does not exist must fail.
func runCheckOperatorHook(t *testing.T, e *testharness.Env, rel, ns string) {
	t.Helper()
	ctx := context.Background()
	admin := clientFor(t, e.Config)
	objs := render(t, componentDir, rel, ns, "--show-only", "templates/check-operator.yaml")
	name := rel + "-check-operator"
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding"} {
		o := find(t, objs, kind, name).DeepCopy()
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = admin.Delete(ctx, o) }()
	}
	var job batchv1.Job
	toTyped(t, find(t, objs, "Job", name+"-ready"), &job)
	args := job.Spec.Template.Spec.Containers[0].Args
	cfg := asServiceAccount(e.Config, ns, job.Spec.Template.Spec.ServiceAccountName)
	getCfg := func() (*rest.Config, error) { return cfg, nil }
	var out bytes.Buffer
	if err := subcmd.Run(ctx, args[0], args[1:], &out, getCfg); err != nil {
		t.Fatalf("check-operator %v: %v\n%s", args, err, out.String())
	}
	bad := append(append([]string{}, args[1:]...), "--deployment=missing", "--timeout=3s")
	if err := subcmd.Run(ctx, args[0], bad, &out, getCfg); err == nil || !strings.Contains(err.Error(), "operator not ready") {
		t.Errorf("check-operator for a missing Deployment: %v", err)
	}
}

// serveWebhooks starts the operator in this process (see startOperator) serving the admission webhooks on a
// free loopback port, with the certificate kept in the chart's pre-created Secret and its CA injected into the
// chart's webhook configurations (waitCABundle). The configurations point at the Service of the (simulated) pod
// until an upgrade with webhook.url=https://127.0.0.1:<port> points them at this operator.
func serveWebhooks(t *testing.T, e *testharness.Env, sa string) (stop func(), port int) {
	t.Helper()
	port = freePort(t)
	stop = startOperator(t, e, docsNamespace, sa, &operator.WebhookOptions{Host: "127.0.0.1", Port: port,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, CertSecretExists: true})
	return stop, port
}

// freePort returns a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitCABundle waits until every webhook of the named validating and mutating configurations carries a CA bundle.
func waitCABundle(t *testing.T, c client.Client, validating, mutating string) {
	t.Helper()
	eventually(t, time.Minute, "CA bundle injected into the chart's webhook configurations", func() error {
		v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: validating}, v); err != nil {
			return err
		}
		m := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: mutating}, m); err != nil {
			return err
		}
		for _, w := range v.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return fmt.Errorf("validating webhook %s has no caBundle", w.Name)
			}
		}
		for _, w := range m.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return fmt.Errorf("mutating webhook %s has no caBundle", w.Name)
			}
		}
		return nil
	})
}

// hookRan reports whether Helm ran a hook of the release and it succeeded.
func hookRan(rel *release.Release, name string) bool {
	for _, h := range rel.Hooks {
		if h.Name == name && h.LastRun.Phase == release.HookPhaseSucceeded {
			return true
		}
	}
	return false
}

// runHook runs a hook Job of the deployed release the way the Job would (its arguments through the
// binary's subcommand code), with cfg as the Job's ServiceAccount.
func runHook(t *testing.T, e *testharness.Env, rel, ns, job string, cfg *rest.Config) string {
	t.Helper()
	r := latestRelease(t, e, ns, rel)
	for _, h := range r.Hooks {
		if h.Name != job || h.Kind != "Job" {
			continue
		}
		var j batchv1.Job
		if err := yaml.Unmarshal([]byte(h.Manifest), &j); err != nil {
			t.Fatal(err)
		}
		args := j.Spec.Template.Spec.Containers[0].Args
		var out bytes.Buffer
		if err := subcmd.Run(context.Background(), args[0], args[1:], &out, func() (*rest.Config, error) { return cfg, nil }); err != nil {
			t.Fatalf("hook %s %v: %v\n%s", job, args, err, out.String())
		}
		return out.String()
	}
	t.Fatalf("release %s has no hook Job %s", rel, job)
	return ""
}

// guardFromRelease reads the removal guard's configuration from the operator Deployment's environment
// in the release manifest (what the operator pod gets).
func guardFromRelease(t *testing.T, rel *release.Release) *removal.Guard {
	t.Helper()
	objs, err := helmengine.Objects(rel.Manifest, rel.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		toTyped(t, o, &d)
		env := map[string]string{}
		for _, v := range d.Spec.Template.Spec.Containers[0].Env {
			env[v.Name] = v.Value
		}
		g := removal.FromEnv(func(k string) string { return env[k] }, rel.Namespace)
		if g == nil {
			t.Fatalf("the operator Deployment carries no removal configuration")
		}
		return g
	}
	t.Fatalf("release %s renders no Deployment", rel.Name)
	return nil
}

// checkPreflight runs the pre-upgrade preflight logic against the real release history in the state a
// pre-upgrade hook sees it (Helm has stored the new revision as pending-upgrade), as the operator's
// ServiceAccount: turning extendedPermissions off is refused with the documented message, also though
// the chart's default is false (the documented operator read the chart defaults); keeping it passes.
func checkPreflight(t *testing.T, e *testharness.Env, sa string) {
	t.Helper()
	ctx := context.Background()
	cur := latestRelease(t, e, docsNamespace, docsRelease)
	pending := *cur
	pending.Version = cur.Version + 1
	info := *cur.Info
	info.Status = release.StatusPendingUpgrade
	pending.Info = &info
	pending.Config = map[string]any{"extendedPermissions": false}
	if err := e.SaveRelease(ctx, &pending); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = e.Client.Delete(ctx, named(&corev1.Secret{}, docsNamespace, fmt.Sprintf("sh.helm.release.v1.%s.v%d", docsRelease, pending.Version)))
	}()
	if v, _ := cur.Chart.Values["extendedPermissions"].(bool); v {
		t.Fatalf("the chart default of extendedPermissions should be false")
	}
	cfg := asServiceAccount(e.Config, docsNamespace, sa)
	for _, c := range []struct {
		want   bool
		reject bool
	}{{false, true}, {true, false}} {
		args := []string{"--check=extended-permissions", "--release=" + docsRelease, "--namespace=" + docsNamespace, fmt.Sprintf("--extended-permissions=%t", c.want)}
		var out bytes.Buffer
		err := subcmd.Run(ctx, "preflight", args, &out, func() (*rest.Config, error) { return cfg, nil })
		switch {
		case c.reject && (err == nil || !errors.Is(err, preflight.ErrDowngrade) || !strings.Contains(err.Error(), "--reuse-values")):
			t.Errorf("preflight %v: want the downgrade refused with what to do, got %v", args, err)
		case !c.reject && err != nil:
			t.Errorf("preflight %v: %v", args, err)
		}
	}
}
