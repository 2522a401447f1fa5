package charts

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Local sources are confined to their root: an entry of a chart directory, an archive named by a local
// index, or a file of an unpacked chart must not resolve (through symbolic links) outside the directory
// the Cluster named, or Helm would read whatever the link points at (a Secret mounted in the pod, a host
// file) into the chart, and render or store it in the release.

// within fails unless path, its symbolic links resolved, lies inside root (also resolved). A path that does
// not exist is left for the read to report.
func within(root, path string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fail(ErrRepoUnavailable, pathCause(err), "cannot resolve %s", root)
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil
	}
	if rel, err := filepath.Rel(r, p); err != nil || (rel != "." && !filepath.IsLocal(rel)) {
		return fail(ErrInvalidIndex, nil, "%s links outside %s (to %s)", path, root, p)
	}
	return nil
}

// checkChartDir refuses an unpacked chart directory that Helm's loader would read beyond its root or
// beyond the limits an archive has: a symbolic link out of the directory or to a directory (Helm follows
// those, also in a loop), more than maxArchiveEntries entries, or files over limit bytes in all.
func checkChartDir(dir string, limit int64) error {
	var total int64
	entries := 0
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fail(ErrCorruptArchive, pathCause(err), "cannot read chart directory %s", dir)
		}
		if entries++; entries > maxArchiveEntries {
			return fail(ErrCorruptArchive, nil, "chart directory %s has more than %d entries", dir, maxArchiveEntries)
		}
		if d.IsDir() {
			return nil
		}
		info, err := os.Stat(path) // follows a link
		if err != nil {
			return fail(ErrCorruptArchive, pathCause(err), "cannot read %s", path)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if err := within(dir, path); err != nil {
				return fail(ErrCorruptArchive, err, "chart directory %s is not confined to its root", dir)
			}
			if info.IsDir() {
				return fail(ErrCorruptArchive, nil, "chart directory %s has a symbolic link to a directory (%s)", dir, path)
			}
		}
		if total += info.Size(); total > limit {
			return fail(ErrCorruptArchive, nil, "chart directory %s holds more than %d bytes", dir, limit)
		}
		return nil
	})
}
