package values

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"a", []string{"a"}, false},
		{"a.b.c", []string{"a", "b", "c"}, false},
		{`podAnnotations.cast\.ai/x`, []string{"podAnnotations", "cast.ai/x"}, false},
		{`a\\.b`, []string{`a\`, "b"}, false},
		{"", nil, true},
		{".a", nil, true},
		{"a.", nil, true},
		{"a..b", nil, true},
		{`a\`, nil, true},
	}
	for _, tt := range tests {
		got, err := SplitPath(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("SplitPath(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("SplitPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnflatten(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		want    map[string]any
		wantErr string
	}{
		{"empty", nil, map[string]any{}, ""},
		{"nested", map[string]string{"a.b": "1", "a.c": "x", "d": "true"},
			map[string]any{"a": map[string]any{"b": "1", "c": "x"}, "d": "true"}, ""},
		{"escaped dots", map[string]string{`podLabels.cast\.ai/team`: "t"},
			map[string]any{"podLabels": map[string]any{"cast.ai/team": "t"}}, ""},
		{"scalar then deeper", map[string]string{"a": "x", "a.b": "y"}, nil, "not a map"},
		{"bad path", map[string]string{"a..b": "x"}, nil, "empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unflatten(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Unflatten = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestSetGetDeletePath(t *testing.T) {
	m := map[string]any{}
	if err := SetPath(m, "a.b.c", "v"); err != nil {
		t.Fatal(err)
	}
	if v, ok := GetPath(m, "a.b.c"); !ok || v != "v" {
		t.Fatalf("GetPath = %v, %v", v, ok)
	}
	if err := SetPath(m, "a.b", "scalar"); err == nil {
		t.Fatal("replacing a map with a scalar must fail")
	}
	if err := SetPath(m, "a.b.c.d", "x"); err == nil {
		t.Fatal("descending into a string must fail")
	}
	if !DeletePath(m, "a.b.c") {
		t.Fatal("DeletePath reported nothing removed")
	}
	if len(m) != 0 {
		t.Fatalf("empty parents not pruned: %#v", m)
	}
	if DeletePath(m, "x.y") {
		t.Fatal("DeletePath of a missing path reported a removal")
	}
}

func FuzzUnflatten(f *testing.F) {
	f.Add("a.b", "1", "a.c", "2")
	f.Add(`x\.y.z`, "v", "x", "w")
	f.Add("a", "x", "a.b", "y")
	f.Add("..", "", `\`, "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		out, err := Unflatten(map[string]string{k1: v1, k2: v2})
		if err != nil {
			return
		}
		// Every input path that succeeded must be readable back with its value.
		for k, v := range map[string]string{k1: v1, k2: v2} {
			got, ok := GetPath(out, k)
			if !ok {
				t.Fatalf("path %q missing from %#v", k, out)
			}
			if s, isStr := got.(string); !isStr || s != v {
				t.Fatalf("path %q = %#v, want %q", k, got, v)
			}
		}
		if _, err := Normalize(out); err != nil {
			t.Fatalf("unflattened values do not normalise: %v", err)
		}
	})
}

func FuzzMerge(f *testing.F) {
	f.Add(`{"a":{"b":1}}`, `{"a":{"c":2},"d":null}`)
	f.Add(`{}`, `{"x":[1,2,{"y":3}]}`)
	f.Add(`{"a":1}`, `{"a":{"b":{"c":{}}}}`)
	f.Fuzz(func(t *testing.T, baseJSON, overlayJSON string) {
		base, err1 := Parse([]byte(baseJSON))
		overlay, err2 := Parse([]byte(overlayJSON))
		if err1 != nil || err2 != nil {
			return
		}
		baseHash := Hash(base)
		got := Merge(base, overlay)
		if Hash(base) != baseHash {
			t.Fatal("Merge modified its base")
		}
		// Every non-nil, non-map leaf of the overlay wins.
		for _, p := range Paths(overlay) {
			want, _ := GetPath(overlay, p)
			if want == nil {
				continue
			}
			if m, ok := want.(map[string]any); ok && len(m) == 0 {
				continue
			}
			have, ok := GetPath(got, p)
			if !ok || Hash(map[string]any{"v": have}) != Hash(map[string]any{"v": want}) {
				t.Fatalf("overlay leaf %q = %#v, merged has %#v", p, want, have)
			}
		}
		// Merging the same overlay twice changes nothing (idempotent).
		if Hash(Merge(got, overlay)) != Hash(got) {
			t.Fatal("merge is not idempotent")
		}
	})
}

// TestUnflattenSameValueTwice: two paths spelling the same key differently (a redundant escape) are a
// conflict, not a silent last-one-wins (found by FuzzUnflatten).
func TestUnflattenSameValueTwice(t *testing.T) {
	if _, err := Unflatten(map[string]string{`\x`: "0", "x": "1"}); err == nil || !strings.Contains(err.Error(), "same value") {
		t.Fatalf("Unflatten = %v, want a conflict", err)
	}
	if out, err := Unflatten(map[string]string{`a\.b`: "1", "a.b": "2"}); err != nil || len(out) != 2 {
		t.Fatalf("an escaped dot is another key: %v %v", out, err)
	}
}
