package packaging

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// The install commands of the Cast AI Operator documentation, as printed (only the provider placeholder
// "<eks|gke|aks>" has to be replaced by a value to run). docsValuesFile is the docs' values.yaml.
const (
	docsInstall = `helm upgrade --install castware-operator castai-helm/castware-operator \
  --namespace castai-agent \
  --create-namespace \
  --set apiKeySecret.apiKey="<your-api-key>" \
  --set defaultCluster.provider="<eks|gke|aks>" \
  --set defaultCluster.api.apiUrl="https://api.cast.ai" \
  --set defaultComponents.enabled=false \
  --set defaultCluster.terraform=false \
  --atomic \
  --wait`
	docsIMDSValuesFile = `helm upgrade --install castware-operator castai-helm/castware-operator \
  --namespace castai-agent \
  --create-namespace \
  --set apiKeySecret.apiKey="<your-api-key>" \
  --set defaultCluster.provider="eks" \
  --set defaultCluster.api.apiUrl="https://api.cast.ai" \
  -f values.yaml`
	docsIMDSInline = `helm upgrade --install castware-operator castai-helm/castware-operator \
  --namespace castai-agent \
  --create-namespace \
  --set apiKeySecret.apiKey="<your-api-key>" \
  --set defaultCluster.provider="eks" \
  --set defaultCluster.api.apiUrl="https://api.cast.ai" \
  --set additionalEnv.EKS_ACCOUNT_ID="<your-aws-account-id>" \
  --set additionalEnv.EKS_REGION="<your-eks-region>" \
  --set additionalEnv.EKS_CLUSTER_NAME="<your-cluster-name>"`
	docsIMDSUpdate = `helm upgrade castware-operator castai-helm/castware-operator \
  --namespace castai-agent \
  --reuse-values \
  --set additionalEnv.EKS_ACCOUNT_ID="<your-aws-account-id>" \
  --set additionalEnv.EKS_REGION="<your-eks-region>" \
  --set additionalEnv.EKS_CLUSTER_NAME="<your-cluster-name>"`
	docsReinstall = `helm upgrade --install castware-operator castai-helm/castware-operator \
  --namespace castai-agent \
  --set apiKeySecret.apiKey="your-api-key"`
	docsValuesFile = `# values.yaml
additionalEnv:
  EKS_ACCOUNT_ID: "<your-aws-account-id>"
  EKS_REGION: "<your-eks-region>"
  EKS_CLUSTER_NAME: "<your-cluster-name>"`
)

// docsCommand turns a documented `helm upgrade` command into helm arguments for chartDir: the repository
// chart reference is replaced by the local chart, quotes are removed as a shell would, provider is
// substituted for the docs' "<eks|gke|aks>" placeholder, and a values file named values.yaml is written
// to dir. With template=true it becomes `helm template` (flags that need a cluster are dropped).
func docsCommand(t *testing.T, cmd, chartDir, provider, dir string, template bool) []string {
	t.Helper()
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	cmd = strings.ReplaceAll(cmd, `"<eks|gke|aks>"`, provider)
	var args []string
	for _, f := range strings.Fields(cmd) {
		f = strings.ReplaceAll(f, `"`, "")
		switch f {
		case "helm":
			continue
		case "castai-helm/castware-operator":
			f = chartDir
		case "values.yaml":
			f = filepath.Join(dir, "values.yaml")
			if err := os.WriteFile(f, []byte(docsValuesFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, f)
	}
	if !template {
		return args
	}
	var out []string
	for _, a := range args {
		switch a {
		case "upgrade":
			a = "template"
		case "--install", "--create-namespace", "--atomic", "--wait", "--reuse-values":
			continue
		}
		out = append(out, a)
	}
	return out
}

// TestHelmLint lints both charts with several value sets (`make helm-lint` runs the same).
func TestHelmLint(t *testing.T) {
	cases := []struct {
		chart string
		args  []string
	}{
		{operatorDir, []string{"--set", "apiKeySecret.apiKey=k", "--set", "defaultCluster.provider=eks"}},
		{operatorDir, []string{"--set", "apiKeySecret.apiKey=k", "--set", "defaultCluster.provider=gke", "--set", "extendedPermissions=true",
			"--set", "defaultComponents.enabled=false", "--set", "metrics.enabled=false", "--set", "crdUpgrade.enabled=false"}},
		{operatorDir, []string{"--set", "apiKeySecret.create=false", "--set", "defaultCluster.enabled=false", "--set", "serviceAccount.create=false",
			"--set", "serviceAccount.name=existing"}},
		{componentDir, nil},
		{componentDir, []string{"--set", "namespace=ops", "--set", "components.spot-handler.enabled=false", "--set", "checkOperator.enabled=false"}},
	}
	for i, c := range cases {
		out, err := helm(t, append([]string{"lint", "--strict", c.chart}, c.args...)...)
		if err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("case %d: helm lint %s %v: %v\n%s", i, filepath.Base(c.chart), c.args, err, out)
		}
	}
}

type goldenCase struct {
	name, chart, release, namespace string
	args                            []string
}

func goldenCases(t *testing.T) []goldenCase {
	dir := t.TempDir()
	docs := func(name, cmd string) goldenCase {
		args := docsCommand(t, cmd, operatorDir, "eks", dir, true)
		// template <release> <chart> ...
		return goldenCase{name: name, chart: operatorDir, release: args[1], namespace: "castai-agent", args: args[3:]}
	}
	return []goldenCase{
		docs("docs-install", docsInstall),
		docs("docs-imds-values-file", docsIMDSValuesFile),
		docs("docs-imds-inline", docsIMDSInline),
		{name: "extended-custom", chart: operatorDir, release: testRelease, namespace: testNamespace, args: []string{
			"--set", "apiKeySecret.apiKey=key", "--set", "defaultCluster.provider=gke", "--set", "extendedPermissions=true",
			"--set", "defaultCluster.api.apiUrl=https://api.eu.cast.ai", "--set", "defaultCluster.migrationMode=autoUpgrade",
			"--set", "defaultCluster.helmRepoURL=oci://registry.example/castai", "--set", "image.tag=v9.9.9",
			"--set", "nodeSelector.pool=system", "--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Exists",
			"--set", "imagePullSecrets[0].name=regcred", "--set", "metrics.enabled=false", "--set", "leaderElection.enabled=false",
			"--set", "defaultComponents.components.castai-agent.version=0.161.1",
			"--set", "defaultComponents.components.castai-agent.overrides.replicaCount=3",
			"--set", "defaultComponents.components.spot-handler.enabled=false",
			"--set", "defaultCluster.cluster.clusterID=3f1c9a52-7d4e-4b8a-9c2d-1e5f6a7b8c9d",
		}},
		{name: "components-default", chart: componentDir, release: "castware-components", namespace: "castai-agent"},
		{name: "components-custom", chart: componentDir, release: "tf", namespace: "terraform", args: []string{
			"--set", "namespace=castai-agent", "--set", "cluster=prod", "--set", "components.spot-handler.enabled=false",
			"--set", "components.castai-agent.version=0.161.1", "--set", "components.castai-agent.overrides.replicaCount=3",
			"--set", "checkOperator.deployment=cwop", "--set", "nodeSelector.pool=system",
		}},
	}
}

// TestGoldenTemplates compares `helm template` of both charts, for the docs' exact install and IMDS
// commands and other value sets, with testdata/golden (UPDATE_GOLDEN=1 rewrites them). The CRD-upgrade
// ConfigMap's content (checked against the chart's crds/ here) and the generated roles' rules (checked
// against config/rbac by TestRBACOneSourceOfTruth) are shown as placeholders, so API and marker changes
// do not churn the golden files.
func TestGoldenTemplates(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			objs := render(t, c.chart, c.release, c.namespace, c.args...)
			var docs [][]byte
			for _, o := range objs {
				if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-crd-upgrade") {
					checkCRDConfigMap(t, o)
				}
				if set := o.GetLabels()["castware.cast.ai/permission-set"]; set != "" && o.Object["rules"] != nil {
					// Checked against config/rbac by TestRBACOneSourceOfTruth.
					o.Object["rules"] = "<rules of rule set " + set + ">"
				}
				b, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, b)
			}
			header := strings.ReplaceAll(strings.Join(c.args, " "), filepath.Dir(findArg(c.args, "-f")), ".")
			got := append([]byte("# helm template "+c.release+" "+filepath.Base(c.chart)+" -n "+c.namespace+" "+header+"\n---\n"),
				bytes.Join(docs, []byte("---\n"))...)
			path := filepath.Join("testdata", "golden", c.name+".yaml")
			if os.Getenv("UPDATE_GOLDEN") == "1" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run UPDATE_GOLDEN=1 go test ./test/packaging -run TestGoldenTemplates)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render differs from %s (UPDATE_GOLDEN=1 to accept):\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// findArg returns the value following flag in args ("" when absent).
func findArg(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return "\x00"
}

// checkCRDConfigMap verifies the hook ConfigMap carries the chart's crds/ byte for byte, then replaces
// its content by placeholders.
func checkCRDConfigMap(t *testing.T, cm *unstructured.Unstructured) {
	t.Helper()
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	files, _ := filepath.Glob(filepath.Join(operatorDir, "crds", "*.yaml"))
	if len(data) != len(files) || len(files) != 2 {
		t.Errorf("CRD ConfigMap holds %d files, the chart's crds/ %d", len(data), len(files))
	}
	for _, f := range files {
		want, _ := os.ReadFile(f)
		if strings.TrimRight(data[filepath.Base(f)], "\n") != strings.TrimRight(string(want), "\n") {
			t.Errorf("CRD ConfigMap entry %s differs from crds/%s", filepath.Base(f), filepath.Base(f))
		}
		data[filepath.Base(f)] = "<crds/" + filepath.Base(f) + ">"
	}
	_ = unstructured.SetNestedStringMap(cm.Object, data, "data")
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  - %s\n  + %s", i+1, x, y))
		}
		if len(out) > 12 {
			out = append(out, "...")
			break
		}
	}
	return strings.Join(out, "\n")
}

// TestChartRejectsBadValues: bad values fail `helm template` with the schema's message, and missing
// required values with the chart's own explanation.
func TestChartRejectsBadValues(t *testing.T) {
	cases := []struct {
		chart string
		args  []string
		want  string
	}{
		{operatorDir, []string{"--set", "defaultCluster.provider=aws"}, "at '/defaultCluster/provider': value must be one of '', 'eks', 'gke', 'aks', 'kops', 'openshift', 'anywhere'"},
		{operatorDir, []string{"--set", "defaultCluster.migrationMode=always"}, "at '/defaultCluster/migrationMode': value must be one of 'write', 'read', 'autoUpgrade'"},
		{operatorDir, []string{"--set", "defaultCluster.api.apiUrl=api.cast.ai"}, "at '/defaultCluster/api/apiUrl': 'api.cast.ai' does not match pattern"},
		{operatorDir, []string{"--set", "defaultCluster.provder=eks"}, "additional properties 'provder' not allowed"},
		{operatorDir, []string{"--set", "replicaCount=two"}, "at '/replicaCount': got string, want integer"},
		{operatorDir, []string{"--set-string", "extendedPermissions=yes"}, "at '/extendedPermissions': got string, want boolean"},
		{operatorDir, []string{"--set", "additionalEnv.1BAD=x"}, "invalid propertyName '1BAD'"},
		{operatorDir, []string{"--set", "defaultComponents.components.castai-agent.version=latest"}, "at '/defaultComponents/components/castai-agent/version': 'latest' does not match pattern"},
		{operatorDir, []string{"--set", "defaultCluster.cluster.clusterID=not-a-uuid"}, "at '/defaultCluster/cluster/clusterID'"},
		{operatorDir, []string{"--set", "image.pullPolicy=Sometimes"}, "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"},
		{componentDir, []string{"--set", "namespace=Bad_NS"}, "at '/namespace': 'Bad_NS' does not match pattern"},
		{componentDir, []string{"--set", "components.castai-agent.enable=true"}, "additional properties 'enable' not allowed"},
	}
	for _, c := range cases {
		args := append([]string{"template", "x", c.chart}, c.args...)
		if c.chart == operatorDir {
			args = append(args, "--set", "apiKeySecret.apiKey=k")
		}
		out, err := helm(t, args...)
		if err == nil {
			t.Errorf("%v: accepted, want %q", c.args, c.want)
			continue
		}
		if !strings.Contains(out, "values don't meet the specifications of the schema") || !strings.Contains(out, c.want) {
			t.Errorf("%v: error does not carry the schema message %q:\n%s", c.args, c.want, out)
		}
	}

	required := []struct {
		args []string
		want string
	}{
		{[]string{"--set", "defaultCluster.provider=eks"}, "apiKeySecret.apiKey is required: pass your Cast AI Full Access API key with --set apiKeySecret.apiKey=<key>"},
		{[]string{"--set", "defaultCluster.provider=eks", "--set", "apiKeySecret.apiKey=  "}, "apiKeySecret.apiKey is empty"},
		{[]string{"--set", "apiKeySecret.apiKey=k"}, "defaultCluster.provider is required: set it to your Kubernetes provider with --set defaultCluster.provider=<eks|gke|aks|kops|openshift|anywhere>"},
	}
	for _, c := range required {
		out, err := helm(t, append([]string{"template", "x", operatorDir}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: want failure %q, got err=%v:\n%s", c.args, c.want, err, firstLines(out, 5))
		}
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

func toTyped(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatal(err)
	}
}

// TestOperatorChartDefaults: secure, small and self-upgradable by default; names derived from the
// release; every scheduling value reaches the Deployment and the hook Jobs; hook Jobs have no probes.
func TestOperatorChartDefaults(t *testing.T) {
	objs := render(t, operatorDir, testRelease, testNamespace, "--set", "apiKeySecret.apiKey=key", "--set", "defaultCluster.provider=aks",
		"--set", "nodeSelector.pool=system", "--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Exists",
		"--set", "imagePullSecrets[0].name=regcred", "--set", "additionalEnv.AKS_LOCATION=westeurope", "--set", "additionalEnv.AKS_SUBSCRIPTION_ID=1234",
		"--set", "leaderElection.resourceName=acme-lock", "--set", "metrics.port=9090")
	var d appsv1.Deployment
	toTyped(t, find(t, objs, "Deployment", testRelease), &d)

	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	lim, req := c.Resources.Limits, c.Resources.Requests
	if lim.Memory().Cmp(resource.MustParse("256Mi")) >= 0 || lim.Cpu().Cmp(resource.MustParse("500m")) >= 0 || req.Memory().IsZero() || req.Cpu().IsZero() {
		t.Errorf("resources %v do not fit the documented < 256 MB / < 0.5 CPU with requests set", c.Resources)
	}
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want runAsNonRoot and seccomp RuntimeDefault", ps.SecurityContext)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v: want a read-only root filesystem and no privilege escalation", c.SecurityContext)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v: a self-upgrade needs maxUnavailable=0", d.Spec.Strategy)
	}
	if d.Spec.Template.Labels["app.kubernetes.io/name"] != "castware-operator" {
		t.Errorf("pod labels %v: the docs select app.kubernetes.io/name=castware-operator", d.Spec.Template.Labels)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		// The operator holds the Go runtime to 90% of this (internal/memlimit).
		if e.Name == "CONTAINER_MEMORY_LIMIT" && (e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory") {
			t.Errorf("env CONTAINER_MEMORY_LIMIT %+v: want the container's limits.memory from the downward API", e)
		}
	}
	if _, ok := env["CONTAINER_MEMORY_LIMIT"]; !ok {
		t.Error("env lacks CONTAINER_MEMORY_LIMIT: the Go runtime would not know the container's memory limit")
	}
	for k, v := range map[string]string{"AKS_LOCATION": "westeurope", "AKS_SUBSCRIPTION_ID": "1234", "HELM_RELEASE_NAME": testRelease,
		"OPERATOR_DEPLOYMENT": testRelease, "OPERATOR_SERVICE_ACCOUNT": testRelease, "UNINSTALL_GUARD": testRelease + "-uninstall-guard"} {
		if env[k] != v {
			t.Errorf("env %s=%q, want %q", k, env[k], v)
		}
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--namespace=" + testNamespace, "--leader-elect=true", "--leader-election-id=acme-lock", "--metrics-bind-address=:9090", "--self-upgrade=true"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	jobs := ofKind(objs, "Job")
	if len(jobs) != 3 {
		t.Errorf("%d hook Jobs rendered, want 3 (crd-upgrade, preflight, cleanup)", len(jobs))
	}
	for _, o := range append(jobs, find(t, objs, "Deployment", testRelease)) {
		var spec corev1.PodSpec
		switch o.GetKind() {
		case "Job":
			var j batchv1.Job
			toTyped(t, o, &j)
			spec = j.Spec.Template.Spec
			if o.GetAnnotations()["helm.sh/hook-delete-policy"] != "before-hook-creation,hook-succeeded" {
				t.Errorf("Job %s is not cleaned up after success", o.GetName())
			}
			if j.Spec.ActiveDeadlineSeconds == nil {
				t.Errorf("Job %s has no deadline", o.GetName())
			}
			for _, ct := range spec.Containers {
				if ct.LivenessProbe != nil || ct.ReadinessProbe != nil || ct.StartupProbe != nil {
					t.Errorf("hook Job %s has probes: the kubelet would kill it mid-run", o.GetName())
				}
			}
		default:
			spec = ps
		}
		if spec.NodeSelector["pool"] != "system" || len(spec.Tolerations) != 1 || len(spec.ImagePullSecrets) != 1 || spec.ImagePullSecrets[0].Name != "regcred" {
			t.Errorf("%s %s does not carry nodeSelector/tolerations/imagePullSecrets: %v %v %v", o.GetKind(), o.GetName(), spec.NodeSelector, spec.Tolerations, spec.ImagePullSecrets)
		}
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s %s does not run as non-root", o.GetKind(), o.GetName())
		}
	}

	// Names and namespaces come from the release: nothing named after the default release or namespace.
	for _, o := range objs {
		if strings.Contains(o.GetName(), "castware-operator") {
			t.Errorf("%s %s: name not derived from the release name", o.GetKind(), o.GetName())
		}
		if ns := o.GetNamespace(); ns != "" && ns != testNamespace && ns != "kube-system" {
			t.Errorf("%s %s in namespace %s", o.GetKind(), o.GetName(), ns)
		}
		subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		for _, s := range subjects {
			m := s.(map[string]any)
			if m["namespace"] != testNamespace || !strings.HasPrefix(fmt.Sprint(m["name"]), testRelease) {
				t.Errorf("%s %s subject %v not in the release namespace / not named from the release", o.GetKind(), o.GetName(), m)
			}
		}
	}

	// The CRD-upgrade hook: own ServiceAccount, ClusterRole and binding named <release>-crd-upgrade, rules
	// limited to the two CRDs by name, pre-install and pre-upgrade.
	name := testRelease + "-crd-upgrade"
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job"} {
		o := find(t, objs, kind, name)
		if o.GetAnnotations()["helm.sh/hook"] != "pre-install,pre-upgrade" {
			t.Errorf("%s %s hook %q", kind, name, o.GetAnnotations()["helm.sh/hook"])
		}
	}
	rules, _, _ := unstructured.NestedSlice(find(t, objs, "ClusterRole", name).Object, "rules")
	if len(rules) != 1 || fmt.Sprint(rules[0].(map[string]any)["resourceNames"]) != "[clusters.castware.cast.ai components.castware.cast.ai]" {
		t.Errorf("CRD-upgrade rules %v: want only the two CRDs by name", rules)
	}

	// The default Cluster and Components are release resources Helm never deletes (not hooks).
	for _, o := range append(ofKind(objs, "Cluster"), ofKind(objs, "Component")...) {
		if o.GetAnnotations()["helm.sh/hook"] != "" || o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s %s annotations %v: want a kept release resource, not a hook", o.GetKind(), o.GetName(), o.GetAnnotations())
		}
	}
	var names []string
	for _, o := range ofKind(objs, "Component") {
		names = append(names, o.GetName())
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "castai-agent,spot-handler" {
		t.Errorf("default Components %v", names)
	}
}

// TestComponentsChart: one Component per enabled entry with migration terraform, in the configured
// namespace, and the check hook with the documented RoleBinding rules, named from the release.
func TestComponentsChart(t *testing.T) {
	objs := render(t, componentDir, "tf", "terraform", "--set", "namespace=ops", "--set", "components.spot-handler.enabled=false",
		"--set", "checkOperator.deployment=cwop")
	comps := ofKind(objs, "Component")
	if len(comps) != 1 || comps[0].GetName() != "castai-agent" || comps[0].GetNamespace() != "ops" {
		t.Fatalf("components %v", comps)
	}
	if m, _, _ := unstructured.NestedString(comps[0].Object, "spec", "migration"); m != "terraform" {
		t.Errorf("migration %q", m)
	}
	role := find(t, objs, "Role", "tf-check-operator")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	got := fmt.Sprint(rules)
	if got != "[map[apiGroups:[apps] resources:[deployments] verbs:[get list]] map[apiGroups:[] resources:[pods] verbs:[get list watch]]]" {
		t.Errorf("check-operator rules %s", got)
	}
	var j batchv1.Job
	toTyped(t, find(t, objs, "Job", "tf-check-operator-ready"), &j)
	args := strings.Join(j.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "preflight --check=operator-ready --namespace=ops --deployment=cwop") {
		t.Errorf("check Job args %q", args)
	}
	for _, o := range objs {
		if o.GetNamespace() != "ops" {
			t.Errorf("%s %s in namespace %q, want ops", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
}
