package catalog

import "testing"

func TestReleaseForAndChartFor(t *testing.T) {
	e := &Entry{Component: "castai-agent", Chart: "castai-agent", ReleaseName: "castai-agent"}
	tests := []struct {
		name  string
		given []string
		want  string
	}{
		{"nothing given: the catalog's", nil, "castai-agent"},
		{"empty names: the catalog's", []string{"", ""}, "castai-agent"},
		{"the first set wins", []string{"", "custom", "other"}, "custom"},
	}
	for _, tt := range tests {
		if got := e.ReleaseFor(tt.given...); got != tt.want {
			t.Errorf("ReleaseFor(%q) = %q, want %q", tt.given, got, tt.want)
		}
		if got := e.ChartFor(tt.given...); got != tt.want {
			t.Errorf("ChartFor(%q) = %q, want %q", tt.given, got, tt.want)
		}
	}
}
