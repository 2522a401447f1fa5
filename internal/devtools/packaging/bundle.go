package packaging

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// OLM bundle layout and metadata.
const (
	// BundleDir is the bundle, relative to the repository root.
	BundleDir = "bundle"
	// BundleDockerfile builds the bundle image.
	BundleDockerfile = "bundle.Dockerfile"
	// BundlePackage is the OLM package name.
	BundlePackage = "castware-operator"
	// BundleChannel is the only channel.
	BundleChannel = "stable"
	// CSVBase is the hand-written part of the ClusterServiceVersion.
	CSVBase = "config/manifests/bases/castware-operator.clusterserviceversion.yaml"
	// CSVIcon is the operator's icon.
	CSVIcon = "config/manifests/icon.svg"
	// KustomizeInstall is the kustomize base the bundle is generated from.
	KustomizeInstall = "config/default"
	// SamplesDir holds the example resources (alm-examples).
	SamplesDir = "config/samples"
	// OperatorImageRepository is the project's own operator image (what `make push` publishes to the
	// default registry); the operator chart's image.repository default and the CSV name it.
	OperatorImageRepository = "ghcr.io/castware-operator/castware-operator"
	// RelatedImageEnv is the operator container's variable naming its own image in the CSV (OLM's
	// RELATED_IMAGE_* convention, rewritten by mirroring tools together with relatedImages).
	RelatedImageEnv = "RELATED_IMAGE_CASTWARE_OPERATOR"
)

// BundleAnnotations are the bundle's metadata/annotations.yaml entries (also the bundle image's labels):
// the core bundle annotations, then operator-sdk's scorecard ones.
var BundleAnnotations = append([][2]string{
	{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
	{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
	{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
	{"operators.operatorframework.io.bundle.package.v1", BundlePackage},
	{"operators.operatorframework.io.bundle.channels.v1", BundleChannel},
	{"operators.operatorframework.io.bundle.channel.default.v1", BundleChannel},
}, ScorecardAnnotations...)

// ChartVersions reads the operator chart's version and appVersion (the CSV's version and image tag).
func ChartVersions(root string) (version, appVersion string, err error) {
	data, err := os.ReadFile(filepath.Join(root, OperatorChartDir, "Chart.yaml"))
	if err != nil {
		return "", "", err
	}
	var meta struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return "", "", fmt.Errorf("parse Chart.yaml: %w", err)
	}
	return meta.Version, meta.AppVersion, nil
}

// KustomizeBuild renders a kustomize directory under root into objects.
func KustomizeBuild(root, dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	data, err := resMap.AsYaml()
	if err != nil {
		return nil, err
	}
	return SplitYAML(data)
}

// BundleFiles returns the OLM bundle generated from config/ (the kustomize install, the CRDs, the
// samples, the hand-written CSV base, the scorecard configuration) and the operator chart's version,
// keyed by path relative to root.
//
// The bundle carries no webhookdefinitions, on purpose: OLM's WebhookDescription has no matchConditions (and OLM
// sets namespaceSelector itself), so the generated validating webhook (failurePolicy Fail) would also receive the
// finalizer- and metadata-only updates that must never depend on the operator; with failurePolicy Ignore it
// would validate nothing reliably. The controllers validate everything the webhooks do and report it as
// conditions, so an OLM installation runs without webhooks (config/default includes none).
func BundleFiles(root string) (map[string][]byte, error) {
	version, appVersion, err := ChartVersions(root)
	if err != nil {
		return nil, err
	}
	if _, err := semver.Parse(version); err != nil {
		return nil, fmt.Errorf("chart version %q is not semver: %w", version, err)
	}
	base, err := os.ReadFile(filepath.Join(root, CSVBase))
	if err != nil {
		return nil, err
	}
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.UnmarshalStrict(base, csv); err != nil {
		return nil, fmt.Errorf("parse %s: %w", CSVBase, err)
	}
	objs, err := KustomizeBuild(root, KustomizeInstall)
	if err != nil {
		return nil, err
	}
	csv.Name = BundlePackage + ".v" + version
	csv.Spec.Version.Version = semver.MustParse(version)

	dep, err := installDeployment(objs, appVersion)
	if err != nil {
		return nil, err
	}
	image := dep.Spec.Template.Spec.Containers[0].Image
	clusterRules, nsRules, err := boundRules(objs, dep.Spec.Template.Spec.ServiceAccountName, namespaceOf(objs, dep.Name))
	if err != nil {
		return nil, err
	}
	sa := dep.Spec.Template.Spec.ServiceAccountName
	strategy := operatorsv1alpha1.StrategyDetailsDeployment{
		DeploymentSpecs: []operatorsv1alpha1.StrategyDeploymentSpec{{Name: dep.Name, Label: dep.Labels, Spec: dep.Spec}},
	}
	if len(clusterRules) > 0 {
		strategy.ClusterPermissions = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: clusterRules}}
	}
	if len(nsRules) > 0 {
		strategy.Permissions = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: nsRules}}
	}
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment, StrategySpec: strategy}
	csv.Spec.RelatedImages = []operatorsv1alpha1.RelatedImage{{Name: BundlePackage, Image: image}}

	icon, err := os.ReadFile(filepath.Join(root, CSVIcon))
	if err != nil {
		return nil, err
	}
	csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(icon), MediaType: "image/svg+xml"}}

	examples, err := almExamples(filepath.Join(root, SamplesDir))
	if err != nil {
		return nil, err
	}
	if csv.Annotations == nil {
		csv.Annotations = map[string]string{}
	}
	csv.Annotations["alm-examples"] = examples
	csv.Annotations["containerImage"] = image
	csv.Annotations["operators.operatorframework.io/suggested-namespace"] = "castai-agent"

	csvYAML, err := marshalCSV(csv)
	if err != nil {
		return nil, err
	}
	_, scorecard, err := ScorecardConfig(root)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{
		filepath.Join(BundleDir, "manifests", BundlePackage+".clusterserviceversion.yaml"): csvYAML,
		filepath.Join(BundleDir, "metadata", "annotations.yaml"):                           annotationsYAML(),
		ScorecardConfigPath(): scorecard,
		BundleDockerfile:      dockerfile(),
	}
	crdFiles, err := filepath.Glob(filepath.Join(root, CRDDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, p := range crdFiles {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[filepath.Join(BundleDir, "manifests", filepath.Base(p))] = data
	}
	return out, nil
}

// installDeployment returns the operator Deployment of the kustomize install, prepared for OLM: the
// project's image (OperatorImageRepository) tagged with the chart's appVersion and named again in
// RelatedImageEnv, WATCH_NAMESPACE from OLM's target namespaces, and --olm (the operator never upgrades
// itself under OLM).
func installDeployment(objs []*unstructured.Unstructured, appVersion string) (*appsv1.Deployment, error) {
	var dep *appsv1.Deployment
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		if dep != nil {
			return nil, fmt.Errorf("the kustomize install renders more than one Deployment")
		}
		dep = &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep); err != nil {
			return nil, err
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("the kustomize install renders no operator Deployment")
	}
	c := &dep.Spec.Template.Spec.Containers[0]
	repo := c.Image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if repo != OperatorImageRepository {
		return nil, fmt.Errorf("the kustomize install's image is %s, want %s (config/manager/kustomization.yaml)", repo, OperatorImageRepository)
	}
	c.Image = repo + ":" + appVersion
	c.Args = append(c.Args, "--olm")
	c.Env = append(c.Env, corev1.EnvVar{Name: RelatedImageEnv, Value: c.Image})
	c.Env = append(c.Env, corev1.EnvVar{Name: "WATCH_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['olm.targetNamespaces']"}}})
	return dep, nil
}

func namespaceOf(objs []*unstructured.Unstructured, deployment string) string {
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == deployment {
			return o.GetNamespace()
		}
	}
	return ""
}

// boundRules collects the rules bound to the ServiceAccount sa of namespace ns: ClusterRoleBindings give
// cluster permissions, RoleBindings in ns namespace permissions. OLM can only create Roles in the install
// namespace, so rules bound in other namespaces (kube-system) become cluster permissions.
func boundRules(objs []*unstructured.Unstructured, sa, ns string) (cluster, namespaced []rbacv1.PolicyRule, err error) {
	clusterRoles := map[string][]rbacv1.PolicyRule{}
	roles := map[string][]rbacv1.PolicyRule{}
	var crbs []rbacv1.ClusterRoleBinding
	var rbs []rbacv1.RoleBinding
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole", "Role":
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
				return nil, nil, err
			}
			if o.GetKind() == "ClusterRole" {
				clusterRoles[o.GetName()] = r.Rules
			} else {
				roles[o.GetNamespace()+"/"+o.GetName()] = r.Rules
			}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
				return nil, nil, err
			}
			crbs = append(crbs, b)
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
				return nil, nil, err
			}
			rbs = append(rbs, b)
		}
	}
	bindsSA := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns {
				return true
			}
		}
		return false
	}
	sort.Slice(crbs, func(i, j int) bool { return crbs[i].Name < crbs[j].Name })
	sort.Slice(rbs, func(i, j int) bool { return rbs[i].Namespace+"/"+rbs[i].Name < rbs[j].Namespace+"/"+rbs[j].Name })
	for _, b := range crbs {
		if !bindsSA(b.Subjects) {
			continue
		}
		rules, ok := clusterRoles[b.RoleRef.Name]
		if !ok {
			return nil, nil, fmt.Errorf("ClusterRoleBinding %s refers to missing ClusterRole %s", b.Name, b.RoleRef.Name)
		}
		cluster = append(cluster, rules...)
	}
	for _, b := range rbs {
		if !bindsSA(b.Subjects) {
			continue
		}
		var rules []rbacv1.PolicyRule
		var ok bool
		if b.RoleRef.Kind == "ClusterRole" {
			rules, ok = clusterRoles[b.RoleRef.Name]
		} else {
			rules, ok = roles[b.Namespace+"/"+b.RoleRef.Name]
		}
		if !ok {
			return nil, nil, fmt.Errorf("RoleBinding %s/%s refers to missing %s %s", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		if b.Namespace == ns {
			namespaced = append(namespaced, rules...)
		} else {
			cluster = append(cluster, rules...)
		}
	}
	return cluster, namespaced, nil
}

// almExamples turns the sample resources into the alm-examples JSON list (sorted by kind, then name).
func almExamples(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return "", err
	}
	var items []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		objs, err := SplitYAML(data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			if o.GetKind() == "Kustomization" {
				continue
			}
			o.SetNamespace("")
			items = append(items, o)
		}
	}
	sort.Slice(items, func(i, j int) bool {
		return items[i].GetKind()+"/"+items[i].GetName() < items[j].GetKind()+"/"+items[j].GetName()
	})
	list := make([]map[string]any, len(items))
	for i, o := range items {
		list[i] = o.Object
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// marshalCSV writes the CSV as YAML without status and the null creation timestamps of typed objects.
func marshalCSV(csv *operatorsv1alpha1.ClusterServiceVersion) ([]byte, error) {
	csv.APIVersion = operatorsv1alpha1.SchemeGroupVersion.String()
	csv.Kind = operatorsv1alpha1.ClusterServiceVersionKind
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(csv)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	dropNullTimestamps(m)
	body, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Code generated by hack/shipgen bundle from config/ and "+CSVBase+"; DO NOT EDIT.\n"), body...), nil
}

func dropNullTimestamps(v any) {
	switch x := v.(type) {
	case map[string]any:
		if ts, ok := x["creationTimestamp"]; ok && ts == nil {
			delete(x, "creationTimestamp")
		}
		for _, child := range x {
			dropNullTimestamps(child)
		}
	case []any:
		for _, child := range x {
			dropNullTimestamps(child)
		}
	}
}

func annotationsYAML() []byte {
	var b strings.Builder
	b.WriteString("annotations:\n")
	for _, kv := range BundleAnnotations {
		fmt.Fprintf(&b, "  %s: %s\n", kv[0], kv[1])
	}
	return []byte(b.String())
}

func dockerfile() []byte {
	var b strings.Builder
	b.WriteString("# The OLM bundle image of castware-operator (generated by `make bundle`; DO NOT EDIT).\nFROM scratch\n\n")
	for _, kv := range BundleAnnotations {
		fmt.Fprintf(&b, "LABEL %s=%s\n", kv[0], kv[1])
	}
	b.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	fmt.Fprintf(&b, "COPY %s /%s\n", filepath.Join(BundleDir, ScorecardBundleDir), ScorecardBundleDir)
	return []byte(b.String())
}
