package charts

import (
	"net/http"
	"time"
)

const (
	// DefaultIndexTTL is how long repository metadata is cached when WithIndexTTL is not used.
	DefaultIndexTTL = 5 * time.Minute
	// DefaultHTTPTimeout is the request timeout of the default HTTP client.
	DefaultHTTPTimeout = 30 * time.Second
	// DefaultMaxArchiveBytes is the largest chart archive accepted when WithMaxArchiveBytes is not used.
	DefaultMaxArchiveBytes int64 = 20 << 20
	// DefaultMaxChartBytes bounds what a chart archive unpacks to (its tar streams, headers and the subchart
	// archives inside included) when WithMaxChartBytes is not used: well under the operator pod's memory
	// limit, where Helm's own bound (loader.MaxDecompressedChartSize, 100 MiB) is not. Cast AI's charts
	// unpack to well under 1 MiB.
	DefaultMaxChartBytes int64 = 20 << 20
	// DefaultMaxIndexBytes is the largest index.yaml accepted when WithMaxIndexBytes is not used: 2.8 times
	// Cast AI's index (2.9 MB, 5122 versions, in 2026-08). An index in helm repo index's layout, or in JSON,
	// is decoded only for the charts asked for (about 9 MiB allocated to read an 8 MiB index); any other
	// layout is decoded whole, which takes about 25 times its size in memory for a moment, so the cap stays.
	DefaultMaxIndexBytes int64 = 8 << 20
	// DefaultArchiveCacheBytes is the archive cache capacity when WithArchiveCacheBytes is not used.
	DefaultArchiveCacheBytes int64 = 64 << 20
	// DefaultUserAgent is the User-Agent header sent when WithUserAgent is not used.
	DefaultUserAgent = "castware-operator"
)

// Option configures a Loader.
type Option func(*config)

type config struct {
	indexTTL          time.Duration
	httpClient        *http.Client
	maxArchiveBytes   int64
	maxChartBytes     int64
	maxIndexBytes     int64
	archiveCacheBytes int64
	userAgent         string
	clock             func() time.Time
	observer          CacheObserver
	allowNoDigest     bool
}

func defaultConfig() config {
	return config{
		indexTTL:          DefaultIndexTTL,
		httpClient:        &http.Client{Timeout: DefaultHTTPTimeout},
		maxArchiveBytes:   DefaultMaxArchiveBytes,
		maxChartBytes:     DefaultMaxChartBytes,
		maxIndexBytes:     DefaultMaxIndexBytes,
		archiveCacheBytes: DefaultArchiveCacheBytes,
		userAgent:         DefaultUserAgent,
		clock:             time.Now,
		observer:          noObserver{},
	}
}

// WithIndexTTL sets how long indexes, OCI tag lists and tag resolutions are served from memory
// (default DefaultIndexTTL, 5m). Zero or a negative value refreshes on every call; the cached
// copy is still kept as a fallback for failed refreshes.
func WithIndexTTL(ttl time.Duration) Option {
	return func(c *config) {
		if ttl < 0 {
			ttl = 0
		}
		c.indexTTL = ttl
	}
}

// WithHTTPClient sets the HTTP client used for repositories and registries
// (default: a client with DefaultHTTPTimeout, 30s). For OCI registries only its
// Transport and Timeout are used. A nil client is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithMaxArchiveBytes sets the largest accepted chart archive (default DefaultMaxArchiveBytes, 20 MiB).
// Values <= 0 are ignored.
func WithMaxArchiveBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxArchiveBytes = n
		}
	}
}

// WithMaxChartBytes sets what a chart may unpack to (default DefaultMaxChartBytes, 20 MiB): an archive
// that unpacks to more, or a local chart directory holding more, is refused before Helm loads it. Values
// <= 0 are ignored.
func WithMaxChartBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxChartBytes = n
		}
	}
}

// WithMaxIndexBytes sets the largest accepted index.yaml (default DefaultMaxIndexBytes, 8 MiB).
// Values <= 0 are ignored.
func WithMaxIndexBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxIndexBytes = n
		}
	}
}

// WithArchiveCacheBytes sets the capacity of the in-memory archive LRU
// (default DefaultArchiveCacheBytes, 64 MiB). Zero or a negative value disables the cache.
func WithArchiveCacheBytes(n int64) Option {
	return func(c *config) {
		if n < 0 {
			n = 0
		}
		c.archiveCacheBytes = n
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent). An empty string is ignored.
func WithUserAgent(ua string) Option {
	return func(c *config) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithClock sets the time source used for cache expiry (default time.Now). A nil clock is ignored.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.clock = now
		}
	}
}
