package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/repo"
)

// The repository the index fuzz target loads from: its password must never reach an error.
const (
	fuzzRepoURL    = "https://fuzz:s3cr3t-pass@charts.example.com/stable"
	fuzzRepoSecret = "s3cr3t-pass"
	fuzzChart      = "castai-agent"
	// fuzzIndexLimit is the WithMaxIndexBytes of the fuzzed Loader, small enough for the fuzzer to cross.
	fuzzIndexLimit = 2048
)

// fuzzIndexSeeds are index documents a repository could serve, well-formed or not.
func fuzzIndexSeeds() [][]byte {
	realistic := `apiVersion: v1
entries:
  castai-agent:
  - apiVersion: v2
    appVersion: v0.60.0
    created: "2026-07-30T09:12:44.123456789Z"
    description: CAST AI agent deployment chart.
    digest: 8c1b1cde3a5b7f0d0e6c9d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4
    home: https://cast.ai
    name: castai-agent
    type: application
    urls:
    - https://castai.github.io/helm-charts/castai-agent-0.91.0.tgz
    version: 0.91.0
  - apiVersion: v2
    appVersion: v0.59.2
    created: "2026-06-02T15:01:02Z"
    description: CAST AI agent deployment chart.
    digest: 1f2e3d4c5b6a79880706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0
    name: castai-agent
    urls:
    - castai-agent-0.90.3.tgz
    version: 0.90.3
  castai-cluster-controller:
  - apiVersion: v2
    appVersion: v0.81.0
    description: Cluster controller is responsible for handling certain Kubernetes actions.
    digest: aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00ee11ff22aa33bb44cc55dd66
    name: castai-cluster-controller
    urls:
    - https://castai.github.io/helm-charts/castai-cluster-controller-0.81.0.tgz
    version: 0.81.0
generated: "2026-07-30T09:12:45Z"
`
	jsonIndex := `{"apiVersion":"v1","entries":{"castai-agent":[{"name":"castai-agent","version":"v1.2.3","urls":["/dl/castai-agent-1.2.3.tgz"]},{"name":"castai-agent","version":"1.2","urls":["castai-agent-1.2.tgz"]}]}}`
	preOnly := "apiVersion: v1\nentries:\n  castai-agent:\n  - name: castai-agent\n    version: 1.0.0-rc.1\n    urls: [a.tgz]\n  - name: castai-agent\n    version: 2.0.0-alpha\n    urls: [b.tgz]\n"
	malformed := "apiVersion: v1\nentries:\n  castai-agent:\n  - null\n  - name: castai-agent\n    version: [1, 2]\n    urls: [x.tgz]\n  - name: castai-agent\n    urls: [noversion.tgz]\n  - name: castai-agent\n    version: 1.5.0\n  - name: castai-agent\n    version: not-a-version\n    urls: [junk.tgz]\n"
	schemes := "apiVersion: v1\nentries:\n  castai-agent:\n  - name: castai-agent\n    version: 3.0.0\n    urls: [\"file:///etc/passwd\"]\n  - name: castai-agent\n    version: 2.0.0\n    urls: [\"javascript:alert(1)\"]\n  - name: castai-agent\n    version: 1.0.0\n    urls: [\"../../other/castai-agent-1.0.0.tgz\"]\n"
	aliases := "apiVersion: v1\nentries:\n  castai-agent: &list\n  - &cv {name: castai-agent, version: 1.0.0, urls: [a.tgz]}\n  - *cv\n  other: *list\n"
	wrongName := "apiVersion: v1\nentries:\n  castai-agent:\n  - name: something-else\n    version: 9.9.9\n    urls: [\"https://charts.example.com/stable/index.yaml\"]\n    digest: sha256:0000\n"
	// A well-formed index that is larger than fuzzIndexLimit must be refused.
	oversized := realistic + "#" + strings.Repeat("-", fuzzIndexLimit-len(realistic)) + "\n"
	return [][]byte{
		[]byte(realistic), []byte(jsonIndex), []byte(preOnly), []byte(malformed), []byte(schemes),
		[]byte(aliases), []byte(wrongName), []byte(oversized),
		[]byte(""), []byte("apiVersion: v1\n"), []byte("entries: [1, 2]\n"), []byte("entries:\n  castai-agent: {a: b}\n"),
		[]byte("{{{"), []byte("- a\n- b\n"), []byte("apiVersion: v1\nentries: null\n"), []byte("\xff\xfe\x00garbage"),
	}
}

// FuzzParseIndex feeds arbitrary bytes to the repository index parser, directly and as the index.yaml
// a Loader downloads, since a hostile or broken repository controls those bytes. It checks that a parse
// yields only usable entries, that the loader enforces its index size limit, that Latest agrees with the
// parse and only returns a stable semantic version, that no archive is fetched over a scheme other than
// http(s), and that errors are classified, single-line and free of the repository password.
func FuzzParseIndex(f *testing.F) {
	for _, seed := range fuzzIndexSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, perr := parseIndex(data)
		if perr != nil {
			if idx != nil {
				t.Fatalf("index returned with error %v", perr)
			}
			if !errors.Is(perr, ErrInvalidIndex) {
				t.Fatalf("parse error is not ErrInvalidIndex: %v", perr)
			}
		} else {
			checkParsedIndex(t, idx)
		}

		rt := &fuzzRepoTransport{index: data}
		l := NewLoader(WithHTTPClient(&http.Client{Transport: rt}), WithMaxIndexBytes(fuzzIndexLimit))
		ctx := context.Background()
		latest, lerr := l.Latest(ctx, fuzzRepoURL, fuzzChart)
		checkLoaderErr(t, data, lerr)
		switch {
		case len(data) > fuzzIndexLimit:
			if lerr == nil || !errors.Is(lerr, ErrInvalidIndex) {
				t.Fatalf("index of %d bytes accepted with a limit of %d: %q, %v", len(data), fuzzIndexLimit, latest, lerr)
			}
		case perr != nil:
			if !errors.Is(lerr, ErrInvalidIndex) {
				t.Fatalf("unparsable index: Latest = %q, %v", latest, lerr)
			}
		default:
			versions := entryVersions(idx.Entries[fuzzChart])
			i, ok := selectVersion(versions, "")
			switch {
			case len(versions) == 0:
				if !errors.Is(lerr, ErrChartNotFound) {
					t.Fatalf("no entries: Latest = %q, %v", latest, lerr)
				}
			case !ok:
				if !errors.Is(lerr, ErrVersionNotFound) {
					t.Fatalf("no stable version in %q: Latest = %q, %v", versions, latest, lerr)
				}
			default:
				if lerr != nil || latest != versions[i] {
					t.Fatalf("Latest = %q, %v; want %q", latest, lerr, versions[i])
				}
				sv, err := semver.NewVersion(latest)
				if err != nil || sv.Prerelease() != "" {
					t.Fatalf("Latest returned %q, not a stable version", latest)
				}
			}
		}

		// Loading picks an entry, resolves its URL and downloads it; the fake repository has no archives.
		loaded, err := l.Load(ctx, Ref{Repo: fuzzRepoURL, Name: fuzzChart})
		checkLoaderErr(t, data, err)
		if err == nil && (loaded.Chart.Metadata == nil || loaded.Chart.Metadata.Name != fuzzChart) {
			t.Fatalf("loaded a chart that is not %s", fuzzChart)
		}
		// The repository is https: an index may name archives on any https host, never plain http or another scheme.
		for _, u := range rt.seen() {
			if !strings.HasPrefix(u, "https://") {
				t.Fatalf("loader requested %q", u)
			}
		}
		if len(data) > fuzzIndexLimit || perr != nil {
			for _, u := range rt.seen() {
				if !strings.HasSuffix(u, "/stable/index.yaml") {
					t.Fatalf("requested %q although the index was refused", u)
				}
			}
		}
	})
}

// checkParsedIndex checks what parseIndex promises about an index it accepted.
func checkParsedIndex(t *testing.T, idx *repo.IndexFile) {
	t.Helper()
	if idx.Entries == nil {
		t.Fatal("nil Entries")
	}
	for name, cvs := range idx.Entries {
		if len(cvs) == 0 {
			t.Fatalf("chart %q kept without entries", name)
		}
		for _, cv := range cvs {
			if cv == nil || cv.Metadata == nil || cv.Version == "" {
				t.Fatalf("chart %q: unusable entry %+v", name, cv)
			}
		}
	}
	// What was kept re-encodes and parses to the same charts and versions.
	js, err := json.Marshal(struct {
		APIVersion string                        `json:"apiVersion"`
		Entries    map[string]repo.ChartVersions `json:"entries"`
	}{idx.APIVersion, idx.Entries})
	if err != nil {
		t.Fatalf("re-encoding: %v", err)
	}
	again, err := parseIndex(js)
	if err != nil {
		t.Fatalf("re-encoded index does not parse: %v", err)
	}
	if len(again.Entries) != len(idx.Entries) {
		t.Fatalf("round trip kept %d of %d charts", len(again.Entries), len(idx.Entries))
	}
	for name, cvs := range idx.Entries {
		if !slices.Equal(entryVersions(again.Entries[name]), entryVersions(cvs)) {
			t.Fatalf("chart %q: round trip changed versions %q to %q", name, entryVersions(cvs), entryVersions(again.Entries[name]))
		}
	}
}

// checkLoaderErr checks that a Loader error is classified, fits on one line and hides the password.
func checkLoaderErr(t *testing.T, index []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var le *Error
	if !errors.As(err, &le) || le.Kind == nil {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("multi-line error: %q", msg)
	}
	if strings.Contains(msg, fuzzRepoSecret) && !bytes.Contains(index, []byte(fuzzRepoSecret)) {
		t.Fatalf("error leaks the repository password: %q", msg)
	}
}

// fuzzRepoTransport serves index as the index.yaml of fuzzRepoURL and 404 for everything else,
// recording every URL requested.
type fuzzRepoTransport struct {
	index []byte
	mu    sync.Mutex
	urls  []string
}

func (rt *fuzzRepoTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, req.URL.String())
	rt.mu.Unlock()
	resp := &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: http.NoBody, Request: req}
	if req.URL.Host == "charts.example.com" && req.URL.Path == "/stable/index.yaml" {
		resp.StatusCode = http.StatusOK
		resp.ContentLength = int64(len(rt.index))
		resp.Body = io.NopCloser(bytes.NewReader(rt.index))
	}
	return resp, nil
}

func (rt *fuzzRepoTransport) seen() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.urls)
}
