package release

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/charts"
)

// ValueEdit sets one scalar of a chart's values.yaml, keeping its comments: Path is the key path
// (at most two levels, e.g. image.digest) and Value the new string value.
type ValueEdit struct {
	// Path is the dotted key path; the key must already be in values.yaml.
	Path string
	// Value is the string the key is set to.
	Value string
}

// ChartArchive returns a reproducible archive of c (the files Helm loaded, Chart.yaml from its metadata,
// values.yaml with edits applied) with every mtime set to created; loading it back must give the edits.
func ChartArchive(c *charts.Chart, edits []ValueEdit, created time.Time) ([]byte, error) {
	if len(c.Dependencies()) > 0 {
		return nil, fmt.Errorf("chart %s: charts with dependencies are not supported", c.Name())
	}
	meta, err := yaml.Marshal(c.Metadata)
	if err != nil {
		return nil, fmt.Errorf("chart %s metadata: %w", c.Name(), err)
	}
	files := []File{{Name: c.Name() + "/Chart.yaml", Mode: 0o644, Data: meta}}
	for _, f := range c.Raw {
		if f.Name == "Chart.yaml" {
			continue
		}
		data := f.Data
		if f.Name == "values.yaml" {
			if data, err = editValues(data, edits); err != nil {
				return nil, fmt.Errorf("chart %s: %w", c.Name(), err)
			}
		}
		files = append(files, File{Name: c.Name() + "/" + f.Name, Mode: 0o644, Data: data})
	}
	files = fileEntriesOnly(withParents(files))
	tarData, err := Tar(files, created)
	if err != nil {
		return nil, err
	}
	archive, err := Gzip(tarData)
	if err != nil {
		return nil, err
	}
	return archive, checkArchive(archive, c, edits)
}

// fileEntriesOnly drops directory entries (Helm's own archives have none).
func fileEntriesOnly(files []File) []File {
	out := files[:0]
	for _, f := range files {
		if !f.IsDir() {
			out = append(out, f)
		}
	}
	return out
}

// checkArchive loads archive back and checks its name, version and edited values.
func checkArchive(archive []byte, c *charts.Chart, edits []ValueEdit) error {
	got, err := charts.LoadArchive(archive)
	if err != nil {
		return fmt.Errorf("load chart archive %s: %w", c.Name(), err)
	}
	if got.Name() != c.Name() || got.Metadata.Version != c.Metadata.Version {
		return fmt.Errorf("chart archive is %s %s, want %s %s", got.Name(), got.Metadata.Version, c.Name(), c.Metadata.Version)
	}
	for _, e := range edits {
		if v := lookup(got.Values, strings.Split(e.Path, ".")); v != e.Value {
			return fmt.Errorf("chart %s: %s is %q after the edit, want %q", c.Name(), e.Path, v, e.Value)
		}
	}
	return nil
}

// lookup returns the string at path in values ("" when missing or not a string).
func lookup(values map[string]any, path []string) string {
	var cur any = values
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	s, _ := cur.(string)
	return s
}

// editValues applies edits to a values.yaml text: each key is found by its indentation under its parent
// and its value replaced by a quoted string; the rest of the file (comments too) stays.
func editValues(data []byte, edits []ValueEdit) ([]byte, error) {
	lines := strings.Split(string(data), "\n")
	for _, e := range edits {
		i, err := findKey(lines, strings.Split(e.Path, "."))
		if err != nil {
			return nil, err
		}
		prefix := lines[i][:strings.Index(lines[i], ":")+1]
		lines[i] = prefix + " " + strconv.Quote(e.Value)
	}
	return []byte(strings.Join(lines, "\n")), nil
}

var keyLine = regexp.MustCompile(`^( *)([A-Za-z0-9_-]+):`)

// findKey returns the line index of the key at path (each level indented two more spaces).
func findKey(lines []string, path []string) (int, error) {
	start, end := 0, len(lines)
	for depth, key := range path {
		indent := strings.Repeat(" ", 2*depth)
		found := -1
		for i := start; i < end; i++ {
			m := keyLine.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			if len(m[1]) < len(indent) {
				break // left the parent's block
			}
			if m[1] == indent && m[2] == key {
				found = i
				break
			}
		}
		if found < 0 {
			return 0, fmt.Errorf("values.yaml has no key %s", strings.Join(path[:depth+1], "."))
		}
		start, end = found+1, len(lines)
		if depth < len(path)-1 {
			continue
		}
		return found, nil
	}
	return 0, fmt.Errorf("empty value path")
}
