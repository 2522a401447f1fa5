// Package charts loads Helm charts for the castware-operator's Helm engine.
//
// A chart is identified by a [Ref]: a repository, a chart name and an exact
// version (or "" for the newest stable version). [Loader] implements [Source]
// and understands four kinds of repositories:
//
//   - HTTP(S) index repositories ("https://…", "http://…"). The repository's
//     index.yaml is downloaded and decoded into Helm's repo.IndexFile types for
//     the requested chart only when it has the layout helm repo index writes
//     or is JSON (any other layout is decoded whole); a malformed entry is
//     skipped instead of failing the whole index. The
//     chart's first URL is resolved against the repository URL when it is
//     relative, the archive is downloaded, its sha256 digest is checked against
//     the index when the index has one, and the loaded chart's name and
//     version must match the entry.
//   - OCI registries ("oci://host/path"). Helm's registry client resolves
//     "host/path/<name>:<version>" to a manifest digest and pulls the chart by
//     that digest; for an empty version the repository's tags are listed and
//     the newest stable semantic version is used. Plain HTTP is used for
//     loopback hosts (localhost, 127.0.0.0/8, ::1) only. A version stays pinned
//     to the manifest digest it first resolved to: a moved tag is refused
//     (ErrDigestMismatch), and a version may carry an explicit pin as Helm
//     writes it ("1.2.3@sha256:<hex>"); pins are refused for other sources.
//   - Local directories for air-gapped installations ("file:///dir" or an
//     absolute path): a directory holding unpacked charts
//     (<dir>/<chart>/Chart.yaml) and/or archives (<name>-<version>.tgz), or a
//     directory with an index.yaml whose URLs are paths relative to it.
//   - A single local chart archive ("/path/to/chart-1.2.3.tgz").
//
// # Provenance
//
// A Ref with a Keyring (or a Source wrapped by [Verifying]) loads only charts
// whose Helm provenance file verifies against it, as helm verify does: a
// clear-signed .prov by a key of the keyring announcing the archive's sha256.
// HTTP repositories serve it at the archive URL + ".prov", OCI registries as
// the provenance layer helm push uploads, local archives next to the archive;
// unpacked local chart directories cannot be verified and are refused. Failures
// wrap [ErrProvenance].
//
// # Caching
//
// Repository metadata (HTTP indexes, as their bytes plus the decoded entries of
// the charts asked for, OCI tag lists and tag-to-digest resolutions) is cached
// in memory per repository for a TTL (default five
// minutes, see [WithIndexTTL]). Concurrent callers that miss the cache share
// a single request. HTTP refreshes are conditional (If-None-Match /
// If-Modified-Since) when the server sent an ETag or Last-Modified header.
// When a refresh fails, the stale cached copy is served; errors are only
// reported when nothing is cached. A shared download keeps running while at
// least one caller still waits for it and is cancelled when the last one gives
// up; each caller's own context deadline is always honoured.
//
// Chart archives are cached in memory in a bounded LRU keyed by their digest
// (the index digest for HTTP repositories, or URL and version when the index
// has none; the manifest digest for OCI registries; apart per keyring for
// verified archives), so reconciling the same
// chart version again does not download it again. Every Load returns a freshly
// parsed *chart.Chart, so callers may modify it. [Loader.Stats] exposes
// counters that show how often the network was used.
//
// # Errors
//
// Every error returned by Load and Latest is an [*Error] that names the
// repository (with any credentials removed), the chart and the version, and
// wraps one of the sentinel errors ([ErrChartNotFound], [ErrVersionNotFound],
// [ErrRepoUnavailable], [ErrArchiveUnavailable], [ErrDigestMismatch],
// [ErrCorruptArchive], [ErrArchiveTooLarge], [ErrInvalidIndex],
// [ErrInvalidRef], [ErrNoDigest], [ErrProvenance]) so callers can classify it
// with errors.Is.
package charts
