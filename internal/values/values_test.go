package values

import (
	"reflect"
	"strings"
	"testing"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name     string
		base     map[string]any
		overlays []map[string]any
		want     map[string]any
	}{
		{"nil base", nil, nil, map[string]any{}},
		{"overlay wins on scalars", map[string]any{"a": 1.0, "b": "x"}, []map[string]any{{"a": 2.0}}, map[string]any{"a": 2.0, "b": "x"}},
		{"maps merge deeply", map[string]any{"castai": map[string]any{"apiURL": "u", "clusterID": "c"}},
			[]map[string]any{{"castai": map[string]any{"apiURL": "v"}}},
			map[string]any{"castai": map[string]any{"apiURL": "v", "clusterID": "c"}}},
		{"lists replaced whole", map[string]any{"l": []any{1.0, 2.0}}, []map[string]any{{"l": []any{3.0}}}, map[string]any{"l": []any{3.0}}},
		{"nil deletes", map[string]any{"a": 1.0, "b": 2.0}, []map[string]any{{"a": nil}}, map[string]any{"b": 2.0}},
		{"map replaces scalar", map[string]any{"a": "x"}, []map[string]any{{"a": map[string]any{"b": "y"}}}, map[string]any{"a": map[string]any{"b": "y"}}},
		{"scalar replaces map", map[string]any{"a": map[string]any{"b": "y"}}, []map[string]any{{"a": "x"}}, map[string]any{"a": "x"}},
		{"three layers in order", map[string]any{"a": 1.0}, []map[string]any{{"a": 2.0, "b": 1.0}, {"b": 3.0}}, map[string]any{"a": 2.0, "b": 3.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := Copy(tt.base)
			got := Merge(tt.base, tt.overlays...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Merge = %#v, want %#v", got, tt.want)
			}
			if !reflect.DeepEqual(before, tt.base) {
				t.Fatalf("Merge modified its base: %#v", tt.base)
			}
		})
	}
}

func TestMergeDoesNotAliasOverlay(t *testing.T) {
	overlay := map[string]any{"m": map[string]any{"k": "v"}}
	got := Merge(nil, overlay)
	got["m"].(map[string]any)["k"] = "changed"
	if overlay["m"].(map[string]any)["k"] != "v" {
		t.Fatal("result shares maps with the overlay")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
		want    map[string]any
	}{
		{"", "", map[string]any{}},
		{"null", "", map[string]any{}},
		{`{"a":{"b":1}}`, "", map[string]any{"a": map[string]any{"b": 1.0}}},
		{`[1,2]`, "must be an object, got a list", nil},
		{`"x"`, "got a string", nil},
		{`true`, "got a boolean", nil},
		{`12`, "got a number", nil},
		{`{"a":`, "not valid JSON", nil},
		{strings.Repeat(`{"a":`, MaxDepth+2) + "1" + strings.Repeat("}", MaxDepth+2), "deeper than", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestHashAndEqual(t *testing.T) {
	a := map[string]any{"n": 1, "m": map[string]any{"x": int64(2)}}
	b := map[string]any{"m": map[string]any{"x": 2.0}, "n": 1.0}
	if !Equal(a, b) {
		t.Fatalf("int and float forms of the same values differ: %s vs %s", Hash(a), Hash(b))
	}
	if Hash(nil) != Hash(map[string]any{}) {
		t.Fatal("nil and empty maps hash differently")
	}
	if Equal(a, map[string]any{"n": 1}) {
		t.Fatal("different values compare equal")
	}
	if len(Hash(a)) != 16 {
		t.Fatalf("hash %q is not 16 hex digits", Hash(a))
	}
}

func TestPaths(t *testing.T) {
	got := Paths(map[string]any{"a": map[string]any{"b": 1, "c": map[string]any{}}, "d.e": "x"})
	want := []string{"a.b", "a.c", `d\.e`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Paths = %v, want %v", got, want)
	}
}

// TestMergeIdempotentWithNils: an overlay whose new subtree holds nils (kept, for Helm to apply to the
// chart's defaults) merged a second time gives the same result (found by FuzzMerge's seed corpus).
func TestMergeIdempotentWithNils(t *testing.T) {
	base := map[string]any{"a": nil}
	overlay := map[string]any{"a": map[string]any{"b": nil}, "c": map[string]any{}}
	once := Merge(base, overlay)
	if Hash(Merge(once, overlay)) != Hash(once) {
		t.Fatalf("merging twice changed %v into %v", once, Merge(once, overlay))
	}
	if got := Merge(map[string]any{"a": 1.0}, map[string]any{"a": nil}); len(got) != 0 {
		t.Fatalf("a nil overlay value must still delete a set key: %v", got)
	}
}
