package charts

import (
	"context"
	"sync"
	"testing"
)

// recordingObserver remembers what a CacheObserver is told.
type recordingObserver struct {
	mu      sync.Mutex
	lookups map[string]int // "<cache> hit|miss"
	bytes   map[string]int
}

func (o *recordingObserver) Lookup(cache string, hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := " miss"
	if hit {
		r = " hit"
	}
	o.lookups[cache+r]++
}

func (o *recordingObserver) Fetched(cache string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes[cache] += n
}

// TestCacheObserver: the first load misses both caches and fetches the index and the archive; the second
// hits both and fetches nothing.
func TestCacheObserver(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	data := packChart(t, "app", "1.0.0")
	idx := indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)})
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", idx)
	obs := &recordingObserver{lookups: map[string]int{}, bytes: map[string]int{}}
	l := NewLoader(WithCacheObserver(obs))
	for i := 0; i < 2; i++ {
		if _, err := l.Load(context.Background(), Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"index miss": 1, "index hit": 1, "archive miss": 1, "archive hit": 1}
	for k, v := range want {
		if obs.lookups[k] != v {
			t.Errorf("%s lookups = %d, want %d (all: %v)", k, obs.lookups[k], v, obs.lookups)
		}
	}
	if obs.bytes[CacheIndex] != len(idx) || obs.bytes[CacheArchive] != len(data) {
		t.Errorf("fetched %v, want index %d and archive %d bytes", obs.bytes, len(idx), len(data))
	}
}
