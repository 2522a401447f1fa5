package charts

// Cache names a CacheObserver is told about.
const (
	// CacheIndex is repository metadata: index.yaml files, OCI tag lists and tag resolutions.
	CacheIndex = "index"
	// CacheArchive is chart archives.
	CacheArchive = "archive"
)

// CacheObserver is told about the Loader's cache lookups and downloads; the operator records metrics with
// it. It must be quick and safe for concurrent use.
type CacheObserver interface {
	// Lookup reports one lookup in cache (CacheIndex or CacheArchive), answered from memory (hit) or not.
	Lookup(cache string, hit bool)
	// Fetched reports n bytes downloaded for cache (index.yaml bodies and chart archives).
	Fetched(cache string, n int)
}

// WithCacheObserver sets the CacheObserver (default: none). A nil observer is ignored.
func WithCacheObserver(o CacheObserver) Option {
	return func(c *config) {
		if o != nil {
			c.observer = o
		}
	}
}

// noObserver is the default CacheObserver.
type noObserver struct{}

func (noObserver) Lookup(string, bool) {}
func (noObserver) Fetched(string, int) {}
