package charts

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// An index is decoded one chart at a time. Decoding a whole index takes about 25 times its size in
// memory for a moment, most of it for charts nobody asked for. Indexes in the layout helm repo index and
// chart-releaser write (block YAML, one "  <chart>:" line per chart under "entries:") are cut into one
// section per chart without decoding anything, and only the sections of the charts asked for are decoded.
// A JSON index is read token by token, holding one chart's entries at a time. Any other layout (flow
// style, anchors and aliases, unusual keys) is decoded whole, as before.

// indexSnapshot is one download of an HTTP repository's index: its bytes, and the entries of each chart
// asked for so far, decoded on first use.
type indexSnapshot struct {
	raw    []byte
	secs   *indexSections // nil: raw is decoded whole
	mu     sync.Mutex
	charts map[string]repo.ChartVersions
}

// newIndexSnapshot checks that raw is an index and decodes the entries of the charts in names.
func newIndexSnapshot(raw []byte, names []string) (*indexSnapshot, error) {
	s := &indexSnapshot{raw: raw, charts: make(map[string]repo.ChartVersions, len(names))}
	if secs, ok := splitIndex(raw); ok {
		s.secs = &secs
	}
	idx, err := s.decode(func(n string) bool { return contains(names, n) })
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		s.charts[n] = idx.Entries[n]
	}
	return s, nil
}

// entries returns the usable entries of chart name (nil when the index has none).
func (s *indexSnapshot) entries(name string) repo.ChartVersions {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cvs, ok := s.charts[name]; ok {
		return cvs
	}
	var cvs repo.ChartVersions
	if idx, err := s.decode(func(n string) bool { return n == name }); err == nil { // raw was checked when downloaded
		cvs = idx.Entries[name]
	}
	s.charts[name] = cvs
	return cvs
}

// decode decodes the charts keep accepts, by section when the index was cut into sections.
func (s *indexSnapshot) decode(keep func(string) bool) (*repo.IndexFile, error) {
	if s.secs != nil {
		return decodeSections(*s.secs, keep)
	}
	return decodeUnsplit(s.raw, keep)
}

// names lists the charts asked for so far, to decode again when the index is refreshed.
func (s *indexSnapshot) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.charts))
	for n := range s.charts {
		out = append(out, n)
	}
	return out
}

func contains(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// parseIndex parses an index.yaml (YAML or JSON) into Helm's IndexFile type with every chart. Entries
// that cannot be decoded, or have no version, are skipped rather than failing the whole index.
func parseIndex(data []byte) (*repo.IndexFile, error) {
	return decodeIndex(data, func(string) bool { return true })
}

// parseIndexFor parses an index like parseIndex but keeps only the entries of chart name.
func parseIndexFor(data []byte, name string) (*repo.IndexFile, error) {
	return decodeIndex(data, func(n string) bool { return n == name })
}

// decodeIndex decodes the charts keep accepts, section by section when the index's layout allows it.
func decodeIndex(data []byte, keep func(string) bool) (*repo.IndexFile, error) {
	if secs, ok := splitIndex(data); ok {
		return decodeSections(secs, keep)
	}
	return decodeUnsplit(data, keep)
}

// decodeUnsplit decodes an index that could not be cut into sections: streamed when it is JSON, whole
// otherwise.
func decodeUnsplit(data []byte, keep func(string) bool) (*repo.IndexFile, error) {
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(data) && utf8.Valid(data) {
		return decodeJSON(data, keep)
	}
	return decodeWhole(data, keep)
}

// decodeJSON decodes a JSON index as decodeWhole does, token by token, holding one chart's entries at a
// time and keeping those keep accepts.
func decodeJSON(data []byte, keep func(string) bool) (*repo.IndexFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	_, _ = dec.Token() // '{': data is a valid JSON object
	idx := &repo.IndexFile{}
	var entries map[string]repo.ChartVersions
	seen := map[string]int{}
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		var err error
		switch {
		case strings.EqualFold(key, "apiVersion"): // encoding/json matches field names case-insensitively
			seen["apiversion"]++
			err = dec.Decode(&idx.APIVersion)
		case strings.EqualFold(key, "entries"):
			seen["entries"]++
			entries, err = decodeJSONEntries(dec, entries, keep)
		default:
			err = dec.Decode(new(json.RawMessage))
		}
		if err != nil {
			return nil, fail(ErrInvalidIndex, err, "index.yaml is not a mapping")
		}
	}
	if seen["apiversion"] > 1 || seen["entries"] > 1 { // which one wins depends on YAML's rules: decode as YAML
		return decodeWhole(data, keep)
	}
	if idx.APIVersion == "" && entries == nil {
		return nil, fail(ErrInvalidIndex, nil, "index.yaml has neither apiVersion nor entries")
	}
	idx.Entries = entries
	if idx.Entries == nil {
		idx.Entries = make(map[string]repo.ChartVersions)
	}
	return idx, nil
}

// decodeJSONEntries decodes the value of "entries" into entries (null empties it, as encoding/json does).
func decodeJSONEntries(dec *json.Decoder, entries map[string]repo.ChartVersions, keep func(string) bool) (map[string]repo.ChartVersions, error) {
	tok, err := dec.Token()
	switch {
	case err != nil:
		return nil, err
	case tok == nil:
		return nil, nil
	case tok != json.Delim('{'):
		return nil, errors.New("entries is not a mapping")
	}
	if entries == nil {
		entries = make(map[string]repo.ChartVersions)
	}
	for dec.More() {
		tok, _ := dec.Token()
		name, _ := tok.(string)
		var msg json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			return nil, err
		}
		if !keep(name) {
			continue
		}
		delete(entries, name) // a later list of the same chart replaces an earlier one
		if cvs := decodeEntries(msg); len(cvs) > 0 {
			entries[name] = cvs
		}
	}
	_, err = dec.Token() // '}'
	return entries, err
}

// decodeSections decodes the index's top level without its entries, then each kept chart's section.
// A chart section that is not valid YAML is skipped, as a malformed entry is.
func decodeSections(secs indexSections, keep func(string) bool) (*repo.IndexFile, error) {
	idx, err := decodeWhole(secs.rest, keep)
	if err != nil {
		return nil, err
	}
	for _, c := range secs.charts {
		if !keep(c.name) {
			continue
		}
		delete(idx.Entries, c.name) // a later section of the same chart replaces an earlier one
		part, err := decodeWhole(append([]byte("entries:\n"), secs.data[c.start:c.end]...), keep)
		if err == nil && len(part.Entries[c.name]) > 0 {
			idx.Entries[c.name] = part.Entries[c.name]
		}
	}
	return idx, nil
}

// chartSection is the text of one chart's entries in an index: its "<chart>:" line and the lines under it.
type chartSection struct {
	name       string
	start, end int // offsets in the index
}

// indexSections is an index cut into its top level, with "entries: {}" in place of its entries, and one
// section per chart.
type indexSections struct {
	data   []byte
	rest   []byte
	charts []chartSection
}

var (
	// topKeyLine is a top-level "key:" or "key: value" line.
	topKeyLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*):( .*)?$`)
	// chartKeyLine is an indented "<chart>:" line opening a chart's list of entries.
	chartKeyLine = regexp.MustCompile(`^ +[A-Za-z0-9][A-Za-z0-9_.-]*: *$`)
)

// hasAnchorOrAlias reports whether data may hold a YAML anchor or alias ("&a", "*a" after a space, a
// line start, "," "[" or "{"), which may reach from one chart's section into another.
func hasAnchorOrAlias(data []byte) bool {
	for i := 0; i < len(data)-1; i++ {
		j := bytes.IndexAny(data[i:len(data)-1], "&*")
		if j < 0 {
			return false
		}
		i += j
		prev := byte('\n')
		if i > 0 {
			prev = data[i-1]
		}
		if bytes.IndexByte([]byte(" \n,[{"), prev) >= 0 && bytes.IndexByte([]byte(" \n,[]{}"), data[i+1]) < 0 {
			return true
		}
	}
	return false
}

// splitIndex cuts an index in the layout helm repo index writes into sections; ok is false for any other
// layout. It copies nothing: the sections are slices of data.
func splitIndex(data []byte) (secs indexSections, ok bool) {
	if hasAnchorOrAlias(data) || bytes.ContainsAny(data, "\t\r") {
		return indexSections{}, false
	}
	var rest bytes.Buffer
	sawEntries, inEntries := false, false
	indent, off := 0, 0
	for line := range bytes.Lines(data) {
		start := off
		off += len(line)
		text := bytes.TrimRight(line, "\n")
		trimmed := bytes.TrimLeft(text, " ")
		lead := len(text) - len(trimmed)
		blank := len(trimmed) == 0 || trimmed[0] == '#'
		switch {
		case lead == 0 && !blank:
			m := topKeyLine.FindSubmatch(text)
			if m == nil || (string(m[1]) == "entries" && (sawEntries || len(bytes.TrimSpace(m[2])) > 0)) {
				return indexSections{}, false
			}
			inEntries = string(m[1]) == "entries"
			if inEntries {
				sawEntries = true
				rest.WriteString("entries: {}\n")
				continue
			}
			rest.Write(line)
		case !inEntries:
			rest.Write(line)
		case blank:
			extendSection(secs.charts, off)
		default:
			if indent == 0 {
				indent = lead
			}
			switch {
			case len(secs.charts) > 0 && (lead > indent || (lead == indent && trimmed[0] == '-')):
				extendSection(secs.charts, off)
			case lead == indent && chartKeyLine.Match(text):
				name := string(bytes.TrimRight(trimmed, ": "))
				secs.charts = append(secs.charts, chartSection{name: name, start: start, end: off})
			default:
				return indexSections{}, false
			}
		}
	}
	secs.data, secs.rest = data, rest.Bytes()
	return secs, true
}

// extendSection makes the last chart section, if any, end at offset end.
func extendSection(charts []chartSection, end int) {
	if len(charts) > 0 {
		charts[len(charts)-1].end = end
	}
}

// decodeWhole decodes a complete index document, keeping the charts keep accepts.
func decodeWhole(data []byte, keep func(string) bool) (*repo.IndexFile, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fail(ErrInvalidIndex, err, "index.yaml is not valid YAML")
	}
	var raw struct {
		APIVersion string                     `json:"apiVersion"`
		Entries    map[string]json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fail(ErrInvalidIndex, err, "index.yaml is not a mapping")
	}
	if raw.APIVersion == "" && raw.Entries == nil {
		return nil, fail(ErrInvalidIndex, nil, "index.yaml has neither apiVersion nor entries")
	}
	idx := &repo.IndexFile{APIVersion: raw.APIVersion, Entries: make(map[string]repo.ChartVersions)}
	for name, msg := range raw.Entries {
		if keep(name) {
			if cvs := decodeEntries(msg); len(cvs) > 0 {
				idx.Entries[name] = cvs
			}
		}
	}
	return idx, nil
}

// decodeEntries decodes one chart's list of entries, skipping those that cannot be used.
func decodeEntries(msg json.RawMessage) repo.ChartVersions {
	var list []json.RawMessage
	if err := json.Unmarshal(msg, &list); err != nil {
		return nil
	}
	cvs := make(repo.ChartVersions, 0, len(list))
	for _, item := range list {
		var cv repo.ChartVersion
		if err := json.Unmarshal(item, &cv); err != nil || cv.Metadata == nil || cv.Version == "" {
			continue
		}
		cvs = append(cvs, &cv)
	}
	return cvs
}
