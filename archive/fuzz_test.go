package archive

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtractZip feeds arbitrary bytes to ExtractZip: it must never panic and never create
// anything outside dest, nor leave a link in dest that resolves outside it.
func FuzzExtractZip(f *testing.F) {
	seeds := [][]ent{
		{{name: "a.txt", body: "hello"}, {name: "bin/app", body: "ELF", mode: 0o755}},
		{{name: "../x", body: "evil"}},
		{{name: "l", body: "../..", mode: sym}, {name: "l/x", body: "evil"}},
		{{name: "a", body: ".", mode: sym}, {name: "b", body: "a/..", mode: sym}},
		{{name: "d/", mode: fs.ModeDir | 0o755}, {name: "d/l", body: "../d", mode: sym}, {name: "d/l/f", body: "x"}},
		{{name: "z", raw: zeroDeflate(4), declaredSize: 1024}},
	}
	for _, s := range seeds {
		f.Add(writeZipEntries(f, s))
	}
	lim := Limits{MaxFiles: 200, MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxRatio: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		zp := filepath.Join(parent, "in.zip")
		if err := os.WriteFile(zp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		box := filepath.Join(parent, "box")
		if err := os.Mkdir(box, 0o755); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(box, "dest")
		_ = ExtractZip(context.Background(), zp, dest, lim)
		assertContained(t, box, dest)
		// ZipToTar must agree: whatever it streams, ExtractTar accepts within the same box.
		var tb bytes.Buffer
		if err := ZipToTar(context.Background(), zp, &tb, "p", lim); err == nil {
			dest2 := filepath.Join(box, "dest")
			os.RemoveAll(dest2)
			// Implied parent directories add entries: allow for them.
			if err := ExtractTar(context.Background(), &tb, dest2, false, Limits{MaxFiles: 100 * lim.MaxFiles, MaxFileBytes: lim.MaxFileBytes, MaxTotalBytes: lim.MaxTotalBytes}); err != nil {
				t.Fatalf("ZipToTar produced a tar ExtractTar refuses: %v", err)
			}
			assertContained(t, box, dest2)
		}
	})
}

// FuzzExtractTar does the same for tar streams.
func FuzzExtractTar(f *testing.F) {
	f.Add(makeTar(f, ent{name: "a", body: "1"}, ent{name: "l", body: "a", mode: sym}, ent{name: "h", link: "a"}))
	f.Add(makeTar(f, ent{name: "x", body: "y/..", mode: sym}, ent{name: "y", body: ".", mode: sym}))
	f.Add(makeTar(f, ent{name: "l", body: "../../", mode: sym}, ent{name: "l/x", body: "2"}))
	lim := Limits{MaxFiles: 200, MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxRatio: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		box := filepath.Join(t.TempDir(), "box")
		os.MkdirAll(box, 0o755)
		dest := filepath.Join(box, "dest")
		_ = ExtractTar(context.Background(), bytes.NewReader(data), dest, false, lim)
		assertContained(t, box, dest)
	})
}
