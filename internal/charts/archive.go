package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// Limits checked before Helm unpacks a chart archive. Helm bounds the file contents it keeps
// (loader.MaxDecompressedChartSize) but not the tar headers, their names, nor the subchart archives
// it unpacks in turn, so a small archive of empty entries or long names would otherwise take
// gigabytes of memory. Packaged charts stay far below all of these.
const (
	// maxArchiveEntries is the most tar entries read, subchart archives included.
	maxArchiveEntries = 10000
	// maxArchiveNameBytes is the longest entry name accepted (PATH_MAX on Linux).
	maxArchiveNameBytes = 4096
	// maxSubchartNesting is how deep subchart archives may be nested in one another.
	maxSubchartNesting = 8
)

// loadArchive unpacks a chart archive with Helm once checkArchive has found it bounded (by limit bytes
// unpacked) and confined.
func loadArchive(data []byte, limit int64) (*chart.Chart, error) {
	if err := checkArchive(data, limit); err != nil {
		return nil, err
	}
	return loader.LoadArchive(bytes.NewReader(data))
}

// checkArchive rejects a chart archive whose tar streams, headers included and the subchart archives
// Helm would unpack counted too, exceed limit (at most loader.MaxDecompressedChartSize), that has a file over
// loader.MaxDecompressedFileSize, more than maxArchiveEntries entries, a name longer than
// maxArchiveNameBytes, subchart archives nested deeper than maxSubchartNesting, a symbolic or hard
// link, or an entry whose path is absolute or leaves the archive root. Data that is not a gzipped tar
// is left for Helm to report.
func checkArchive(data []byte, limit int64) error {
	limit = min(limit, loader.MaxDecompressedChartSize)
	s := &archiveScan{limit: limit, bytesLeft: limit, entriesLeft: maxArchiveEntries}
	return s.scan(data, 0)
}

// archiveScan is the budget shared by an archive and the subchart archives inside it.
type archiveScan struct {
	limit       int64
	bytesLeft   int64
	entriesLeft int
}

// scan walks one gzipped tar at nesting depth depth.
func (s *archiveScan) scan(data []byte, depth int) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	defer func() { _ = zr.Close() }()
	tr := tar.NewReader(&budgetReader{r: zr, left: &s.bytesLeft})
	for {
		hd, err := tr.Next()
		if s.bytesLeft < 0 {
			return s.tooLarge()
		}
		if err != nil {
			return nil // io.EOF ends the archive; a malformed one is Helm's to report
		}
		if s.entriesLeft--; s.entriesLeft < 0 {
			return fmt.Errorf("chart archive has more than %d entries", maxArchiveEntries)
		}
		if len(hd.Name) > maxArchiveNameBytes {
			return fmt.Errorf("chart archive has an entry name of %d bytes, the limit is %d", len(hd.Name), maxArchiveNameBytes)
		}
		if hd.Size > s.bytesLeft {
			return s.tooLarge()
		}
		if hd.Size > loader.MaxDecompressedFileSize && helmReadsFile(hd) {
			// Helm refuses it too, but only after this scan would have read it.
			return fmt.Errorf("chart archive entry %q is %d bytes, the limit is %d", hd.Name, hd.Size, loader.MaxDecompressedFileSize)
		}
		if hd.Typeflag == tar.TypeSymlink || hd.Typeflag == tar.TypeLink {
			return fmt.Errorf("chart archive entry %q is a link", hd.Name)
		}
		if p := path.Clean(strings.ReplaceAll(hd.Name, `\`, "/")); path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("chart archive entry %q is outside the archive root", hd.Name)
		}
		if !helmReadsFile(hd) || !isSubchartArchive(helmEntryName(hd.Name)) {
			continue
		}
		if depth+1 > maxSubchartNesting {
			return fmt.Errorf("chart archive nests subchart archives more than %d deep", maxSubchartNesting)
		}
		nested, err := io.ReadAll(tr)
		if s.bytesLeft < 0 {
			return s.tooLarge()
		}
		if err != nil {
			return nil
		}
		if err := s.scan(nested, depth+1); err != nil {
			return fmt.Errorf("subchart %s: %w", hd.Name, err)
		}
	}
}

func (s *archiveScan) tooLarge() error {
	return fmt.Errorf("chart archive unpacks to more than %d bytes (a decompression bomb, or a chart too large for the operator)", s.limit)
}

// helmReadsFile reports whether Helm keeps the content of entry hd as a chart file, whatever its type.
func helmReadsFile(hd *tar.Header) bool {
	return !hd.FileInfo().IsDir() && hd.Typeflag != tar.TypeXGlobalHeader && hd.Typeflag != tar.TypeXHeader
}

// helmEntryName is the name Helm gives a tar entry inside the chart: without its first path element,
// with `\` as the separator when the name has one, cleaned.
func helmEntryName(name string) string {
	sep := "/"
	if strings.Contains(name, `\`) {
		sep = `\`
	}
	parts := strings.Split(name, sep)
	return path.Clean(strings.ReplaceAll(strings.Join(parts[1:], sep), sep, "/"))
}

// isSubchartArchive reports whether Helm would unpack the chart file name as a subchart archive:
// charts/<name>.tgz, also below subchart directories (charts/<dir>/charts/<name>.tgz).
func isSubchartArchive(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts)%2 != 0 || path.Ext(name) != ".tgz" {
		return false
	}
	for i := 0; i < len(parts); i += 2 {
		if parts[i] != "charts" || parts[i+1] == "" || strings.IndexAny(parts[i+1], "_.") == 0 {
			return false
		}
	}
	return true
}

// budgetReader reads from r while *left stays non-negative, counting every byte read against it.
type budgetReader struct {
	r    io.Reader
	left *int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if *b.left < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > *b.left+1 {
		p = p[:*b.left+1]
	}
	n, err := b.r.Read(p)
	*b.left -= int64(n)
	if *b.left < 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
