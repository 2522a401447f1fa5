package charts

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// helmIndex is an index as helm repo index writes it.
func helmIndex(t testing.TB) []byte {
	t.Helper()
	idx := repo.NewIndexFile()
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0-rc.1"} {
		for _, name := range []string{"app", "castai-agent", "other.chart_x"} {
			md := &chart.Metadata{APIVersion: "v2", Name: name, Version: v, Description: "multi\nline: description\n- not a list"}
			if err := idx.MustAdd(md, name+"-"+v+".tgz", "https://charts.example.com", digestOf([]byte(name+v))); err != nil {
				t.Fatal(err)
			}
		}
	}
	idx.SortEntries()
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestIndexSections: the layouts helm repo index writes are cut into sections and decode, chart by chart,
// to what decoding the whole index gives; any other layout is decoded whole.
func TestIndexSections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		data  []byte
		split bool
	}{
		{name: "helm repo index", data: helmIndex(t), split: true},
		{name: "generated", data: bigIndex(64<<10, 5), split: true},
		{name: "test helper", data: indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "a.tgz", digest: "00"}), split: true},
		{name: "comments and blank lines", data: []byte("# top\napiVersion: v1\n\nentries:\n  # app\n  app:\n\n  - name: app\n    version: 1.0.0\n# between\n  b:\n  - name: b\n    version: 2.0.0\n"), split: true},
		{name: "sequence indented under its key", data: []byte("apiVersion: v1\nentries:\n    app:\n        -   name: app\n            version: 1.0.0\n"), split: true},
		{name: "duplicate chart key: the last wins", data: []byte("apiVersion: v1\nentries:\n  app:\n  - {name: app, version: 1.0.0}\n  app:\n  - {name: app, version: 2.0.0}\n"), split: true},
		{name: "JSON", data: []byte(`{"apiVersion":"v1","entries":{"app":[{"name":"app","version":"1.0.0"}]}}`)},
		{name: "anchors and aliases", data: []byte("apiVersion: v1\nentries:\n  app: &l\n  - {name: app, version: 1.0.0}\n  b: *l\n")},
		{name: "flow entries", data: []byte("apiVersion: v1\nentries: {app: [{name: app, version: 1.0.0}]}\n")},
		{name: "quoted chart key", data: []byte("apiVersion: v1\nentries:\n  \"app\":\n  - {name: app, version: 1.0.0}\n")},
		{name: "document marker", data: []byte("---\napiVersion: v1\nentries:\n  app:\n  - {name: app, version: 1.0.0}\n")},
		{name: "tabs", data: []byte("apiVersion: v1\nentries:\n  app:\n  - {name: app,\tversion: 1.0.0}\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secs, ok := splitIndex(tc.data)
			if ok != tc.split {
				t.Fatalf("splitIndex ok = %v, want %v", ok, tc.split)
			}
			whole, err := decodeWhole(tc.data, func(string) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				bySection, err := decodeSections(secs, func(string) bool { return true })
				if err != nil {
					t.Fatal(err)
				}
				sameCharts(t, bySection, whole)
			}
			parsed, err := parseIndex(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			sameCharts(t, parsed, whole)
			for name := range whole.Entries {
				one, err := parseIndexFor(tc.data, name)
				if err != nil || len(one.Entries) != 1 || !slices.Equal(entryVersions(one.Entries[name]), entryVersions(whole.Entries[name])) {
					t.Fatalf("parseIndexFor(%q) = %v, %v", name, one, err)
				}
			}
		})
	}
}

// FuzzIndexSections: whenever an index is cut into sections and decodes whole, decoding it section by
// section gives the same charts and versions.
func FuzzIndexSections(f *testing.F) {
	for _, seed := range fuzzIndexSeeds() {
		f.Add(seed)
	}
	f.Add(helmIndex(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		secs, ok := splitIndex(data)
		if !ok {
			return
		}
		whole, err := decodeWhole(data, func(string) bool { return true })
		if err != nil {
			return
		}
		bySection, err := decodeSections(secs, func(string) bool { return true })
		if err != nil {
			t.Fatalf("decodes whole but not by section: %v", err)
		}
		sameCharts(t, bySection, whole)
	})
}

func sameCharts(t *testing.T, got, want *repo.IndexFile) {
	t.Helper()
	if got.APIVersion != want.APIVersion {
		t.Fatalf("apiVersion %q, want %q", got.APIVersion, want.APIVersion)
	}
	if g, w := slices.Sorted(maps.Keys(got.Entries)), slices.Sorted(maps.Keys(want.Entries)); !slices.Equal(g, w) {
		t.Fatalf("charts %q, want %q", g, w)
	}
	for name, cvs := range want.Entries {
		if !slices.Equal(entryVersions(got.Entries[name]), entryVersions(cvs)) {
			t.Fatalf("chart %q: versions %q, want %q", name, entryVersions(got.Entries[name]), entryVersions(cvs))
		}
	}
}

// TestIndexKeepsOnlyRequestedCharts: the cached index holds the decoded entries of the charts asked for
// only, and a refresh decodes those again.
func TestIndexKeepsOnlyRequestedCharts(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	s.set("/index.yaml", helmIndex(t))
	clock := newFakeClock()
	l := NewLoader(WithClock(clock.Now))
	if _, err := l.Latest(t.Context(), s.URL(), "app"); err != nil {
		t.Fatal(err)
	}
	cached := func() []string {
		e := l.indexes.lookup("http:" + s.URL())
		return slices.Sorted(maps.Keys(e.val.charts))
	}
	if got := cached(); !slices.Equal(got, []string{"app"}) {
		t.Fatalf("decoded charts %q, want only app", got)
	}
	clock.Advance(DefaultIndexTTL)
	if _, err := l.Latest(t.Context(), s.URL(), "castai-agent"); err != nil {
		t.Fatal(err)
	}
	if got := cached(); !slices.Equal(got, []string{"app", "castai-agent"}) {
		t.Fatalf("after a refresh, decoded charts %q", got)
	}
}

// TestJSONIndex: a JSON index streamed gives what decoding it whole gives.
func TestJSONIndex(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		`{"apiVersion":"v1","entries":{"app":[{"name":"app","version":"1.0.0"},{"name":"app"},null],"b":{"x":1},"c":[{"name":"c","version":"2.0.0"}]},"generated":"x"}`,
		`{"entries":null,"apiVersion":"v1"}`,
		`{"ApiVersion":"v1","entries":{}}`,
		`{"apiVersion":"v1","entries":{"app":[{"name":"app","version":"1.0.0"}],"app":[{"name":"app","version":"2.0.0"}]}}`,
		`{"entries":{"app":[{"name":"app","version":"1.0.0"}]},"Entries":{"app":[{"name":"app","version":"3.0.0"}]}}`,
	} {
		streamed, err := decodeUnsplit([]byte(data), func(string) bool { return true })
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		whole, err := decodeWhole([]byte(data), func(string) bool { return true })
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		sameCharts(t, streamed, whole)
	}
	for _, bad := range []string{`{"entries":[1]}`, `{"apiVersion":1}`, `{}`, `{"generated":"x"}`} {
		if _, err := decodeUnsplit([]byte(bad), func(string) bool { return true }); !errors.Is(err, ErrInvalidIndex) {
			t.Fatalf("%s: %v, want ErrInvalidIndex", bad, err)
		}
	}
}

// FuzzJSONIndex: whenever a JSON index decodes whole, streaming it gives the same charts and versions.
func FuzzJSONIndex(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","entries":{"app":[{"name":"app","version":"1.0.0"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, err := decodeWhole(data, func(string) bool { return true })
		streamed, serr := decodeUnsplit(data, func(string) bool { return true })
		if err != nil {
			return // decodeUnsplit may accept JSON that YAML refuses
		}
		if serr != nil {
			t.Fatalf("decodes whole but not streamed: %v", serr)
		}
		sameCharts(t, streamed, whole)
	})
}
