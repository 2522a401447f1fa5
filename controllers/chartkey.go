package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/charts"
)

// ChartKey identifies a loaded chart's content: its archive digest, or for an unpacked directory a digest of
// every file of it and its subcharts.
func ChartKey(l *charts.Loaded) string {
	if l == nil {
		return ""
	}
	if l.Digest != "" {
		return l.Digest
	}
	h := sha256.New()
	var walk func(c *charts.Chart)
	walk = func(c *charts.Chart) {
		if c == nil {
			return
		}
		if c.Metadata != nil {
			fmt.Fprintf(h, "chart\x00%s\x00%s\x00", c.Metadata.Name, c.Metadata.Version)
		}
		files := append([]*charts.File(nil), c.Raw...)
		sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
		for _, f := range files {
			fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
			h.Write(f.Data)
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(l.Chart)
	return "dir:" + hex.EncodeToString(h.Sum(nil))
}

// chartVersion is the version the chart loader is asked for: spec.version, followed by spec.chartDigest as
// Helm writes a pinned OCI reference ("1.2.3@sha256:…").
func chartVersion(spec *castwarev1.ComponentSpec) string {
	if spec.ChartDigest == "" || spec.Version == "" {
		return spec.Version
	}
	return spec.Version + "@" + spec.ChartDigest
}
