package release

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTarIsReproducible(t *testing.T) {
	when := time.Unix(1700000000, 0)
	a := []File{{Name: "b/x", Mode: 0o644, Data: []byte("x")}, {Name: "a", Mode: 0o755, Data: []byte("a")}}
	b := []File{a[1], a[0]}
	x, err := Tar(a, when)
	if err != nil {
		t.Fatal(err)
	}
	y, err := Tar(b, when)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Error("the same files in another order give another archive")
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(x))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(when) || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %s uname %q gname %q", h.Name, h.ModTime, h.Uname, h.Gname)
		}
	}
	if want := []string{"a", "b/", "b/x"}; !reflect.DeepEqual(names, want) {
		t.Errorf("entries %v, want %v (sorted, parent directories added)", names, want)
	}
	gx, _ := Gzip(x)
	gy, _ := Gzip(y)
	if !bytes.Equal(gx, gy) {
		t.Error("gzip of equal input differs")
	}
	if _, err := Tar([]File{{Name: "a"}, {Name: "a"}}, when); err == nil {
		t.Error("a duplicate entry was accepted")
	}
}

func TestEditValues(t *testing.T) {
	in := "# top\nimage:\n  # -- repo\n  repository: old\n  tag: \"\"\n  digest: \"\"\nother:\n  digest: keep\nselfUpgrade:\n  enabled: true\n  chartRepository: oci://x\n"
	for _, c := range []struct {
		name    string
		edits   []ValueEdit
		want    string
		wantErr bool
	}{
		{"nested keys", []ValueEdit{{"image.digest", "sha256:1"}, {"selfUpgrade.chartRepository", "oci://y"}},
			strings.NewReplacer("  digest: \"\"", "  digest: \"sha256:1\"", "chartRepository: oci://x", "chartRepository: \"oci://y\"").Replace(in), false},
		{"the key of the right parent", []ValueEdit{{"other.digest", "d"}}, strings.Replace(in, "digest: keep", "digest: \"d\"", 1), false},
		{"missing key", []ValueEdit{{"image.nothere", "x"}}, "", true},
		{"missing parent", []ValueEdit{{"nothere.digest", "x"}}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := editValues([]byte(in), c.edits)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %t", err, c.wantErr)
			}
			if err == nil && string(got) != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestParseDockerfile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Dockerfile")
	data := "# c\nFROM golang AS build\nCOPY go.mod go.sum ./\nFROM scratch\nARG V=1\nLABEL a=b \\\n  c=\"d\"\nCOPY --from=build /out/x /x\nUSER 1:1\nENTRYPOINT [\"/x\"]\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	df, err := ParseDockerfile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(df.Stages) != 2 {
		t.Fatalf("stages %+v", df.Stages)
	}
	s := df.Stages[1]
	want := Stage{From: "scratch", Labels: map[string]string{"a": "b", "c": "d"}, Copies: []Copy{{From: "build", Src: "/out/x", Dst: "/x"}},
		User: "1:1", Entrypoint: []string{"/x"}, Args: map[string]string{"V": "1"}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("stage %+v, want %+v", s, want)
	}
	if c := df.Stages[0].Copies[0]; c.Src != "go.mod go.sum" || c.Dst != "./" {
		t.Errorf("multi-source COPY %+v", c)
	}
}

func TestCABundle(t *testing.T) {
	pem, err := CABundle()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(pem), "BEGIN CERTIFICATE"); n < 100 {
		t.Errorf("%d roots, want the fallback bundle's (over 100)", n)
	}
}
