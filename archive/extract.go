package archive

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
)

// ExtractZip unpacks the zip file at zipPath into dest (created if missing). The whole archive is
// checked against the rules in the package comment before the first byte is written.
func ExtractZip(ctx context.Context, zipPath, dest string, lim Limits) (err error) {
	lim = lim.withDefaults()
	zr, size, err := openZip(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	plan, err := planZip(&zr.Reader, lim)
	if err != nil {
		return err
	}
	x, err := newExtractor(ctx, dest, lim)
	if err != nil {
		return err
	}
	defer x.root.Close()
	defer x.cleanupOnError(&err)
	x.prevalidated = true // the whole archive's links were resolved by planZip
	for _, e := range plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.countEntry(e.name); err != nil {
			return err
		}
		switch e.kind {
		case kindDir:
			err = x.dir(e.name, e.path, e.perm)
		case kindSymlink:
			err = x.symlink(e.name, e.path, e.target)
		case kindFile:
			err = x.zipFile(e, size)
		}
		if err != nil {
			return err
		}
	}
	return x.finish()
}

func (x *extractor) zipFile(e zipEntry, archiveSize int64) error {
	rc, err := openEntry(e.f)
	if err != nil {
		return err
	}
	defer rc.Close()
	whole := func() error {
		if x.lim.ratioExceeded(x.total, archiveSize) {
			return entryErr(e.name, ErrRatio, "%d bytes from a %d-byte archive, above %g", x.total, archiveSize, x.lim.MaxRatio)
		}
		return nil
	}
	return x.file(e.name, e.path, e.perm, e.declared, e.compressed, rc, whole)
}

// entryReader decompresses a zip entry from its raw bytes, so that the size and checksum checks
// are ours: bytes beyond the declared size are refused by copyChecked as they arrive, and the
// read that reaches the end reports a short entry or a checksum mismatch (ErrCorrupt).
type entryReader struct {
	f   *zip.File
	r   io.Reader
	c   io.Closer
	crc hash.Hash32
	n   int64
}

func openEntry(f *zip.File) (*entryReader, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, entryErr(f.Name, err, "open")
	}
	er := &entryReader{f: f, crc: crc32.NewIEEE()}
	switch f.Method {
	case zip.Store:
		er.r = raw
	case zip.Deflate:
		fr := flate.NewReader(raw)
		er.r, er.c = fr, fr
	default:
		return nil, entryErr(f.Name, ErrUnsupportedType, "compression method %d", f.Method)
	}
	return er, nil
}

func (e *entryReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.crc.Write(p[:n])
	e.n += int64(n)
	if err == io.EOF {
		if e.n != clampInt64(e.f.UncompressedSize64) {
			return n, entryErr(e.f.Name, ErrCorrupt, "%d bytes, declared %d", e.n, e.f.UncompressedSize64)
		}
		if e.crc.Sum32() != e.f.CRC32 {
			return n, entryErr(e.f.Name, ErrCorrupt, "checksum mismatch")
		}
	}
	return n, err
}

func (e *entryReader) Close() error {
	if e.c != nil {
		return e.c.Close()
	}
	return nil
}

// ExtractTar unpacks a tar stream (gzip-compressed when gz) into dest (created if missing).
// Entries are checked as they arrive; links are checked again once the stream is complete.
func ExtractTar(ctx context.Context, r io.Reader, dest string, gz bool, lim Limits) (err error) {
	lim = lim.withDefaults()
	cr := &countingReader{r: r}
	var src io.Reader = cr
	if gz {
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return fmt.Errorf("read gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	x, err := newExtractor(ctx, dest, lim)
	if err != nil {
		return err
	}
	defer x.root.Close()
	defer x.cleanupOnError(&err)
	tr := tar.NewReader(src)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := x.tarEntry(hdr, tr, gz, cr); err != nil {
			return err
		}
	}
	return x.finish()
}

func (x *extractor) tarEntry(hdr *tar.Header, tr *tar.Reader, gz bool, cr *countingReader) error {
	name := hdr.Name
	if err := x.countEntry(name); err != nil {
		return err
	}
	p, err := cleanName(name)
	if err != nil {
		return err
	}
	if p == "" {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the root itself
		}
		return entryErr(name, ErrUnsafePath, "names the destination itself")
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		var whole func() error
		if gz {
			whole = func() error {
				if x.lim.ratioExceeded(x.total, cr.n) {
					return entryErr(name, ErrRatio, "%d bytes from %d compressed, above %g", x.total, cr.n, x.lim.MaxRatio)
				}
				return nil
			}
		}
		return x.file(name, p, sanitizePerm(fs.FileMode(hdr.Mode), kindFile), hdr.Size, 0, tr, whole)
	case tar.TypeDir:
		return x.dir(name, p, sanitizePerm(fs.FileMode(hdr.Mode), kindDir))
	case tar.TypeSymlink:
		return x.symlink(name, p, hdr.Linkname)
	case tar.TypeLink:
		return x.hardlink(name, p, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return entryErr(name, ErrUnsupportedType, "device file")
	case tar.TypeFifo:
		return entryErr(name, ErrUnsupportedType, "FIFO")
	default:
		return entryErr(name, ErrUnsupportedType, "tar type %q", string(hdr.Typeflag))
	}
}

// zipEntry is one checked entry of a zip, ready to extract or stream.
type zipEntry struct {
	f          *zip.File
	name, path string
	kind       nodeKind
	perm       fs.FileMode
	target     string
	declared   int64
	compressed int64
}

func openZip(zipPath string) (*zip.ReadCloser, int64, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, 0, fmt.Errorf("open zip %s: %w", zipPath, err)
	}
	if zr == nil {
		return nil, 0, fmt.Errorf("open zip %s: %w", zipPath, err)
	}
	fi, err := os.Stat(zipPath)
	if err != nil {
		zr.Close()
		return nil, 0, fmt.Errorf("open zip %s: %w", zipPath, err)
	}
	return zr, fi.Size(), nil
}

// planZip checks a whole zip from its central directory (and the targets of its links) and
// returns the entries to write, in archive order.
func planZip(zr *zip.Reader, lim Limits) ([]zipEntry, error) {
	if len(zr.File) > lim.MaxFiles {
		return nil, entryErr(zr.File[lim.MaxFiles].Name, ErrTooManyFiles, "%d entries, the limit is %d", len(zr.File), lim.MaxFiles)
	}
	t := newTree(nil)
	plan := make([]zipEntry, 0, len(zr.File))
	var declaredTotal int64
	for _, f := range zr.File {
		p, err := cleanName(f.Name)
		if err != nil {
			return nil, err
		}
		e := zipEntry{f: f, name: f.Name, path: p, declared: clampInt64(f.UncompressedSize64), compressed: clampInt64(f.CompressedSize64)}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			e.kind = kindSymlink
			if e.target, err = readLinkTarget(f); err != nil {
				return nil, err
			}
			if err := checkLinkTarget(f.Name, e.target); err != nil {
				return nil, err
			}
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			e.kind = kindDir
		case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			return nil, entryErr(f.Name, ErrUnsupportedType, "device file")
		case mode&fs.ModeNamedPipe != 0:
			return nil, entryErr(f.Name, ErrUnsupportedType, "FIFO")
		case mode&(fs.ModeSocket|fs.ModeIrregular) != 0:
			return nil, entryErr(f.Name, ErrUnsupportedType, "mode %v", mode)
		default:
			e.kind = kindFile
		}
		if p == "" {
			if e.kind == kindDir {
				continue
			}
			return nil, entryErr(f.Name, ErrUnsafePath, "names the destination itself")
		}
		e.perm = zipPerm(f, e.kind)
		if e.kind == kindFile {
			switch {
			case e.declared > lim.MaxFileBytes:
				return nil, entryErr(f.Name, ErrFileTooLarge, "declares %d bytes, the limit is %d", e.declared, lim.MaxFileBytes)
			case lim.ratioExceeded(e.declared, e.compressed):
				return nil, entryErr(f.Name, ErrRatio, "declares %d bytes from %d compressed, above %g", e.declared, e.compressed, lim.MaxRatio)
			}
			declaredTotal += e.declared
			if declaredTotal > lim.MaxTotalBytes {
				return nil, entryErr(f.Name, ErrTotalTooLarge, "declared sizes add up to more than %d bytes", lim.MaxTotalBytes)
			}
		}
		if err := t.add(f.Name, p, e.kind, e.target); err != nil {
			return nil, err
		}
		plan = append(plan, e)
	}
	if _, err := t.checkLinks(); err != nil {
		return nil, err
	}
	return plan, nil
}

func readLinkTarget(f *zip.File) (string, error) {
	if f.UncompressedSize64 > maxNameBytes {
		return "", entryErr(f.Name, ErrSymlinkEscape, "link target longer than %d bytes", maxNameBytes)
	}
	rc, err := openEntry(f)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxNameBytes+1))
	if err != nil {
		return "", entryErr(f.Name, err, "read link")
	}
	if len(b) > maxNameBytes {
		return "", entryErr(f.Name, ErrSymlinkEscape, "link target longer than %d bytes", maxNameBytes)
	}
	return string(b), nil
}

func clampInt64(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// Zip "version made by" host systems whose external attributes carry Unix modes.
const (
	creatorUnix  = 3
	creatorMacOS = 19
)

func zipPerm(f *zip.File, kind nodeKind) fs.FileMode {
	if c := f.CreatorVersion >> 8; c != creatorUnix && c != creatorMacOS {
		return sanitizePerm(0, kind)
	}
	return sanitizePerm(f.Mode(), kind)
}

// sanitizePerm keeps the permission bits only (no setuid, setgid, sticky), supplies a default for
// an empty mode, keeps files readable and directories usable by their owner.
func sanitizePerm(m fs.FileMode, kind nodeKind) fs.FileMode {
	p := m.Perm()
	if kind == kindDir {
		if p == 0 {
			p = 0o755
		}
		return p | 0o700
	}
	if p == 0 {
		p = 0o644
	}
	return p | 0o400
}

// extractor writes checked entries below one root. It never writes through a symbolic link:
// every parent is checked with Lstat (or was created by this extractor) and files are created
// with O_EXCL, which does not follow a link in the last component. os.Root adds a second fence:
// no operation can leave dest even if the tree changes underneath.
type extractor struct {
	ctx          context.Context
	root         *os.Root
	lim          Limits
	tree         *tree
	entries      int
	total        int64
	dirs         map[string]bool // known real directories
	prevalidated bool            // links were checked against the complete archive
}

func newExtractor(ctx context.Context, dest string, lim Limits) (*extractor, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dest, err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dest, err)
	}
	return &extractor{ctx: ctx, root: root, lim: lim, tree: newTree(root), dirs: map[string]bool{}}, nil
}

func (x *extractor) countEntry(name string) error {
	x.entries++
	if x.entries > x.lim.MaxFiles {
		return entryErr(name, ErrTooManyFiles, "the limit is %d entries", x.lim.MaxFiles)
	}
	return nil
}

// parents makes sure every ancestor of p is a real directory, creating missing ones.
func (x *extractor) parents(name, p string) error {
	for _, a := range ancestors(p) {
		if x.dirs[a] {
			continue
		}
		fi, err := x.root.Lstat(a)
		if errors.Is(err, fs.ErrNotExist) {
			if err = x.root.Mkdir(a, 0o755); err == nil {
				if err = x.chmodDir(name, a, 0o755); err != nil {
					return err
				}
				x.dirs[a] = true
				continue
			}
			if !errors.Is(err, fs.ErrExist) {
				return entryErr(name, err, "create directory %q", a)
			}
			fi, err = x.root.Lstat(a)
		}
		if err != nil {
			return entryErr(name, err, "inspect %q", a)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return entryErr(name, ErrThroughSymlink, "%q is a symbolic link", a)
		}
		if !fi.IsDir() {
			return entryErr(name, ErrNotDir, "%q is not a directory", a)
		}
		x.dirs[a] = true
	}
	return nil
}

func (x *extractor) chmodDir(name, p string, perm fs.FileMode) error {
	f, err := x.root.Open(p)
	if err != nil {
		return entryErr(name, err, "open directory")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return entryErr(name, err, "stat directory")
	}
	if !fi.IsDir() {
		return entryErr(name, ErrNotDir, "%q is not a directory", p)
	}
	if err := f.Chmod(perm); err != nil {
		return entryErr(name, err, "chmod")
	}
	return nil
}

func (x *extractor) dir(name, p string, perm fs.FileMode) error {
	if err := x.tree.add(name, p, kindDir, ""); err != nil {
		return err
	}
	if err := x.parents(name, p); err != nil {
		return err
	}
	fi, err := x.root.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := x.root.Mkdir(p, 0o700); err != nil {
			return entryErr(name, err, "create directory")
		}
	case err != nil:
		return entryErr(name, err, "inspect")
	case fi.Mode()&fs.ModeSymlink != 0:
		return entryErr(name, ErrDuplicate, "would overwrite the symbolic link %q", p)
	case !fi.IsDir():
		return entryErr(name, ErrNotDir, "%q exists and is not a directory", p)
	}
	x.dirs[p] = true
	return x.chmodDir(name, p, perm)
}

func (x *extractor) file(name, p string, perm fs.FileMode, declared, compressed int64, r io.Reader, whole func() error) error {
	if declared > x.lim.MaxFileBytes {
		return entryErr(name, ErrFileTooLarge, "declares %d bytes, the limit is %d", declared, x.lim.MaxFileBytes)
	}
	if err := x.tree.add(name, p, kindFile, ""); err != nil {
		return err
	}
	if err := x.parents(name, p); err != nil {
		return err
	}
	f, err := x.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			if fi, lerr := x.root.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return entryErr(name, ErrDuplicate, "would overwrite the symbolic link %q", p)
			}
			return entryErr(name, ErrDuplicate, "%q already exists in the destination", p)
		}
		return entryErr(name, err, "create")
	}
	_, err = copyChecked(x.ctx, name, f, r, declared, compressed, x.lim, &x.total, whole)
	if err == nil {
		if cerr := f.Chmod(perm); cerr != nil {
			err = entryErr(name, cerr, "chmod")
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = entryErr(name, cerr, "close")
	}
	return err
}

func (x *extractor) symlink(name, p, target string) error {
	if err := checkLinkTarget(name, target); err != nil {
		return err
	}
	if err := x.tree.add(name, p, kindSymlink, target); err != nil {
		return err
	}
	// Early check against what exists so far; finish checks again once the archive is complete.
	if !x.prevalidated {
		if _, err := x.tree.resolve(name, p, target); err != nil {
			return err
		}
	}
	if err := x.parents(name, p); err != nil {
		return err
	}
	if err := x.root.Symlink(target, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return entryErr(name, ErrDuplicate, "%q already exists in the destination", p)
		}
		return entryErr(name, err, "create link")
	}
	return nil
}

func (x *extractor) hardlink(name, p, target string) error {
	tp, err := cleanName(target)
	if err != nil || tp == "" {
		return entryErr(name, ErrHardLink, "target %q", target)
	}
	if n := x.tree.nodes[tp]; n == nil || n.kind != kindFile {
		return entryErr(name, ErrHardLink, "target %q", target)
	}
	if err := x.tree.add(name, p, kindFile, ""); err != nil {
		return err
	}
	if err := x.parents(name, p); err != nil {
		return err
	}
	if err := x.root.Link(tp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return entryErr(name, ErrDuplicate, "%q already exists in the destination", p)
		}
		return entryErr(name, err, "create hard link")
	}
	return nil
}

// finish checks every link once more now that the archive is complete. Links that leave dest
// are removed before the first is reported.
func (x *extractor) finish() error {
	return x.removeEscapingLinks()
}

// cleanupOnError runs when extraction stops early (a refused entry, a broken stream, a cancelled
// context): the links written so far are checked against what exists and escaping ones removed,
// because an entry that never arrived can change where a link leads.
func (x *extractor) cleanupOnError(err *error) {
	if *err == nil {
		return
	}
	if cerr := x.removeEscapingLinks(); cerr != nil && !errors.Is(*err, ErrSymlinkEscape) {
		*err = errors.Join(*err, cerr)
	}
}

// removeEscapingLinks resolves every link the archive created, removes (from disk and from the
// tree) each that leaves dest, and repeats until all remaining links resolve; it returns the
// first escape found.
func (x *extractor) removeEscapingLinks() error {
	var first error
	for {
		bad := x.tree.escapingLinks()
		if len(bad) == 0 {
			return first
		}
		for _, b := range bad {
			if first == nil {
				first = b.err
			}
			if rerr := x.root.Remove(b.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return errors.Join(first, fmt.Errorf("remove %q: %w", b.path, rerr))
			}
			delete(x.tree.nodes, b.path)
		}
	}
}
