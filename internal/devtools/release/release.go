package release

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
)

// Defaults of a release.
const (
	// DefaultRegistry is where the project publishes: the image at DefaultRegistry/castware-operator,
	// the charts under oci://DefaultRegistry/charts.
	DefaultRegistry = "ghcr.io/castware-operator"
	// ImageName is the operator image's repository name under a registry.
	ImageName = "castware-operator"
	// BundleImageName is the bundle image's repository name under a registry.
	BundleImageName = "castware-operator-bundle"
	// ChartsPath is the path of the chart repository under a registry.
	ChartsPath = "charts"
	// ManifestFile is the release manifest inside the release folder.
	ManifestFile = "manifest.json"
)

// Artifact kinds in a Manifest.
const (
	// KindImage is the operator image (an index of platform images).
	KindImage = "image"
	// KindBundleImage is the OLM bundle image.
	KindBundleImage = "bundle-image"
	// KindChart is a Helm chart archive.
	KindChart = "chart"
)

// Options say what to build and where.
type Options struct {
	// Root is the repository root (default ".").
	Root string
	// Out is the release folder (default bin/release); each build replaces what it writes there.
	Out string
	// Version is the image tag and version label (default: the operator chart's appVersion).
	Version string
	// Commit is the revision label (default: git rev-parse HEAD); the binary gets its first 7 characters.
	Commit string
	// Created is every file time and the images' created time (default: $SOURCE_DATE_EPOCH, else the
	// commit time).
	Created time.Time
	// Registry is where the release is to be pushed (default DefaultRegistry); the released operator
	// chart's image.repository and selfUpgrade.chartRepository point there.
	Registry string
	// Arches are the operator image's architectures (default Arches).
	Arches []string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Manifest lists a release's artifacts (ManifestFile in the release folder).
type Manifest struct {
	// Version is the image tag and version label.
	Version string `json:"version"`
	// Commit is the revision the release was built from.
	Commit string `json:"commit"`
	// Created is the source date of every file and image.
	Created time.Time `json:"created"`
	// Registry is the registry the released chart points at.
	Registry string `json:"registry"`
	// Artifacts are the built artifacts.
	Artifacts []Artifact `json:"artifacts"`
}

// Artifact is one built artifact.
type Artifact struct {
	// Kind is KindImage, KindBundleImage or KindChart.
	Kind string `json:"kind"`
	// Name is the repository name (images) or the chart name.
	Name string `json:"name"`
	// Version is the tag (images) or the chart version.
	Version string `json:"version"`
	// Path is the OCI layout folder or chart archive, relative to the release folder.
	Path string `json:"path"`
	// MediaType is the image's (index or manifest) media type; for charts Helm's chart content type.
	MediaType string `json:"mediaType"`
	// Digest is the image's manifest or index digest, or the chart archive's sha256.
	Digest string `json:"digest"`
	// Size is the manifest's or archive's size in bytes.
	Size int64 `json:"size"`
	// Platforms are an index's per-platform images.
	Platforms []Platform `json:"platforms,omitempty"`
}

// Platform is one platform image of an index.
type Platform struct {
	// Platform is os/arch.
	Platform string `json:"platform"`
	// Digest is the platform image's manifest digest.
	Digest string `json:"digest"`
	// Bytes is the platform image's compressed size (config and layers).
	Bytes int64 `json:"bytes"`
}

// ImageRepository is the operator image's repository under registry.
func ImageRepository(registry string) string { return registry + "/" + ImageName }

// ChartRepository is the chart repository (oci://...) under registry.
func ChartRepository(registry string) string { return "oci://" + registry + "/" + ChartsPath }

// Resolve fills in o's defaults from the repository (chart appVersion, git commit and commit time).
func Resolve(ctx context.Context, o Options) (Options, error) {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Out == "" {
		o.Out = filepath.Join(o.Root, "bin", "release")
	}
	if o.Registry == "" {
		o.Registry = DefaultRegistry
	}
	o.Registry = strings.TrimSuffix(strings.TrimPrefix(o.Registry, "oci://"), "/")
	if len(o.Arches) == 0 {
		o.Arches = Arches
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Version == "" {
		_, app, err := packaging.ChartVersions(o.Root)
		if err != nil {
			return o, fmt.Errorf("operator chart version: %w", err)
		}
		o.Version = app
	}
	if o.Commit == "" {
		out, err := git(ctx, o.Root, "rev-parse", "HEAD")
		if err != nil {
			return o, err
		}
		o.Commit = out
	}
	if o.Created.IsZero() {
		t, err := sourceDate(ctx, o.Root)
		if err != nil {
			return o, err
		}
		o.Created = t
	}
	o.Created = o.Created.UTC()
	return o, nil
}

// sourceDate is $SOURCE_DATE_EPOCH, else the commit time of HEAD.
func sourceDate(ctx context.Context, root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		out, err := git(ctx, root, "log", "-1", "--format=%ct")
		if err != nil {
			return time.Time{}, err
		}
		s = out
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("source date %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// git runs git in root and returns its trimmed output.
func git(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// shortCommit is the commit as the Makefile gives it to the binary (git rev-parse --short).
func shortCommit(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

// BuildImage builds the operator binary for each of o.Arches, the platform images and their index, and
// writes the index as an OCI layout in o.Out/image.
func BuildImage(ctx context.Context, o Options) (Artifact, v1.ImageIndex, error) {
	images := map[string]v1.Image{}
	labels := Labels(o.Version, o.Commit)
	for _, arch := range o.Arches {
		bin := filepath.Join(o.Out, "bin", "linux-"+arch, ImageName)
		fmt.Fprintf(o.Log, "go build linux/%s -> %s\n", arch, bin)
		if err := BuildBinary(ctx, o.Root, arch, o.Version, shortCommit(o.Commit), bin); err != nil {
			return Artifact{}, nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return Artifact{}, nil, fmt.Errorf("read binary: %w", err)
		}
		img, err := PlatformImage(data, arch, labels, o.Created)
		if err != nil {
			return Artifact{}, nil, fmt.Errorf("image linux/%s: %w", arch, err)
		}
		images[arch] = img
	}
	idx, err := Index(images, labels)
	if err != nil {
		return Artifact{}, nil, err
	}
	a := Artifact{Kind: KindImage, Name: ImageName, Version: o.Version, Path: "image"}
	if err := WriteLayout(filepath.Join(o.Out, a.Path), o.Version, idx); err != nil {
		return Artifact{}, nil, err
	}
	if err := describeIndex(&a, idx); err != nil {
		return Artifact{}, nil, err
	}
	fmt.Fprintf(o.Log, "image %s %s\n", a.Path, a.Digest)
	return a, idx, nil
}

// describeIndex fills in an index's digest, size, media type and platforms.
func describeIndex(a *Artifact, idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("index digest: %w", err)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return fmt.Errorf("index manifest: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("index manifest: %w", err)
	}
	a.Digest, a.Size, a.MediaType = d.String(), int64(len(raw)), string(m.MediaType)
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return fmt.Errorf("image %s: %w", desc.Digest, err)
		}
		n, err := imageBytes(img)
		if err != nil {
			return err
		}
		a.Platforms = append(a.Platforms, Platform{Platform: desc.Platform.OS + "/" + desc.Platform.Architecture, Digest: desc.Digest.String(), Bytes: n})
	}
	return nil
}

// imageBytes is the compressed size of an image's config and layers.
func imageBytes(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("image manifest: %w", err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// BuildBundleImage builds the OLM bundle image (BundleImage) into the OCI layout o.Out/bundle-image.
func BuildBundleImage(o Options) (Artifact, error) {
	img, err := BundleImage(o.Root, o.Created)
	if err != nil {
		return Artifact{}, err
	}
	a := Artifact{Kind: KindBundleImage, Name: BundleImageName, Version: o.Version, Path: "bundle-image"}
	if err := WriteLayout(filepath.Join(o.Out, a.Path), o.Version, img); err != nil {
		return Artifact{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return Artifact{}, fmt.Errorf("bundle image digest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return Artifact{}, fmt.Errorf("bundle image manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return Artifact{}, fmt.Errorf("bundle image media type: %w", err)
	}
	a.Digest, a.Size, a.MediaType = d.String(), int64(len(raw)), string(mt)
	fmt.Fprintf(o.Log, "bundle image %s %s\n", a.Path, a.Digest)
	return a, nil
}

// ChartEdits are the values a release writes into the charts: the operator chart names the released
// image by digest and its self-upgrade source; the components chart's operator check uses the same image.
func ChartEdits(o Options, imageDigest string) map[string][]ValueEdit {
	repo := ImageRepository(o.Registry)
	return map[string][]ValueEdit{
		packaging.OperatorChartDir: {{Path: "image.repository", Value: repo}, {Path: "image.digest", Value: imageDigest},
			{Path: "selfUpgrade.chartRepository", Value: ChartRepository(o.Registry)}},
		packaging.ComponentsChartDir: {{Path: "checkOperator.image.repository", Value: repo}, {Path: "checkOperator.image.digest", Value: imageDigest}},
	}
}

// BuildCharts writes the operator and components chart archives, pinned to imageDigest, into o.Out/charts.
func BuildCharts(o Options, imageDigest string) ([]Artifact, error) {
	var out []Artifact
	edits := ChartEdits(o, imageDigest)
	for _, dir := range []string{packaging.OperatorChartDir, packaging.ComponentsChartDir} {
		c, err := charts.LoadDir(filepath.Join(o.Root, dir))
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %w", dir, err)
		}
		data, err := ChartArchive(c, edits[dir], o.Created)
		if err != nil {
			return nil, err
		}
		a := Artifact{Kind: KindChart, Name: c.Name(), Version: c.Metadata.Version, MediaType: ChartLayerMediaType,
			Path:   filepath.ToSlash(filepath.Join("charts", fmt.Sprintf("%s-%s.tgz", c.Name(), c.Metadata.Version))),
			Digest: v1.Hash{Algorithm: "sha256", Hex: sha256Hex(data)}.String(), Size: int64(len(data))}
		if err := os.MkdirAll(filepath.Join(o.Out, "charts"), 0o755); err != nil {
			return nil, fmt.Errorf("charts folder: %w", err)
		}
		if err := os.WriteFile(filepath.Join(o.Out, a.Path), data, 0o644); err != nil {
			return nil, fmt.Errorf("write chart archive: %w", err)
		}
		fmt.Fprintf(o.Log, "chart %s %s\n", a.Path, a.Digest)
		out = append(out, a)
	}
	return out, nil
}

// Build builds the whole release (image, bundle image, charts) into o.Out and writes its manifest.
func Build(ctx context.Context, o Options) (*Manifest, error) {
	img, _, err := BuildImage(ctx, o)
	if err != nil {
		return nil, err
	}
	bundle, err := BuildBundleImage(o)
	if err != nil {
		return nil, err
	}
	charts, err := BuildCharts(o, img.Digest)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Version: o.Version, Commit: o.Commit, Created: o.Created, Registry: o.Registry,
		Artifacts: append([]Artifact{img, bundle}, charts...)}
	return m, WriteManifest(o.Out, m)
}

// WriteManifest writes m as dir/ManifestFile.
func WriteManifest(dir string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// ReadManifest reads dir/ManifestFile.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read release manifest: %w", err)
	}
	m := &Manifest{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("parse release manifest: %w", err)
	}
	return m, nil
}
