package charts

import (
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"helm.sh/helm/v3/pkg/strvals"
)

// This file names the Helm chart types and helpers the rest of the operator works with, so that code
// outside this package and internal/helm never imports Helm itself.

// Chart is a parsed Helm chart: metadata, templates, default values, files and subcharts.
type Chart = chart.Chart

// File is one file of a chart as read from its archive or directory.
type File = chart.File

// Metadata is a chart's Chart.yaml.
type Metadata = chart.Metadata

// APIVersionV2 is the Chart.yaml apiVersion of charts made for Helm 3.
const APIVersionV2 = chart.APIVersionV2

// LoadDir parses an unpacked chart directory.
func LoadDir(dir string) (*Chart, error) { return loader.LoadDir(dir) }

// Package writes c as a <name>-<version>.tgz archive into dir and returns the archive's path.
func Package(c *Chart, dir string) (string, error) { return chartutil.Save(c, dir) }

// IndexFile is an HTTP chart repository's index.yaml.
type IndexFile = repo.IndexFile

// ChartVersion is one chart version listed in an index.yaml.
type ChartVersion = repo.ChartVersion

// NewIndexFile returns an empty index.yaml.
func NewIndexFile() *IndexFile { return repo.NewIndexFile() }

// ParseSet parses one value assignment in helm --set syntax ("a.b[0]=c") into vals. It lives here, not in
// internal/helm, because internal/catalog needs it and internal/helm imports internal/catalog.
func ParseSet(expr string, vals map[string]any) error { return strvals.ParseInto(expr, vals) }
