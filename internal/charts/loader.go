package charts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"

	"helm.sh/helm/v3/pkg/chart"
)

// Ref identifies one chart version in a repository.
type Ref struct {
	// Repo is an HTTP(S) index repository ("https://…", "http://…"), an OCI
	// registry ("oci://host/path"), or a local source ("file:///dir" or an
	// absolute path to a directory of charts, a directory with index.yaml, or
	// a .tgz file).
	Repo string
	// Name is the chart name.
	Name string
	// Version is the exact version; "" means the latest stable (non pre-release) version. For OCI
	// registries it may carry a manifest digest pin, as Helm writes it: "1.2.3@sha256:<hex>".
	Version string
	// Keyring, when not empty, is an OpenPGP keyring (binary or ASCII-armoured public keys) the chart's
	// provenance file must verify against; a chart without a verifying .prov is refused with ErrProvenance.
	Keyring []byte
}

// Source loads charts.
type Source interface {
	// Load returns the chart identified by ref together with its metadata.
	Load(ctx context.Context, ref Ref) (*Loaded, error)
	// Latest returns the newest non-prerelease version of chart name in repo.
	Latest(ctx context.Context, repo, name string) (string, error)
}

// Loaded is a loaded chart and where it came from.
type Loaded struct {
	// Chart is a freshly parsed chart owned by the caller.
	Chart *chart.Chart
	// Version is the chart version that was loaded.
	Version string
	// Digest is the sha256 hex digest of the archive, "" for unpacked chart directories.
	Digest string
	// URL is where the chart was loaded from, without credentials.
	URL string
}

// Stats are cumulative counters of a Loader's network and cache activity.
type Stats struct {
	// IndexDownloads counts metadata requests sent: index.yaml GETs, OCI tag listings and OCI tag resolutions.
	IndexDownloads int64
	// IndexNotModified counts index requests answered with 304 Not Modified (included in IndexDownloads).
	IndexNotModified int64
	// IndexCacheHits counts metadata lookups served from memory within the TTL.
	IndexCacheHits int64
	// IndexStaleServed counts failed refreshes that were answered with stale cached metadata.
	IndexStaleServed int64
	// ArchiveDownloads counts chart archive downloads (HTTP GETs and OCI pulls).
	ArchiveDownloads int64
	// ArchiveCacheHits counts archives served from the in-memory archive cache.
	ArchiveCacheHits int64
}

type counters struct {
	indexDownloads, indexNotModified, indexCacheHits, indexStaleServed atomic.Int64
	archiveDownloads, archiveCacheHits                                 atomic.Int64
}

// Loader is a Source for HTTP(S) index repositories, OCI registries and local
// directories or archives, with in-memory caches. It is safe for concurrent use.
type Loader struct {
	cfg            config
	stats          counters
	indexes        metaCache[*indexSnapshot]
	ociTags        metaCache[[]string]
	ociDigests     metaCache[string]
	pins           tagPins
	archives       *archiveCache
	archiveFlights flightGroup[[]byte]
}

var _ Source = (*Loader)(nil)

// NewLoader returns a Loader configured by opts; see the With* options for defaults.
func NewLoader(opts ...Option) *Loader {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	return &Loader{cfg: cfg, archives: newArchiveCache(cfg.archiveCacheBytes)}
}

// Stats returns a snapshot of the Loader's counters.
func (l *Loader) Stats() Stats {
	return Stats{
		IndexDownloads:   l.stats.indexDownloads.Load(),
		IndexNotModified: l.stats.indexNotModified.Load(),
		IndexCacheHits:   l.stats.indexCacheHits.Load(),
		IndexStaleServed: l.stats.indexStaleServed.Load(),
		ArchiveDownloads: l.stats.archiveDownloads.Load(),
		ArchiveCacheHits: l.stats.archiveCacheHits.Load(),
	}
}

// Load returns the chart identified by ref. Errors are *Error values wrapping a sentinel error.
func (l *Loader) Load(ctx context.Context, ref Ref) (*Loaded, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapErr(ref, err)
	}
	src, err := parseRepo(ref.Repo, ref.Name)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	if src.kind != kindOCI && strings.Contains(ref.Version, "@") {
		return nil, wrapErr(ref, fail(ErrInvalidRef, nil, "a digest pin (version@sha256:…) applies to OCI registries only; an HTTP repository's index pins each archive's digest"))
	}
	var out *Loaded
	switch src.kind {
	case kindHTTP:
		out, err = l.loadHTTP(ctx, src.url, ref)
	case kindOCI:
		out, err = l.loadOCI(ctx, src.url, ref)
	default:
		out, err = l.loadLocal(ctx, src.path, ref)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Latest returns the newest non-prerelease version of chart name in repo.
func (l *Loader) Latest(ctx context.Context, repoURL, name string) (string, error) {
	ref := Ref{Repo: repoURL, Name: name}
	if err := ctx.Err(); err != nil {
		return "", wrapErr(ref, err)
	}
	src, err := parseRepo(repoURL, name)
	if err != nil {
		return "", wrapErr(ref, err)
	}
	var versions []string
	switch src.kind {
	case kindHTTP:
		versions, err = l.httpVersions(ctx, src.url, name)
	case kindOCI:
		versions, err = l.ociVersions(ctx, src.url, name)
	default:
		versions, err = l.localVersions(ctx, src.path, name)
	}
	if err != nil {
		return "", wrapErr(ref, err)
	}
	i, ok := selectVersion(versions, "")
	if !ok {
		return "", wrapErr(ref, versionNotFound(versions, ""))
	}
	return versions[i], nil
}

type repoKind int

const (
	kindHTTP repoKind = iota
	kindOCI
	kindLocal
)

type repoSource struct {
	kind repoKind
	url  *url.URL // HTTP and OCI
	path string   // local
}

// parseRepo classifies a repository string and validates the chart name.
func parseRepo(raw, name string) (repoSource, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return repoSource{}, fail(ErrInvalidRef, nil, "chart name must be a non-empty name without path separators")
	}
	if raw == "" {
		return repoSource{}, fail(ErrInvalidRef, nil, "repository is empty")
	}
	if filepath.IsAbs(raw) {
		return repoSource{kind: kindLocal, path: filepath.Clean(raw)}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error embeds the raw URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return repoSource{}, fail(ErrInvalidRef, err, "repository is not a valid URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return repoSource{}, fail(ErrInvalidRef, nil, "repository URL has no host")
		}
		return repoSource{kind: kindHTTP, url: u}, nil
	case "oci":
		if u.Host == "" {
			return repoSource{}, fail(ErrInvalidRef, nil, "OCI repository has no registry host")
		}
		if u.User != nil || u.RawQuery != "" {
			return repoSource{}, fail(ErrInvalidRef, nil, "OCI repository must not contain credentials or a query")
		}
		return repoSource{kind: kindOCI, url: u}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return repoSource{}, fail(ErrInvalidRef, nil, "file URL must not name a host")
		}
		if !filepath.IsAbs(u.Path) {
			return repoSource{}, fail(ErrInvalidRef, nil, "file URL must hold an absolute path")
		}
		return repoSource{kind: kindLocal, path: filepath.Clean(u.Path)}, nil
	default:
		return repoSource{}, fail(ErrInvalidRef, nil, "unsupported repository scheme %q (want https, http, oci, file or an absolute path)", u.Scheme)
	}
}

// sha256Hex returns the lower-case hex sha256 of data.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// normalizeDigest lower-cases a hex digest and strips an optional "sha256:" prefix.
func normalizeDigest(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	return strings.TrimPrefix(d, "sha256:")
}

// parseArchive loads a chart archive and checks that it holds chart name in
// a version equal to version (any version when version is ""), unpacking at most limit bytes.
func parseArchive(data []byte, name, version string, limit int64) (*chart.Chart, error) {
	ch, err := loadArchive(data, limit)
	if err != nil {
		return nil, fail(ErrCorruptArchive, err, "cannot read chart archive")
	}
	if ch.Metadata == nil {
		return nil, fail(ErrCorruptArchive, nil, "archive has no Chart.yaml")
	}
	if ch.Metadata.Name != name {
		return nil, fail(ErrCorruptArchive, nil, "archive holds chart %q, expected %q", ch.Metadata.Name, name)
	}
	if version != "" && !sameVersion(ch.Metadata.Version, version) {
		return nil, fail(ErrCorruptArchive, nil, "archive holds version %q, expected %q", ch.Metadata.Version, version)
	}
	return ch, nil
}

// cachedArchive returns the archive stored under key, or runs fetch once for
// all concurrent callers and caches its (already validated) result.
func (l *Loader) cachedArchive(ctx context.Context, key string, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	if data, ok := l.archives.get(key); ok {
		l.stats.archiveCacheHits.Add(1)
		l.cfg.observer.Lookup(CacheArchive, true)
		return data, nil
	}
	return l.archiveFlights.do(ctx, key, func(fctx context.Context) ([]byte, error) {
		if data, ok := l.archives.get(key); ok { // filled by a flight that just finished
			l.stats.archiveCacheHits.Add(1)
			l.cfg.observer.Lookup(CacheArchive, true)
			return data, nil
		}
		l.cfg.observer.Lookup(CacheArchive, false)
		data, err := fetch(fctx)
		if err != nil {
			return nil, err
		}
		l.archives.add(key, data)
		return data, nil
	})
}
