package archive

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Selection is a buildspec artifacts block (primary or secondary), in CodeBuild's semantics:
//
//   - Files are globs (see MatchGlob) relative to the base directory; at least one is required.
//     They match files and symbolic links, never directories: "dist" does not select dist's
//     contents, "dist/**/*" does.
//   - BaseDirectory is "" (the source directory itself), one directory, or a glob such as
//     'my-build*' matched against the source's directories (top-level ones for a one-segment
//     pattern); each match contributes its contents, not itself. A base directory may be a
//     symbolic link to a directory inside the source. No match fails with
//     "no matching base directory path found".
//   - DiscardPaths stores every file under its base name; two files with the same base name fail
//     the artifact and the error names both (CodeBuild fails the upload too).
//   - ExcludePaths are globs relative to the base directory; a file is left out when it, or any
//     directory above it (below the base), matches one.
//   - EnableSymlinks stores a selected symbolic link as a link when its target is relative and
//     stays inside the artifact (checked through every other link in it), and DiscardPaths is off.
//     Otherwise, and always when EnableSymlinks is off (CodeBuild's zip follows links), a link to
//     a regular file in the source is stored as a copy of that file under the link's name; a link
//     to a directory is not descended, and a link that leaves the source directory or dangles is
//     left out. Both cases are listed in Manifest.Skipped, never silently.
//   - Limits bound the result (zero fields take DefaultLimits): MaxFiles and MaxTotalBytes cap
//     the selected files, MaxFileBytes each one; the tar stream itself may hold at most
//     10×MaxFiles entries and 2×MaxTotalBytes bytes.
type Selection struct {
	Files          []string
	BaseDirectory  string
	DiscardPaths   bool
	ExcludePaths   []string
	EnableSymlinks bool
	Limits         Limits
}

// Manifest describes a zip written by ZipFromTar.
type Manifest struct {
	Files      []ManifestFile // in zip order (sorted by name)
	TotalBytes int64          // sum of the files' sizes, uncompressed
	ZipBytes   int64          // size of the zip
	SHA256     string         // hex sha256 of the zip bytes
	Skipped    []Skipped      // selected paths left out, with the reason
}

// ManifestFile is one entry of the zip.
type ManifestFile struct {
	Name       string      // path in the zip
	Source     string      // path in the source directory (for a followed link: the link)
	Size       int64       // bytes (for a stored link: the target's length)
	Mode       fs.FileMode // permission bits, plus fs.ModeSymlink for a stored link
	LinkTarget string      // target of a stored link
}

// Skipped is a selected path that is not in the zip.
type Skipped struct {
	Path   string // in the source directory
	Reason string
}

// Errors of ZipFromTar; messages follow CodeBuild's CLIENT_ERROR texts.
var (
	ErrNoMatch         = errors.New("no matching artifact paths found")
	ErrNoBaseDirectory = errors.New("no matching base directory path found")
	ErrPathCollision   = errors.New("artifact path collision")
	ErrBadPattern      = errors.New("invalid artifact path")
)

// zipEpoch is the modification time of every zip entry, so that the same files always give the
// same bytes.
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// ZipFromTar reads a tar stream of a build's source directory, as Docker's copy-out returns it
// (every name below root, the directory's base name; "" when names are not prefixed), and writes
// to w a zip holding exactly the files sel selects, sorted by name, with fixed timestamps, so
// that the same input always gives the same bytes.
//
// The zip is written in name order and links may point anywhere in the tree, so the stream is
// read twice: a tarStream that is an *os.File (any io.ReadSeeker that is also an io.ReaderAt) is
// used in place, from its current offset; anything else is first copied to a temporary file in
// os.TempDir.
func ZipFromTar(ctx context.Context, tarStream io.Reader, w io.Writer, root string, sel Selection) (Manifest, error) {
	lim := sel.Limits.withDefaults()
	files, excludes, err := sel.patterns()
	if err != nil {
		return Manifest{}, err
	}
	prefix := ""
	if root != "" && root != "." {
		if prefix, err = cleanName(root); err != nil {
			return Manifest{}, fmt.Errorf("tar root: %w", err)
		}
	}
	src, base, cleanup, err := seekableTar(ctx, tarStream, 2*lim.MaxTotalBytes)
	if err != nil {
		return Manifest{}, err
	}
	defer cleanup()
	ix, err := indexTar(ctx, src, base, prefix, lim)
	if err != nil {
		return Manifest{}, err
	}
	bases, err := ix.bases(sel.BaseDirectory)
	if err != nil {
		return Manifest{}, err
	}
	out, skipped, err := ix.choose(bases, files, excludes, sel, lim)
	if err != nil {
		return Manifest{}, err
	}
	m, err := writeZip(ctx, w, src, out)
	m.Skipped = skipped
	return m, err
}

func (sel Selection) patterns() (files, excludes []string, err error) {
	clean := func(kind, p string) (string, error) {
		q := strings.TrimSpace(p)
		q = strings.TrimPrefix(q, "./")
		if q == "" || strings.HasPrefix(q, "/") || isDrivePath(q) || strings.ContainsRune(q, 0) {
			return "", fmt.Errorf("%w: %s %q", ErrBadPattern, kind, p)
		}
		for _, c := range strings.Split(q, "/") {
			if c == ".." {
				return "", fmt.Errorf("%w: %s %q leaves the base directory", ErrBadPattern, kind, p)
			}
		}
		return q, nil
	}
	if len(sel.Files) == 0 {
		return nil, nil, fmt.Errorf("%w: files is required", ErrBadPattern)
	}
	for _, p := range sel.Files {
		q, err := clean("files", p)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, q)
	}
	for _, p := range sel.ExcludePaths {
		q, err := clean("exclude-paths", p)
		if err != nil {
			return nil, nil, err
		}
		excludes = append(excludes, q)
	}
	return files, excludes, nil
}

// tarSource is what the two passes need.
type tarSource interface {
	io.ReadSeeker
	io.ReaderAt
}

func seekableTar(ctx context.Context, r io.Reader, max int64) (tarSource, int64, func(), error) {
	if s, ok := r.(tarSource); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			return s, off, func() {}, nil
		}
	}
	tmp, err := os.CreateTemp("", "conveyor-artifact-*.tar")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool tar: %w", err)
	}
	cleanup := func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	n, err := copyCtx(ctx, tmp, io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = fmt.Errorf("%w: the tar stream is larger than %d bytes", ErrTotalTooLarge, max)
	}
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("spool tar: %w", err)
	}
	return tmp, 0, cleanup, nil
}

func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// posReader tracks the offset of an io.ReadSeeker so that the data offset of each tar entry is
// known: archive/tar reads headers in whole blocks and never reads ahead.
type posReader struct {
	rs  io.ReadSeeker
	pos int64
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.rs.Read(b)
	p.pos += int64(n)
	return n, err
}

func (p *posReader) Seek(off int64, whence int) (int64, error) {
	n, err := p.rs.Seek(off, whence)
	if err == nil {
		p.pos = n
	}
	return n, err
}

type tarNode struct {
	kind   nodeKind
	mode   fs.FileMode
	size   int64
	off    int64 // data offset in the source
	target string
}

type tarIndex struct {
	nodes   map[string]*tarNode
	links   *tree // directories and links, for resolution
	skipped []Skipped
}

func indexTar(ctx context.Context, src tarSource, base int64, prefix string, lim Limits) (*tarIndex, error) {
	if _, err := src.Seek(base, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read tar: %w", err)
	}
	pr := &posReader{rs: src, pos: base}
	tr := tar.NewReader(pr)
	ix := &tarIndex{nodes: map[string]*tarNode{}, links: newTree(nil)}
	maxEntries := 10 * lim.MaxFiles
	for entries := 0; ; entries++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		if entries >= maxEntries {
			return nil, entryErr(hdr.Name, ErrTooManyFiles, "the source holds more than %d entries", maxEntries)
		}
		p, err := cleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		if prefix != "" {
			if p == prefix {
				continue
			}
			rest, ok := strings.CutPrefix(p, prefix+"/")
			if !ok {
				return nil, entryErr(hdr.Name, ErrUnsafePath, "outside the root %q", prefix)
			}
			p = rest
		}
		if p == "" {
			continue
		}
		if err := ix.add(hdr, p, pr.pos, prefix); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

func (ix *tarIndex) add(hdr *tar.Header, p string, off int64, prefix string) error {
	for _, a := range ancestors(p) {
		if ix.nodes[a] == nil {
			ix.set(a, &tarNode{kind: kindDir, mode: 0o755})
		}
	}
	mode := fs.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeReg:
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				ix.skipped = append(ix.skipped, Skipped{Path: p, Reason: "sparse file"})
				return nil
			}
		}
		ix.set(p, &tarNode{kind: kindFile, mode: mode, size: hdr.Size, off: off})
	case tar.TypeDir:
		ix.set(p, &tarNode{kind: kindDir, mode: mode})
	case tar.TypeSymlink:
		ix.set(p, &tarNode{kind: kindSymlink, mode: 0o777, target: hdr.Linkname})
	case tar.TypeLink:
		tp, err := cleanName(hdr.Linkname)
		if err == nil && prefix != "" {
			tp = strings.TrimPrefix(tp, prefix+"/")
		}
		t := ix.nodes[tp]
		if err != nil || t == nil || t.kind != kindFile {
			return entryErr(hdr.Name, ErrHardLink, "target %q", hdr.Linkname)
		}
		cp := *t
		ix.set(p, &cp)
	default:
		ix.skipped = append(ix.skipped, Skipped{Path: p, Reason: fmt.Sprintf("not a regular file, directory or link (tar type %q)", string(hdr.Typeflag))})
	}
	return nil
}

func (ix *tarIndex) set(p string, n *tarNode) {
	ix.nodes[p] = n
	ix.links.nodes[p] = &node{kind: n.kind, target: n.target, name: p, explicit: true}
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// bases resolves base-directory to the list of directories whose contents are selected.
func (ix *tarIndex) bases(baseDir string) ([]string, error) {
	bd := strings.TrimSpace(baseDir)
	bd = strings.TrimPrefix(bd, "./")
	bd = strings.TrimSuffix(bd, "/")
	if bd == "" || bd == "." {
		return []string{""}, nil
	}
	if strings.HasPrefix(bd, "/") || isDrivePath(bd) || strings.ContainsRune(bd, 0) || strings.Contains("/"+bd+"/", "/../") {
		return nil, fmt.Errorf("%w: base-directory %q", ErrBadPattern, baseDir)
	}
	notFound := fmt.Errorf("%w for %s", ErrNoBaseDirectory, baseDir)
	var candidates []string
	if !hasMeta(bd) {
		candidates = []string{path.Clean(bd)}
	} else {
		for p, n := range ix.nodes {
			if (n.kind == kindDir || n.kind == kindSymlink) && MatchGlob(bd, p) {
				candidates = append(candidates, p)
			}
		}
		sort.Strings(candidates)
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range candidates {
		real, err := ix.links.resolvePath(c)
		if err != nil || real == "" && c != "" {
			continue
		}
		if n := ix.nodes[real]; n == nil || n.kind != kindDir || seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, real)
	}
	if len(out) == 0 {
		return nil, notFound
	}
	return out, nil
}

// outEntry is one zip entry to write.
type outEntry struct {
	name   string
	source string
	node   *tarNode // data source (the link target for a followed link)
	link   string   // stored link target
	mode   fs.FileMode
}

func (ix *tarIndex) choose(bases, files, excludes []string, sel Selection, lim Limits) ([]outEntry, []Skipped, error) {
	paths := make([]string, 0, len(ix.nodes))
	for p, n := range ix.nodes {
		if n.kind != kindDir {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	skipped := append([]Skipped(nil), ix.skipped...)
	var out []outEntry
	byName := map[string]string{} // zip name → source, for collisions
	for _, b := range bases {
		for _, p := range paths {
			rel := p
			if b != "" {
				r, ok := strings.CutPrefix(p, b+"/")
				if !ok {
					continue
				}
				rel = r
			}
			if !matchAny(files, rel) || excluded(excludes, rel) {
				continue
			}
			name := rel
			if sel.DiscardPaths {
				name = path.Base(rel)
			}
			if prev, dup := byName[name]; dup {
				if prev == p {
					continue // overlapping base directories reach the same file
				}
				return nil, nil, fmt.Errorf("%w: %s and %s would both be stored as %s", ErrPathCollision, prev, p, name)
			}
			byName[name] = p
			n := ix.nodes[p]
			e := outEntry{name: name, source: p, node: n, mode: n.mode}
			if n.kind == kindSymlink {
				e.link = n.target
				e.mode = fs.ModeSymlink | 0o777
				if !sel.EnableSymlinks || sel.DiscardPaths {
					var reason string
					if e, reason = ix.follow(e); reason != "" {
						skipped = append(skipped, Skipped{Path: p, Reason: reason})
						continue
					}
				}
			}
			out = append(out, e)
		}
	}
	out, skipped, err := ix.checkStoredLinks(out, skipped)
	if err != nil {
		return nil, nil, err
	}
	if len(out) == 0 {
		return nil, skipped, ErrNoMatch
	}
	if len(out) > lim.MaxFiles {
		return nil, skipped, fmt.Errorf("%w: %d files selected, the limit is %d", ErrTooManyFiles, len(out), lim.MaxFiles)
	}
	var total int64
	for _, e := range out {
		if e.link != "" {
			continue
		}
		if e.node.size > lim.MaxFileBytes {
			return nil, skipped, entryErr(e.source, ErrFileTooLarge, "%d bytes, the limit is %d", e.node.size, lim.MaxFileBytes)
		}
		total += e.node.size
		if total > lim.MaxTotalBytes {
			return nil, skipped, fmt.Errorf("%w: the selected files exceed %d bytes", ErrTotalTooLarge, lim.MaxTotalBytes)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, skipped, nil
}

// follow replaces a link by the regular file it leads to, or says why it cannot.
func (ix *tarIndex) follow(e outEntry) (outEntry, string) {
	real, err := ix.links.resolve(e.source, e.source, e.link)
	if err != nil {
		return e, fmt.Sprintf("symbolic link to %q leaves the source directory", e.link)
	}
	t := ix.nodes[real]
	switch {
	case t == nil:
		return e, fmt.Sprintf("symbolic link to %q dangles", e.link)
	case t.kind == kindDir:
		return e, fmt.Sprintf("symbolic link to the directory %q is not followed", e.link)
	case t.kind != kindFile:
		return e, fmt.Sprintf("symbolic link to %q does not lead to a regular file", e.link)
	}
	e.node, e.mode, e.link = t, t.mode, ""
	return e, ""
}

// checkStoredLinks resolves the links kept as links inside the zip's own namespace (where
// ExtractZip will resolve them) and follows those that would leave it. It also refuses a zip
// that ExtractZip would refuse for its structure: a file needed as a directory by another entry
// (possible when several base directories are merged).
func (ix *tarIndex) checkStoredLinks(out []outEntry, skipped []Skipped) ([]outEntry, []Skipped, error) {
	zt := newTree(nil)
	for _, e := range out {
		kind := kindFile
		if e.link != "" {
			kind = kindSymlink
		}
		if err := zt.add(e.source, e.name, kind, e.link); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrPathCollision, err)
		}
	}
	kept := out[:0]
	for _, e := range out {
		if e.link != "" {
			if _, err := zt.resolve(e.name, e.name, e.link); err != nil || checkLinkTarget(e.name, e.link) != nil {
				var reason string
				if e, reason = ix.follow(e); reason != "" {
					skipped = append(skipped, Skipped{Path: e.source, Reason: reason})
					continue
				}
			}
		}
		kept = append(kept, e)
	}
	return kept, skipped, nil
}

func matchAny(patterns []string, rel string) bool {
	for _, p := range patterns {
		if MatchGlob(p, rel) {
			return true
		}
	}
	return false
}

// excluded reports whether rel or a directory above it matches an exclude pattern.
func excluded(patterns []string, rel string) bool {
	if len(patterns) == 0 {
		return false
	}
	if matchAny(patterns, rel) {
		return true
	}
	for _, a := range ancestors(rel) {
		if matchAny(patterns, a) {
			return true
		}
	}
	return false
}

type hashCounter struct {
	w io.Writer
	h io.Writer
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func writeZip(ctx context.Context, w io.Writer, src io.ReaderAt, out []outEntry) (Manifest, error) {
	h := sha256.New()
	hc := &hashCounter{w: w, h: h}
	zw := zip.NewWriter(hc)
	var m Manifest
	buf := make([]byte, 256<<10)
	for _, e := range out {
		if err := ctx.Err(); err != nil {
			return Manifest{}, err
		}
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: zipEpoch}
		mf := ManifestFile{Name: e.name, Source: e.source, Mode: e.mode}
		if e.link != "" {
			fh.Method = zip.Store
			fh.SetMode(fs.ModeSymlink | 0o777)
			mf.LinkTarget, mf.Size = e.link, int64(len(e.link))
		} else {
			fh.SetMode(e.mode.Perm())
			mf.Size = e.node.size
		}
		zf, err := zw.CreateHeader(fh)
		if err != nil {
			return Manifest{}, fmt.Errorf("write zip: %w", err)
		}
		if e.link != "" {
			_, err = io.WriteString(zf, e.link)
		} else {
			var n int64
			n, err = io.CopyBuffer(onlyWriter{zf}, ctxReader{ctx, io.NewSectionReader(src, e.node.off, e.node.size)}, buf)
			if err == nil && n != e.node.size {
				err = fmt.Errorf("%w: the tar stream ends inside %s", ErrCorrupt, e.source)
			}
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("write zip entry %s: %w", e.name, err)
		}
		m.Files = append(m.Files, mf)
		if e.link == "" {
			m.TotalBytes += e.node.size
		}
	}
	if err := zw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("write zip: %w", err)
	}
	m.ZipBytes = hc.n
	m.SHA256 = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// onlyWriter hides ReadFrom so io.CopyBuffer uses the given buffer.
type onlyWriter struct{ io.Writer }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
