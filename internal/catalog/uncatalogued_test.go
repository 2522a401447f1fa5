package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestUncatalogued(t *testing.T) {
	cat, err := Parse([]byte(`
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: castai-agent
  chart: castai-agent
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, chart string
		allow       bool
		wantErr     bool
	}{
		{"another product's chart", "ingress-nginx", false, true},
		{"a catalog chart under another component name", "castai-agent", false, false},
		{"any chart when allowed", "ingress-nginx", true, false},
	} {
		cat.AllowUncatalogued(c.allow)
		e, err := cat.Uncatalogued("new-thing", c.chart)
		var notAllowed *ErrChartNotAllowed
		if c.wantErr {
			if !errors.As(err, &notAllowed) || !strings.Contains(err.Error(), "--allow-uncatalogued-charts") || !strings.Contains(err.Error(), c.chart) {
				t.Errorf("%s: error %v, want one naming the chart and the flag", c.name, err)
			}
			continue
		}
		if err != nil || e.Chart != c.chart || e.Component != "new-thing" || e.ReleaseName != "new-thing" {
			t.Errorf("%s: entry %+v, error %v", c.name, e, err)
		}
	}
}
