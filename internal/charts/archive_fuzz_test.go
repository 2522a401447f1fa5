package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// tarEntry is one entry of an archive built by buildArchive.
type tarEntry struct {
	name     string
	body     string
	typeflag byte   // tar.TypeReg when 0
	link     string // Linkname of links
	size     int64  // written as zeros instead of body when > 0
}

// buildArchive writes entries as a gzipped tar.
func buildArchive(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	return gzipped(buildTar(t, entries...))
}

// gzipped compresses data with gzip.
func gzipped(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

// buildTar writes entries as an uncompressed tar.
func buildTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hd := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.link, Size: int64(len(e.body))}
		if hd.Typeflag == 0 {
			hd.Typeflag = tar.TypeReg
		}
		if hd.Typeflag == tar.TypeSymlink || hd.Typeflag == tar.TypeLink || hd.Typeflag == tar.TypeDir {
			hd.Size = 0
		}
		if e.size > 0 {
			hd.Size = e.size
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatalf("header %q: %v", e.name, err)
		}
		var err error
		if e.size > 0 {
			_, err = io.CopyN(tw, zeros{}, e.size)
		} else if hd.Size > 0 {
			_, err = io.WriteString(tw, e.body)
		}
		if err != nil {
			t.Fatalf("body %q: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// demoChart returns the entries of a small valid chart "demo" under root.
func demoChart(root, version string) []tarEntry {
	return []tarEntry{
		{name: root + "Chart.yaml", body: "apiVersion: v2\nname: demo\ndescription: fuzz seed\ntype: application\nversion: " + version + "\nappVersion: \"1.16.0\"\n"},
		{name: root + "values.yaml", body: "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"\"\n"},
		{name: root + "templates/configmap.yaml", body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicaCount | quote }}\n"},
		{name: root + "templates/_helpers.tpl", body: "{{- define \"demo.name\" -}}{{ .Chart.Name }}{{- end }}\n"},
	}
}

// fuzzArchiveSeeds are chart archives a repository could serve: valid ones, broken ones and hostile ones.
func fuzzArchiveSeeds(t testing.TB) [][]byte {
	valid := buildArchive(t, demoChart("demo/", "1.0.0")...)
	withSub := buildArchive(t, append(demoChart("demo/", "1.2.0"),
		tarEntry{name: "demo/charts/sub/Chart.yaml", body: "apiVersion: v2\nname: sub\nversion: 0.1.0\n"},
		tarEntry{name: "demo/charts/sub/templates/sa.yaml", body: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sub\n"},
		tarEntry{name: "demo/charts/nested-0.2.0.tgz", body: string(buildArchive(t,
			tarEntry{name: "nested/Chart.yaml", body: "apiVersion: v2\nname: nested\nversion: 0.2.0\n"}))},
	)...)
	return [][]byte{
		valid,
		withSub,
		buildArchive(t, demoChart("./", "2.0.0")...),     // made with tar -C demo .
		buildArchive(t, demoChart(`demo\`, "1.0.0")...),  // made on Windows
		buildArchive(t, demoChart("demo/", "v1.0")...),   // short version
		valid[:len(valid)/2],                             // truncated download
		buildArchive(t, demoChart("other/", "1.0.0")...), // names the chart "demo" under another root
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "../x", body: "escaped"})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "demo/../../x", body: "escaped"})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: `demo\..\..\x`, body: "escaped"})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "/etc/cron.d/x", body: "escaped"})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "demo/templates/passwd.yaml", typeflag: tar.TypeSymlink, link: "/etc/passwd"})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "demo/values.yaml", typeflag: tar.TypeLink, link: "../../etc/shadow"})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "demo/" + strings.Repeat("n", maxArchiveNameBytes)})...),
		buildArchive(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "demo/files/big.bin", size: loader.MaxDecompressedFileSize + 1})...),
		buildArchive(t, tarEntry{name: "Chart.yaml", body: "apiVersion: v2\nname: demo\nversion: 1.0.0\n"}),
		buildArchive(t, tarEntry{name: "demo/Chart.yaml", body: "name: [demo\n"}),
		buildArchive(t),
		[]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffnot deflate"),
		{},
		// Plain tar streams, which the fuzz function gzips itself.
		buildTar(t, demoChart("demo/", "1.0.0")...),
		buildTar(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "../x", body: "escaped"})...),
		buildTar(t, append(demoChart("demo/", "1.0.0"), tarEntry{name: "demo/templates/x.yaml", typeflag: tar.TypeSymlink, link: "../../x"})...),
		[]byte("apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
	}
}

// archiveInput turns a fuzz input into archive bytes: gzip data is used as it is, anything else is
// taken as a tar stream and gzipped, so that mutations also reach the tar and chart parsers.
func archiveInput(data []byte) []byte {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return data
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression) // cheapest to write and to read back
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

// FuzzParseArchive feeds arbitrary bytes to the chart archive loader, since whoever serves a chart
// controls them; an input that is not gzip data is gzipped first, as a tar stream, so mutations reach
// past gzip. It checks that the loader never panics, that a rejection is ErrCorruptArchive, that no
// accepted archive holds a link or an entry outside its root (by an independent walk of the tar), and
// that an accepted chart is the one asked for, in the version it claims, with local file names and
// bounded contents.
func FuzzParseArchive(f *testing.F) {
	// The archive of 10004 empty entries that Helm alone accepted is a case of TestCheckArchive, not a
	// seed: each mutation of it costs the fuzzer half a second, and minimizing one stalls a short run.
	for _, seed := range fuzzArchiveSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		data := archiveInput(input)
		ch, err := parseArchive(data, "demo", "", DefaultMaxChartBytes)
		if err != nil {
			if ch != nil {
				t.Fatalf("chart returned with error %v", err)
			}
			if !errors.Is(err, ErrCorruptArchive) {
				t.Fatalf("error is not ErrCorruptArchive: %v", err)
			}
			return
		}
		if bad := unsafeEntry(data); bad != "" {
			t.Fatalf("accepted an archive with %s", bad)
		}
		if ch.Metadata == nil || ch.Metadata.Name != "demo" {
			t.Fatalf("accepted chart %+v, asked for demo", ch.Metadata)
		}
		if _, err := parseArchive(data, "demo", ch.Metadata.Version, DefaultMaxChartBytes); err != nil {
			t.Fatalf("accepted as latest but not as its own version %q: %v", ch.Metadata.Version, err)
		}
		files, size := 0, 0
		checkChartFiles(t, ch, 0, &files, &size)
		if files > maxArchiveEntries || int64(size) > DefaultMaxChartBytes {
			t.Fatalf("accepted %d files of %d bytes", files, size)
		}
	})
}

// unsafeEntry walks the top-level tar of an archive and describes its first link or entry outside the
// archive root, or returns "". It is written apart from checkArchive so the two can disagree.
func unsafeEntry(data []byte) string {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	tr := tar.NewReader(io.LimitReader(zr, 64<<20))
	for {
		hd, err := tr.Next()
		if err != nil {
			return ""
		}
		switch hd.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			return "link " + hd.Name
		}
		depth := 0
		for _, el := range strings.FieldsFunc(hd.Name, func(r rune) bool { return r == '/' || r == '\\' }) {
			switch el {
			case ".":
			case "..":
				depth--
			default:
				depth++
			}
			if depth < 0 {
				return "escaping entry " + hd.Name
			}
		}
		if strings.HasPrefix(hd.Name, "/") || strings.HasPrefix(hd.Name, `\`) {
			return "absolute entry " + hd.Name
		}
	}
}

// checkChartFiles checks that every file of c and its subcharts has a clean relative name, counting them.
func checkChartFiles(t *testing.T, c *chart.Chart, depth int, files, size *int) {
	t.Helper()
	if depth > maxSubchartNesting+1 {
		t.Fatalf("subcharts nested %d deep", depth)
	}
	for _, f := range c.Raw {
		*files++
		*size += len(f.Name) + len(f.Data)
		if f.Name == "" || path.Clean(f.Name) != f.Name || path.IsAbs(f.Name) || f.Name == ".." || strings.HasPrefix(f.Name, "../") {
			t.Fatalf("chart file name %q is not a clean relative path", f.Name)
		}
	}
	for _, d := range c.Dependencies() {
		checkChartFiles(t, d, depth+1, files, size)
	}
}

// bomb is files of zeros, each under Helm's per-file limit, unpacking to just over total bytes (a few KiB
// gzipped).
func bomb(total int64) []tarEntry {
	var out []tarEntry
	for left := total + 1; left > 0; left -= loader.MaxDecompressedFileSize {
		out = append(out, tarEntry{name: fmt.Sprintf("demo/files/zeros-%d", len(out)), size: min(left, loader.MaxDecompressedFileSize)})
	}
	return out
}

// TestCheckArchiveLimit: the unpacked-size limit is the caller's, capped at Helm's own.
func TestCheckArchiveLimit(t *testing.T) {
	data := buildArchive(t, bomb(1<<20)...)
	tests := []struct {
		limit int64
		want  string
	}{
		{limit: 1 << 20, want: "unpacks to more than 1048576 bytes"},
		{limit: 4 << 20, want: ""},
		{limit: 1 << 40, want: ""},
	}
	for _, tt := range tests {
		err := checkArchive(data, tt.limit)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("limit %d: checkArchive = %v, want %q", tt.limit, err, tt.want)
		}
	}
	if err := checkArchive(buildArchive(t, bomb(loader.MaxDecompressedChartSize)...), 1<<40); err == nil || !strings.Contains(err.Error(), fmt.Sprint(loader.MaxDecompressedChartSize)) {
		t.Errorf("a limit over Helm's is Helm's: %v", err)
	}
}

// TestCheckArchive pins what checkArchive refuses, and that charts Helm packages pass it.
func TestCheckArchive(t *testing.T) {
	parent := testChart("parent", "1.0.0")
	parent.AddDependency(testChart("child", "0.1.0"))
	dir := t.TempDir()
	packed, err := chartutil.Save(parent, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Load(packed); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(packed)
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := parseArchive(data, "parent", "1.0.0", DefaultMaxChartBytes); err != nil || len(ch.Dependencies()) != 1 {
		t.Fatalf("packaged chart with a subchart: %v", err)
	}

	nest := func(levels int) []byte {
		inner := buildArchive(t, tarEntry{name: "c/Chart.yaml", body: "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
		for i := 0; i < levels; i++ {
			inner = buildArchive(t, tarEntry{name: "c/Chart.yaml", body: "apiVersion: v2\nname: c\nversion: 0.1.0\n"},
				tarEntry{name: "c/charts/c-0.1.0.tgz", body: string(inner)})
		}
		return inner
	}
	if err := checkArchive(nest(maxSubchartNesting), DefaultMaxChartBytes); err != nil {
		t.Fatalf("%d nested subchart archives: %v", maxSubchartNesting, err)
	}

	many := make([]tarEntry, maxArchiveEntries+1)
	for i := range many {
		many[i].name = "demo/files/empty"
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"dot-dot", buildArchive(t, tarEntry{name: "../x"}), "outside the archive root"},
		{"escaping", buildArchive(t, tarEntry{name: "demo/../../x"}), "outside the archive root"},
		{"backslashes", buildArchive(t, tarEntry{name: `demo\..\..\x`}), "outside the archive root"},
		{"absolute", buildArchive(t, tarEntry{name: "/x"}), "outside the archive root"},
		{"symlink", buildArchive(t, tarEntry{name: "demo/x", typeflag: tar.TypeSymlink, link: "/etc/passwd"}), "is a link"},
		{"hard link", buildArchive(t, tarEntry{name: "demo/x", typeflag: tar.TypeLink, link: "demo/y"}), "is a link"},
		{"long name", buildArchive(t, tarEntry{name: "demo/" + strings.Repeat("n", maxArchiveNameBytes)}), "entry name of"},
		{"big file", buildArchive(t, tarEntry{name: "demo/big", size: loader.MaxDecompressedFileSize + 1}), "is 5242881 bytes, the limit is 5242880"},
		{"too many entries", buildArchive(t, many...), "more than 10000 entries"},
		{"nested too deep", nest(maxSubchartNesting + 1), "nests subchart archives more than"},
		{"decompression bomb", buildArchive(t, bomb(DefaultMaxChartBytes)...), "unpacks to more than 20971520 bytes"},
		{"decompression bomb in subchart archives", buildArchive(t,
			tarEntry{name: "demo/charts/a.tgz", body: string(buildArchive(t, bomb(DefaultMaxChartBytes/2)...))},
			tarEntry{name: "demo/charts/b.tgz", body: string(buildArchive(t, bomb(DefaultMaxChartBytes/2)...))}), "unpacks to more than 20971520 bytes"},
		{"subchart archive of another entry type", buildArchive(t,
			tarEntry{name: "demo/charts/sub.tgz", typeflag: tar.TypeCont, body: string(buildArchive(t, tarEntry{name: "sub/../../x"}))}), "outside the archive root"},
		{"escaping in a subchart archive", buildArchive(t,
			tarEntry{name: "demo/charts/sub.tgz", body: string(buildArchive(t, tarEntry{name: "sub/../../x"}))}), "outside the archive root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkArchive(tt.data, DefaultMaxChartBytes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("checkArchive = %v, want %q", err, tt.want)
			}
			if _, err := parseArchive(tt.data, "demo", "", DefaultMaxChartBytes); !errors.Is(err, ErrCorruptArchive) {
				t.Fatalf("parseArchive = %v", err)
			}
		})
	}

	// The byte budget counts headers and subchart archives; a small budget shows it without a 100 MiB stream.
	small := &archiveScan{limit: 64 << 10, bytesLeft: 64 << 10, entriesLeft: maxArchiveEntries}
	big := buildArchive(t, tarEntry{name: "demo/charts/sub.tgz", body: string(buildArchive(t, tarEntry{name: "sub/big", size: 100 << 10}))})
	if err := small.scan(big, 0); err == nil || !strings.Contains(err.Error(), "unpacks to more than 65536 bytes") {
		t.Fatalf("subchart over the byte budget: %v", err)
	}
}
