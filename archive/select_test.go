package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

// dirTar tars dir the way Docker's copy-out does: names below the directory's base name.
func dirTar(t testing.TB, dir string, extra ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	base := filepath.Base(dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(filepath.Join(base, rel))
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// No Close: the extra entries (already prefixed by the caller) follow, with their trailer.
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	return append(b.Bytes(), makeTar(t, extra...)...)
}

// zipListing lists a zip: "name mode [content or -> target]".
func zipListing(t testing.TB, data []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Mode()&fs.ModeSymlink != 0 {
			out = append(out, f.Name+" -> "+string(b))
			continue
		}
		out = append(out, f.Name+" "+permString(f.Mode())+" "+string(b))
	}
	return out
}

func zipNames(t testing.TB, data []byte) []string {
	var out []string
	for _, l := range zipListing(t, data) {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

func TestZipFromTarSampleApp(t *testing.T) {
	src := fixtures.Dir(t, "sample-app/v1")
	if _, err := os.Stat(src); err != nil {
		t.Skip("sample app fixture not available")
	}
	// The build leaves bin/sample-app behind (and a stray object file that must not be picked).
	tb := dirTar(t, src,
		ent{name: "v1/bin/", mode: fs.ModeDir | 0o755},
		ent{name: "v1/bin/sample-app", body: "\x7fELF...", mode: 0o755},
		ent{name: "v1/bin/sample-app.o", body: "obj"},
	)
	sel := Selection{Files: []string{"bin/sample-app", "appspec.yml", "scripts/**/*"}}
	var zb bytes.Buffer
	m, err := ZipFromTar(context.Background(), bytes.NewReader(tb), &zb, "v1", sel)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"appspec.yml",
		"bin/sample-app",
		"scripts/before_install.sh",
		"scripts/start_server.sh",
		"scripts/stop_server.sh",
		"scripts/validate_service.sh",
	}
	if got := zipNames(t, zb.Bytes()); !slices.Equal(got, want) {
		t.Fatalf("zip holds %q, want %q", got, want)
	}
	if len(m.Files) != len(want) || m.ZipBytes != int64(zb.Len()) || len(m.SHA256) != 64 {
		t.Errorf("manifest %+v", m)
	}
	// Executable bits survive into the zip and through ExtractZip.
	zp := filepath.Join(t.TempDir(), "a.zip")
	os.WriteFile(zp, zb.Bytes(), 0o600)
	dest, check := sandbox(t)
	if err := ExtractZip(context.Background(), zp, dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	check()
	for _, p := range []string{"bin/sample-app", "scripts/start_server.sh"} {
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s not executable: %v %v", p, fi, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dest, "appspec.yml"))
	orig, _ := os.ReadFile(filepath.Join(src, "appspec.yml"))
	if !bytes.Equal(got, orig) {
		t.Error("appspec.yml content differs")
	}
}

// layout is the buildspec reference's example tree plus a few more.
func layout(t testing.TB) []byte {
	return makeTar(t,
		ent{name: "src/", mode: fs.ModeDir | 0o755},
		ent{name: "src/my-build1/my-file1.txt", body: "1"},
		ent{name: "src/my-build2/my-file2.txt", body: "2"},
		ent{name: "src/my-build2/my-subdirectory/my-file3.txt", body: "3"},
		ent{name: "src/other/my-file1.txt", body: "other1"},
		ent{name: "src/README.md", body: "readme"},
		ent{name: "src/.env", body: "hidden"},
		ent{name: "src/docs/guide.md", body: "guide"},
		ent{name: "src/docs/img/logo.png", body: "png"},
		ent{name: "src/node_modules/x/index.js", body: "js"},
		ent{name: "src/dist/app.js", body: "app", mode: 0o755},
		ent{name: "src/dist/lib/util.js", body: "util"},
		ent{name: "src/dist/current", body: "app.js", mode: sym},
		ent{name: "src/dist/assets", body: "../docs/img", mode: sym},
		ent{name: "src/dist/outside", body: "../../../etc/passwd", mode: sym},
		ent{name: "src/dist/dangling", body: "nothere", mode: sym},
		ent{name: "src/dist/readme-link", body: "../README.md", mode: sym},
		ent{name: "src/dist/libdir", body: "lib", mode: sym},
		ent{name: "src/dist/hard", link: "src/dist/app.js"},
		ent{name: "src/build-out", body: "dist", mode: sym},
		ent{name: "src/clash1/x", body: "file"},
		ent{name: "src/clash2/x/y", body: "file below a dir of the same name"},
	)
}

func TestZipFromTarSelection(t *testing.T) {
	cases := []struct {
		name    string
		sel     Selection
		want    []string // zip listing
		skipped []string // source paths
		err     error
		errHas  []string
	}{
		{name: "everything recursive", sel: Selection{Files: []string{"**/*"}, ExcludePaths: []string{"dist/**/*", "clash*"}},
			want: []string{".env 0644 hidden", "README.md 0644 readme", "docs/guide.md 0644 guide", "docs/img/logo.png 0644 png",
				"my-build1/my-file1.txt 0644 1", "my-build2/my-file2.txt 0644 2", "my-build2/my-subdirectory/my-file3.txt 0644 3",
				"node_modules/x/index.js 0644 js", "other/my-file1.txt 0644 other1"},
			skipped: []string{"build-out"}},
		{name: "top level only", sel: Selection{Files: []string{"*"}},
			want: []string{".env 0644 hidden", "README.md 0644 readme"}, skipped: []string{"build-out"}},
		{name: "direct children", sel: Selection{Files: []string{"my-build2/*"}},
			want: []string{"my-build2/my-file2.txt 0644 2"}},
		{name: "recursive under dir", sel: Selection{Files: []string{"my-build2/**/*"}},
			want: []string{"my-build2/my-file2.txt 0644 2", "my-build2/my-subdirectory/my-file3.txt 0644 3"}},
		{name: "directory name alone selects nothing", sel: Selection{Files: []string{"my-build2"}}, err: ErrNoMatch},
		{name: "docs example base-directory", sel: Selection{Files: []string{"*/my-file3.txt"}, BaseDirectory: "my-build2"},
			want: []string{"my-subdirectory/my-file3.txt 0644 3"}},
		{name: "docs example base-directory pattern with discard-paths", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "my-build*", DiscardPaths: true},
			want: []string{"my-file1.txt 0644 1", "my-file2.txt 0644 2", "my-file3.txt 0644 3"}},
		{name: "base-directory pattern keeps paths", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "my-build*"},
			want: []string{"my-file1.txt 0644 1", "my-file2.txt 0644 2", "my-subdirectory/my-file3.txt 0644 3"}},
		{name: "base-directory through a link", sel: Selection{Files: []string{"lib/*"}, BaseDirectory: "build-out"},
			want: []string{"lib/util.js 0644 util"}},
		{name: "exclude by pattern", sel: Selection{Files: []string{"**/*"}, ExcludePaths: []string{"**/*.md", "dist/**/*", "node_modules/**/*", ".*", "clash?"}},
			want: []string{"docs/img/logo.png 0644 png", "my-build1/my-file1.txt 0644 1", "my-build2/my-file2.txt 0644 2",
				"my-build2/my-subdirectory/my-file3.txt 0644 3", "other/my-file1.txt 0644 other1"}, skipped: []string{"build-out"}},
		{name: "exclude a directory excludes its contents", sel: Selection{Files: []string{"docs/**/*"}, ExcludePaths: []string{"docs/img"}},
			want: []string{"docs/guide.md 0644 guide"}},
		{name: "exclude relative to base", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "my-build2", ExcludePaths: []string{"my-subdirectory/*"}},
			want: []string{"my-file2.txt 0644 2"}},
		{name: "discard-paths collision", sel: Selection{Files: []string{"my-build1/*", "other/*"}, DiscardPaths: true},
			err: ErrPathCollision, errHas: []string{"my-build1/my-file1.txt", "other/my-file1.txt", "my-file1.txt"}},
		{name: "merged base directories conflict", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "clash*"},
			err: ErrPathCollision, errHas: []string{"clash2/x/y"}},
		{name: "no match", sel: Selection{Files: []string{"target/*.jar"}}, err: ErrNoMatch, errHas: []string{"no matching artifact paths found"}},
		{name: "missing base directory", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "target"}, err: ErrNoBaseDirectory,
			errHas: []string{"no matching base directory path found for target"}},
		{name: "unmatched base pattern", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "zz*"}, err: ErrNoBaseDirectory},
		{name: "base directory is a file", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "README.md"}, err: ErrNoBaseDirectory},
		{name: "files required", sel: Selection{}, err: ErrBadPattern},
		{name: "pattern leaving base", sel: Selection{Files: []string{"../x"}}, err: ErrBadPattern},
		{name: "absolute pattern", sel: Selection{Files: []string{"/etc/passwd"}}, err: ErrBadPattern},
		{name: "base leaving source", sel: Selection{Files: []string{"*"}, BaseDirectory: "../x"}, err: ErrBadPattern},
		{name: "links followed without enable-symlinks", sel: Selection{Files: []string{"dist/**/*"}},
			want:    []string{"dist/app.js 0755 app", "dist/current 0755 app", "dist/hard 0755 app", "dist/lib/util.js 0644 util", "dist/readme-link 0644 readme"},
			skipped: []string{"dist/assets", "dist/dangling", "dist/libdir", "dist/outside"}},
		{name: "links kept with enable-symlinks", sel: Selection{Files: []string{"**/*"}, BaseDirectory: "dist", EnableSymlinks: true},
			// assets -> ../docs/img would leave the zip: followed, and it is a directory.
			want:    []string{"app.js 0755 app", "current -> app.js", "dangling -> nothere", "hard 0755 app", "lib/util.js 0644 util", "libdir -> lib", "readme-link 0644 readme"},
			skipped: []string{"dist/assets", "dist/outside"}},
		{name: "enable-symlinks with discard-paths follows", sel: Selection{Files: []string{"dist/*"}, DiscardPaths: true, EnableSymlinks: true},
			want:    []string{"app.js 0755 app", "current 0755 app", "hard 0755 app", "readme-link 0644 readme"},
			skipped: []string{"dist/assets", "dist/dangling", "dist/libdir", "dist/outside"}},
	}
	tb := layout(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var zb bytes.Buffer
			m, err := ZipFromTar(context.Background(), bytes.NewReader(tb), &zb, "src", tc.sel)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := zipListing(t, zb.Bytes()); !slices.Equal(got, tc.want) {
				t.Errorf("zip:\n%q\nwant:\n%q", got, tc.want)
			}
			var skipped []string
			for _, s := range m.Skipped {
				skipped = append(skipped, s.Path)
			}
			slices.Sort(skipped)
			if !slices.Equal(skipped, tc.skipped) {
				t.Errorf("skipped %q (%+v), want %q", skipped, m.Skipped, tc.skipped)
			}
			// Every zip we produce is one ExtractZip accepts.
			zp := filepath.Join(t.TempDir(), "a.zip")
			os.WriteFile(zp, zb.Bytes(), 0o600)
			dest, check := sandbox(t)
			if err := ExtractZip(context.Background(), zp, dest, Limits{}); err != nil {
				t.Fatalf("ExtractZip of our own zip: %v", err)
			}
			check()
		})
	}
}

func TestZipFromTarDeterministic(t *testing.T) {
	tb := layout(t)
	sel := Selection{Files: []string{"**/*"}, EnableSymlinks: true}
	var a, b bytes.Buffer
	ma, err := ZipFromTar(context.Background(), bytes.NewReader(tb), &a, "src", sel)
	if err != nil {
		t.Fatal(err)
	}
	// Second run from a file (used in place, no spool), starting at an offset.
	f, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("junk before the tar")
	f.Write(tb)
	f.Seek(int64(len("junk before the tar")), io.SeekStart)
	mb, err := ZipFromTar(context.Background(), f, &b, "src", sel)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || ma.SHA256 != mb.SHA256 {
		t.Fatal("same input gave different zips")
	}
	// Entry order is by name and times are fixed.
	zr, _ := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	for i, f := range zr.File {
		if i > 0 && zr.File[i-1].Name >= f.Name {
			t.Errorf("entries out of order: %s before %s", zr.File[i-1].Name, f.Name)
		}
		if !f.Modified.Equal(zipEpoch) {
			t.Errorf("%s modified %v", f.Name, f.Modified)
		}
	}
}

func TestZipFromTarRefusesHostileTar(t *testing.T) {
	cases := []struct {
		name string
		tar  []byte
		rule error
	}{
		{"dotdot", makeTar(t, ent{name: "src/../../x", body: "x"}), ErrUnsafePath},
		{"outside root", makeTar(t, ent{name: "other/x", body: "x"}), ErrUnsafePath},
		{"absolute", makeTar(t, ent{name: "/src/x", body: "x"}), ErrUnsafePath},
		{"hard link outside", makeTar(t, ent{name: "src/h", link: "../etc/passwd"}), ErrHardLink},
		{"too large", makeTar(t, ent{name: "src/big", body: strings.Repeat("x", 2000)}), ErrFileTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var zb bytes.Buffer
			_, err := ZipFromTar(context.Background(), bytes.NewReader(tc.tar), &zb, "src", Selection{Files: []string{"**/*"}, Limits: Limits{MaxFileBytes: 1000}})
			if !errors.Is(err, tc.rule) {
				t.Fatalf("err = %v, want %v", err, tc.rule)
			}
		})
	}
}
