package testharness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/castware-operator/castware-operator/internal/charts"
)

// Fault makes the chart server misbehave for one chart version.
type Fault string

// Faults the chart server can inject.
const (
	// FaultNone serves the archive normally.
	FaultNone Fault = ""
	// FaultNotFound answers 404 for the archive (the index still lists it).
	FaultNotFound Fault = "not-found"
	// FaultCorrupt serves bytes that are not a chart archive (with a matching digest in the index).
	FaultCorrupt Fault = "corrupt"
	// FaultDigestMismatch serves the real archive while the index lists another digest.
	FaultDigestMismatch Fault = "digest-mismatch"
	// FaultNoDigest serves the real archive while the index lists no digest for it.
	FaultNoDigest Fault = "no-digest"
)

type archive struct {
	name, version string
	data          []byte
	meta          *charts.Metadata
	prov          []byte // served at <archive URL>.prov when set (SetProvenance)
}

// ChartServer is an HTTP Helm repository serving charts packaged from directories.
type ChartServer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	archives map[string]*archive // "name-version"
	faults   map[string]Fault
	down     bool
	delay    time.Duration
	requests map[string]int
	extra    []*charts.ChartVersion // raw index entries (AddIndexEntry)
}

// ChartsDir is the directory holding the project's test charts (test/charts/<chart>/<version>/).
func ChartsDir() string { return filepath.Join(RepoRoot(), "test", "charts") }

// NewChartServer packages every chart under dirs. A dir may hold chart directories directly
// (<dir>/<chart>/Chart.yaml) or one level deeper (<dir>/<chart>/<version>/Chart.yaml).
func NewChartServer(dirs ...string) (*ChartServer, error) {
	s := &ChartServer{archives: map[string]*archive{}, faults: map[string]Fault{}, requests: map[string]int{}}
	for _, d := range dirs {
		if err := s.AddDir(d); err != nil {
			return nil, err
		}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

// AddDir packages the charts found under dir (see NewChartServer).
func (s *ChartServer) AddDir(dir string) error {
	var chartDirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "Chart.yaml" {
			chartDirs = append(chartDirs, filepath.Dir(p))
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", dir, err)
	}
	for _, cd := range chartDirs {
		c, err := charts.LoadDir(cd)
		if err != nil {
			return fmt.Errorf("load chart %s: %w", cd, err)
		}
		if err := s.Add(c); err != nil {
			return err
		}
	}
	return nil
}

// Add packages and serves a chart.
func (s *ChartServer) Add(c *charts.Chart) error {
	tmp, err := os.MkdirTemp("", "chart-pkg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := charts.Package(c, tmp)
	if err != nil {
		return fmt.Errorf("package %s: %w", c.Name(), err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archives[c.Metadata.Name+"-"+c.Metadata.Version] = &archive{name: c.Metadata.Name, version: c.Metadata.Version, data: data, meta: c.Metadata}
	return nil
}

// URL is the repository URL.
func (s *ChartServer) URL() string { return s.srv.URL }

// Close stops the server.
func (s *ChartServer) Close() { s.srv.Close() }

// SetFault makes one chart version misbehave (FaultNone restores it).
func (s *ChartServer) SetFault(name, version string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[name+"-"+version] = f
}

// SetDown makes every request fail with 503 (true) or restores service (false).
func (s *ChartServer) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDelay delays every response.
func (s *ChartServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// AddIndexEntry lists a version of a chart in the index without an archive behind it (its download answers
// 404). Versions are taken as written, so a test can serve what real repositories sometimes hold:
// pre-releases, "latest", "1.x", "v2", empty strings.
func (s *ChartServer) AddIndexEntry(name, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = append(s.extra, &charts.ChartVersion{
		Metadata: &charts.Metadata{APIVersion: charts.APIVersionV2, Name: name, Version: version},
		URLs:     []string{"charts/" + name + "-" + version + ".tgz"},
		Digest:   strings.Repeat("0", 64),
	})
}

// Archive returns the archive served for a chart version (nil when there is none), e.g. to sign it.
func (s *ChartServer) Archive(name, version string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.archives[name+"-"+version]; a != nil {
		return a.data
	}
	return nil
}

// SetProvenance serves prov as the provenance file of a chart version (<archive URL>.prov); nil removes it.
func (s *ChartServer) SetProvenance(name, version string, prov []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.archives[name+"-"+version]; a != nil {
		a.prov = prov
	}
}

// Requests returns how many requests hit paths containing sub.
func (s *ChartServer) Requests(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.requests {
		if strings.Contains(p, sub) {
			n += c
		}
	}
	return n
}

func (s *ChartServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests[r.URL.Path]++
	down, delay := s.down, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, "repository down (test fault)", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.URL.Path == "/index.yaml":
		b, err := s.index()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-yaml")
		_, _ = w.Write(b)
	case strings.HasPrefix(r.URL.Path, "/charts/") && strings.HasSuffix(r.URL.Path, ".tgz.prov"):
		var prov []byte
		s.mu.Lock()
		if a := s.archives[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/charts/"), ".tgz.prov")]; a != nil {
			prov = a.prov
		}
		s.mu.Unlock()
		if prov == nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(prov)
	case strings.HasPrefix(r.URL.Path, "/charts/") && strings.HasSuffix(r.URL.Path, ".tgz"):
		key := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/charts/"), ".tgz")
		s.mu.Lock()
		a, fault := s.archives[key], s.faults[key]
		s.mu.Unlock()
		if a == nil || fault == FaultNotFound {
			http.NotFound(w, r)
			return
		}
		data := a.data
		if fault == FaultCorrupt {
			data = corruptBytes
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(data)
	default:
		http.NotFound(w, r)
	}
}

var corruptBytes = []byte("this is not a gzipped chart archive\n")

func (s *ChartServer) index() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := charts.NewIndexFile()
	keys := make([]string, 0, len(s.archives))
	for k := range s.archives {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := s.archives[k]
		data := a.data
		switch s.faults[k] {
		case FaultCorrupt:
			data = corruptBytes
		case FaultDigestMismatch:
			data = append(bytes.Clone(a.data), 0)
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		if s.faults[k] == FaultNoDigest {
			digest = ""
		}
		// Relative URLs, as chart-releaser style repositories on a sub-path use.
		if err := idx.MustAdd(a.meta, "charts/"+k+".tgz", "", digest); err != nil {
			return nil, err
		}
	}
	idx.SortEntries()
	for _, cv := range s.extra {
		idx.Entries[cv.Name] = append(idx.Entries[cv.Name], cv)
	}
	return yaml.Marshal(idx)
}

// Addr returns the server's host:port.
func (s *ChartServer) Addr() string { return s.srv.Listener.Addr().(*net.TCPAddr).String() }
