// Package values composes Helm values: deep merges with a clear precedence, canonical JSON
// normalisation and hashing (so a release's stored values can be compared with the wanted ones),
// and dot-path maps as Cast AI console actions send them.
package values

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MaxDepth bounds how deeply nested values may be; deeper input is rejected rather than recursed into.
const MaxDepth = 64

// Merge returns a new map holding base deep-merged with each overlay in order: later overlays win,
// nested maps are merged key by key, any other value (lists included) is replaced whole.
// A nil value in an overlay deletes the key, as in Helm; a nil that is already there (an overlay's subtree
// copied with its nils, which Helm then applies to the chart's defaults) is kept, so merging the same
// overlay again changes nothing. Inputs are not modified.
func Merge(base map[string]any, overlays ...map[string]any) map[string]any {
	out := Copy(base)
	if out == nil {
		out = map[string]any{}
	}
	for _, o := range overlays {
		mergeInto(out, o)
	}
	return out
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			if cur, ok := dst[k]; !ok || cur != nil {
				delete(dst, k)
			}
			continue
		}
		sm, srcIsMap := v.(map[string]any)
		dm, dstIsMap := dst[k].(map[string]any)
		if srcIsMap && dstIsMap {
			mergeInto(dm, sm)
			continue
		}
		dst[k] = copyValue(v)
	}
}

// Copy returns a deep copy of m (maps and lists are copied, scalars shared).
func Copy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return Copy(t)
	case []any:
		l := make([]any, len(t))
		for i := range t {
			l[i] = copyValue(t[i])
		}
		return l
	default:
		return v
	}
}

// Normalize converts any JSON-compatible value tree into the canonical form encoding/json produces
// (map[string]any, []any, float64, string, bool, nil), so values from CRs, YAML and Helm release
// storage compare equal when they mean the same. It fails on values that are not a JSON object or
// that nest deeper than MaxDepth.
func Normalize(v any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("values are not JSON-compatible: %w", err)
	}
	return Parse(raw)
}

// Parse decodes raw JSON that must be an object (or null/empty, meaning no values).
func Parse(raw []byte) (map[string]any, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return map[string]any{}, nil
	}
	if !strings.HasPrefix(s, "{") {
		return nil, fmt.Errorf("values must be an object, got %s", describeJSON(s))
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("values are not valid JSON: %w", err)
	}
	if d := depth(out, 0); d > MaxDepth {
		return nil, fmt.Errorf("values nest deeper than %d levels", MaxDepth)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

func describeJSON(s string) string {
	switch {
	case strings.HasPrefix(s, "["):
		return "a list"
	case strings.HasPrefix(s, `"`):
		return "a string"
	case s == "true" || s == "false":
		return "a boolean"
	default:
		return "a number or invalid JSON"
	}
}

func depth(v any, d int) int {
	if d > MaxDepth {
		return d
	}
	max := d
	switch t := v.(type) {
	case map[string]any:
		for _, c := range t {
			if cd := depth(c, d+1); cd > max {
				max = cd
			}
		}
	case []any:
		for _, c := range t {
			if cd := depth(c, d+1); cd > max {
				max = cd
			}
		}
	}
	return max
}

// Equal reports whether two value trees are the same after normalisation.
func Equal(a, b map[string]any) bool {
	return Hash(a) == Hash(b)
}

// Hash returns a short, stable identifier of a value tree: the first 16 hex digits of the sha256 of
// its canonical JSON (keys sorted). Empty and nil maps hash the same.
func Hash(m map[string]any) string {
	if len(m) == 0 {
		m = map[string]any{}
	}
	n, err := Normalize(m)
	if err != nil {
		// Not JSON-compatible: hash the printed form so the result is still deterministic.
		sum := sha256.Sum256([]byte(fmt.Sprintf("%#v", m)))
		return hex.EncodeToString(sum[:8])
	}
	raw, _ := json.Marshal(n) // encoding/json sorts map keys
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// Paths returns every leaf path of m as dot-joined keys (dots inside keys escaped as `\.`), sorted.
func Paths(m map[string]any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		mm, ok := v.(map[string]any)
		if !ok || len(mm) == 0 {
			out = append(out, prefix)
			return
		}
		for k, c := range mm {
			p := escapeKey(k)
			if prefix != "" {
				p = prefix + "." + p
			}
			walk(p, c)
		}
	}
	for k, v := range m {
		walk(escapeKey(k), v)
	}
	sort.Strings(out)
	return out
}

func escapeKey(k string) string { return strings.ReplaceAll(k, ".", `\.`) }
