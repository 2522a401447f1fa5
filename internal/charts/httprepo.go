package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"helm.sh/helm/v3/pkg/repo"
)

// loadHTTP loads a chart from an HTTP(S) index repository.
func (l *Loader) loadHTTP(ctx context.Context, repoURL *url.URL, ref Ref) (*Loaded, error) {
	idx, err := l.index(ctx, repoURL)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	cv, err := pickEntry(idx.entries(ref.Name), ref.Name, ref.Version)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	resolved := ref
	resolved.Version = cv.Version
	if len(cv.URLs) == 0 || strings.TrimSpace(cv.URLs[0]) == "" {
		return nil, wrapErr(resolved, fail(ErrInvalidIndex, nil, "index entry has no download URL"))
	}
	archiveURL, err := resolveArchiveURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, wrapErr(resolved, err)
	}
	want := normalizeDigest(cv.Digest)
	if err := l.requireDigest(want); err != nil {
		return nil, wrapErr(resolved, err)
	}
	data, err := l.cachedArchive(ctx, archiveKey(ref, archiveURL, cv.Version, want), func(fctx context.Context) ([]byte, error) {
		data, err := l.download(fctx, archiveURL)
		if err != nil {
			return nil, err
		}
		if got := sha256Hex(data); want != "" && got != want {
			return nil, fail(ErrDigestMismatch, nil, "index announces sha256 %s but %s has sha256 %s", want, redactURL(archiveURL.String()), got)
		}
		if _, err := parseArchive(data, ref.Name, cv.Version, l.cfg.maxChartBytes); err != nil {
			return nil, err
		}
		if len(ref.Keyring) > 0 {
			return data, l.verifyHTTP(fctx, ref.Keyring, archiveURL, data)
		}
		return data, nil
	})
	if err != nil {
		if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrCorruptArchive) {
			// The archive may have been republished (or the bad one replaced) since the index was read: read
			// the index again on the next attempt instead of failing against a stale digest until its TTL ends.
			l.indexes.expire(indexKey(repoURL))
		}
		return nil, wrapErr(resolved, err)
	}
	ch, err := parseArchive(data, ref.Name, cv.Version, l.cfg.maxChartBytes)
	if err != nil {
		return nil, wrapErr(resolved, err)
	}
	return &Loaded{Chart: ch, Version: ch.Metadata.Version, Digest: sha256Hex(data), URL: redactURL(archiveURL.String())}, nil
}

// archiveKey names an HTTP archive in the archive cache: by the index digest when there is one, and apart
// for each keyring it was verified against.
func archiveKey(ref Ref, archiveURL *url.URL, version, digest string) string {
	key := "url:" + archiveURL.String() + "@" + version
	if digest != "" {
		key = "sha256:" + digest
	}
	if len(ref.Keyring) > 0 {
		key = keyringID(ref.Keyring) + key
	}
	return key
}

// verifyHTTP downloads the archive's .prov and verifies it against keyring.
func (l *Loader) verifyHTTP(ctx context.Context, keyring []byte, archiveURL *url.URL, data []byte) error {
	u := provURL(archiveURL)
	prov, err := l.get(ctx, u, maxProvBytes)
	switch {
	case errors.Is(err, ErrRepoUnavailable):
		return err
	case err != nil:
		return fail(ErrProvenance, err, "the repository has no provenance file for %s", archiveFile(archiveURL))
	}
	return verifyProvenance(keyring, data, prov, archiveFile(archiveURL))
}

// httpVersions lists the versions of chart name in an HTTP(S) index repository.
func (l *Loader) httpVersions(ctx context.Context, repoURL *url.URL, name string) ([]string, error) {
	idx, err := l.index(ctx, repoURL)
	if err != nil {
		return nil, err
	}
	cvs := idx.entries(name)
	if len(cvs) == 0 {
		return nil, fail(ErrChartNotFound, nil, "the repository index has no chart %q", name)
	}
	return entryVersions(cvs), nil
}

// pickEntry selects the entry of chart name matching want (see selectVersion).
func pickEntry(cvs repo.ChartVersions, name, want string) (*repo.ChartVersion, error) {
	if len(cvs) == 0 {
		return nil, fail(ErrChartNotFound, nil, "the repository index has no chart %q", name)
	}
	versions := entryVersions(cvs)
	i, ok := selectVersion(versions, want)
	if !ok {
		return nil, versionNotFound(versions, want)
	}
	return cvs[i], nil
}

func entryVersions(cvs repo.ChartVersions) []string {
	versions := make([]string, len(cvs))
	for i, cv := range cvs {
		versions[i] = cv.Version
	}
	return versions
}

// index returns the (possibly cached) index of an HTTP(S) repository.
func (l *Loader) index(ctx context.Context, repoURL *url.URL) (*indexSnapshot, error) {
	return l.indexes.get(ctx, l, indexKey(repoURL), func(fctx context.Context, prev *metaEntry[*indexSnapshot]) (*metaEntry[*indexSnapshot], error) {
		return l.fetchIndex(fctx, indexURL(repoURL), prev)
	})
}

// indexKey names a repository's index in the metadata cache.
func indexKey(repoURL *url.URL) string { return "http:" + repoURL.String() }

// indexURL returns <repo>/index.yaml.
func indexURL(repoURL *url.URL) *url.URL {
	u := *repoURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/index.yaml"
	u.RawPath = ""
	u.Fragment, u.RawFragment = "", ""
	return &u
}

// resolveArchiveURL resolves an index entry URL against the repository URL.
// The repository URL is treated as a directory even without a trailing slash. An archive is fetched only
// over https, or over http from the repository's own host (scheme, host and port) when the repository
// itself is http: an index cannot send the operator to plain http elsewhere, nor downgrade https.
func resolveArchiveURL(repoURL *url.URL, raw string) (*url.URL, error) {
	ref, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fail(ErrInvalidIndex, err, "index entry has an invalid download URL")
	}
	if ref.IsAbs() {
		if s := strings.ToLower(ref.Scheme); s != "http" && s != "https" {
			return nil, fail(ErrInvalidIndex, nil, "index entry download URL has unsupported scheme %q", ref.Scheme)
		}
		if ref.Host == "" {
			return nil, fail(ErrInvalidIndex, nil, "index entry download URL %q has no host", redactURL(ref.String()))
		}
	} else {
		base := *repoURL
		if !strings.HasSuffix(base.Path, "/") {
			base.Path += "/"
			base.RawPath = ""
		}
		ref = base.ResolveReference(ref)
	}
	if strings.EqualFold(ref.Scheme, "https") || (strings.EqualFold(repoURL.Scheme, "http") && strings.EqualFold(ref.Host, repoURL.Host)) {
		return ref, nil
	}
	return nil, fail(ErrInvalidIndex, nil, "index entry download URL %s is plain http on another host than the repository %s (archives come over https or from the repository's own host)",
		redactURL(ref.String()), redactURL(repoURL.String()))
}

// fetchIndex downloads and parses an index, conditionally when prev has validators.
func (l *Loader) fetchIndex(ctx context.Context, u *url.URL, prev *metaEntry[*indexSnapshot]) (*metaEntry[*indexSnapshot], error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(ErrInvalidRef, nil, "cannot build index request")
	}
	req.Header.Set("User-Agent", l.cfg.userAgent)
	if prev != nil {
		if prev.etag != "" {
			req.Header.Set("If-None-Match", prev.etag)
		}
		if prev.lastModified != "" {
			req.Header.Set("If-Modified-Since", prev.lastModified)
		}
	}
	l.stats.indexDownloads.Add(1)
	resp, err := l.cfg.httpClient.Do(req)
	if err != nil {
		return nil, requestFailure(u, err)
	}
	defer drainClose(resp.Body)

	next := &metaEntry[*indexSnapshot]{
		fetched:      l.cfg.clock(),
		etag:         resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified"),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		l.stats.indexNotModified.Add(1)
		next.val = prev.val
		if next.etag == "" {
			next.etag = prev.etag
		}
		if next.lastModified == "" {
			next.lastModified = prev.lastModified
		}
		return next, nil
	case resp.StatusCode != http.StatusOK:
		return nil, statusFailure(ErrRepoUnavailable, u, resp)
	}
	data, err := readBody(resp, l.cfg.maxIndexBytes)
	l.cfg.observer.Fetched(CacheIndex, len(data))
	if err != nil {
		return nil, fail(ErrRepoUnavailable, err, "reading %s", redactURL(u.String()))
	}
	if int64(len(data)) > l.cfg.maxIndexBytes {
		return nil, fail(ErrInvalidIndex, nil, "%s is larger than %d bytes", redactURL(u.String()), l.cfg.maxIndexBytes)
	}
	var names []string // decode again the charts asked for in the previous copy
	if prev != nil {
		names = prev.val.names()
	}
	idx, err := newIndexSnapshot(data, names)
	if err != nil {
		return nil, err
	}
	next.val = idx
	return next, nil
}

// readBody reads at most limit+1 bytes of resp's body, in a buffer sized by its Content-Length when it
// has one within the limit (io.ReadAll would grow its buffer to about twice the body).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	return buf.Bytes(), err
}

// download fetches an archive over HTTP(S), bounded by the maximum archive size.
func (l *Loader) download(ctx context.Context, u *url.URL) ([]byte, error) {
	l.stats.archiveDownloads.Add(1)
	data, err := l.get(ctx, u, l.cfg.maxArchiveBytes)
	if err == nil {
		l.cfg.observer.Fetched(CacheArchive, len(data))
	}
	return data, err
}

// get fetches a file next to the index (an archive or its .prov) over HTTP(S), bounded by limit bytes.
func (l *Loader) get(ctx context.Context, u *url.URL, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(ErrInvalidIndex, nil, "cannot build archive request")
	}
	req.Header.Set("User-Agent", l.cfg.userAgent)
	resp, err := l.cfg.httpClient.Do(req)
	if err != nil {
		return nil, requestFailure(u, err)
	}
	defer drainClose(resp.Body)
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, statusFailure(ErrRepoUnavailable, u, resp)
	default:
		return nil, statusFailure(ErrArchiveUnavailable, u, resp)
	}
	if resp.ContentLength > limit {
		return nil, fail(ErrArchiveTooLarge, nil, "%s is %d bytes, the limit is %d", redactURL(u.String()), resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fail(ErrRepoUnavailable, err, "reading %s", redactURL(u.String()))
	}
	if int64(len(data)) > limit {
		return nil, fail(ErrArchiveTooLarge, nil, "%s is larger than the limit of %d bytes", redactURL(u.String()), limit)
	}
	return data, nil
}

// requestFailure classifies a transport error as ErrRepoUnavailable, keeping
// the cause without the URL (which may carry credentials).
func requestFailure(u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fail(ErrRepoUnavailable, err, "GET %s", redactURL(u.String()))
}

// statusFailure reports an unexpected HTTP status.
func statusFailure(kind error, u *url.URL, resp *http.Response) error {
	return fail(kind, nil, "GET %s: HTTP %s", redactURL(u.String()), statusText(resp.StatusCode))
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// drainClose reads a little of what is left of body so the connection can be reused, then closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
