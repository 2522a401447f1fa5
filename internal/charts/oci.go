package charts

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// errOCIManifestUnknown marks a tag that the registry does not know; loadOCI
// turns it into ErrChartNotFound or ErrVersionNotFound.
var errOCIManifestUnknown = errors.New("manifest unknown")

// ociMinResponseLimit is the smallest per-response limit for registry
// traffic, so that manifests and tag lists (up to 4 MiB by the distribution
// spec) are accepted even when the archive limit is tiny; chart layers are
// checked against the archive limit separately.
const ociMinResponseLimit = 4 << 20

// errResponseTooLarge is returned by registryTransport for oversized responses.
var errResponseTooLarge = errors.New("registry response exceeds the archive size limit")

// loadOCI loads a chart from an OCI registry.
func (l *Loader) loadOCI(ctx context.Context, u *url.URL, ref Ref) (*Loaded, error) {
	repoRef := ociRepository(u, ref.Name)
	if _, err := orasregistry.ParseReference(repoRef); err != nil {
		return nil, wrapErr(ref, fail(ErrInvalidRef, err, "invalid OCI repository"))
	}
	version, pin, err := splitPin(ref.Version)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	ref.Version = version
	if version == "" {
		versions, err := l.ociVersions(ctx, u, ref.Name)
		if err != nil {
			return nil, wrapErr(ref, err)
		}
		i, ok := selectVersion(versions, "")
		if !ok {
			return nil, wrapErr(ref, versionNotFound(versions, ""))
		}
		version = versions[i]
	}
	resolved := ref
	resolved.Version = version
	tag := strings.ReplaceAll(version, "+", "_") // Helm stores "+" as "_" in OCI tags
	tagRef := repoRef + ":" + tag

	manifest, err := l.ociDigests.get(ctx, l, "oci-manifest:"+tagRef, func(fctx context.Context, _ *metaEntry[string]) (*metaEntry[string], error) {
		l.stats.indexDownloads.Add(1)
		var digest string
		err := l.withRegistry(fctx, u, "resolving "+tagRef, func(c *registry.Client) error {
			desc, err := c.Resolve(tagRef)
			digest = desc.Digest.String()
			return err
		})
		if err != nil {
			return nil, err
		}
		return &metaEntry[string]{val: digest, fetched: l.cfg.clock()}, nil
	})
	if err != nil {
		if errors.Is(err, errOCIManifestUnknown) {
			return nil, wrapErr(resolved, l.ociMissingVersion(ctx, u, ref.Name, version))
		}
		return nil, wrapErr(resolved, err)
	}
	if err := l.pins.check(tagRef, manifest, pin); err != nil {
		return nil, wrapErr(resolved, err)
	}

	key := "oci:" + manifest
	if len(ref.Keyring) > 0 {
		key = keyringID(ref.Keyring) + key
	}
	data, err := l.cachedArchive(ctx, key, func(fctx context.Context) ([]byte, error) {
		return l.pullOCI(fctx, u, ref, repoRef+"@"+manifest, version)
	})
	if errors.Is(err, errOCIManifestUnknown) {
		err = fail(ErrArchiveUnavailable, nil, "manifest %s is no longer in the registry", manifest)
	}
	if err != nil {
		return nil, wrapErr(resolved, err)
	}
	ch, err := parseArchive(data, ref.Name, version, l.cfg.maxChartBytes)
	if err != nil {
		return nil, wrapErr(resolved, err)
	}
	return &Loaded{Chart: ch, Version: ch.Metadata.Version, Digest: sha256Hex(data), URL: "oci://" + tagRef}, nil
}

// pullOCI pulls the chart layer (and, when ref.Keyring is set, the provenance layer) of manifest ref
// pinned and checks it holds chart ref.Name in version.
func (l *Loader) pullOCI(ctx context.Context, u *url.URL, ref Ref, pinned, version string) ([]byte, error) {
	l.stats.archiveDownloads.Add(1)
	var data, prov []byte
	err := l.withRegistry(ctx, u, "pulling "+pinned, func(c *registry.Client) error {
		withProv := len(ref.Keyring) > 0
		res, err := c.Pull(pinned, registry.PullOptWithProv(withProv), registry.PullOptIgnoreMissingProv(withProv))
		if err != nil {
			return err
		}
		if res.Chart == nil || len(res.Chart.Data) == 0 {
			return fail(ErrCorruptArchive, nil, "manifest %s has no chart layer", pinned)
		}
		if got := "sha256:" + sha256Hex(res.Chart.Data); res.Chart.Digest != "" && got != res.Chart.Digest {
			return fail(ErrDigestMismatch, nil, "chart layer announced as %s but has %s", res.Chart.Digest, got)
		}
		data = res.Chart.Data
		if res.Prov != nil {
			prov = res.Prov.Data
		}
		l.cfg.observer.Fetched(CacheArchive, len(data))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.cfg.maxArchiveBytes {
		return nil, fail(ErrArchiveTooLarge, nil, "chart layer is %d bytes, the limit is %d", len(data), l.cfg.maxArchiveBytes)
	}
	if _, err := parseArchive(data, ref.Name, version, l.cfg.maxChartBytes); err != nil {
		return nil, err
	}
	if len(ref.Keyring) == 0 {
		return data, nil
	}
	file := ref.Name + "-" + version + ".tgz"
	if len(prov) == 0 {
		return nil, fail(ErrProvenance, nil, "manifest %s has no provenance layer for %s (push the chart with its .prov)", pinned, file)
	}
	return data, verifyProvenance(ref.Keyring, data, prov, file)
}

// ociMissingVersion explains a tag the registry does not have by listing the
// tags it does have.
func (l *Loader) ociMissingVersion(ctx context.Context, u *url.URL, name, version string) error {
	versions, err := l.ociVersions(ctx, u, name)
	if err != nil {
		var f *failure
		if errors.As(err, &f) && f.kind == ErrChartNotFound {
			return err
		}
		return fail(ErrVersionNotFound, nil, "registry has no tag %q", version)
	}
	return versionNotFound(versions, version)
}

// ociVersions lists the semantic-version tags of chart name, newest first.
func (l *Loader) ociVersions(ctx context.Context, u *url.URL, name string) ([]string, error) {
	repoRef := ociRepository(u, name)
	tags, err := l.ociTags.get(ctx, l, "oci-tags:"+repoRef, func(fctx context.Context, _ *metaEntry[[]string]) (*metaEntry[[]string], error) {
		l.stats.indexDownloads.Add(1)
		var tags []string
		err := l.withRegistry(fctx, u, "listing tags of "+repoRef, func(c *registry.Client) error {
			var err error
			tags, err = c.Tags(repoRef)
			return err
		})
		if errors.Is(err, errOCIManifestUnknown) {
			return nil, fail(ErrChartNotFound, nil, "registry has no repository %s", repoRef)
		}
		if err != nil {
			return nil, err
		}
		return &metaEntry[[]string]{val: tags, fetched: l.cfg.clock()}, nil
	})
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, fail(ErrChartNotFound, nil, "repository %s has no semantic-version tags", repoRef)
	}
	return tags, nil
}

// ociRepository returns "host/path/name" for oci://host/path.
func ociRepository(u *url.URL, name string) string {
	return u.Host + strings.TrimSuffix(u.Path, "/") + "/" + name
}

// withRegistry runs fn with a Helm registry client whose requests are bound
// to ctx (Helm's client itself uses context.Background) and limited to the
// maximum archive size. Errors are classified into the package's sentinels.
func (l *Loader) withRegistry(ctx context.Context, u *url.URL, what string, fn func(*registry.Client) error) error {
	base := l.cfg.httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr := &registryTransport{ctx: ctx, base: base, userAgent: l.cfg.userAgent, limit: max(l.cfg.maxArchiveBytes, ociMinResponseLimit)}
	opts := []registry.ClientOption{
		registry.ClientOptHTTPClient(&http.Client{Transport: tr, Timeout: l.cfg.httpClient.Timeout}),
		registry.ClientOptWriter(io.Discard),
	}
	if isLoopback(u.Hostname()) {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return fail(ErrRepoUnavailable, err, "creating registry client")
	}
	err = fn(c)
	switch {
	case err == nil:
		return nil
	case tr.tooLarge.Load():
		return fail(ErrArchiveTooLarge, nil, "%s: response larger than %d bytes", what, tr.limit)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		if resp.StatusCode == http.StatusNotFound {
			return &failure{kind: errOCIManifestUnknown, detail: what}
		}
		return fail(ErrRepoUnavailable, nil, "%s: HTTP %s", what, statusText(resp.StatusCode))
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return &failure{kind: errOCIManifestUnknown, detail: what}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fail(ErrRepoUnavailable, err, "%s", what)
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// registryTransport binds registry requests to a context, sets the
// User-Agent and refuses responses larger than limit.
type registryTransport struct {
	ctx       context.Context
	base      http.RoundTripper
	userAgent string
	limit     int64
	tooLarge  atomic.Bool
}

// RoundTrip implements http.RoundTripper.
func (t *registryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() { stop(); cancel(nil) }
	r := req.Clone(ctx)
	r.Header.Set("User-Agent", t.userAgent)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		release()
		return nil, err
	}
	if resp.ContentLength > t.limit {
		_ = resp.Body.Close()
		release()
		t.tooLarge.Store(true)
		return nil, errResponseTooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, remaining: t.limit, t: t, release: release}
	return resp, nil
}

// limitedBody fails reads beyond the transport's limit and releases the
// request context when closed.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64
	t         *registryTransport
	release   func()
	once      sync.Once
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.rc.Read(p)
	b.remaining -= int64(n)
	if b.remaining < 0 {
		b.t.tooLarge.Store(true)
		return 0, errResponseTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}
