package catalog

import (
	"fmt"
	"strings"
)

// ErrChartNotAllowed reports a Component of a component the catalog does not list whose chart the operator
// may not install (see Catalog.Uncatalogued).
type ErrChartNotAllowed struct {
	// Component and Chart are what the Component asked for.
	Component, Chart string
	// Known lists the catalog's components.
	Known []string
}

// Error says what was refused and how to allow it.
func (e *ErrChartNotAllowed) Error() string {
	return fmt.Sprintf("component %q is not in the catalog (known: %s): chart %q would be installed with the Cluster's API key "+
		"Secret, which the operator only does for the catalog's charts; start the operator with --allow-uncatalogued-charts "+
		"(chart value allowUncataloguedCharts) to install charts the catalog does not list", e.Component, strings.Join(e.Known, ", "), e.Chart)
}

// AllowUncatalogued lets Components of components the catalog does not list install any chart (named by
// their castware.cast.ai/helm-chart label); off by default, so such a Component can only install a chart
// one of the catalog's entries installs.
func (c *Catalog) AllowUncatalogued(allow bool) { c.allowUncatalogued = allow }

// Uncatalogued returns the entry for a component the catalog does not list, installing chart with the values
// every Cast AI chart understands; an *ErrChartNotAllowed unless chart is one of the catalog's own charts or
// AllowUncatalogued is on.
func (c *Catalog) Uncatalogued(component, chart string) (*Entry, error) {
	if !c.allowUncatalogued && !c.hasChart(chart) {
		return nil, &ErrChartNotAllowed{Component: component, Chart: chart, Known: c.Components()}
	}
	return UncataloguedEntry(component, chart), nil
}

// UncataloguedEntry is the entry of a component the catalog does not list, whatever the policy: for removing
// what such a Component installed.
func UncataloguedEntry(component, chart string) *Entry {
	return &Entry{Component: component, Chart: chart, ReleaseName: component, Phase: 1,
		Values:        map[string]any{"createNamespace": false},
		ClusterValues: map[string]any{"apiURL": "{{ .APIURL }}", "apiKeySecretRef": "{{ .APIKeySecret }}", "provider": "{{ .Provider }}"}}
}

// hasChart reports whether a catalog entry installs chart.
func (c *Catalog) hasChart(chart string) bool {
	for _, e := range c.entries {
		if e.Chart == chart {
			return true
		}
	}
	return false
}
