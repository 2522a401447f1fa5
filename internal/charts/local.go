package charts

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// localChart is one chart version found in a local source.
type localChart struct {
	version string
	archive string // path of a .tgz, or ""
	dir     string // path of an unpacked chart directory, or ""
	digest  string // expected sha256 hex from a local index, or ""
	data    []byte // archive bytes when already read (single-archive sources)
	err     error  // why this entry cannot be loaded (bad index URL), reported when it is selected
}

// loadLocal loads a chart from a local directory or archive.
func (l *Loader) loadLocal(ctx context.Context, path string, ref Ref) (*Loaded, error) {
	cands, err := l.localCandidates(ctx, path, ref.Name)
	if err != nil {
		return nil, wrapErr(ref, err)
	}
	versions := make([]string, len(cands))
	for i, c := range cands {
		versions[i] = c.version
	}
	i, ok := selectVersion(versions, ref.Version)
	if !ok {
		return nil, wrapErr(ref, versionNotFound(versions, ref.Version))
	}
	c := cands[i]
	resolved := ref
	resolved.Version = c.version
	if c.err != nil {
		return nil, wrapErr(resolved, c.err)
	}
	if err := ctx.Err(); err != nil {
		return nil, wrapErr(resolved, err)
	}
	if c.dir != "" && len(ref.Keyring) > 0 {
		return nil, wrapErr(resolved, fail(ErrProvenance, nil, "chart directory %s is unpacked: only a chart archive with its .prov can be verified", c.dir))
	}
	if c.dir != "" {
		if err := checkChartDir(c.dir, l.cfg.maxChartBytes); err != nil {
			return nil, wrapErr(resolved, err)
		}
		ch, err := loader.LoadDir(c.dir)
		if err != nil {
			return nil, wrapErr(resolved, fail(ErrCorruptArchive, err, "cannot load chart directory %s", c.dir))
		}
		if ch.Metadata.Name != ref.Name || !sameVersion(ch.Metadata.Version, c.version) {
			return nil, wrapErr(resolved, fail(ErrCorruptArchive, nil, "chart directory %s holds %s %s", c.dir, ch.Metadata.Name, ch.Metadata.Version))
		}
		return &Loaded{Chart: ch, Version: ch.Metadata.Version, URL: fileURL(c.dir)}, nil
	}
	data := c.data
	if data == nil {
		if data, err = readFileLimited(c.archive, l.cfg.maxArchiveBytes); err != nil {
			return nil, wrapErr(resolved, err)
		}
	}
	got := sha256Hex(data)
	if c.digest != "" && got != c.digest {
		return nil, wrapErr(resolved, fail(ErrDigestMismatch, nil, "index announces sha256 %s but %s has sha256 %s", c.digest, c.archive, got))
	}
	ch, err := parseArchive(data, ref.Name, c.version, l.cfg.maxChartBytes)
	if err != nil {
		return nil, wrapErr(resolved, err)
	}
	if err := verifyLocal(ref.Keyring, c.archive, data); err != nil {
		return nil, wrapErr(resolved, err)
	}
	return &Loaded{Chart: ch, Version: ch.Metadata.Version, Digest: got, URL: fileURL(c.archive)}, nil
}

// localVersions lists the versions of chart name in a local source.
func (l *Loader) localVersions(ctx context.Context, path, name string) ([]string, error) {
	cands, err := l.localCandidates(ctx, path, name)
	if err != nil {
		return nil, err
	}
	versions := make([]string, len(cands))
	for i, c := range cands {
		versions[i] = c.version
	}
	return versions, nil
}

// localCandidates finds every version of chart name at path: a single
// archive, a directory with index.yaml, or a directory of charts and archives.
// It fails with ErrChartNotFound when there is none.
func (l *Loader) localCandidates(ctx context.Context, path, name string) ([]localChart, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fail(ErrRepoUnavailable, pathCause(err), "cannot access %s", path)
	}
	var cands []localChart
	switch {
	case !info.IsDir():
		cands, err = l.singleArchive(path, name)
	default:
		indexPath := filepath.Join(path, "index.yaml")
		if _, statErr := os.Stat(indexPath); statErr == nil {
			cands, err = l.localIndex(path, indexPath, name)
		} else {
			cands, err = scanChartDir(path, name)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, fail(ErrChartNotFound, nil, "no chart %q in %s", name, path)
	}
	return cands, nil
}

// singleArchive treats path as one chart archive.
func (l *Loader) singleArchive(path, name string) ([]localChart, error) {
	data, err := readFileLimited(path, l.cfg.maxArchiveBytes)
	if err != nil {
		return nil, err
	}
	ch, err := loadArchive(data, l.cfg.maxChartBytes)
	if err != nil {
		return nil, fail(ErrCorruptArchive, err, "cannot read chart archive %s", path)
	}
	if ch.Metadata == nil || ch.Metadata.Name != name {
		found := ""
		if ch.Metadata != nil {
			found = ch.Metadata.Name
		}
		return nil, fail(ErrChartNotFound, nil, "archive %s holds chart %q", path, found)
	}
	return []localChart{{version: ch.Metadata.Version, archive: path, data: data}}, nil
}

// localIndex reads the entries for name from a local index.yaml whose URLs
// are file paths relative to dir (absolute paths and file:// URLs are accepted too).
func (l *Loader) localIndex(dir, indexPath, name string) ([]localChart, error) {
	data, err := readFileLimited(indexPath, l.cfg.maxIndexBytes)
	if err != nil {
		var f *failure
		if errors.As(err, &f) && f.kind == ErrArchiveTooLarge {
			return nil, fail(ErrInvalidIndex, nil, "%s is larger than %d bytes", indexPath, l.cfg.maxIndexBytes)
		}
		return nil, err
	}
	idx, err := parseIndexFor(data, name)
	if err != nil {
		return nil, err
	}
	var cands []localChart
	for _, cv := range idx.Entries[name] {
		if len(cv.URLs) == 0 {
			cands = append(cands, localChart{version: cv.Version, err: fail(ErrInvalidIndex, nil, "index entry has no URL")})
			continue
		}
		p, err := localArchivePath(dir, cv.URLs[0])
		if err == nil {
			err = within(dir, p)
		}
		cands = append(cands, localChart{version: cv.Version, archive: p, digest: normalizeDigest(cv.Digest), err: err})
	}
	return cands, nil
}

// localArchivePath maps a local index URL to a file path (the caller checks, with within, that it does not
// leave dir through a symbolic link).
func localArchivePath(dir, raw string) (string, error) {
	p := strings.TrimSpace(raw)
	if u, err := url.Parse(p); err == nil {
		switch strings.ToLower(u.Scheme) {
		case "":
			p = u.Path
		case "file":
			p = u.Path
		default:
			return "", fail(ErrInvalidIndex, nil, "local index entry %q is not a file path", redactURL(raw))
		}
	}
	if filepath.IsAbs(p) {
		p = filepath.Clean(p)
		if rel, err := filepath.Rel(dir, p); err != nil || !filepath.IsLocal(rel) {
			return "", fail(ErrInvalidIndex, nil, "local index entry %q points outside %s", raw, dir)
		}
		return p, nil
	}
	p = filepath.FromSlash(p)
	if !filepath.IsLocal(p) {
		return "", fail(ErrInvalidIndex, nil, "local index entry %q points outside %s", raw, dir)
	}
	return filepath.Join(dir, p), nil
}

// scanChartDir finds unpacked chart directories (any subdirectory whose
// Chart.yaml names the chart) and archives named <name>-<version>.tgz.
// Archives come first (sorted by file name), then directories. An entry linking outside dir fails the scan.
func scanChartDir(dir, name string) ([]localChart, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fail(ErrRepoUnavailable, pathCause(err), "cannot read %s", dir)
	}
	var archives, dirs []localChart
	prefix := name + "-"
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		info, err := os.Stat(full) // follows symlinks
		if err != nil {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if err := within(dir, full); err != nil {
				return nil, err
			}
		}
		if info.IsDir() {
			md, err := chartutil.LoadChartfile(filepath.Join(full, "Chart.yaml"))
			if err != nil || md.Name != name || md.Version == "" {
				continue
			}
			dirs = append(dirs, localChart{version: md.Version, dir: full})
			continue
		}
		base := e.Name()
		if !strings.HasPrefix(base, prefix) || !strings.HasSuffix(base, ".tgz") {
			continue
		}
		v := strings.TrimSuffix(strings.TrimPrefix(base, prefix), ".tgz")
		if _, err := semver.NewVersion(v); err != nil {
			continue // e.g. "foo-bar-1.0.0.tgz" seen while looking for "foo"
		}
		archives = append(archives, localChart{version: v, archive: full})
	}
	sort.SliceStable(dirs, func(i, j int) bool { return dirs[i].dir < dirs[j].dir })
	return append(archives, dirs...), nil
}

// readFileLimited reads a file that must not exceed limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(ErrArchiveUnavailable, pathCause(err), "cannot open %s", path)
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Size() > limit {
		return nil, fail(ErrArchiveTooLarge, nil, "%s is %d bytes, the limit is %d", path, info.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fail(ErrArchiveUnavailable, err, "reading %s", path)
	}
	if int64(len(data)) > limit {
		return nil, fail(ErrArchiveTooLarge, nil, "%s is larger than the limit of %d bytes", path, limit)
	}
	return data, nil
}

// pathCause strips the path from an *fs.PathError (the message already names it).
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileURL renders a local path as a file:// URL.
func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// verifyLocal verifies a local archive against keyring with the .prov file next to it (nothing to do
// without a keyring).
func verifyLocal(keyring []byte, archive string, data []byte) error {
	if len(keyring) == 0 {
		return nil
	}
	prov, err := readFileLimited(archive+".prov", maxProvBytes)
	if err != nil {
		return fail(ErrProvenance, err, "no provenance file next to %s", archive)
	}
	return verifyProvenance(keyring, data, prov, filepath.Base(archive))
}
