package charts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadHTTP(t *testing.T) {
	t.Parallel()
	type setupFunc func(t *testing.T, s *repoServer) Ref
	// simple publishes archives under the repo root with correct digests.
	simple := func(versions ...string) setupFunc {
		return func(t *testing.T, s *repoServer) Ref {
			var entries []idxEntry
			for _, v := range versions {
				data := packChart(t, "app", v)
				name := "app-" + v + ".tgz"
				s.set("/"+name, data)
				entries = append(entries, idxEntry{chart: "app", version: v, url: name, digest: digestOf(data)})
			}
			s.set("/index.yaml", indexYAML(entries...))
			return Ref{Repo: s.URL(), Name: "app"}
		}
	}
	withVersion := func(f setupFunc, v string) setupFunc {
		return func(t *testing.T, s *repoServer) Ref {
			ref := f(t, s)
			ref.Version = v
			return ref
		}
	}
	tests := []struct {
		name        string
		opts        []Option
		setup       setupFunc
		wantVersion string
		wantErr     error
		wantMsg     []string
	}{
		{
			name:        "exact version",
			setup:       withVersion(simple("1.0.0", "1.1.0", "2.0.0-rc.1"), "1.0.0"),
			wantVersion: "1.0.0",
		},
		{
			name:        "exact pre-release version",
			setup:       withVersion(simple("1.0.0", "2.0.0-rc.1"), "2.0.0-rc.1"),
			wantVersion: "2.0.0-rc.1",
		},
		{
			name: "latest skips pre-releases and malformed entries",
			setup: func(t *testing.T, s *repoServer) Ref {
				ok := packChart(t, "app", "1.2.0")
				s.set("/app-1.2.0.tgz", ok)
				s.set("/index.yaml", indexYAML(
					idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz"},
					idxEntry{chart: "app", version: "1.2.0", url: "app-1.2.0.tgz", digest: digestOf(ok)},
					idxEntry{chart: "app", version: "1.10.0-beta.1", url: "app-1.10.0-beta.1.tgz"},
					idxEntry{chart: "app", version: "not-a-version", url: "app-x.tgz"},
					idxEntry{chart: "app", raw: "  - name: app\n    version: [1, 2]\n    urls: [broken.tgz]\n"},
					idxEntry{chart: "app", raw: "  - null\n"},
					idxEntry{chart: "app", raw: "  - name: app\n    urls: [noversion.tgz]\n"},
				))
				return Ref{Repo: s.URL(), Name: "app"}
			},
			wantVersion: "1.2.0",
		},
		{
			name: "relative URL below a repo path without trailing slash",
			setup: func(t *testing.T, s *repoServer) Ref {
				data := packChart(t, "app", "1.0.0")
				s.set("/charts/archives/app-1.0.0.tgz", data)
				s.set("/charts/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "archives/app-1.0.0.tgz", digest: digestOf(data)}))
				return Ref{Repo: s.URL() + "/charts", Name: "app", Version: "1.0.0"}
			},
			wantVersion: "1.0.0",
		},
		{
			name: "root-relative URL with trailing slash repo",
			setup: func(t *testing.T, s *repoServer) Ref {
				data := packChart(t, "app", "1.0.0")
				s.set("/dl/app-1.0.0.tgz", data)
				s.set("/charts/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "/dl/app-1.0.0.tgz", digest: digestOf(data)}))
				return Ref{Repo: s.URL() + "/charts/", Name: "app", Version: "1.0.0"}
			},
			wantVersion: "1.0.0",
		},
		{
			name: "absolute plain-http URL on another server is refused",
			setup: func(t *testing.T, s *repoServer) Ref {
				other := newRepoServer(t)
				data := packChart(t, "app", "1.0.0")
				other.set("/files/app-1.0.0.tgz", data)
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: other.URL() + "/files/app-1.0.0.tgz", digest: digestOf(data)}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrInvalidIndex,
			wantMsg: []string{"plain http on another host"},
		},
		{
			name: "absolute URL on the repository's own server",
			setup: func(t *testing.T, s *repoServer) Ref {
				data := packChart(t, "app", "1.0.0")
				s.set("/files/app-1.0.0.tgz", data)
				s.set("/charts/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: s.URL() + "/files/app-1.0.0.tgz", digest: digestOf(data)}))
				return Ref{Repo: s.URL() + "/charts", Name: "app", Version: "1.0.0"}
			},
			wantVersion: "1.0.0",
		},
		{
			name:    "chart unpacking to more than WithMaxChartBytes",
			opts:    []Option{WithMaxChartBytes(1024)},
			setup:   withVersion(simple("1.0.0"), "1.0.0"),
			wantErr: ErrCorruptArchive,
			wantMsg: []string{"unpacks to more than 1024 bytes"},
		},
		{
			name: "v-prefixed index version matches plain ref version",
			opts: []Option{WithoutDigests()}, // the case is about something else
			setup: func(t *testing.T, s *repoServer) Ref {
				data := packChart(t, "app", "1.0.0")
				s.set("/app.tgz", data)
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "v1.0.0", url: "app.tgz"}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantVersion: "1.0.0",
		},
		{
			name: "missing digest is refused",
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/app-1.0.0.tgz", packChart(t, "app", "1.0.0"))
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz"}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrNoDigest,
			wantMsg: []string{"--allow-charts-without-digest"},
		},
		{
			name: "missing digest is accepted when allowed",
			opts: []Option{WithoutDigests()},
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/app-1.0.0.tgz", packChart(t, "app", "1.0.0"))
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz"}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantVersion: "1.0.0",
		},
		{
			name: "digest mismatch",
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/app-1.0.0.tgz", packChart(t, "app", "1.0.0"))
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf([]byte("something else"))}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrDigestMismatch,
			wantMsg: []string{digestOf([]byte("something else"))},
		},
		{
			name: "corrupt archive",
			opts: []Option{WithoutDigests()}, // the case is about something else
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/app-1.0.0.tgz", []byte("this is not a gzip stream"))
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz"}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrCorruptArchive,
		},
		{
			name: "archive holds another chart",
			opts: []Option{WithoutDigests()}, // the case is about something else
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/app-1.0.0.tgz", packChart(t, "other", "1.0.0"))
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz"}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrCorruptArchive,
			wantMsg: []string{`holds chart "other"`},
		},
		{
			name: "archive holds another version",
			opts: []Option{WithoutDigests()}, // the case is about something else
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/app-1.0.0.tgz", packChart(t, "app", "9.9.9"))
				s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz"}))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrCorruptArchive,
			wantMsg: []string{`"9.9.9"`},
		},
		{
			name: "version not found lists five newest",
			setup: func(t *testing.T, s *repoServer) Ref {
				var entries []idxEntry
				for _, v := range []string{"1.0.0", "1.6.0", "1.1.0", "1.5.0", "1.2.0", "1.4.0", "1.3.0"} {
					entries = append(entries, idxEntry{chart: "app", version: v, url: "app-" + v + ".tgz"})
				}
				s.set("/index.yaml", indexYAML(entries...))
				return Ref{Repo: s.URL(), Name: "app", Version: "9.9.9"}
			},
			wantErr: ErrVersionNotFound,
			wantMsg: []string{"available versions: 1.6.0, 1.5.0, 1.4.0, 1.3.0, 1.2.0 (and 2 more)"},
		},
		{
			name:    "latest with only pre-releases",
			setup:   simple("1.0.0-rc.1", "2.0.0-alpha"),
			wantErr: ErrVersionNotFound,
			wantMsg: []string{"no stable", "2.0.0-alpha, 1.0.0-rc.1"},
		},
		{
			name: "chart not found",
			setup: func(t *testing.T, s *repoServer) Ref {
				ref := simple("1.0.0")(t, s)
				ref.Name, ref.Version = "missing", "1.0.0"
				return ref
			},
			wantErr: ErrChartNotFound,
		},
		{
			name: "archive 404 for one version",
			setup: func(t *testing.T, s *repoServer) Ref {
				ref := simple("1.0.0", "1.1.0")(t, s)
				s.fail("/app-1.1.0.tgz", http.StatusNotFound)
				ref.Version = "1.1.0"
				return ref
			},
			wantErr: ErrArchiveUnavailable,
			wantMsg: []string{"404", "app-1.1.0.tgz"},
		},
		{
			name: "archive 503",
			setup: func(t *testing.T, s *repoServer) Ref {
				ref := simple("1.0.0")(t, s)
				s.fail("/app-1.0.0.tgz", http.StatusServiceUnavailable)
				ref.Version = "1.0.0"
				return ref
			},
			wantErr: ErrRepoUnavailable,
			wantMsg: []string{"503"},
		},
		{
			name: "index 404",
			setup: func(t *testing.T, s *repoServer) Ref {
				return Ref{Repo: s.URL() + "/nothing-here", Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrRepoUnavailable,
			wantMsg: []string{"404", "/nothing-here/index.yaml"},
		},
		{
			name: "index 500",
			setup: func(t *testing.T, s *repoServer) Ref {
				ref := simple("1.0.0")(t, s)
				s.fail("/index.yaml", http.StatusInternalServerError)
				ref.Version = "1.0.0"
				return ref
			},
			wantErr: ErrRepoUnavailable,
			wantMsg: []string{"500 Internal Server Error"},
		},
		{
			name: "invalid index",
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/index.yaml", []byte("entries: [unclosed\n"))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrInvalidIndex,
		},
		{
			name: "index that is not a repository index",
			setup: func(t *testing.T, s *repoServer) Ref {
				s.set("/index.yaml", []byte("<html>login page</html>"))
				return Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
			},
			wantErr: ErrInvalidIndex,
		},
		{
			name:    "archive too large",
			opts:    []Option{WithMaxArchiveBytes(64)},
			setup:   withVersion(simple("1.0.0"), "1.0.0"),
			wantErr: ErrArchiveTooLarge,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRepoServer(t)
			ref := tc.setup(t, s)
			l := NewLoader(tc.opts...)
			got, err := l.Load(context.Background(), ref)
			if tc.wantErr != nil {
				msgs := append([]string{ref.Name, redactURL(ref.Repo)}, tc.wantMsg...)
				if ref.Version != "" {
					msgs = append(msgs, ref.Version)
				}
				checkErr(t, err, tc.wantErr, msgs...)
				return
			}
			checkErr(t, err, nil)
			if got.Version != tc.wantVersion || got.Chart.Metadata.Version != tc.wantVersion {
				t.Fatalf("version = %q (chart %q), want %q", got.Version, got.Chart.Metadata.Version, tc.wantVersion)
			}
			if got.Chart.Metadata.Name != ref.Name {
				t.Fatalf("chart name = %q, want %q", got.Chart.Metadata.Name, ref.Name)
			}
			if len(got.Digest) != 64 || !strings.HasPrefix(got.URL, "http://") {
				t.Fatalf("unexpected digest %q or URL %q", got.Digest, got.URL)
			}
			if len(got.Chart.Templates) != 1 {
				t.Fatalf("chart has %d templates, want 1", len(got.Chart.Templates))
			}
		})
	}
}

func TestLatestHTTP(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	s.set("/index.yaml", indexYAML(
		idxEntry{chart: "app", version: "0.9.0", url: "a.tgz"},
		idxEntry{chart: "app", version: "1.10.0", url: "b.tgz"},
		idxEntry{chart: "app", version: "1.9.0", url: "c.tgz"},
		idxEntry{chart: "app", version: "2.0.0-rc.1", url: "d.tgz"},
		idxEntry{chart: "beta", version: "0.1.0-alpha", url: "e.tgz"},
	))
	l := NewLoader()
	tests := []struct {
		chart   string
		want    string
		wantErr error
	}{
		{chart: "app", want: "1.10.0"},
		{chart: "beta", wantErr: ErrVersionNotFound},
		{chart: "none", wantErr: ErrChartNotFound},
	}
	for _, tc := range tests {
		got, err := l.Latest(context.Background(), s.URL(), tc.chart)
		checkErr(t, err, tc.wantErr, tc.chart)
		if got != tc.want {
			t.Errorf("Latest(%q) = %q, want %q", tc.chart, got, tc.want)
		}
	}
	if n := s.count("/index.yaml"); n != 1 {
		t.Errorf("index downloaded %d times, want 1", n)
	}
}

func TestRepoDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	repoURL := srv.URL
	srv.Close()
	_, err := NewLoader().Load(context.Background(), Ref{Repo: repoURL, Name: "app", Version: "1.0.0"})
	checkErr(t, err, ErrRepoUnavailable, repoURL, "app", "1.0.0", "refused")
}

func TestSlowServerHonoursContext(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "a.tgz"}))
	s.block("/index.yaml")
	l := NewLoader()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Load(ctx, Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"})
	checkErr(t, err, ErrRepoUnavailable, "timed out", "app")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expected context.DeadlineExceeded in chain, got %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Load returned after %v; the context deadline was not honoured", elapsed)
	}
	// The abandoned download must be cancelled, not left running until the client timeout.
	waitFor(t, "server to observe the cancelled request", func() bool { return s.cancelledRequests() == 1 })
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewLoader().Load(ctx, Ref{Repo: "https://example.invalid", Name: "app"})
	checkErr(t, err, context.Canceled, "app")
}

func TestIndexCacheTTL(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	data := packChart(t, "app", "1.0.0")
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}))
	clock := newFakeClock()
	l := NewLoader(WithClock(clock.Now), WithIndexTTL(time.Minute))
	ref := Ref{Repo: s.URL(), Name: "app"}

	steps := []struct {
		advance     time.Duration
		wantIndex   int
		wantArchive int
	}{
		{0, 1, 1},
		{30 * time.Second, 1, 1}, // within TTL: served from memory
		{29 * time.Second, 1, 1}, // 59s since the download
		{time.Second, 2, 1},      // TTL reached: refreshed; archive unchanged (same digest)
		{10 * time.Second, 2, 1},
		{time.Minute + time.Second, 3, 1},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if _, err := l.Load(context.Background(), ref); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := s.count("/index.yaml"); got != st.wantIndex {
			t.Fatalf("step %d: index requests = %d, want %d", i, got, st.wantIndex)
		}
		if got := s.count("/app-1.0.0.tgz"); got != st.wantArchive {
			t.Fatalf("step %d: archive requests = %d, want %d", i, got, st.wantArchive)
		}
	}
	st := l.Stats()
	if st.IndexDownloads != 3 || st.IndexCacheHits != 3 || st.ArchiveDownloads != 1 || st.ArchiveCacheHits != 5 {
		t.Fatalf("unexpected stats %+v", st)
	}
}

func TestIndexConditionalRefresh(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	s.etags = true
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "a.tgz"}))
	clock := newFakeClock()
	l := NewLoader(WithClock(clock.Now))
	for range 3 {
		if _, err := l.Latest(context.Background(), s.URL(), "app"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(DefaultIndexTTL)
	}
	st := l.Stats()
	if st.IndexDownloads != 3 || st.IndexNotModified != 2 {
		t.Fatalf("want 3 requests of which 2 not modified, got %+v", st)
	}
	// A changed index is picked up.
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "a.tgz"}, idxEntry{chart: "app", version: "1.1.0", url: "b.tgz"}))
	got, err := l.Latest(context.Background(), s.URL(), "app")
	if err != nil || got != "1.1.0" {
		t.Fatalf("Latest = %q, %v; want 1.1.0", got, err)
	}
}

func TestStaleIndexOnError(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	data := packChart(t, "app", "1.0.0")
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}))
	clock := newFakeClock()
	l := NewLoader(WithClock(clock.Now))
	ref := Ref{Repo: s.URL(), Name: "app"}
	if _, err := l.Load(context.Background(), ref); err != nil {
		t.Fatal(err)
	}

	s.fail("/index.yaml", http.StatusBadGateway)
	clock.Advance(DefaultIndexTTL + time.Second)
	got, err := l.Load(context.Background(), ref)
	if err != nil {
		t.Fatalf("expected stale index to be served, got %v", err)
	}
	if got.Version != "1.0.0" {
		t.Fatalf("version = %q", got.Version)
	}
	if n := s.count("/index.yaml"); n != 2 {
		t.Fatalf("index requests = %d, want 2 (a refresh must be attempted)", n)
	}
	if st := l.Stats(); st.IndexStaleServed != 1 {
		t.Fatalf("IndexStaleServed = %d, want 1", st.IndexStaleServed)
	}

	// Without a cached copy the failure is reported.
	_, err = NewLoader().Load(context.Background(), ref)
	checkErr(t, err, ErrRepoUnavailable, "502")

	// Once the repository recovers, the refreshed index is used.
	s.fail("/index.yaml", 0)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}, idxEntry{chart: "app", version: "1.1.0", url: "gone.tgz"}))
	v, err := l.Latest(context.Background(), s.URL(), "app")
	if err != nil || v != "1.1.0" {
		t.Fatalf("Latest after recovery = %q, %v", v, err)
	}
}

func TestConcurrentLoadSharesDownloads(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	data := packChart(t, "app", "1.0.0")
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}))
	release := s.block("/index.yaml")
	l := NewLoader()
	ref := Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}

	const n = 20
	var wg sync.WaitGroup
	results := make([]*Loaded, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = l.Load(context.Background(), ref)
		}()
	}
	// All callers must be waiting on the one index download before it completes.
	key := "http:" + s.URL()
	waitFor(t, "20 callers to share the index download", func() bool { return l.indexes.flights.waiting(key) == n })
	release()
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if results[i].Digest != digestOf(data) {
			t.Fatalf("goroutine %d: digest %s", i, results[i].Digest)
		}
		if i > 0 && results[i].Chart == results[0].Chart {
			t.Fatalf("goroutines share a *chart.Chart; each Load must return its own copy")
		}
	}
	if got := s.count("/index.yaml"); got != 1 {
		t.Errorf("index downloaded %d times, want 1", got)
	}
	if got := s.count("/app-1.0.0.tgz"); got != 1 {
		t.Errorf("archive downloaded %d times, want 1", got)
	}
	if st := l.Stats(); st.IndexDownloads != 1 || st.ArchiveDownloads != 1 {
		t.Errorf("unexpected stats %+v", st)
	}
}

func TestArchiveCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		digest     bool
		cacheBytes int64
		loads      []string // versions loaded in order
		wantGets   int      // archive downloads
	}{
		{name: "hit by digest", digest: true, cacheBytes: DefaultArchiveCacheBytes, loads: []string{"1.0.0", "1.0.0", "1.0.0"}, wantGets: 1},
		{name: "hit by URL and version without digest", cacheBytes: DefaultArchiveCacheBytes, loads: []string{"1.0.0", "1.0.0"}, wantGets: 1},
		{name: "different versions are different entries", digest: true, cacheBytes: DefaultArchiveCacheBytes, loads: []string{"1.0.0", "1.1.0", "1.0.0", "1.1.0"}, wantGets: 2},
		{name: "cache disabled", digest: true, cacheBytes: 0, loads: []string{"1.0.0", "1.0.0"}, wantGets: 2},
		{name: "LRU evicts the oldest", digest: true, cacheBytes: 1, loads: []string{"1.0.0", "1.1.0", "1.0.0"}, wantGets: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRepoServer(t)
			var entries []idxEntry
			size := 0
			for _, v := range []string{"1.0.0", "1.1.0"} {
				data := packChart(t, "app", v)
				size = max(size, len(data))
				s.set("/app-"+v+".tgz", data)
				e := idxEntry{chart: "app", version: v, url: "app-" + v + ".tgz"}
				if tc.digest {
					e.digest = digestOf(data)
				}
				entries = append(entries, e)
			}
			s.set("/index.yaml", indexYAML(entries...))
			cacheBytes := tc.cacheBytes
			if cacheBytes == 1 { // room for exactly one archive
				cacheBytes = int64(size) + 1
			}
			l := NewLoader(WithArchiveCacheBytes(cacheBytes), WithoutDigests())
			for _, v := range tc.loads {
				got, err := l.Load(context.Background(), Ref{Repo: s.URL(), Name: "app", Version: v})
				if err != nil {
					t.Fatal(err)
				}
				if got.Version != v {
					t.Fatalf("loaded %s, want %s", got.Version, v)
				}
			}
			gets := s.count("/app-1.0.0.tgz") + s.count("/app-1.1.0.tgz")
			if gets != tc.wantGets {
				t.Fatalf("archive downloads = %d, want %d", gets, tc.wantGets)
			}
			if st := l.Stats(); st.ArchiveDownloads != int64(tc.wantGets) || st.ArchiveCacheHits != int64(len(tc.loads)-tc.wantGets) {
				t.Fatalf("unexpected stats %+v", st)
			}
		})
	}
}

func TestLoadReturnsIndependentCharts(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	data := packChart(t, "app", "1.0.0")
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}))
	l := NewLoader()
	ref := Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
	first, err := l.Load(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	first.Chart.Metadata.Description = "mutated"
	first.Chart.Templates = nil
	second, err := l.Load(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if second.Chart.Metadata.Description == "mutated" || len(second.Chart.Templates) != 1 {
		t.Fatal("mutating a loaded chart changed the cached copy")
	}
}

func TestCredentialsNeverInErrors(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(packChart(t, "app", "1.0.0"))}))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	withCreds := func(raw string) string {
		return strings.Replace(raw, "http://", "http://alice:s3cr3t@", 1) + "?token=hunter2"
	}
	tests := []struct {
		name string
		ref  Ref
		want error
	}{
		{"archive missing", Ref{Repo: withCreds(s.URL()), Name: "app", Version: "1.0.0"}, ErrArchiveUnavailable},
		{"version missing", Ref{Repo: withCreds(s.URL()), Name: "app", Version: "2.0.0"}, ErrVersionNotFound},
		{"repo down", Ref{Repo: withCreds(closed.URL), Name: "app", Version: "1.0.0"}, ErrRepoUnavailable},
	}
	for _, tc := range tests {
		_, err := NewLoader().Load(context.Background(), tc.ref)
		checkErr(t, err, tc.want, "app", tc.ref.Version)
		for _, secret := range []string{"alice", "s3cr3t", "hunter2"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error leaks %q: %v", tc.name, secret, err)
			}
		}
	}
}

func TestInvalidRefs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ref  Ref
	}{
		{"empty repo", Ref{Name: "app"}},
		{"empty name", Ref{Repo: "https://example.com"}},
		{"name with slash", Ref{Repo: "https://example.com", Name: "a/b"}},
		{"dot-dot name", Ref{Repo: "/tmp", Name: ".."}},
		{"unknown scheme", Ref{Repo: "ftp://example.com/charts", Name: "app"}},
		{"relative path", Ref{Repo: "charts/dir", Name: "app"}},
		{"http without host", Ref{Repo: "https:///charts", Name: "app"}},
		{"oci without host", Ref{Repo: "oci:///charts", Name: "app"}},
		{"file URL with host", Ref{Repo: "file://server/share", Name: "app"}},
		{"bad URL", Ref{Repo: "https://exa mple.com/%zz", Name: "app"}},
	}
	l := NewLoader()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Load(context.Background(), tc.ref)
			checkErr(t, err, ErrInvalidRef)
			_, err = l.Latest(context.Background(), tc.ref.Repo, tc.ref.Name)
			checkErr(t, err, ErrInvalidRef)
		})
	}
}

func TestResolveArchiveURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		repo, entry, want string
		wantErr           bool
	}{
		{repo: "https://h/charts", entry: "a-1.tgz", want: "https://h/charts/a-1.tgz"},
		{repo: "https://h/charts/", entry: "a-1.tgz", want: "https://h/charts/a-1.tgz"},
		{repo: "https://h", entry: "a-1.tgz", want: "https://h/a-1.tgz"},
		{repo: "https://h/charts", entry: "../other/a-1.tgz", want: "https://h/other/a-1.tgz"},
		{repo: "https://h/charts", entry: "/abs/a-1.tgz", want: "https://h/abs/a-1.tgz"},
		{repo: "https://u:p@h/charts", entry: "a-1.tgz", want: "https://u:p@h/charts/a-1.tgz"},
		{repo: "https://h/charts", entry: "https://cdn.example.com/a-1.tgz", want: "https://cdn.example.com/a-1.tgz"},
		{repo: "https://h/charts", entry: "ftp://x/a.tgz", wantErr: true},
		{repo: "https://h/charts", entry: "file:///etc/passwd", wantErr: true},
		{repo: "https://h/charts", entry: "http://h/charts/a-1.tgz", wantErr: true},
		{repo: "https://h/charts", entry: "http://cdn.example.com/a-1.tgz", wantErr: true},
		{repo: "http://127.0.0.1:8080/charts", entry: "a-1.tgz", want: "http://127.0.0.1:8080/charts/a-1.tgz"},
		{repo: "http://127.0.0.1:8080/charts", entry: "http://127.0.0.1:8080/x/a-1.tgz", want: "http://127.0.0.1:8080/x/a-1.tgz"},
		{repo: "http://127.0.0.1:8080/charts", entry: "HTTP://127.0.0.1:8080/a-1.tgz", want: "http://127.0.0.1:8080/a-1.tgz"},
		{repo: "http://127.0.0.1:8080/charts", entry: "https://cdn.example.com/a-1.tgz", want: "https://cdn.example.com/a-1.tgz"},
		{repo: "http://127.0.0.1:8080/charts", entry: "http://127.0.0.2:8080/a-1.tgz", wantErr: true},
		{repo: "http://127.0.0.1:8080/charts", entry: "http://127.0.0.1:9090/a-1.tgz", wantErr: true},
		{repo: "http://127.0.0.1:8080/charts", entry: "//127.0.0.2:8080/a-1.tgz", wantErr: true},
		{repo: "https://h/charts", entry: "//cdn.example.com/a-1.tgz", want: "https://cdn.example.com/a-1.tgz"},
		{repo: "https://h/charts", entry: "%zz", wantErr: true},
	}
	for _, tc := range tests {
		base, err := parseRepo(tc.repo, "a")
		if err != nil {
			t.Fatal(err)
		}
		got, err := resolveArchiveURL(base.url, tc.entry)
		if tc.wantErr {
			if !errors.Is(err, ErrInvalidIndex) {
				t.Errorf("resolve(%q, %q): want ErrInvalidIndex, got %v", tc.repo, tc.entry, err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("resolve(%q, %q) = %v, %v; want %s", tc.repo, tc.entry, got, err, tc.want)
		}
	}
}
