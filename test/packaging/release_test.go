package packaging

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/devtools/release"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
)

// builtRelease is the release the tests build once (the same code `make release` and `make push` run)
// and push to an in-process OCI registry on loopback.
type builtRelease struct {
	opts     release.Options
	manifest *release.Manifest
	pushed   []release.Pushed
	registry string // host:port/path the release was built for and pushed to
	took     time.Duration
}

var (
	relOnce  sync.Once
	rel      *builtRelease
	relErr   error
	regSrv   *http.Server
	relDirs  []string
	relDirMu sync.Mutex
)

// stopRelease stops the registry and removes the release folders (TestMain calls it).
func stopRelease() {
	if regSrv != nil {
		_ = regSrv.Close()
	}
	relDirMu.Lock()
	defer relDirMu.Unlock()
	for _, d := range relDirs {
		_ = os.RemoveAll(d)
	}
}

// releaseDir is a folder that outlives one test (the shared release is built once).
func releaseDir() (string, error) {
	d, err := os.MkdirTemp("", "castware-release-")
	if err != nil {
		return "", err
	}
	relDirMu.Lock()
	relDirs = append(relDirs, d)
	relDirMu.Unlock()
	return d, nil
}

// startRegistry serves go-containerregistry's in-memory registry on 127.0.0.1.
func startRegistry() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	regSrv = &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = regSrv.Serve(l) }()
	return l.Addr().String(), nil
}

// sharedRelease builds the release for, and pushes it to, the loopback registry, once per package run.
func sharedRelease(t *testing.T) *builtRelease {
	t.Helper()
	relOnce.Do(func() {
		rel, relErr = buildAndPush()
	})
	if relErr != nil {
		t.Fatalf("release: %v", relErr)
	}
	return rel
}

func buildAndPush() (*builtRelease, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	addr, err := startRegistry()
	if err != nil {
		return nil, err
	}
	dir, err := releaseDir()
	if err != nil {
		return nil, err
	}
	b := &builtRelease{registry: addr + "/castware"}
	start := time.Now()
	if b.opts, err = release.Resolve(ctx, release.Options{Root: root, Out: dir, Registry: b.registry}); err != nil {
		return nil, err
	}
	if b.manifest, err = release.Build(ctx, b.opts); err != nil {
		return nil, err
	}
	b.took = time.Since(start)
	if b.pushed, err = release.Push(ctx, release.PushOptions{Dir: dir, Registry: b.registry}); err != nil {
		return nil, err
	}
	return b, nil
}

// artifact returns the manifest's artifact of kind (and name, for charts).
func (b *builtRelease) artifact(t *testing.T, kind, name string) release.Artifact {
	t.Helper()
	for _, a := range b.manifest.Artifacts {
		if a.Kind == kind && (name == "" || a.Name == name) {
			return a
		}
	}
	t.Fatalf("release manifest has no %s %s: %+v", kind, name, b.manifest.Artifacts)
	return release.Artifact{}
}

func (b *builtRelease) imageRef() string {
	return release.ImageRepository(b.registry) + "@" + b.manifestDigest(release.KindImage)
}

func (b *builtRelease) manifestDigest(kind string) string {
	for _, a := range b.manifest.Artifacts {
		if a.Kind == kind {
			return a.Digest
		}
	}
	return ""
}

// TestReleaseImage builds and pushes the release to a loopback registry, then pulls what was pushed: the
// operator index (both architectures, nonroot, the binary as entrypoint, the OCI labels, a CA bundle)
// whose amd64 binary runs --version and a hook subcommand, the bundle image with bundle.Dockerfile's
// labels and files, and the manifest listing every artifact with the digest the registry stores.
func TestReleaseImage(t *testing.T) {
	b := sharedRelease(t)
	t.Logf("release built in %s", b.took.Round(time.Second))

	// Every artifact is listed and was pushed with the digest the manifest names.
	kinds := map[string]int{}
	for _, a := range b.manifest.Artifacts {
		kinds[a.Kind]++
		if !strings.HasPrefix(a.Digest, "sha256:") || a.Size == 0 {
			t.Errorf("artifact %+v: no digest or size", a)
		}
	}
	if kinds[release.KindImage] != 1 || kinds[release.KindBundleImage] != 1 || kinds[release.KindChart] != 2 {
		t.Errorf("manifest artifacts %v, want one image, one bundle image, two charts", kinds)
	}
	if len(b.pushed) != len(b.manifest.Artifacts) {
		t.Errorf("pushed %d artifacts, the manifest lists %d", len(b.pushed), len(b.manifest.Artifacts))
	}

	// The operator index.
	ref, err := name.ParseReference(release.ImageRepository(b.registry) + ":" + b.opts.Version)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != b.manifestDigest(release.KindImage) {
		t.Errorf("the registry's index is %s, the manifest lists %s", d, b.manifestDigest(release.KindImage))
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	var amd64 v1.Image
	for _, desc := range im.Manifests {
		platforms = append(platforms, desc.Platform.OS+"/"+desc.Platform.Architecture)
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkOperatorConfig(t, img, desc.Platform.Architecture, b.opts)
		if desc.Platform.Architecture == "amd64" {
			amd64 = img
		}
		if desc.Platform.Architecture == "arm64" {
			files := imageFiles(t, img)
			if f, err := elf.NewFile(bytes.NewReader(files[release.BinaryPath[1:]])); err != nil || f.Machine != elf.EM_AARCH64 {
				t.Errorf("arm64 image's binary is not an arm64 ELF: %v", err)
			}
		}
	}
	if strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms %v, want linux/amd64 and linux/arm64", platforms)
	}
	if amd64 == nil {
		t.Fatal("no amd64 image")
	}
	files := imageFiles(t, amd64)
	if !strings.Contains(string(files["etc/passwd"]), ":65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user:\n%s", files["etc/passwd"])
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(files[release.CABundlePath[1:]]) {
		t.Errorf("%s holds no certificate", release.CABundlePath)
	}
	bin := filepath.Join(t.TempDir(), "castware-operator")
	if err := os.WriteFile(bin, files[release.BinaryPath[1:]], 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), b.opts.Version) || !strings.Contains(string(out), b.opts.Commit[:7]) {
		t.Errorf("the image's binary --version: %v: %q, want %s %s", err, out, b.opts.Version, b.opts.Commit[:7])
	}
	out, err = exec.CommandContext(ctx, bin, "preflight", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "usage: castware-operator preflight") {
		t.Errorf("the image's binary preflight --help: %v\n%s", err, out)
	}

	// The bundle image: bundle.Dockerfile's labels and the bundle's files.
	bref, err := name.ParseReference(b.registry + "/" + release.BundleImageName + ":" + b.opts.Version)
	if err != nil {
		t.Fatal(err)
	}
	bimg, err := remote.Image(bref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := bimg.Digest(); d.String() != b.manifestDigest(release.KindBundleImage) {
		t.Errorf("the registry's bundle image is %s, the manifest lists %s", d, b.manifestDigest(release.KindBundleImage))
	}
	df, err := release.ParseDockerfile(filepath.Join(root, "bundle.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	bcf, err := bimg.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bcf.Config.Labels, df.Stages[0].Labels) || len(bcf.Config.Labels) != len(packaging.BundleAnnotations) {
		t.Errorf("bundle image labels %v, bundle.Dockerfile declares %v", bcf.Config.Labels, df.Stages[0].Labels)
	}
	bfiles := imageFiles(t, bimg)
	for _, f := range []string{"manifests/castware-operator.clusterserviceversion.yaml", "manifests/castware.cast.ai_clusters.yaml",
		"metadata/annotations.yaml", "tests/scorecard/config.yaml"} {
		want, err := os.ReadFile(filepath.Join(root, "bundle", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bfiles[f], want) {
			t.Errorf("bundle image file %s differs from bundle/%s", f, f)
		}
	}
}

var (
	binOnce sync.Once
	binPath string
)

// releaseBinary extracts the amd64 operator binary from the pushed image once.
func releaseBinary(t *testing.T, b *builtRelease) string {
	t.Helper()
	binOnce.Do(func() {
		ref, err := name.ParseReference(b.imageRef())
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range im.Manifests {
			if d.Platform.Architecture != "amd64" {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			dir, err := releaseDir()
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "castware-operator")
			if err := os.WriteFile(p, imageFiles(t, img)[release.BinaryPath[1:]], 0o755); err != nil {
				t.Fatal(err)
			}
			binPath = p
		}
	})
	if binPath == "" {
		t.Fatal("no amd64 binary in the pushed image")
	}
	return binPath
}

// checkOperatorConfig checks one platform image's config against what the release promises.
func checkOperatorConfig(t *testing.T, img v1.Image, arch string, o release.Options) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("%s image config is %s/%s", arch, cf.OS, cf.Architecture)
	}
	if c.User != "65532:65532" || !reflect.DeepEqual(c.Entrypoint, []string{"/castware-operator"}) || len(c.Cmd) != 0 {
		t.Errorf("%s image: user %q entrypoint %v cmd %v", arch, c.User, c.Entrypoint, c.Cmd)
	}
	want := map[string]string{"org.opencontainers.image.source": "https://github.com/castware-operator/castware-operator",
		"org.opencontainers.image.revision": o.Commit, "org.opencontainers.image.version": o.Version}
	if !reflect.DeepEqual(c.Labels, want) {
		t.Errorf("%s image labels %v, want %v", arch, c.Labels, want)
	}
	if !cf.Created.Time.Equal(o.Created) {
		t.Errorf("%s image created %s, want the source date %s", arch, cf.Created.Time, o.Created)
	}
}

// imageFiles returns the regular files of an image's filesystem by path (no leading slash).
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(h.Name, "/")] = data
	}
}

// TestReleaseReproducible: a second build of the same commit gives the same index, bundle image and
// chart archive digests, and the same OCI layout bytes.
func TestReleaseReproducible(t *testing.T) {
	b := sharedRelease(t)
	dir, err := releaseDir()
	if err != nil {
		t.Fatal(err)
	}
	o := b.opts
	o.Out = dir
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	m, err := release.Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second build in %s", time.Since(start).Round(time.Second))
	for i, a := range m.Artifacts {
		first := b.manifest.Artifacts[i]
		if a.Digest != first.Digest || !reflect.DeepEqual(a.Platforms, first.Platforms) {
			t.Errorf("%s %s: second build %s, first %s", a.Kind, a.Name, a.Digest, first.Digest)
		}
		if a.Kind == release.KindImage {
			for _, p := range a.Platforms {
				t.Logf("image %s: %d bytes compressed", p.Platform, p.Bytes)
			}
		}
	}
	for _, f := range []string{"image/index.json", "bundle-image/index.json", release.ManifestFile} {
		x, err1 := os.ReadFile(filepath.Join(b.opts.Out, f))
		y, err2 := os.ReadFile(filepath.Join(dir, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds (%v %v)", f, err1, err2)
		}
	}
}

// TestReleaseNamesOneImage: the chart's default image, the CSV's relatedImages and RELATED_IMAGE_*
// variable and the release's default registry all name this project's image; the self-upgrade's default
// chart source is the release's chart repository.
func TestReleaseNamesOneImage(t *testing.T) {
	if got := release.ImageRepository(release.DefaultRegistry); got != packaging.OperatorImageRepository {
		t.Errorf("release image %s, packaging %s", got, packaging.OperatorImageRepository)
	}
	if got := release.ChartRepository(release.DefaultRegistry); got != selfupgrade.DefaultChartRepository {
		t.Errorf("release charts %s, self-upgrade default %s", got, selfupgrade.DefaultChartRepository)
	}
	var values struct {
		Image       struct{ Repository, Tag, Digest string }
		SelfUpgrade struct {
			ChartRepository string `json:"chartRepository"`
		} `json:"selfUpgrade"`
	}
	data, err := os.ReadFile(filepath.Join(operatorDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Repository != packaging.OperatorImageRepository || values.Image.Tag != "" || values.Image.Digest != "" {
		t.Errorf("chart image values %+v: want %s, the tag following appVersion, no digest", values.Image, packaging.OperatorImageRepository)
	}
	if values.SelfUpgrade.ChartRepository != selfupgrade.DefaultChartRepository {
		t.Errorf("selfUpgrade.chartRepository %q, want %q", values.SelfUpgrade.ChartRepository, selfupgrade.DefaultChartRepository)
	}
	_, app, err := packaging.ChartVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	want := packaging.OperatorImageRepository + ":" + app
	csv, err := os.ReadFile(filepath.Join(root, "bundle", "manifests", "castware-operator.clusterserviceversion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			RelatedImages []struct{ Name, Image string } `json:"relatedImages"`
		}
	}
	if err := yaml.Unmarshal(csv, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Spec.RelatedImages) != 1 || doc.Spec.RelatedImages[0].Image != want {
		t.Errorf("CSV relatedImages %+v, want %s", doc.Spec.RelatedImages, want)
	}
	if !strings.Contains(string(csv), "- name: "+packaging.RelatedImageEnv+"\n                  value: "+want+"\n") {
		t.Errorf("CSV has no %s=%s", packaging.RelatedImageEnv, want)
	}
	objs := render(t, operatorDir, "castware-operator", "castai-agent", "--set", "apiKeySecret.apiKey=k", "--set", "defaultCluster.provider=eks")
	d := find(t, objs, "Deployment", "castware-operator")
	if img := fmt.Sprint(d.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]); img != want {
		t.Errorf("chart default image %s, want %s", img, want)
	}
	pinned := "sha256:" + strings.Repeat("ab", 32)
	objs = render(t, operatorDir, "castware-operator", "castai-agent", "--set", "apiKeySecret.apiKey=k", "--set", "defaultCluster.provider=eks",
		"--set", "image.digest="+pinned, "--set", "image.tag=ignored")
	d = find(t, objs, "Deployment", "castware-operator")
	if img := fmt.Sprint(d.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]); img != packaging.OperatorImageRepository+"@"+pinned {
		t.Errorf("chart image with a digest %s, want repository@digest", img)
	}
}

// TestReleaseInstallAndSelfUpgrade installs the pushed operator chart from the loopback OCI registry
// with the real helm binary (kwok pods): the Deployment runs the pushed image by digest and names the
// registry as its self-upgrade source, and the image's own binary runs the components chart's
// operator-ready hook against it. Then the operator upgrades itself to chart N+1 pushed to the same
// registry (never to the chart a Cluster's helmRepoURL serves), after refusing a downgrade and failing
// cleanly, with nothing changed, on a version the registry does not publish.
func TestReleaseInstallAndSelfUpgrade(t *testing.T) {
	b := sharedRelease(t)
	e := controlPlane(t)
	ctx := context.Background()
	f := &suFixture{t: t, e: e, ns: "cwop-release", rel: "cwop-rel", clusterID: "5b8e1d2c-3f4a-4b6c-9d0e-1f2a3b4c5d6e"}
	f.newFakeAPI("0.2.0")
	// A repository a Cluster may name serves another castware-operator 0.2.0 whose pods never become
	// Ready: the self-upgrade must not take its chart from there.
	decoy, err := testharness.NewChartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(decoy.Close)
	if err := decoy.Add(operatorChart(t, "0.2.0", func(c *chart.Chart) {
		for _, f := range c.Raw {
			if f.Name == "values.yaml" {
				f.Data = []byte(strings.Replace(string(f.Data), "\npriorityClassName: \"\"\n", "\npriorityClassName: castware-test-missing\n", 1))
			}
		}
	})); err != nil {
		t.Fatal(err)
	}
	f.install("oci://"+b.registry+"/charts/castware-operator", "--version", "0.1.0", "--plain-http", "--set", "defaultCluster.helmRepoURL="+decoy.URL())

	d := f.operatorDeployment()
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != b.imageRef() {
		t.Errorf("operator image %s, want the pushed %s", c.Image, b.imageRef())
	}
	wantRepo := "--self-upgrade-chart-repo=" + release.ChartRepository(b.registry)
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--self-upgrade-chart-repo="); ok {
			f.chartRepo = v
		}
	}
	if "--self-upgrade-chart-repo="+f.chartRepo != wantRepo {
		t.Fatalf("operator args %v: want %s", c.Args, wantRepo)
	}

	// The image's binary runs a hook subcommand: the components chart's operator-ready check.
	bin := releaseBinary(t, b)
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(hctx, bin, "preflight", "--check=operator-ready", "--namespace="+f.ns, "--deployment="+f.rel, "--timeout=90s")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.KubeconfigPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the image's binary preflight --check=operator-ready: %v\n%s", err, out)
	}

	// Chart N+1, released the same way (pinned to the same image), pushed to the registry.
	next, err := release.ChartArchive(operatorChart(t, "0.2.0", nil), release.ChartEdits(b.opts, b.manifestDigest(release.KindImage))[packaging.OperatorChartDir], b.opts.Created)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := release.PushChart(ctx, next, release.ChartRepository(b.registry)+"/castware-operator:0.2.0", b.opts.Created, false); err != nil {
		t.Fatal(err)
	}

	old := f.upgrader("0.1.0", "operator-old", nil)
	if err := old.Start(ctx, f.cluster(), "0.0.9", "action-down"); !errors.Is(err, selfupgrade.ErrDowngrade) {
		t.Errorf("downgrade request: %v, want ErrDowngrade", err)
	}
	stopOld := f.run(old)
	if err := old.Start(ctx, f.cluster(), "0.9.0", "action-missing"); err != nil {
		t.Fatal(err)
	}
	st := f.waitPhase(castwarev1.OperatorUpgradeFailed, 2*time.Minute)
	if !strings.Contains(st.Message, "unavailable from "+f.chartRepo) || !strings.Contains(st.Message, "nothing was changed") {
		t.Errorf("failure for an unpublished version: %q", st.Message)
	}
	if r := latestRelease(t, e, f.ns, f.rel); r.Version != 1 || r.Chart.Metadata.Version != "0.1.0" {
		t.Errorf("after the refused upgrade the release is revision %d chart %s", r.Version, r.Chart.Metadata.Version)
	}

	if err := old.Start(ctx, f.cluster(), "", "action-up"); err != nil {
		t.Fatal(err)
	}
	f.waitPhase(castwarev1.OperatorUpgradeHandingOver, 3*time.Minute)
	stopOld()
	newOp := f.upgrader("0.2.0", "operator-new", nil)
	newOp.RunOnce(ctx)
	st = f.waitPhase(castwarev1.OperatorUpgradeSucceeded, time.Minute)
	if st.FromVersion != "0.1.0" || st.ToVersion != "0.2.0" {
		t.Errorf("upgrade status %+v", st)
	}
	r := latestRelease(t, e, f.ns, f.rel)
	if r.Chart.Metadata.Version != "0.2.0" || r.Chart.Metadata.AppVersion != "v0.2.0" {
		t.Errorf("release after the self-upgrade runs chart %s (app %s), want the pushed 0.2.0", r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion)
	}
	d = f.operatorDeployment()
	if img := d.Spec.Template.Spec.Containers[0].Image; img != b.imageRef() {
		t.Errorf("operator image after the self-upgrade %s, want %s", img, b.imageRef())
	}
	if pc := d.Spec.Template.Spec.PriorityClassName; pc != "" {
		t.Errorf("the upgrade took the Cluster repository's chart (priorityClassName %q)", pc)
	}
}
