package charts

import (
	"context"
	"testing"
)

// BenchmarkRepeatedLoad simulates reconciles of the same chart version: with
// the caches, the index and the archive are downloaded once in total.
func BenchmarkRepeatedLoad(b *testing.B) {
	s := newRepoServer(b)
	data := packChart(b, "app", "1.0.0")
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}))
	l := NewLoader()
	ref := Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Load(context.Background(), ref); err != nil {
			b.Fatal(err)
		}
	}
	st := l.Stats()
	if st.IndexDownloads != 1 || st.ArchiveDownloads != 1 {
		b.Fatalf("expected one index and one archive download, got %+v", st)
	}
	b.ReportMetric(float64(st.IndexDownloads), "index-downloads")
	b.ReportMetric(float64(st.ArchiveDownloads), "archive-downloads")
}
