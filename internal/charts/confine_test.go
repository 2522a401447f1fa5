package charts

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// TestLocalConfinedToRoot: a local source never reads through a symbolic link out of its root, nor an
// unpacked chart bigger than WithMaxChartBytes; links that stay inside are followed as before.
func TestLocalConfinedToRoot(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := filepath.Join(outside, "token")
	writeFile(t, secret, []byte("s3cr3t"))
	writeFile(t, filepath.Join(outside, "app-1.0.0.tgz"), packChart(t, "app", "1.0.0"))
	if err := chartutil.SaveDir(testChart("app", "1.0.0"), outside); err != nil {
		t.Fatal(err)
	}
	symlink := func(target, link string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	// repo builds a chart directory source with one unpacked chart "app" 1.0.0, then lets mutate change it.
	repo := func(mutate func(root string)) string {
		root := t.TempDir()
		if err := chartutil.SaveDir(testChart("app", "1.0.0"), root); err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(root)
		}
		return root
	}
	tests := []struct {
		name    string
		root    string
		opts    []Option
		wantErr error
		wantMsg string
	}{
		{name: "plain chart directory", root: repo(nil)},
		{name: "link inside the chart to a file inside it", root: repo(func(r string) {
			symlink(filepath.Join(r, "app", "values.yaml"), filepath.Join(r, "app", "templates", "copy.txt"))
		})},
		{name: "link in the chart to a file outside", root: repo(func(r string) {
			symlink(secret, filepath.Join(r, "app", "templates", "token.yaml"))
		}), wantErr: ErrCorruptArchive, wantMsg: "links outside"},
		{name: "relative link in the chart climbing out", root: repo(func(r string) {
			symlink(filepath.Join("..", "..", "..", filepath.Base(outside), "token"), filepath.Join(r, "app", "files", "token"))
		}), wantErr: ErrCorruptArchive, wantMsg: "not confined"},
		{name: "link in the chart to a directory", root: repo(func(r string) {
			symlink(filepath.Join(r, "app"), filepath.Join(r, "app", "loop"))
		}), wantErr: ErrCorruptArchive, wantMsg: "symbolic link to a directory"},
		{name: "chart directory linked from outside", root: repo(func(r string) {
			if err := os.RemoveAll(filepath.Join(r, "app")); err != nil {
				t.Fatal(err)
			}
			symlink(filepath.Join(outside, "app"), filepath.Join(r, "app"))
		}), wantErr: ErrInvalidIndex, wantMsg: "links outside"},
		{name: "archive linked from outside", root: repo(func(r string) {
			symlink(filepath.Join(outside, "app-1.0.0.tgz"), filepath.Join(r, "app-1.0.0.tgz"))
		}), wantErr: ErrInvalidIndex, wantMsg: "links outside"},
		{name: "index naming an archive through a link out", root: repo(func(r string) {
			symlink(outside, filepath.Join(r, "pkgs"))
			writeFile(t, filepath.Join(r, "index.yaml"), indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "pkgs/app-1.0.0.tgz"}))
		}), wantErr: ErrInvalidIndex, wantMsg: "links outside"},
		{name: "index naming an absolute path outside", root: repo(func(r string) {
			writeFile(t, filepath.Join(r, "index.yaml"), indexYAML(idxEntry{chart: "app", version: "1.0.0", url: filepath.Join(outside, "app-1.0.0.tgz")}))
		}), wantErr: ErrInvalidIndex, wantMsg: "points outside"},
		{name: "index naming an absolute path inside", root: repo(func(r string) {
			writeFile(t, filepath.Join(r, "a", "app-1.0.0.tgz"), packChart(t, "app", "1.0.0"))
			writeFile(t, filepath.Join(r, "index.yaml"), indexYAML(idxEntry{chart: "app", version: "1.0.0", url: filepath.Join(r, "a", "app-1.0.0.tgz")}))
		})},
		{name: "unpacked chart over WithMaxChartBytes", root: repo(nil), opts: []Option{WithMaxChartBytes(64)},
			wantErr: ErrCorruptArchive, wantMsg: "holds more than 64 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ref := Ref{Repo: tc.root, Name: "app", Version: "1.0.0"}
			got, err := NewLoader(tc.opts...).Load(context.Background(), ref)
			if tc.wantErr != nil {
				checkErr(t, err, tc.wantErr, "app", tc.wantMsg)
				return
			}
			checkErr(t, err, nil)
			if got.Version != "1.0.0" {
				t.Fatalf("loaded %s", got.Version)
			}
			for _, f := range got.Chart.Raw {
				if string(f.Data) == "s3cr3t" {
					t.Fatalf("read %s from outside the root", f.Name)
				}
			}
		})
	}
}
