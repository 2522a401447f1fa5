package charts

import (
	"context"
	"testing"
	"time"
)

// TestRepublishedArchiveRereadsTheIndex: an archive that fails its digest check (or is corrupt) makes the next
// load read the index again, so a repository that republished the chart is used at once rather than after
// the index TTL.
func TestRepublishedArchiveRereadsTheIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bad   func(t *testing.T) (archive []byte, digest string)
		want  error
		index int // index reads expected after the repair
	}{
		{"digest mismatch", func(t *testing.T) ([]byte, string) {
			return packChart(t, "app", "1.0.0"), digestOf([]byte("an older archive"))
		}, ErrDigestMismatch, 2},
		{"corrupt archive", func(t *testing.T) ([]byte, string) {
			junk := []byte("not a chart")
			return junk, digestOf(junk)
		}, ErrCorruptArchive, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRepoServer(t)
			l := NewLoader(WithIndexTTL(time.Hour))
			data, digest := tc.bad(t)
			s.set("/app-1.0.0.tgz", data)
			s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digest}))
			ref := Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			_, err := l.Load(context.Background(), ref)
			checkErr(t, err, tc.want)
			good := packChart(t, "app", "1.0.0")
			s.set("/app-1.0.0.tgz", good)
			s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(good)}))
			if _, err := l.Load(context.Background(), ref); err != nil {
				t.Fatalf("load after the repository was repaired: %v", err)
			}
			if n := s.count("/index.yaml"); n != tc.index {
				t.Fatalf("index read %d times, want %d", n, tc.index)
			}
		})
	}
}
