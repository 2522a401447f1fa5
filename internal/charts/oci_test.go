package charts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/registry"
)

// testRegistry is a minimal in-memory OCI distribution server: enough of the
// distribution spec for Helm's registry client to push, resolve, pull and list
// tags (GET /v2/, blob uploads, blobs and manifests by digest, manifests by
// tag, tags/list).
type testRegistry struct {
	mu        sync.Mutex
	blobs     map[string][]byte            // digest -> content
	manifests map[string]map[string]stored // repository -> tag or digest -> manifest
	uploads   map[string][]byte
	nextID    int
	hits      map[string]int // "METHOD kind", e.g. "GET blob"
	srv       *httptest.Server
}

type stored struct {
	mediaType string
	data      []byte
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	r := &testRegistry{
		blobs:     map[string][]byte{},
		manifests: map[string]map[string]stored{},
		uploads:   map[string][]byte{},
		hits:      map[string]int{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// host returns "127.0.0.1:port".
func (r *testRegistry) host() string {
	u, _ := url.Parse(r.srv.URL)
	return u.Host
}

func (r *testRegistry) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[key]
}

func ociError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": strings.ToLower(code)}}})
}

func (r *testRegistry) serve(w http.ResponseWriter, req *http.Request) {
	p := strings.TrimPrefix(req.URL.Path, "/v2/")
	if p == "" || p == "/" || req.URL.Path == "/v2" {
		w.WriteHeader(http.StatusOK)
		return
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case strings.HasSuffix(p, "/tags/list"):
		r.hits[req.Method+" tags"]++
		r.tags(w, strings.TrimSuffix(p, "/tags/list"))
	case strings.Contains(p, "/blobs/uploads/"):
		i := strings.LastIndex(p, "/blobs/uploads/")
		r.upload(w, req, p[:i], p[i+len("/blobs/uploads/"):], body)
	case strings.Contains(p, "/blobs/"):
		i := strings.LastIndex(p, "/blobs/")
		r.hits[req.Method+" blob"]++
		data, ok := r.blobs[p[i+len("/blobs/"):]]
		if !ok {
			ociError(w, http.StatusNotFound, "BLOB_UNKNOWN")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Docker-Content-Digest", p[i+len("/blobs/"):])
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		if req.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	case strings.Contains(p, "/manifests/"):
		i := strings.LastIndex(p, "/manifests/")
		r.hits[req.Method+" manifest"]++
		r.manifest(w, req, p[:i], p[i+len("/manifests/"):], body)
	default:
		ociError(w, http.StatusNotFound, "NAME_UNKNOWN")
	}
}

func (r *testRegistry) upload(w http.ResponseWriter, req *http.Request, repo, id string, body []byte) {
	switch req.Method {
	case http.MethodPost:
		r.nextID++
		id = fmt.Sprint(r.nextID)
		r.uploads[id] = body
		if d := req.URL.Query().Get("digest"); d != "" { // monolithic upload
			r.finishUpload(w, repo, id, d)
			return
		}
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		w.Header().Set("Docker-Upload-UUID", id)
		w.Header().Set("Range", "0-0")
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPatch:
		if _, ok := r.uploads[id]; !ok {
			ociError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			return
		}
		r.uploads[id] = append(r.uploads[id], body...)
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		w.Header().Set("Range", fmt.Sprintf("0-%d", len(r.uploads[id])-1))
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPut:
		if _, ok := r.uploads[id]; !ok {
			ociError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			return
		}
		r.uploads[id] = append(r.uploads[id], body...)
		r.finishUpload(w, repo, id, req.URL.Query().Get("digest"))
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (r *testRegistry) finishUpload(w http.ResponseWriter, repo, id, digest string) {
	data := r.uploads[id]
	delete(r.uploads, id)
	if digest != "sha256:"+digestOf(data) {
		ociError(w, http.StatusBadRequest, "DIGEST_INVALID")
		return
	}
	r.blobs[digest] = data
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
}

func (r *testRegistry) manifest(w http.ResponseWriter, req *http.Request, repo, ref string, body []byte) {
	switch req.Method {
	case http.MethodPut:
		digest := "sha256:" + digestOf(body)
		if strings.HasPrefix(ref, "sha256:") && ref != digest {
			ociError(w, http.StatusBadRequest, "DIGEST_INVALID")
			return
		}
		if r.manifests[repo] == nil {
			r.manifests[repo] = map[string]stored{}
		}
		m := stored{mediaType: req.Header.Get("Content-Type"), data: body}
		r.manifests[repo][ref] = m
		r.manifests[repo][digest] = m
		w.Header().Set("Location", "/v2/"+repo+"/manifests/"+digest)
		w.Header().Set("Docker-Content-Digest", digest)
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		m, ok := r.manifests[repo][ref]
		if !ok {
			ociError(w, http.StatusNotFound, "MANIFEST_UNKNOWN")
			return
		}
		w.Header().Set("Content-Type", m.mediaType)
		w.Header().Set("Docker-Content-Digest", "sha256:"+digestOf(m.data))
		w.Header().Set("Content-Length", fmt.Sprint(len(m.data)))
		if req.Method == http.MethodGet {
			_, _ = w.Write(m.data)
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (r *testRegistry) tags(w http.ResponseWriter, repo string) {
	refs, ok := r.manifests[repo]
	if !ok {
		ociError(w, http.StatusNotFound, "NAME_UNKNOWN")
		return
	}
	tags := []string{}
	for ref := range refs {
		if !strings.HasPrefix(ref, "sha256:") {
			tags = append(tags, ref)
		}
	}
	sort.Strings(tags)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags})
}

// push uploads a packaged test chart with Helm's registry client and returns the archive.
func (r *testRegistry) push(t testing.TB, repoPath, name, version string) []byte {
	t.Helper()
	data := packChart(t, name, version)
	c, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(data, fmt.Sprintf("%s/%s/%s:%s", r.host(), repoPath, name, version)); err != nil {
		t.Fatalf("push %s:%s: %v", name, version, err)
	}
	return data
}

func TestLoadOCI(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	v100 := reg.push(t, "charts", "app", "1.0.0")
	v110 := reg.push(t, "charts", "app", "1.1.0")
	reg.push(t, "charts", "app", "2.0.0-beta.1")
	vBuild := reg.push(t, "charts", "app", "1.0.1+build.7")
	repoURL := "oci://" + reg.host() + "/charts"

	tests := []struct {
		name        string
		ref         Ref
		wantVersion string
		wantDigest  string
		wantErr     error
		wantMsg     string
	}{
		{name: "exact", ref: Ref{Repo: repoURL, Name: "app", Version: "1.0.0"}, wantVersion: "1.0.0", wantDigest: digestOf(v100)},
		{name: "latest stable", ref: Ref{Repo: repoURL, Name: "app"}, wantVersion: "1.1.0", wantDigest: digestOf(v110)},
		{name: "pre-release by exact version", ref: Ref{Repo: repoURL + "/", Name: "app", Version: "2.0.0-beta.1"}, wantVersion: "2.0.0-beta.1"},
		{name: "build metadata", ref: Ref{Repo: repoURL, Name: "app", Version: "1.0.1+build.7"}, wantVersion: "1.0.1+build.7", wantDigest: digestOf(vBuild)},
		{name: "version not found", ref: Ref{Repo: repoURL, Name: "app", Version: "9.9.9"}, wantErr: ErrVersionNotFound, wantMsg: "2.0.0-beta.1, 1.1.0, 1.0.1+build.7, 1.0.0"},
		{name: "chart not found", ref: Ref{Repo: repoURL, Name: "nope", Version: "1.0.0"}, wantErr: ErrChartNotFound},
		{name: "chart not found latest", ref: Ref{Repo: repoURL, Name: "nope"}, wantErr: ErrChartNotFound},
	}
	l := NewLoader()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Load(context.Background(), tc.ref)
			if tc.wantErr != nil {
				checkErr(t, err, tc.wantErr, tc.ref.Name, tc.ref.Version, reg.host(), tc.wantMsg)
				return
			}
			checkErr(t, err, nil)
			if got.Version != tc.wantVersion || got.Chart.Metadata.Name != tc.ref.Name {
				t.Fatalf("loaded %s %s, want %s", got.Chart.Metadata.Name, got.Version, tc.wantVersion)
			}
			if tc.wantDigest != "" && got.Digest != tc.wantDigest {
				t.Fatalf("digest = %s, want %s", got.Digest, tc.wantDigest)
			}
			if !strings.HasPrefix(got.URL, "oci://"+reg.host()+"/charts/app:") {
				t.Fatalf("URL = %q", got.URL)
			}
		})
	}

	latest, err := l.Latest(context.Background(), repoURL, "app")
	if err != nil || latest != "1.1.0" {
		t.Fatalf("Latest = %q, %v; want 1.1.0", latest, err)
	}
}

func TestOCICaching(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	reg.push(t, "charts", "app", "1.0.0")
	clock := newFakeClock()
	l := NewLoader(WithClock(clock.Now))
	ref := Ref{Repo: "oci://" + reg.host() + "/charts", Name: "app", Version: "1.0.0"}
	load := func() {
		t.Helper()
		if _, err := l.Load(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
	}
	load()
	blobs, manifests := reg.count("GET blob"), reg.count("HEAD manifest")+reg.count("GET manifest")
	if blobs == 0 {
		t.Fatal("first load did not download any blob")
	}
	load() // within TTL: no registry traffic at all
	if reg.count("GET blob") != blobs || reg.count("HEAD manifest")+reg.count("GET manifest") != manifests {
		t.Fatal("second load within the TTL contacted the registry")
	}
	clock.Advance(DefaultIndexTTL)
	load() // TTL expired: the tag is resolved again, but the digest is unchanged
	if reg.count("GET blob") != blobs {
		t.Fatalf("archive pulled again although its digest did not change")
	}
	if reg.count("HEAD manifest")+reg.count("GET manifest") == manifests {
		t.Fatal("tag was not re-resolved after the TTL")
	}
	if st := l.Stats(); st.ArchiveDownloads != 1 || st.ArchiveCacheHits != 2 {
		t.Fatalf("unexpected stats %+v", st)
	}
}

func TestOCIRegistryDown(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	host := reg.host()
	reg.srv.Close()
	for _, version := range []string{"1.0.0", ""} {
		_, err := NewLoader().Load(context.Background(), Ref{Repo: "oci://" + host + "/charts", Name: "app", Version: version})
		checkErr(t, err, ErrRepoUnavailable, host, "app", version)
	}
}

func TestOCIContextDeadline(t *testing.T) {
	t.Parallel()
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-unblock:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(unblock) })
	u, _ := url.Parse(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := NewLoader().Load(ctx, Ref{Repo: "oci://" + u.Host + "/charts", Name: "app", Version: "1.0.0"})
	checkErr(t, err, context.DeadlineExceeded, "app")
	if time.Since(start) > 5*time.Second {
		t.Fatal("deadline not honoured")
	}
}

func TestOCIArchiveTooLarge(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	reg.push(t, "charts", "app", "1.0.0")
	_, err := NewLoader(WithMaxArchiveBytes(200)).Load(context.Background(), Ref{Repo: "oci://" + reg.host() + "/charts", Name: "app", Version: "1.0.0"})
	checkErr(t, err, ErrArchiveTooLarge, "app", "1.0.0")
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"registry.example.com": false, "10.0.0.1": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
