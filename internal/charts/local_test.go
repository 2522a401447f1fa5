package charts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadLocal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()

	// A directory with an unpacked chart, archives and unrelated files.
	charts := filepath.Join(root, "charts")
	if err := chartutil.SaveDir(testChart("app", "1.0.0"), charts); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := chartutil.SaveDir(testChart("tool", "0.3.0"), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "tool"), filepath.Join(charts, "renamed")); err != nil {
		t.Fatal(err)
	}
	app110 := packChart(t, "app", "1.1.0")
	writeFile(t, filepath.Join(charts, "app-1.1.0.tgz"), app110)
	writeFile(t, filepath.Join(charts, "app-2.0.0-rc.1.tgz"), packChart(t, "app", "2.0.0-rc.1"))
	writeFile(t, filepath.Join(charts, "app-extra-9.0.0.tgz"), packChart(t, "app-extra", "9.0.0"))
	writeFile(t, filepath.Join(charts, "app-3.0.0.tgz"), packChart(t, "app", "1.1.0")) // mislabelled
	writeFile(t, filepath.Join(charts, "README.md"), []byte("not a chart"))
	if err := os.Mkdir(filepath.Join(charts, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	// A directory with index.yaml and relative URLs.
	indexed := filepath.Join(root, "indexed")
	app100 := packChart(t, "app", "1.0.0")
	writeFile(t, filepath.Join(indexed, "pkgs", "app-1.0.0.tgz"), app100)
	writeFile(t, filepath.Join(indexed, "app-1.2.0.tgz"), packChart(t, "app", "1.2.0"))
	writeFile(t, filepath.Join(root, "outside.tgz"), packChart(t, "app", "1.3.0"))
	writeFile(t, filepath.Join(indexed, "index.yaml"), indexYAML(
		idxEntry{chart: "app", version: "1.0.0", url: "pkgs/app-1.0.0.tgz", digest: digestOf(app100)},
		idxEntry{chart: "app", version: "1.2.0", url: "app-1.2.0.tgz", digest: digestOf([]byte("wrong"))},
		idxEntry{chart: "app", version: "1.3.0", url: "../outside.tgz"},
		idxEntry{chart: "app", version: "1.4.0", url: "missing.tgz"},
		idxEntry{chart: "app", version: "1.5.0", url: "https://example.com/app-1.5.0.tgz"},
	))

	// A single archive.
	single := filepath.Join(root, "single", "app-1.1.0.tgz")
	writeFile(t, single, app110)
	corrupt := filepath.Join(root, "single", "bad-1.0.0.tgz")
	writeFile(t, corrupt, []byte("definitely not gzip"))

	tests := []struct {
		name        string
		ref         Ref
		wantVersion string
		wantDigest  string // "-" means must be empty
		wantErr     error
		wantMsg     string
	}{
		{name: "dir: exact unpacked chart", ref: Ref{Repo: charts, Name: "app", Version: "1.0.0"}, wantVersion: "1.0.0", wantDigest: "-"},
		{name: "dir: exact archive", ref: Ref{Repo: charts, Name: "app", Version: "1.1.0"}, wantVersion: "1.1.0", wantDigest: digestOf(app110)},
		{name: "dir: mislabelled archive", ref: Ref{Repo: "file://" + charts, Name: "app", Version: "3.0.0"}, wantErr: ErrCorruptArchive, wantMsg: `holds version "1.1.0"`},
		{name: "dir: unpacked chart in a differently named directory", ref: Ref{Repo: charts, Name: "tool"}, wantVersion: "0.3.0", wantDigest: "-"},
		{name: "dir: pre-release archive", ref: Ref{Repo: charts, Name: "app", Version: "2.0.0-rc.1"}, wantVersion: "2.0.0-rc.1"},
		{name: "dir: version mismatch", ref: Ref{Repo: charts, Name: "app", Version: "1.0.1"}, wantErr: ErrVersionNotFound, wantMsg: "3.0.0, 2.0.0-rc.1, 1.1.0, 1.0.0"},
		{name: "dir: chart prefix is not confused", ref: Ref{Repo: charts, Name: "app-extra", Version: "9.0.0"}, wantVersion: "9.0.0"},
		{name: "dir: chart not found", ref: Ref{Repo: charts, Name: "missing", Version: "1.0.0"}, wantErr: ErrChartNotFound},
		{name: "index: relative path with digest", ref: Ref{Repo: indexed, Name: "app", Version: "1.0.0"}, wantVersion: "1.0.0", wantDigest: digestOf(app100)},
		{name: "index: file URL form", ref: Ref{Repo: "file://" + indexed + "/", Name: "app", Version: "1.0.0"}, wantVersion: "1.0.0"},
		{name: "index: digest mismatch", ref: Ref{Repo: indexed, Name: "app", Version: "1.2.0"}, wantErr: ErrDigestMismatch},
		{name: "index: path escaping the directory", ref: Ref{Repo: indexed, Name: "app", Version: "1.3.0"}, wantErr: ErrInvalidIndex, wantMsg: "outside"},
		{name: "index: missing file", ref: Ref{Repo: indexed, Name: "app", Version: "1.4.0"}, wantErr: ErrArchiveUnavailable},
		{name: "index: remote URL rejected", ref: Ref{Repo: indexed, Name: "app", Version: "1.5.0"}, wantErr: ErrInvalidIndex},
		{name: "index: version not found", ref: Ref{Repo: indexed, Name: "app", Version: "0.1.0"}, wantErr: ErrVersionNotFound},
		{name: "tgz: latest", ref: Ref{Repo: single, Name: "app"}, wantVersion: "1.1.0", wantDigest: digestOf(app110)},
		{name: "tgz: exact", ref: Ref{Repo: "file://" + single, Name: "app", Version: "1.1.0"}, wantVersion: "1.1.0"},
		{name: "tgz: other version", ref: Ref{Repo: single, Name: "app", Version: "1.0.0"}, wantErr: ErrVersionNotFound, wantMsg: "1.1.0"},
		{name: "tgz: other chart", ref: Ref{Repo: single, Name: "other", Version: "1.1.0"}, wantErr: ErrChartNotFound, wantMsg: `holds chart "app"`},
		{name: "tgz: corrupt", ref: Ref{Repo: corrupt, Name: "bad", Version: "1.0.0"}, wantErr: ErrCorruptArchive},
		{name: "tgz: too large", ref: Ref{Repo: single, Name: "app"}, wantErr: ErrArchiveTooLarge},
		{name: "missing path", ref: Ref{Repo: filepath.Join(root, "nope"), Name: "app", Version: "1.0.0"}, wantErr: ErrRepoUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if strings.Contains(tc.name, "too large") {
				opts = append(opts, WithMaxArchiveBytes(32))
			}
			got, err := NewLoader(opts...).Load(context.Background(), tc.ref)
			if tc.wantErr != nil {
				msgs := []string{tc.ref.Name, tc.ref.Version, tc.wantMsg}
				checkErr(t, err, tc.wantErr, msgs...)
				return
			}
			checkErr(t, err, nil)
			if got.Version != tc.wantVersion || got.Chart.Metadata.Name != tc.ref.Name {
				t.Fatalf("loaded %s %s, want %s %s", got.Chart.Metadata.Name, got.Version, tc.ref.Name, tc.wantVersion)
			}
			switch tc.wantDigest {
			case "-":
				if got.Digest != "" {
					t.Fatalf("digest = %q, want empty for an unpacked chart", got.Digest)
				}
			case "":
				if len(got.Digest) != 64 {
					t.Fatalf("digest = %q, want sha256 hex", got.Digest)
				}
			default:
				if got.Digest != tc.wantDigest {
					t.Fatalf("digest = %q, want %q", got.Digest, tc.wantDigest)
				}
			}
			if !strings.HasPrefix(got.URL, "file:///") {
				t.Fatalf("URL = %q", got.URL)
			}
		})
	}
}

func TestLatestLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app-1.0.0.tgz"), packChart(t, "app", "1.0.0"))
	writeFile(t, filepath.Join(dir, "app-1.10.0.tgz"), packChart(t, "app", "1.10.0"))
	writeFile(t, filepath.Join(dir, "app-2.0.0-beta.tgz"), packChart(t, "app", "2.0.0-beta"))
	got, err := NewLoader().Latest(context.Background(), dir, "app")
	if err != nil || got != "1.10.0" {
		t.Fatalf("Latest = %q, %v; want 1.10.0", got, err)
	}
	loaded, err := NewLoader().Load(context.Background(), Ref{Repo: "file://" + dir, Name: "app"})
	if err != nil || loaded.Version != "1.10.0" {
		t.Fatalf("Load latest = %v, %v; want 1.10.0", loaded, err)
	}
	_, err = NewLoader().Latest(context.Background(), dir, "nope")
	checkErr(t, err, ErrChartNotFound, "nope", dir)
}
