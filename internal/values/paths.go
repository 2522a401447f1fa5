package values

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// SplitPath splits a dot path into keys. A backslash escapes the next character, so `a\.b.c` is the
// two keys "a.b" and "c". Empty keys (leading, trailing or double dots) are an error.
func SplitPath(path string) ([]string, error) {
	if path == "" {
		return nil, fmt.Errorf("empty path")
	}
	if !utf8.ValidString(path) {
		return nil, fmt.Errorf("path %q is not valid UTF-8", path)
	}
	var keys []string
	var cur strings.Builder
	escaped := false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case c == '\\':
			escaped = true
		case c == '.':
			if cur.Len() == 0 {
				return nil, fmt.Errorf("path %q has an empty key", path)
			}
			keys = append(keys, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if escaped {
		return nil, fmt.Errorf("path %q ends with an escape character", path)
	}
	if cur.Len() == 0 {
		return nil, fmt.Errorf("path %q has an empty key", path)
	}
	return append(keys, cur.String()), nil
}

// SetPath sets value at the dot path in m, creating intermediate maps. It fails when a key on the way
// holds something other than a map.
func SetPath(m map[string]any, path string, value any) error {
	keys, err := SplitPath(path)
	if err != nil {
		return err
	}
	cur := m
	for i, k := range keys[:len(keys)-1] {
		next, exists := cur[k]
		if !exists || next == nil {
			nm := map[string]any{}
			cur[k] = nm
			cur = nm
			continue
		}
		nm, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot set %q: %q is a %T, not a map", path, strings.Join(keys[:i+1], "."), next)
		}
		cur = nm
	}
	last := keys[len(keys)-1]
	if existing, ok := cur[last].(map[string]any); ok && len(existing) > 0 {
		if _, newIsMap := value.(map[string]any); !newIsMap {
			return fmt.Errorf("cannot set %q: it holds a map and would be replaced by a %T", path, value)
		}
	}
	cur[last] = value
	return nil
}

// GetPath returns the value at the dot path in m.
func GetPath(m map[string]any, path string) (any, bool) {
	keys, err := SplitPath(path)
	if err != nil {
		return nil, false
	}
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// DeletePath removes the value at the dot path, pruning maps left empty. It reports whether anything was removed.
func DeletePath(m map[string]any, path string) bool {
	keys, err := SplitPath(path)
	if err != nil {
		return false
	}
	return deleteKeys(m, keys)
}

func deleteKeys(m map[string]any, keys []string) bool {
	if len(keys) == 1 {
		_, ok := m[keys[0]]
		delete(m, keys[0])
		return ok
	}
	child, ok := m[keys[0]].(map[string]any)
	if !ok {
		return false
	}
	removed := deleteKeys(child, keys[1:])
	if removed && len(child) == 0 {
		delete(m, keys[0])
	}
	return removed
}

// Unflatten turns a map of dot paths to strings (as Cast AI console actions send valuesOverrides) into a
// nested value tree. Leaves stay strings, as the documented operator keeps them. Paths are applied in
// sorted order so conflicts ("a" and "a.b" both set) are reported deterministically.
func Unflatten(flat map[string]string) (map[string]any, error) {
	out := map[string]any{}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := make(map[string]string, len(keys)) // canonical path -> the key naming it
	for _, k := range keys {
		parts, err := SplitPath(k)
		if err != nil {
			return nil, fmt.Errorf("valuesOverrides: %w", err)
		}
		canonical := make([]string, len(parts))
		for i, p := range parts {
			canonical[i] = escapeKey(p)
		}
		c := strings.Join(canonical, ".")
		if other, dup := seen[c]; dup {
			// e.g. `a` and `ab`: an escape before anything but a dot changes nothing.
			return nil, fmt.Errorf("valuesOverrides: %q and %q name the same value", other, k)
		}
		seen[c] = k
		if len(parts) > MaxDepth {
			return nil, fmt.Errorf("valuesOverrides: path %q nests deeper than %d levels", k, MaxDepth)
		}
		if existing, ok := GetPath(out, k); ok {
			if _, isMap := existing.(map[string]any); isMap {
				return nil, fmt.Errorf("valuesOverrides: %q conflicts with a longer path under it", k)
			}
		}
		if err := SetPath(out, k, flat[k]); err != nil {
			return nil, fmt.Errorf("valuesOverrides: %w", err)
		}
	}
	return out, nil
}
