package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// testChart returns an in-memory chart with one template.
func testChart(name, version string) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, Description: "test chart"},
		Templates: []*chart.File{{
			Name: "templates/configmap.yaml",
			Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"),
		}},
		Raw: []*chart.File{{Name: "values.yaml", Data: []byte("replicas: 1\n")}},
	}
}

// packChart packages a test chart and returns the .tgz bytes.
func packChart(t testing.TB, name, version string) []byte {
	t.Helper()
	return packChartFrom(t, testChart(name, version))
}

// packChartFrom packages ch and returns the .tgz bytes.
func packChartFrom(t testing.TB, ch *chart.Chart) []byte {
	t.Helper()
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatalf("packaging %s-%s: %v", ch.Metadata.Name, ch.Metadata.Version, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// idxEntry is one entry of a generated index.yaml. When raw is set it is
// written verbatim (indented under the chart) instead of the other fields.
type idxEntry struct {
	chart, version, url, digest, raw string
}

// indexYAML renders an index.yaml, keeping the order of charts and entries.
func indexYAML(entries ...idxEntry) []byte {
	var order []string
	byChart := map[string][]idxEntry{}
	for _, e := range entries {
		if _, ok := byChart[e.chart]; !ok {
			order = append(order, e.chart)
		}
		byChart[e.chart] = append(byChart[e.chart], e)
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for _, name := range order {
		fmt.Fprintf(&b, "  %s:\n", name)
		for _, e := range byChart[name] {
			if e.raw != "" {
				b.WriteString(e.raw)
				continue
			}
			fmt.Fprintf(&b, "  - apiVersion: v2\n    name: %s\n    version: %q\n    urls:\n    - %q\n", name, e.version, e.url)
			if e.digest != "" {
				fmt.Fprintf(&b, "    digest: %s\n", e.digest)
			}
		}
	}
	b.WriteString("generated: \"2024-01-01T00:00:00Z\"\n")
	return []byte(b.String())
}

// repoServer is an httptest server for chart repositories that counts
// requests per path and can fail, block or answer conditionally.
type repoServer struct {
	mu      sync.Mutex
	files   map[string][]byte
	status  map[string]int
	hits    map[string]int
	blocked map[string]chan struct{}
	etags   bool
	// cancelled counts blocked requests whose client went away.
	cancelled int
	srv       *httptest.Server
}

func newRepoServer(t testing.TB) *repoServer {
	t.Helper()
	s := &repoServer{
		files:   map[string][]byte{},
		status:  map[string]int{},
		hits:    map[string]int{},
		blocked: map[string]chan struct{}{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(s.releaseAll) // runs before Close (cleanups are LIFO)
	return s
}

func (s *repoServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	code, forced := s.status[r.URL.Path]
	data, ok := s.files[r.URL.Path]
	gate := s.blocked[r.URL.Path]
	etags := s.etags
	s.mu.Unlock()

	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			s.mu.Lock()
			s.cancelled++
			s.mu.Unlock()
			return
		}
	}
	switch {
	case forced:
		http.Error(w, http.StatusText(code), code)
	case !ok:
		http.NotFound(w, r)
	default:
		if etags {
			tag := `"` + digestOf(data)[:16] + `"`
			w.Header().Set("ETag", tag)
			if r.Header.Get("If-None-Match") == tag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data)
	}
}

func (s *repoServer) URL() string { return s.srv.URL }

func (s *repoServer) set(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

func (s *repoServer) fail(path string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.status, path)
		return
	}
	s.status[path] = code
}

// block makes requests for path wait until the returned function is called.
func (s *repoServer) block(path string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.blocked[path] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.blocked, path)
			s.mu.Unlock()
			close(ch)
		})
	}
}

func (s *repoServer) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, ch := range s.blocked {
		close(ch)
		delete(s.blocked, p)
	}
}

func (s *repoServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *repoServer) cancelledRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

// fakeClock is a manually advanced clock for WithClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// checkErr asserts that err matches want (nil means success) and that its
// message contains every string in msgs.
func checkErr(t testing.TB, err, want error, msgs ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("expected error %v, got nil", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("expected errors.Is(err, %v); got %v", want, err)
	}
	var typed *Error
	if !errors.As(err, &typed) {
		t.Fatalf("expected *Error, got %T: %v", err, err)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not contain %q", err.Error(), m)
		}
	}
}
