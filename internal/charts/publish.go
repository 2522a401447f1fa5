package charts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
)

// Helm's OCI media types of a chart artifact.
const (
	// ConfigMediaType is the config blob of a chart artifact (the chart's metadata).
	ConfigMediaType = registry.ConfigMediaType
	// ChartLayerMediaType is the chart archive layer.
	ChartLayerMediaType = registry.ChartLayerMediaType
)

// LoadArchive loads a chart from its .tgz bytes.
func LoadArchive(data []byte) (*Chart, error) { return loader.LoadArchive(bytes.NewReader(data)) }

// PushOCI pushes a chart archive to ref (oci://host/path/NAME:VERSION) with Helm's registry client, so it
// carries Helm's media types and annotations; created, when not zero, fixes the created annotation so the
// manifest is reproducible. It returns the pushed reference and manifest digest.
func PushOCI(ctx context.Context, archive []byte, ref string, created time.Time, plainHTTP bool) (pushedRef, digest string, err error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard)}
	if plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return "", "", fmt.Errorf("registry client: %w", err)
	}
	var popts []registry.PushOption
	if !created.IsZero() {
		popts = append(popts, registry.PushOptCreationTime(created.UTC().Format(time.RFC3339)))
	}
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	res, err := c.Push(archive, strings.TrimPrefix(ref, "oci://"), popts...)
	if err != nil {
		return "", "", fmt.Errorf("push chart %s: %w", ref, err)
	}
	return res.Ref, res.Manifest.Digest, nil
}
