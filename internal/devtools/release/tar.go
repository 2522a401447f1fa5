package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// File is one entry of a reproducible tar archive.
type File struct {
	// Name is the path inside the archive, without a leading slash; a trailing slash makes a directory.
	Name string
	// Mode holds the permission bits (and os.ModeSticky-free Unix bits such as 01777 for /tmp).
	Mode int64
	// UID and GID own the entry.
	UID, GID int
	// Data is the content of a regular file.
	Data []byte
}

// IsDir reports whether f is a directory entry.
func (f File) IsDir() bool { return strings.HasSuffix(f.Name, "/") }

// Tar writes files as a tar archive whose bytes depend only on the files and mtime: entries sorted by
// name, parent directories implied by a file added with mode 0755, no user or group names.
func Tar(files []File, mtime time.Time) ([]byte, error) {
	all := withParents(files)
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, f := range all {
		if i > 0 && all[i-1].Name == f.Name {
			return nil, fmt.Errorf("tar entry %s given twice", f.Name)
		}
		if err := writeEntry(tw, f, mtime); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}

// writeEntry writes one header (and the content of a regular file).
func writeEntry(tw *tar.Writer, f File, mtime time.Time) error {
	hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: mtime.UTC(), Format: tar.FormatPAX}
	if f.IsDir() {
		hdr.Typeflag = tar.TypeDir
	} else {
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar header %s: %w", f.Name, err)
	}
	if _, err := tw.Write(f.Data); err != nil {
		return fmt.Errorf("tar content %s: %w", f.Name, err)
	}
	return nil
}

// withParents returns files plus a 0755 root-owned directory entry for every missing parent.
func withParents(files []File) []File {
	have := map[string]bool{}
	for _, f := range files {
		have[f.Name] = true
	}
	out := append([]File(nil), files...)
	for _, f := range files {
		for dir := path.Dir(strings.TrimSuffix(f.Name, "/")); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if !have[dir+"/"] {
				have[dir+"/"] = true
				out = append(out, File{Name: dir + "/", Mode: 0o755})
			}
		}
	}
	return out
}

// Gzip compresses data with a fixed header (no name, no time), so equal input gives equal output.
func Gzip(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}
