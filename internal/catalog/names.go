package catalog

// ReleaseFor returns the Helm release name to use for the entry: the first of names that is set (e.g. a
// Component's spec.releaseName, or the name Cast AI knows the component's release by), else the catalog's.
func (e *Entry) ReleaseFor(names ...string) string { return firstSet(append(names, e.ReleaseName)) }

// ChartFor returns the chart to use for the entry: the first of charts that is set (e.g. a Component's
// castware.cast.ai/helm-chart label, or the chart Cast AI names), else the catalog's.
func (e *Entry) ChartFor(charts ...string) string { return firstSet(append(charts, e.Chart)) }

func firstSet(names []string) string {
	for _, n := range names {
		if n != "" {
			return n
		}
	}
	return ""
}
