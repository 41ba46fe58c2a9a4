package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// ent describes one entry of a crafted archive.
type ent struct {
	name string
	body string
	mode fs.FileMode // 0: 0644 file; fs.ModeDir|…; fs.ModeSymlink (body = target); fs.ModeDevice…
	link string      // tar hard link target
	// raw zip entries: compressed bytes and the sizes to declare
	raw          []byte
	declaredSize uint64
	crc          uint32
	fat          bool // zip "made by" FAT (no Unix modes)
}

func writeZipEntries(t testing.TB, ents []ent) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range ents {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		fh.SetMode(mode)
		if e.fat {
			fh.CreatorVersion = 20 // FAT host, version 2.0
			fh.ExternalAttrs = 0
		}
		if mode&fs.ModeSymlink != 0 || mode.IsDir() {
			fh.Method = zip.Store
		}
		if e.raw != nil {
			fh.CompressedSize64 = uint64(len(e.raw))
			fh.UncompressedSize64 = e.declaredSize
			fh.CRC32 = e.crc
			w, err := zw.CreateRaw(fh)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e.raw); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func makeZip(t testing.TB, ents ...ent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.zip")
	if err := os.WriteFile(p, writeZipEntries(t, ents), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func makeTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		switch {
		case e.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, e.link, 0
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname, hdr.Size, hdr.Mode = tar.TypeSymlink, e.body, 0, 0o777
		case e.mode.IsDir():
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeDir, 0, int64(e.mode.Perm())
		case e.mode&fs.ModeCharDevice != 0:
			hdr.Typeflag, hdr.Size = tar.TypeChar, 0
		case e.mode&fs.ModeNamedPipe != 0:
			hdr.Typeflag, hdr.Size = tar.TypeFifo, 0
		case e.mode != 0:
			hdr.Mode = int64(e.mode.Perm())
			if e.mode&fs.ModeSetuid != 0 {
				hdr.Mode |= 0o4000
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zeroDeflate returns a raw deflate stream that inflates to n MiB of zeros, built by repeating
// one sync-flushed 1 MiB block (about 1 KiB), so a 1 GiB bomb costs ~1 MB and no CPU time.
var zeroChunk = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write(make([]byte, 1<<20))
	fw.Flush()
	return b.Bytes()
})

func zeroDeflate(mib int) []byte {
	c := zeroChunk()
	out := bytes.Repeat(c, mib)
	return append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // final empty stored block
}

// zeroCRC is the CRC32 of n MiB of zeros.
func zeroCRC(mib int) uint32 {
	z := make([]byte, 1<<20)
	var c uint32
	for range mib {
		c = crc32.Update(c, crc32.IEEETable, z)
	}
	return c
}

// sandbox returns parent/dest (dest not created) and a check that nothing but dest appeared in
// parent and that no link inside dest resolves outside it.
func sandbox(t testing.TB) (dest string, check func()) {
	t.Helper()
	parent := t.TempDir()
	dest = filepath.Join(parent, "dest")
	return dest, func() {
		t.Helper()
		assertContained(t, parent, dest)
	}
}

func assertContained(t testing.TB, parent, dest string) {
	t.Helper()
	des, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() != "dest" {
			t.Fatalf("extraction created %s outside dest", filepath.Join(parent, de.Name()))
		}
	}
	realDest, err := filepath.EvalSymlinks(dest)
	if err != nil {
		return // dest not created
	}
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		r, ok := osResolve(p)
		if !ok {
			t.Fatalf("link %s: too many levels of links", p)
		}
		if r != realDest && !strings.HasPrefix(r, realDest+string(filepath.Separator)) {
			t.Fatalf("link %s leads to %s, outside dest", p, r)
		}
		return nil
	})
}

// osResolve follows the link at p through the real file system, tolerating missing components
// (a dangling link must dangle inside dest too). It is independent of the code under test.
func osResolve(p string) (string, bool) {
	dir, _ := filepath.EvalSymlinks(filepath.Dir(p))
	target, err := os.Readlink(p)
	if err != nil {
		return p, true
	}
	cur := dir
	pending := strings.Split(filepath.ToSlash(target), "/")
	if filepath.IsAbs(target) {
		cur = "/"
	}
	for hops := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 255 {
			return "", false
		}
		tg, _ := os.Readlink(next)
		if filepath.IsAbs(tg) {
			cur = "/"
		}
		pending = append(strings.Split(filepath.ToSlash(tg), "/"), pending...)
	}
	return cur, true
}

// listTree describes dest: "path mode [-> target]" sorted, modes as octal permission bits.
func listTree(t testing.TB, dest string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p == dest {
			return nil
		}
		rel, _ := filepath.Rel(dest, p)
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			tg, _ := os.Readlink(p)
			out = append(out, rel+" -> "+tg)
		case fi.IsDir():
			out = append(out, rel+"/ "+permString(fi.Mode()))
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" "+permString(fi.Mode())+" "+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func permString(m fs.FileMode) string {
	const digits = "01234567"
	p := m.Perm()
	return string([]byte{'0', digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}
