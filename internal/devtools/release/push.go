package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/castware-operator/castware-operator/internal/charts"
)

// Helm's OCI media types of a chart (the charts are pushed with Helm's own registry client).
const (
	// ChartConfigMediaType is the config blob of a chart artifact (the chart's metadata).
	ChartConfigMediaType = charts.ConfigMediaType
	// ChartLayerMediaType is the chart archive layer.
	ChartLayerMediaType = charts.ChartLayerMediaType
)

// PushedFile is the record of a push inside the release folder.
const PushedFile = "pushed.json"

// Pushed is one artifact as a registry now holds it.
type Pushed struct {
	// Kind is the artifact kind (KindImage, KindBundleImage, KindChart).
	Kind string `json:"kind"`
	// Ref is the tag reference (host/path/name:tag, without oci://).
	Ref string `json:"ref"`
	// Digest is the manifest (or index) digest the registry stores.
	Digest string `json:"digest"`
}

// PushOptions say where a release goes.
type PushOptions struct {
	// Dir is the release folder Build wrote.
	Dir string
	// Registry is host[:port][/path]; empty means the registry the release was built for. A release built
	// for another registry is refused (its chart would name images elsewhere).
	Registry string
	// PlainHTTP talks HTTP instead of HTTPS (loopback registries always use HTTP).
	PlainHTTP bool
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Push pushes every artifact of the release in o.Dir: the operator image to Registry/castware-operator,
// the bundle image to Registry/castware-operator-bundle (tagged with the release version) and the charts
// to oci://Registry/charts/NAME:VERSION; it records what it pushed in o.Dir/pushed.json.
func Push(ctx context.Context, o PushOptions) ([]Pushed, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	m, err := ReadManifest(o.Dir)
	if err != nil {
		return nil, err
	}
	reg := strings.TrimSuffix(strings.TrimPrefix(o.Registry, "oci://"), "/")
	if reg == "" {
		reg = m.Registry
	}
	if reg != m.Registry {
		return nil, fmt.Errorf("the release in %s was built for registry %s, not %s: build it again with that registry", o.Dir, m.Registry, reg)
	}
	var out []Pushed
	for _, a := range m.Artifacts {
		p, err := pushArtifact(ctx, o, reg, a, m.Created)
		if err != nil {
			return out, fmt.Errorf("push %s %s: %w", a.Kind, a.Name, err)
		}
		if a.Kind != KindChart && p.Digest != a.Digest {
			return out, fmt.Errorf("push %s: the registry stores %s, the release has %s", a.Name, p.Digest, a.Digest)
		}
		fmt.Fprintf(o.Log, "pushed %s@%s\n", p.Ref, p.Digest)
		out = append(out, p)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return out, fmt.Errorf("encode push record: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, PushedFile), append(data, '\n'), 0o644); err != nil {
		return out, fmt.Errorf("write push record: %w", err)
	}
	return out, nil
}

// pushArtifact pushes one artifact of the release.
func pushArtifact(ctx context.Context, o PushOptions, reg string, a Artifact, created time.Time) (Pushed, error) {
	path := filepath.Join(o.Dir, filepath.FromSlash(a.Path))
	switch a.Kind {
	case KindImage, KindBundleImage:
		return pushLayout(ctx, path, reg+"/"+a.Name+":"+a.Version, a.Kind, o.PlainHTTP)
	case KindChart:
		data, err := os.ReadFile(path)
		if err != nil {
			return Pushed{}, fmt.Errorf("read chart archive: %w", err)
		}
		if got := "sha256:" + sha256Hex(data); got != a.Digest {
			return Pushed{}, fmt.Errorf("chart archive %s is %s, the manifest lists %s", a.Path, got, a.Digest)
		}
		return PushChart(ctx, data, ChartRepository(reg)+"/"+a.Name+":"+a.Version, created, o.PlainHTTP)
	}
	return Pushed{}, fmt.Errorf("unknown artifact kind %q", a.Kind)
}

// pushLayout pushes the image or index an OCI layout holds to ref.
func pushLayout(ctx context.Context, dir, ref, kind string, plainHTTP bool) (Pushed, error) {
	var opts []name.Option
	if plainHTTP {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(ref, opts...)
	if err != nil {
		return Pushed{}, fmt.Errorf("reference %s: %w", ref, err)
	}
	idx, img, err := ReadLayout(dir)
	if err != nil {
		return Pushed{}, err
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	p := Pushed{Kind: kind, Ref: tag.String()}
	if idx != nil {
		if err := remote.WriteIndex(tag, idx, ropts...); err != nil {
			return Pushed{}, fmt.Errorf("write index %s: %w", ref, err)
		}
		d, err := idx.Digest()
		if err != nil {
			return Pushed{}, fmt.Errorf("index digest: %w", err)
		}
		p.Digest = d.String()
	} else {
		if err := remote.Write(tag, img, ropts...); err != nil {
			return Pushed{}, fmt.Errorf("write image %s: %w", ref, err)
		}
		d, err := img.Digest()
		if err != nil {
			return Pushed{}, fmt.Errorf("image digest: %w", err)
		}
		p.Digest = d.String()
	}
	desc, err := remote.Head(tag, ropts...)
	if err != nil {
		return Pushed{}, fmt.Errorf("check %s: %w", ref, err)
	}
	if desc.Digest.String() != p.Digest {
		return Pushed{}, fmt.Errorf("%s resolves to %s after the push, want %s", ref, desc.Digest, p.Digest)
	}
	return p, nil
}

// PushChart pushes a chart archive to ref (oci://host/path/NAME:VERSION) with Helm's registry client,
// so it carries Helm's media types and annotations, its created annotation set to created (when not
// zero) so the manifest is reproducible; plain HTTP for loopback hosts or when asked.
func PushChart(ctx context.Context, archive []byte, ref string, created time.Time, plainHTTP bool) (Pushed, error) {
	pushed, digest, err := charts.PushOCI(ctx, archive, ref, created, plainHTTP || isLoopback(strings.TrimPrefix(ref, "oci://")))
	if err != nil {
		return Pushed{}, err
	}
	return Pushed{Kind: KindChart, Ref: pushed, Digest: digest}, nil
}

// isLoopback reports whether ref's host is localhost or a loopback address.
func isLoopback(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sha256Hex is the hex sha256 of data.
func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
