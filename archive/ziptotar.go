package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"
)

// ZipToTar streams the zip at zipPath as an uncompressed tar to w, every name below prefix (a
// relative directory; "" for none), so that a build executor can PUT an input artifact into a
// container without unpacking it on the host. The zip is checked exactly as ExtractZip checks it
// before anything is written; sizes and ratios are counted again as bytes stream. Parent
// directories are emitted before their contents (mode 0755 when the zip has no entry for them);
// owners are root (uid and gid 0); times come from the zip, truncated to seconds.
func ZipToTar(ctx context.Context, zipPath string, w io.Writer, prefix string, lim Limits) error {
	lim = lim.withDefaults()
	pfx := ""
	if prefix != "" {
		p, err := cleanName(prefix)
		if err != nil {
			return fmt.Errorf("tar prefix: %w", err)
		}
		pfx = p
	}
	zr, archiveSize, err := openZip(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	plan, err := planZip(&zr.Reader, lim)
	if err != nil {
		return err
	}
	s := &tarStream{tw: tar.NewWriter(w), done: map[string]bool{}}
	if pfx != "" {
		if err := s.dirs(pfx, time.Unix(0, 0)); err != nil {
			return err
		}
		if err := s.dir(pfx, 0o755, time.Unix(0, 0)); err != nil {
			return err
		}
	}
	var total int64
	for _, e := range plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Join(pfx, e.path)
		mt := e.f.Modified
		if mt.IsZero() || mt.Before(time.Unix(0, 0)) {
			mt = time.Unix(0, 0)
		}
		mt = mt.Truncate(time.Second)
		if err := s.dirs(name, mt); err != nil {
			return err
		}
		switch e.kind {
		case kindDir:
			err = s.dir(name, e.perm, mt)
		case kindSymlink:
			err = s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.target, Mode: 0o777, ModTime: mt})
		case kindFile:
			err = s.file(ctx, e, name, mt, lim, &total, archiveSize)
		}
		if err != nil {
			return err
		}
	}
	if err := s.tw.Close(); err != nil {
		return fmt.Errorf("write tar: %w", err)
	}
	return nil
}

type tarStream struct {
	tw   *tar.Writer
	done map[string]bool // directories written
}

// dirs writes the missing ancestors of name.
func (s *tarStream) dirs(name string, mt time.Time) error {
	for _, a := range ancestors(name) {
		if !s.done[a] {
			if err := s.dir(a, 0o755, mt); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *tarStream) dir(name string, perm fs.FileMode, mt time.Time) error {
	if s.done[name] {
		return nil
	}
	s.done[name] = true
	if err := s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(perm), ModTime: mt}); err != nil {
		return fmt.Errorf("write tar: %w", err)
	}
	return nil
}

func (s *tarStream) file(ctx context.Context, e zipEntry, name string, mt time.Time, lim Limits, total *int64, archiveSize int64) error {
	rc, err := openEntry(e.f)
	if err != nil {
		return err
	}
	defer rc.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: e.declared, Mode: int64(e.perm), ModTime: mt}
	if err := s.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar: %w", err)
	}
	whole := func() error {
		if lim.ratioExceeded(*total, archiveSize) {
			return entryErr(e.name, ErrRatio, "%d bytes from a %d-byte archive, above %g", *total, archiveSize, lim.MaxRatio)
		}
		return nil
	}
	n, err := copyChecked(ctx, e.name, s.tw, rc, e.declared, e.compressed, lim, total, whole)
	if err != nil {
		return err
	}
	if n != e.declared {
		return entryErr(e.name, ErrSizeMismatch, "%d bytes, declared %d", n, e.declared)
	}
	return nil
}
