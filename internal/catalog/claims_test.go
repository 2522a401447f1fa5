package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestReleaseConflict(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	me := Claim{Component: "ns/agent", Release: "castai-agent", Created: t0}
	tests := []struct {
		name   string
		self   Claim
		others []Claim
		want   string
	}{
		{"free", me, nil, ""},
		{"the operator's own release", Claim{Component: "ns/x", Release: "castware-operator"}, nil, "operator's own release"},
		{"itself", me, []Claim{me}, ""},
		{"another's installed release", me, []Claim{{Component: "ns/other", Release: "castai-agent", Installed: true, Created: t0.Add(time.Hour)}}, "belongs to Component ns/other"},
		{"an older claim", me, []Claim{{Component: "ns/other", Release: "castai-agent", Created: t0.Add(-time.Hour)}}, "belongs to Component ns/other"},
		{"a younger claim loses", me, []Claim{{Component: "ns/other", Release: "castai-agent", Created: t0.Add(time.Hour)}}, ""},
		{"same age: by name", Claim{Component: "ns/b", Release: "r", Created: t0}, []Claim{{Component: "ns/a", Release: "r", Created: t0}}, "ns/a"},
		{"installed keeps its release", Claim{Component: "ns/b", Release: "r", Installed: true, Created: t0}, []Claim{{Component: "ns/a", Release: "r", Installed: true, Created: t0.Add(-time.Hour)}}, ""},
		{"another release name", me, []Claim{{Component: "ns/other", Release: "spot-handler", Installed: true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReleaseConflict(tt.self, "castware-operator", tt.others)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
