package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
)

// hybridLayout is the layout key operator-sdk's `init --plugins=hybrid.helm.sdk.operatorframework.io`
// writes (helm-operator-plugins' hybrid plugin: name hybrid.helm.sdk.operatorframework.io, version v1-alpha).
const hybridLayout = "hybrid.helm.sdk.operatorframework.io/v1-alpha"

// projectPlugins are the plugin keys the hybrid bundle records in PROJECT (OLM manifests and scorecard).
var projectPlugins = []string{"manifests.sdk.operatorframework.io/v2", "scorecard.sdk.operatorframework.io/v2"}

// projectFile is the subset of kubebuilder's PROJECT (config version 3) the project uses; parsed strictly,
// so a misspelt key fails.
type projectFile struct {
	Domain      string                    `json:"domain"`
	Layout      []string                  `json:"layout"`
	Plugins     map[string]map[string]any `json:"plugins"`
	ProjectName string                    `json:"projectName"`
	Repo        string                    `json:"repo"`
	Resources   []projectResource         `json:"resources"`
	Version     string                    `json:"version"`
}

type projectResource struct {
	API *struct {
		CRDVersion string `json:"crdVersion"`
		Namespaced bool   `json:"namespaced"`
	} `json:"api"`
	Controller bool   `json:"controller"`
	Domain     string `json:"domain"`
	Group      string `json:"group"`
	Kind       string `json:"kind"`
	Path       string `json:"path"`
	Version    string `json:"version"`
	Webhooks   *struct {
		Defaulting     bool   `json:"defaulting"`
		Validation     bool   `json:"validation"`
		Conversion     bool   `json:"conversion"`
		WebhookVersion string `json:"webhookVersion"`
	} `json:"webhooks"`
}

// repoKind is what the repository says about one API kind.
type repoKind struct {
	group, version, kind, pkgPath string
	crdAPIVersion, plural         string
	namespaced                    bool
	controller                    bool
	defaulting, validation        bool
	webhookVersions               []string
}

// repoFacts is what PROJECT must describe, read from the repository itself.
type repoFacts struct {
	module    string
	chartName string
	kinds     map[string]repoKind // by kind
	watched   []string            // group/version/kind watched by watches.yaml entries, each once
	csvOwned  []string            // group/version/kind of the bundle CSV's owned CRDs
}

// TestProjectFileDescribesRepo: PROJECT is a strict operator-sdk hybrid Helm/Go PROJECT whose resources are
// exactly the kinds registered by api/v1alpha1 (and generated into config/crd/bases), with the group, domain,
// version, Go package, scope, controller (controllers/ has a For(&Kind{})) and webhooks (config/webhook)
// the repository really has; projectName and repo agree with go.mod, the operator chart and the bundle
// package. Deliberately broken copies must be reported.
func TestProjectFileDescribesRepo(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "PROJECT"))
	if err != nil {
		t.Fatal(err)
	}
	facts := readRepoFacts(t)
	p := parseProject(t, data)
	for _, problem := range projectProblems(p, facts) {
		t.Error(problem)
	}
	if _, err := os.Stat(filepath.Join(root, packaging.CSVBase)); err != nil {
		t.Errorf("manifests plugin: the CSV base operator-sdk generates the bundle from is missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, packaging.ScorecardKustomize, "kustomization.yaml")); err != nil {
		t.Errorf("scorecard plugin: %s has no kustomization: %v", packaging.ScorecardKustomize, err)
	}

	// res is the resource of kind in p, or a throwaway when p lacks it (the edit then changes nothing).
	res := func(p *projectFile, kind string) *projectResource {
		for i := range p.Resources {
			if p.Resources[i].Kind == kind {
				return &p.Resources[i]
			}
		}
		return &projectResource{}
	}
	broken := []struct {
		name, want string
		edit       func(*projectFile)
	}{
		{"Component dropped", "kind Component is in api/v1alpha1 but not in PROJECT", func(p *projectFile) {
			p.Resources = slices.DeleteFunc(p.Resources, func(r projectResource) bool { return r.Kind == "Component" })
		}},
		{"unknown kind", "PROJECT lists kind Widget", func(p *projectFile) {
			p.Resources = append(p.Resources, projectResource{Kind: "Widget", Group: "castware", Domain: p.Domain, Version: "v1alpha1"})
		}},
		{"wrong group", "group other", func(p *projectFile) { res(p, "Cluster").Group = "other" }},
		{"wrong path", "path", func(p *projectFile) { res(p, "Component").Path = "example.com/api/v1alpha1" }},
		{"no webhooks", "webhooks", func(p *projectFile) { res(p, "Cluster").Webhooks = nil }},
		{"cluster scoped", "namespaced", func(p *projectFile) {
			if r := res(p, "Component"); r.API != nil {
				r.API.Namespaced = false
			}
		}},
		{"no controller", "controller", func(p *projectFile) { res(p, "Component").Controller = false }},
		{"wrong repo", "repo", func(p *projectFile) { p.Repo = "github.com/example/operator" }},
		{"go layout only", "layout", func(p *projectFile) { p.Layout = []string{"go.kubebuilder.io/v4"} }},
		{"no scorecard plugin", "plugins", func(p *projectFile) { delete(p.Plugins, projectPlugins[1]) }},
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			cp := parseProject(t, data)
			b.edit(&cp)
			if reflect.DeepEqual(cp, parseProject(t, data)) {
				t.Fatalf("the edit changed nothing")
			}
			got := projectProblems(cp, facts)
			if !strings.Contains(strings.Join(got, "\n"), b.want) {
				t.Errorf("broken PROJECT (%s) not reported with %q; got %q", b.name, b.want, got)
			}
		})
	}
}

func parseProject(t *testing.T, data []byte) projectFile {
	t.Helper()
	var p projectFile
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("parse PROJECT: %v", err)
	}
	return p
}

// projectProblems compares PROJECT with the repository and returns every disagreement.
func projectProblems(p projectFile, f repoFacts) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if p.Version != "3" {
		bad("PROJECT version %q, want \"3\"", p.Version)
	}
	if !slices.Equal(p.Layout, []string{hybridLayout}) {
		bad("layout %v, want [%s] (operator-sdk's hybrid Helm/Go layout)", p.Layout, hybridLayout)
	}
	var plugins []string
	for k := range p.Plugins {
		plugins = append(plugins, k)
	}
	sort.Strings(plugins)
	if !slices.Equal(plugins, projectPlugins) {
		bad("plugins %v, want %v", plugins, projectPlugins)
	}
	if p.Repo != f.module {
		bad("repo %q, want go.mod's module %q", p.Repo, f.module)
	}
	if p.ProjectName != packaging.BundlePackage || p.ProjectName != f.chartName || p.ProjectName != p.Repo[strings.LastIndex(p.Repo, "/")+1:] {
		bad("projectName %q, want the bundle package %q = the chart name %q = the repo's last element", p.ProjectName, packaging.BundlePackage, f.chartName)
	}

	seen := map[string]bool{}
	for _, r := range p.Resources {
		k, ok := f.kinds[r.Kind]
		if !ok {
			bad("PROJECT lists kind %s, which api/v1alpha1 does not register", r.Kind)
			continue
		}
		if seen[r.Kind] {
			bad("PROJECT lists kind %s twice", r.Kind)
		}
		seen[r.Kind] = true
		if r.Domain != p.Domain || r.Group+"."+r.Domain != k.group {
			bad("%s: group %s, domain %s (project domain %s), want API group %s", r.Kind, r.Group, r.Domain, p.Domain, k.group)
		}
		if r.Version != k.version {
			bad("%s: version %s, want %s", r.Kind, r.Version, k.version)
		}
		if r.Path != k.pkgPath {
			bad("%s: path %q, want the Go package %q", r.Kind, r.Path, k.pkgPath)
		}
		if r.API == nil {
			bad("%s: no api section, but it is a Go API with a CRD", r.Kind)
		} else {
			if "apiextensions.k8s.io/"+r.API.CRDVersion != k.crdAPIVersion {
				bad("%s: api.crdVersion %s, but the CRD is %s", r.Kind, r.API.CRDVersion, k.crdAPIVersion)
			}
			if r.API.Namespaced != k.namespaced {
				bad("%s: api.namespaced %v, but the CRD's namespaced scope is %v", r.Kind, r.API.Namespaced, k.namespaced)
			}
		}
		if r.Controller != k.controller {
			bad("%s: controller %v, but controllers/ has a controller for it: %v", r.Kind, r.Controller, k.controller)
		}
		hasWebhooks := k.defaulting || k.validation
		switch {
		case r.Webhooks == nil && hasWebhooks:
			bad("%s: no webhooks in PROJECT, but config/webhook has defaulting=%v validation=%v", r.Kind, k.defaulting, k.validation)
		case r.Webhooks != nil:
			w := r.Webhooks
			if w.Defaulting != k.defaulting || w.Validation != k.validation || w.Conversion {
				bad("%s: webhooks defaulting=%v validation=%v conversion=%v, config/webhook has defaulting=%v validation=%v and no conversion",
					r.Kind, w.Defaulting, w.Validation, w.Conversion, k.defaulting, k.validation)
			}
			if !slices.Contains(k.webhookVersions, w.WebhookVersion) {
				bad("%s: webhookVersion %q, config/webhook admits review versions %v", r.Kind, w.WebhookVersion, k.webhookVersions)
			}
		}
	}
	var kinds []string
	for kind := range f.kinds {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		if !seen[kind] {
			bad("kind %s is in api/v1alpha1 but not in PROJECT", kind)
		}
	}
	gvks := map[string]bool{}
	for _, r := range p.Resources {
		gvks[r.Group+"."+r.Domain+"/"+r.Version+"/"+r.Kind] = true
	}
	for _, w := range f.watched {
		if !gvks[w] {
			bad("watches.yaml watches %s, which PROJECT does not list", w)
		}
	}
	for _, o := range f.csvOwned {
		if !gvks[o] {
			bad("the bundle CSV owns %s, which PROJECT does not list", o)
		}
	}
	return out
}

// readRepoFacts reads the kinds from the Go scheme of api/v1alpha1 and the CRDs, controllers and webhook
// configurations generated or written for them, plus go.mod, the chart name, watches.yaml and the CSV.
func readRepoFacts(t *testing.T) repoFacts {
	t.Helper()
	f := repoFacts{kinds: map[string]repoKind{}}

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(gomod); m != nil {
		f.module = string(m[1])
	} else {
		t.Fatal("go.mod has no module line")
	}
	chart, err := os.ReadFile(filepath.Join(root, packaging.OperatorChartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Name string `json:"name"`
	}
	if err := yaml.Unmarshal(chart, &meta); err != nil {
		t.Fatal(err)
	}
	f.chartName = meta.Name

	scheme := runtime.NewScheme()
	if err := castwarev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// The scheme also holds metav1's option and event kinds under every group-version; only the package's
	// own root types (not their lists) are API kinds.
	metaPkg := reflect.TypeFor[metav1.ListOptions]().PkgPath()
	for kind, typ := range scheme.KnownTypes(castwarev1.GroupVersion) {
		if strings.HasSuffix(kind, "List") || typ.PkgPath() == metaPkg {
			continue
		}
		f.kinds[kind] = repoKind{group: castwarev1.GroupVersion.Group, version: castwarev1.GroupVersion.Version, kind: kind, pkgPath: typ.PkgPath()}
	}
	if len(f.kinds) == 0 {
		t.Fatal("api/v1alpha1 registers no kinds")
	}

	crdFiles, err := filepath.Glob(filepath.Join(root, packaging.CRDDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crdKinds := map[string]bool{}
	for _, p := range crdFiles {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		kind := crd.Spec.Names.Kind
		crdKinds[kind] = true
		k, ok := f.kinds[kind]
		if !ok {
			t.Errorf("%s defines kind %s, which api/v1alpha1 does not register", p, kind)
			continue
		}
		if crd.Spec.Group != k.group || !slices.ContainsFunc(crd.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == k.version && v.Served }) {
			t.Errorf("%s: CRD group %s does not serve %s/%s", p, crd.Spec.Group, k.group, k.version)
		}
		k.crdAPIVersion = crd.APIVersion
		k.plural = crd.Spec.Names.Plural
		k.namespaced = crd.Spec.Scope == apiextensionsv1.NamespaceScoped
		f.kinds[kind] = k
	}
	for kind := range f.kinds {
		if !crdKinds[kind] {
			t.Errorf("kind %s has no CRD in %s (run `make generate`)", kind, packaging.CRDDir)
		}
	}

	// A controller is a controller-runtime builder For(&<pkg>.<Kind>{}) in controllers/.
	ctrlFiles, err := filepath.Glob(filepath.Join(root, "controllers", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	forKind := regexp.MustCompile(`\bFor\(&\w+\.(\w+)\{\}`)
	for _, p := range ctrlFiles {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range forKind.FindAllSubmatch(src, -1) {
			if k, ok := f.kinds[string(m[1])]; ok {
				k.controller = true
				f.kinds[k.kind] = k
			}
		}
	}

	hooks, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := packaging.SplitYAML(hooks)
	if err != nil {
		t.Fatal(err)
	}
	covers := func(rules []admissionregistrationv1.RuleWithOperations, k repoKind) bool {
		for _, r := range rules {
			if slices.Contains(r.APIGroups, k.group) && slices.Contains(r.APIVersions, k.version) && slices.Contains(r.Resources, k.plural) {
				return true
			}
		}
		return false
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "MutatingWebhookConfiguration":
			var c admissionregistrationv1.MutatingWebhookConfiguration
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &c); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.Webhooks {
				for kind, k := range f.kinds {
					if covers(w.Rules, k) {
						k.defaulting = true
						k.webhookVersions = append(k.webhookVersions, w.AdmissionReviewVersions...)
						f.kinds[kind] = k
					}
				}
			}
		case "ValidatingWebhookConfiguration":
			var c admissionregistrationv1.ValidatingWebhookConfiguration
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &c); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.Webhooks {
				for kind, k := range f.kinds {
					if covers(w.Rules, k) {
						k.validation = true
						k.webhookVersions = append(k.webhookVersions, w.AdmissionReviewVersions...)
						f.kinds[kind] = k
					}
				}
			}
		}
	}

	watches, err := os.ReadFile(filepath.Join(root, "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Group   string `json:"group"`
		Version string `json:"version"`
		Kind    string `json:"kind"`
	}
	if err := yaml.Unmarshal(watches, &entries); err != nil {
		t.Fatalf("watches.yaml: %v", err)
	}
	for _, e := range entries {
		if gvk := e.Group + "/" + e.Version + "/" + e.Kind; !slices.Contains(f.watched, gvk) {
			f.watched = append(f.watched, gvk)
		}
	}

	csvData, err := os.ReadFile(filepath.Join(root, packaging.BundleDir, "manifests", packaging.BundlePackage+".clusterserviceversion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var csv operatorsv1alpha1.ClusterServiceVersion
	if err := yaml.Unmarshal(csvData, &csv); err != nil {
		t.Fatal(err)
	}
	for _, o := range csv.Spec.CustomResourceDefinitions.Owned {
		group := o.Name[strings.Index(o.Name, ".")+1:]
		f.csvOwned = append(f.csvOwned, group+"/"+o.Version+"/"+o.Kind)
	}
	return f
}

// scorecardSuites are operator-sdk's built-in scorecard tests (label test) by suite (label suite).
var scorecardSuites = map[string][]string{
	"basic": {"basic-check-spec-test"},
	"olm": {"olm-bundle-validation-test", "olm-crds-have-validation-test", "olm-crds-have-resources-test",
		"olm-spec-descriptors-test", "olm-status-descriptors-test"},
}

// TestScorecardConfig: the bundle carries operator-sdk's scorecard configuration where its annotations and
// the bundle image's labels say (tests/scorecard/), with exactly the basic and OLM suites, each test run
// as `scorecard-test <name>` from the scorecard-test image at the operator-sdk version hack/testbin.sh pins.
// Deliberately broken copies must be reported.
func TestScorecardConfig(t *testing.T) {
	version := pinnedOperatorSDKVersion(t)

	annData, err := os.ReadFile(filepath.Join(root, packaging.BundleDir, "metadata", "annotations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ann struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.UnmarshalStrict(annData, &ann); err != nil {
		t.Fatal(err)
	}
	configDir := ann.Annotations["operators.operatorframework.io.test.config.v1"]
	if configDir != "tests/scorecard/" {
		t.Errorf("annotation test.config.v1 = %q, want tests/scorecard/ (where operator-sdk scorecard looks)", configDir)
	}
	if got := ann.Annotations["operators.operatorframework.io.test.mediatype.v1"]; got != "scorecard+v1" {
		t.Errorf("annotation test.mediatype.v1 = %q, want scorecard+v1", got)
	}

	// The bundle image: the same labels as annotations.yaml, and the scorecard directory copied to where
	// the label points.
	dockerfile, err := os.ReadFile(filepath.Join(root, packaging.BundleDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	var copies []string
	for _, in := range parseDockerfile(string(dockerfile)) {
		switch in.cmd {
		case "LABEL":
			k, v, _ := strings.Cut(in.args, "=")
			labels[k] = v
		case "COPY":
			copies = append(copies, in.args)
		}
	}
	if !reflect.DeepEqual(labels, ann.Annotations) {
		t.Errorf("%s labels %v differ from annotations.yaml %v", packaging.BundleDockerfile, labels, ann.Annotations)
	}
	wantCopy := filepath.Join(packaging.BundleDir, configDir) + " /" + configDir
	if !slices.Contains(copies, wantCopy) {
		t.Errorf("%s copies %q, want a COPY %s", packaging.BundleDockerfile, copies, wantCopy)
	}

	data, err := os.ReadFile(filepath.Join(root, packaging.BundleDir, configDir, "config.yaml"))
	if err != nil {
		t.Fatalf("the scorecard configuration the annotation points to: %v", err)
	}
	for _, problem := range scorecardProblems(t, data, version) {
		t.Error(problem)
	}

	broken := []struct {
		name, old, new, want string
	}{
		{"other SDK version", "scorecard-test:" + version, "scorecard-test:v1.0.0", "image"},
		{"test missing", "olm-status-descriptors-test", "olm-status-descriptors-x", "missing test olm-status-descriptors-test"},
		{"wrong entrypoint", "- basic-check-spec\n", "- basic-check\n", "entrypoint"},
		{"wrong suite", "suite: basic", "suite: olm", "suite"},
		{"wrong kind", "kind: Configuration", "kind: Config", "Configuration"},
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			edited := strings.Replace(string(data), b.old, b.new, 1)
			if edited == string(data) {
				t.Fatalf("the edit changed nothing")
			}
			got := scorecardProblems(t, []byte(edited), version)
			if !strings.Contains(strings.Join(got, "\n"), b.want) {
				t.Errorf("broken scorecard config (%s) not reported with %q; got %q", b.name, b.want, got)
			}
		})
	}
}

// scorecardProblems checks a scorecard configuration against operator-sdk's basic and OLM suites.
func scorecardProblems(t *testing.T, data []byte, sdkVersion string) []string {
	t.Helper()
	cfg, err := packaging.ParseScorecardConfig(data)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	wantImage := packaging.ScorecardTestImage + ":" + sdkVersion
	want := map[string]string{}
	for suite, tests := range scorecardSuites {
		for _, name := range tests {
			want[name] = suite
		}
	}
	seen := map[string]bool{}
	for _, stage := range cfg.Stages {
		for _, tc := range stage.Tests {
			name := tc.Labels["test"]
			suite, ok := want[name]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("unexpected test %q (labels %v)", name, tc.Labels))
				continue
			case seen[name]:
				out = append(out, fmt.Sprintf("test %s listed twice", name))
			}
			seen[name] = true
			if tc.Labels["suite"] != suite || len(tc.Labels) != 2 {
				out = append(out, fmt.Sprintf("%s: labels %v, want suite=%s test=%s", name, tc.Labels, suite, name))
			}
			if tc.Image != wantImage {
				out = append(out, fmt.Sprintf("%s: image %s, want %s (operator-sdk %s, hack/testbin.sh)", name, tc.Image, wantImage, sdkVersion))
			}
			if wantEP := []string{"scorecard-test", strings.TrimSuffix(name, "-test")}; !slices.Equal(tc.Entrypoint, wantEP) {
				out = append(out, fmt.Sprintf("%s: entrypoint %v, want %v", name, tc.Entrypoint, wantEP))
			}
		}
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !seen[name] {
			out = append(out, "missing test "+name)
		}
	}
	return out
}

// pinnedOperatorSDKVersion is the operator-sdk version hack/testbin.sh builds by default.
func pinnedOperatorSDKVersion(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(root, "hack", "testbin.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^OPERATOR_SDK_VERSION=\$\{OPERATOR_SDK_VERSION:-(v[0-9]+\.[0-9]+\.[0-9]+)\}`).FindSubmatch(script)
	if m == nil {
		t.Fatal("hack/testbin.sh pins no OPERATOR_SDK_VERSION")
	}
	return string(m[1])
}
