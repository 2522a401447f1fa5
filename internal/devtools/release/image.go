package release

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI annotation and label keys the images carry.
const (
	// LabelSource is the repository the image was built from.
	LabelSource = "org.opencontainers.image.source"
	// LabelRevision is the commit the image was built from.
	LabelRevision = "org.opencontainers.image.revision"
	// LabelVersion is the version of the software in the image.
	LabelVersion = "org.opencontainers.image.version"
	// annotationRefName names an image in an OCI layout's index.json.
	annotationRefName = "org.opencontainers.image.ref.name"
)

// SourceURL is the project's repository (the images' source label).
const SourceURL = "https://github.com/castware-operator/castware-operator"

// Arches are the architectures of the operator image.
var Arches = []string{"amd64", "arm64"}

// Labels returns the OCI labels of an image of version built from commit.
func Labels(version, commit string) map[string]string {
	return map[string]string{LabelSource: SourceURL, LabelRevision: commit, LabelVersion: version}
}

// layerOf turns files into a gzip-compressed OCI layer with every mtime set to created.
func layerOf(files []File, created time.Time) (v1.Layer, error) {
	tarData, err := Tar(files, created)
	if err != nil {
		return nil, err
	}
	gz, err := Gzip(tarData)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return layer, nil
}

// newImage returns an OCI image of the given layers (with their history lines) and config.
func newImage(layers []v1.Layer, history []string, cfg v1.Config, arch string, created time.Time) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	var adds []mutate.Addendum
	for i, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: l, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: created}, CreatedBy: history[i], Comment: "castware-release"}})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created, cf.Config = arch, "linux", v1.Time{Time: created}, cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// OperatorConfig is the operator image's runtime config: the nonroot user, the binary as entrypoint,
// the CA bundle and labels.
func OperatorConfig(labels map[string]string) v1.Config {
	return v1.Config{
		User:       NonRootUser,
		Entrypoint: []string{BinaryPath},
		WorkingDir: "/",
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=" + CABundlePath, "HOME=" + NonRootHome},
		Labels: labels,
	}
}

// PlatformImage returns the linux/arch operator image: a base layer (BaseFiles) and the binary.
func PlatformImage(binary []byte, arch string, labels map[string]string, created time.Time) (v1.Image, error) {
	base, err := BaseFiles()
	if err != nil {
		return nil, err
	}
	baseLayer, err := layerOf(base, created)
	if err != nil {
		return nil, err
	}
	binLayer, err := layerOf([]File{{Name: BinaryPath[1:], Mode: 0o755, Data: binary}}, created)
	if err != nil {
		return nil, err
	}
	return newImage([]v1.Layer{baseLayer, binLayer},
		[]string{"base: passwd, group, CA bundle, /home/nonroot, /tmp", "COPY castware-operator " + BinaryPath},
		OperatorConfig(labels), arch, created)
}

// Index returns the multi-platform index of per-architecture images (keyed by GOARCH), in Arches order.
func Index(images map[string]v1.Image, annotations map[string]string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	arches := make([]string, 0, len(images))
	for a := range images {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	for _, a := range arches {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: images[a],
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: a}}})
	}
	if len(annotations) > 0 {
		annotated, ok := mutate.Annotations(idx, annotations).(v1.ImageIndex)
		if !ok {
			return nil, fmt.Errorf("annotate index: unexpected type")
		}
		idx = annotated
	}
	return idx, nil
}

// BundleImage builds the OLM bundle image the way root's bundle.Dockerfile describes it: FROM scratch,
// its LABEL lines as labels and each COPY as a directory tree in one layer.
func BundleImage(root string, created time.Time) (v1.Image, error) {
	df, err := ParseDockerfile(filepath.Join(root, "bundle.Dockerfile"))
	if err != nil {
		return nil, err
	}
	if len(df.Stages) != 1 || df.Stages[0].From != "scratch" {
		return nil, fmt.Errorf("bundle.Dockerfile: want one stage FROM scratch, have %+v", df.Stages)
	}
	st := df.Stages[0]
	var files []File
	var history []string
	for _, c := range st.Copies {
		tree, err := treeFiles(filepath.Join(root, c.Src), strings.Trim(c.Dst, "/"))
		if err != nil {
			return nil, err
		}
		files = append(files, tree...)
		history = append(history, fmt.Sprintf("COPY %s %s", c.Src, c.Dst))
	}
	layer, err := layerOf(files, created)
	if err != nil {
		return nil, err
	}
	return newImage([]v1.Layer{layer}, []string{strings.Join(history, "; ")}, v1.Config{Labels: st.Labels}, "amd64", created)
}

// treeFiles lists the regular files under dir as archive entries under prefix, all mode 0644.
func treeFiles(dir, prefix string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		if d.IsDir() {
			out = append(out, File{Name: name + "/", Mode: 0o755})
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, File{Name: name, Mode: 0o644, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return out, nil
}

// WriteLayout writes an image or index (v1.Image or v1.ImageIndex) as a fresh OCI image layout in dir,
// its index.json naming it ref (org.opencontainers.image.ref.name).
func WriteLayout(dir, ref string, artifact any) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	opt := layout.WithAnnotations(map[string]string{annotationRefName: ref})
	switch a := artifact.(type) {
	case v1.ImageIndex:
		err = p.AppendIndex(a, opt)
	case v1.Image:
		err = p.AppendImage(a, opt)
	default:
		err = fmt.Errorf("cannot write %T", artifact)
	}
	if err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	return nil
}

// ReadLayout returns the one image index or image an OCI layout written by WriteLayout holds.
func ReadLayout(dir string) (v1.ImageIndex, v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	if len(m.Manifests) != 1 {
		return nil, nil, fmt.Errorf("layout %s holds %d artifacts, want 1", dir, len(m.Manifests))
	}
	d := m.Manifests[0]
	if d.MediaType.IsIndex() {
		idx, err := top.ImageIndex(d.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("layout %s: %w", dir, err)
		}
		return idx, nil, nil
	}
	img, err := top.Image(d.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	return nil, img, nil
}
