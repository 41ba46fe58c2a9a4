package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

var sym = fs.ModeSymlink | 0o777

func TestExtractZipRefuses(t *testing.T) {
	small := Limits{MaxFiles: 1000, MaxFileBytes: 1 << 20, MaxTotalBytes: 3 << 20, MaxRatio: 100}
	many := make([]ent, 10_000)
	for i := range many {
		many[i] = ent{name: "f/" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "-" + itoa(i), body: "x"}
	}
	cases := []struct {
		name  string
		ents  []ent
		lim   Limits
		rule  error
		entry string // the entry the error must name
	}{
		{"dotdot", []ent{{name: "../x", body: "evil"}}, Limits{}, ErrUnsafePath, "../x"},
		{"dotdot nested", []ent{{name: "a/../../x", body: "evil"}}, Limits{}, ErrUnsafePath, "a/../../x"},
		{"absolute", []ent{{name: "/etc/x", body: "evil"}}, Limits{}, ErrUnsafePath, "/etc/x"},
		{"backslash dotdot", []ent{{name: `..\x`, body: "evil"}}, Limits{}, ErrUnsafePath, `..\x`},
		{"drive", []ent{{name: `C:\Windows\x`, body: "evil"}}, Limits{}, ErrUnsafePath, `C:\Windows\x`},
		{"drive slash", []ent{{name: "c:/x", body: "evil"}}, Limits{}, ErrUnsafePath, "c:/x"},
		{"unc", []ent{{name: `\\server\share\x`, body: "evil"}}, Limits{}, ErrUnsafePath, `\\server\share\x`},
		{"nul", []ent{{name: "a\x00b", body: "evil"}}, Limits{}, ErrUnsafePath, "a\x00b"},
		{"symlink to root", []ent{{name: "l", body: "/", mode: sym}}, Limits{}, ErrSymlinkEscape, "l"},
		{"symlink up", []ent{{name: "a/l", body: "../../x", mode: sym}}, Limits{}, ErrSymlinkEscape, "a/l"},
		{"symlink then file through it", []ent{{name: "l", body: "sub", mode: sym}, {name: "sub/", mode: fs.ModeDir | 0o755}, {name: "l/x", body: "evil"}}, Limits{}, ErrThroughSymlink, "l/x"},
		{"escaping symlink then file through it", []ent{{name: "l", body: "../outside", mode: sym}, {name: "l/x", body: "evil"}}, Limits{}, ErrThroughSymlink, "l/x"},
		{"symlink chain", []ent{{name: "a", body: ".", mode: sym}, {name: "b", body: "a/..", mode: sym}}, Limits{}, ErrSymlinkEscape, "b"},
		{"symlink chain defined later", []ent{{name: "x", body: "y/..", mode: sym}, {name: "y", body: ".", mode: sym}}, Limits{}, ErrSymlinkEscape, "x"},
		{"symlink loop", []ent{{name: "a", body: "b", mode: sym}, {name: "b", body: "a", mode: sym}}, Limits{}, ErrSymlinkEscape, ""},
		{"file over symlink", []ent{{name: "t", body: "ok"}, {name: "l", body: "t", mode: sym}, {name: "l", body: "evil"}}, Limits{}, ErrDuplicate, "l"},
		{"duplicate file", []ent{{name: "f", body: "1"}, {name: "f", body: "2"}}, Limits{}, ErrDuplicate, "f"},
		{"symlink over directory", []ent{{name: "d/x", body: "1"}, {name: "d", body: "/", mode: sym}}, Limits{}, ErrSymlinkEscape, "d"},
		{"symlink over directory internal", []ent{{name: "d/x", body: "1"}, {name: "d", body: "d2", mode: sym}}, Limits{}, ErrDuplicate, "d"},
		{"file under file", []ent{{name: "f", body: "1"}, {name: "f/x", body: "2"}}, Limits{}, ErrNotDir, "f/x"},
		{"block device", []ent{{name: "dev", mode: fs.ModeDevice | 0o644}}, Limits{}, ErrUnsupportedType, "dev"},
		{"char device", []ent{{name: "dev", mode: fs.ModeDevice | fs.ModeCharDevice | 0o644}}, Limits{}, ErrUnsupportedType, "dev"},
		{"fifo", []ent{{name: "p", mode: fs.ModeNamedPipe | 0o644}}, Limits{}, ErrUnsupportedType, "p"},
		{"10k entries", many, small, ErrTooManyFiles, many[1000].name},
		{"file too large", []ent{{name: "big", body: strings.Repeat("x", 2<<20)}}, small, ErrFileTooLarge, "big"},
		{"total too large", []ent{{name: "a", body: strings.Repeat("a", 1<<20-1)}, {name: "b", body: strings.Repeat("b", 1<<20-1)}, {name: "c", body: strings.Repeat("c", 1<<20-1)}, {name: "d", body: strings.Repeat("d", 1<<20-1)}}, small, ErrTotalTooLarge, "d"},
		{"ratio bomb declared honestly", []ent{{name: "zeros", raw: zeroDeflate(1024), declaredSize: 1 << 30, crc: 0}}, Limits{}, ErrRatio, "zeros"},
		{"1 GiB of zeros declared as 1 KiB", []ent{{name: "zeros", raw: zeroDeflate(1024), declaredSize: 1024, crc: 0}}, Limits{}, ErrSizeMismatch, "zeros"},
		{"many small ratio bombs", func() []ent {
			var es []ent
			for i := range 8 {
				es = append(es, ent{name: "z" + itoa(i), raw: zeroDeflate(1), declaredSize: 1 << 20, crc: zeroCRC(1)})
			}
			return es
		}(), Limits{MaxRatio: 100}, ErrRatio, "z1"},
		{"corrupt checksum", []ent{{name: "c", raw: zeroDeflate(1), declaredSize: 1 << 20, crc: 1}}, Limits{MaxRatio: 10000}, ErrCorrupt, "c"},
		{"short entry", []ent{{name: "c", raw: zeroDeflate(1), declaredSize: 2 << 20, crc: zeroCRC(1)}}, Limits{MaxRatio: 10000}, ErrCorrupt, "c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			zp := makeZip(t, tc.ents...)
			dest, check := sandbox(t)
			err := ExtractZip(context.Background(), zp, dest, tc.lim)
			if !errors.Is(err, tc.rule) {
				t.Fatalf("err = %v, want %v", err, tc.rule)
			}
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("err %v is not an *EntryError", err)
			}
			if tc.entry != "" && ee.Entry != tc.entry {
				t.Errorf("error names entry %q, want %q (%v)", ee.Entry, tc.entry, err)
			}
			if !strings.Contains(err.Error(), tc.rule.Error()) {
				t.Errorf("message %q does not state the rule", err)
			}
			check()
			// Bombs are refused before or while writing, never after: nothing large on disk.
			var size int64
			filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					fi, _ := d.Info()
					size += fi.Size()
				}
				return nil
			})
			if size > 8<<20 {
				t.Errorf("%d bytes written before refusing", size)
			}
		})
	}
}

func TestExtractTarRefuses(t *testing.T) {
	cases := []struct {
		name  string
		ents  []ent
		lim   Limits
		rule  error
		entry string
	}{
		{"dotdot", []ent{{name: "../x", body: "evil"}}, Limits{}, ErrUnsafePath, "../x"},
		{"absolute", []ent{{name: "/etc/x", body: "evil"}}, Limits{}, ErrUnsafePath, "/etc/x"},
		{"drive", []ent{{name: "C:/x", body: "evil"}}, Limits{}, ErrUnsafePath, "C:/x"},
		{"symlink to root", []ent{{name: "l", body: "/", mode: sym}}, Limits{}, ErrSymlinkEscape, "l"},
		{"symlink then file through it", []ent{{name: "sub/", mode: fs.ModeDir | 0o755}, {name: "l", body: "sub", mode: sym}, {name: "l/x", body: "evil"}}, Limits{}, ErrThroughSymlink, "l/x"},
		{"escaping symlink then file through it", []ent{{name: "l", body: "../../etc", mode: sym}, {name: "l/passwd", body: "evil"}}, Limits{}, ErrSymlinkEscape, "l"},
		{"symlink chain defined later", []ent{{name: "x", body: "y/..", mode: sym}, {name: "y", body: ".", mode: sym}}, Limits{}, ErrSymlinkEscape, "x"},
		{"file over symlink", []ent{{name: "l", body: "t", mode: sym}, {name: "l", body: "evil"}}, Limits{}, ErrDuplicate, "l"},
		{"dir over symlink", []ent{{name: "l", body: "t", mode: sym}, {name: "l/", mode: fs.ModeDir | 0o755}}, Limits{}, ErrDuplicate, "l/"},
		{"hard link outside", []ent{{name: "h", link: "../../etc/passwd"}}, Limits{}, ErrHardLink, "h"},
		{"hard link absolute", []ent{{name: "h", link: "/etc/passwd"}}, Limits{}, ErrHardLink, "h"},
		{"hard link to unknown", []ent{{name: "h", link: "nothere"}}, Limits{}, ErrHardLink, "h"},
		{"hard link to symlink", []ent{{name: "l", body: "x", mode: sym}, {name: "h", link: "l"}}, Limits{}, ErrHardLink, "h"},
		{"char device", []ent{{name: "dev", mode: fs.ModeCharDevice}}, Limits{}, ErrUnsupportedType, "dev"},
		{"fifo", []ent{{name: "p", mode: fs.ModeNamedPipe}}, Limits{}, ErrUnsupportedType, "p"},
		{"too many", []ent{{name: "a", body: "1"}, {name: "b", body: "2"}, {name: "c", body: "3"}}, Limits{MaxFiles: 2}, ErrTooManyFiles, "c"},
		{"file too large", []ent{{name: "big", body: strings.Repeat("x", 100)}}, Limits{MaxFileBytes: 99}, ErrFileTooLarge, "big"},
		{"total too large", []ent{{name: "a", body: strings.Repeat("x", 60)}, {name: "b", body: strings.Repeat("x", 60)}}, Limits{MaxTotalBytes: 100}, ErrTotalTooLarge, "b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dest, check := sandbox(t)
			err := ExtractTar(context.Background(), bytes.NewReader(makeTar(t, tc.ents...)), dest, false, tc.lim)
			if !errors.Is(err, tc.rule) {
				t.Fatalf("err = %v, want %v", err, tc.rule)
			}
			var ee *EntryError
			if errors.As(err, &ee) && ee.Entry != tc.entry {
				t.Errorf("error names entry %q, want %q (%v)", ee.Entry, tc.entry, err)
			}
			check()
		})
	}
}

func TestExtractTarRemovesLinkThatEscapesOnceComplete(t *testing.T) {
	dest, check := sandbox(t)
	tb := makeTar(t, ent{name: "x", body: "y/..", mode: sym}, ent{name: "y", body: ".", mode: sym})
	err := ExtractTar(context.Background(), bytes.NewReader(tb), dest, false, Limits{})
	if !errors.Is(err, ErrSymlinkEscape) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("escaping link left in dest: %v", err)
	}
	check()
}

func TestExtractRefusesPreexistingLinkInDest(t *testing.T) {
	dest, check := sandbox(t)
	os.MkdirAll(dest, 0o755)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dest, "evil")); err != nil {
		t.Fatal(err)
	}
	zp := makeZip(t, ent{name: "evil/x", body: "evil"})
	if err := ExtractZip(context.Background(), zp, dest, Limits{}); !errors.Is(err, ErrThroughSymlink) {
		t.Fatalf("err = %v", err)
	}
	tb := makeTar(t, ent{name: "l", body: "evil/../..", mode: sym})
	if err := ExtractTar(context.Background(), bytes.NewReader(tb), dest, false, Limits{}); !errors.Is(err, ErrSymlinkEscape) {
		t.Fatalf("err = %v", err)
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Fatalf("wrote outside: %v", des)
	}
	os.Remove(filepath.Join(dest, "evil"))
	check()
}

func TestGzipRatioBomb(t *testing.T) {
	// A tar holding 64 MiB of zeros, gzipped: ratio ~1000.
	var tb bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&tb, gzip.BestCompression)
	gw.Write(makeTar(t, ent{name: "zeros", body: string(make([]byte, 64<<20))}))
	gw.Close()
	dest, check := sandbox(t)
	err := ExtractTar(context.Background(), bytes.NewReader(tb.Bytes()), dest, true, Limits{MaxRatio: 200})
	if !errors.Is(err, ErrRatio) {
		t.Fatalf("err = %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dest, "zeros"))
	if fi != nil && fi.Size() > 16<<20 {
		t.Errorf("wrote %d bytes before refusing", fi.Size())
	}
	check()
}

func TestExtractZipModes(t *testing.T) {
	old := syscall.Umask(0o077) // a strict umask must not strip the archive's bits
	defer syscall.Umask(old)
	zp := makeZip(t,
		ent{name: "bin/", mode: fs.ModeDir | 0o750},
		ent{name: "bin/app", body: "ELF", mode: 0o755},
		ent{name: "scripts/start.sh", body: "#!/bin/sh", mode: 0o775},
		ent{name: "README", body: "hi", mode: 0o644},
		ent{name: "secret", body: "s", mode: 0o600},
		ent{name: "ro", body: "r", mode: 0o444},
		ent{name: "suid", body: "x", mode: fs.ModeSetuid | fs.ModeSetgid | 0o755},
		ent{name: "win.txt", body: "w", fat: true},
		ent{name: "link", body: "bin/app", mode: sym},
	)
	dest, check := sandbox(t)
	if err := ExtractZip(context.Background(), zp, dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	check()
	got := listTree(t, dest)
	want := []string{
		"README 0644 hi",
		"bin/ 0750",
		"bin/app 0755 ELF",
		"link -> bin/app",
		"ro 0444 r",
		"scripts/ 0755",
		"scripts/start.sh 0775 #!/bin/sh",
		"secret 0600 s",
		"suid 0755 x",
		"win.txt 0644 w",
	}
	if !slices.Equal(got, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fi, _ := os.Stat(filepath.Join(dest, "suid"))
	if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		t.Errorf("setuid/setgid kept: %v", fi.Mode())
	}
}

func TestExtractTarModesAndLinks(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	tb := makeTar(t,
		ent{name: "./", mode: fs.ModeDir | 0o755},
		ent{name: "./app/", mode: fs.ModeDir | 0o755},
		ent{name: "./app/run", body: "run", mode: 0o755},
		ent{name: "./app/run2", link: "app/run"},
		ent{name: "./app/current", body: "run", mode: sym},
		ent{name: "./up", body: "app/../app/run", mode: sym},
		ent{name: "./suid", body: "x", mode: fs.ModeSetuid | 0o755},
	)
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(tb)
	gw.Close()
	for _, compressed := range []bool{false, true} {
		dest, check := sandbox(t)
		in := tb
		if compressed {
			in = gz.Bytes()
		}
		if err := ExtractTar(context.Background(), bytes.NewReader(in), dest, compressed, Limits{}); err != nil {
			t.Fatal(err)
		}
		check()
		got := listTree(t, dest)
		want := []string{"app/ 0755", "app/current -> run", "app/run 0755 run", "app/run2 0755 run", "suid 0755 x", "up -> app/../app/run"}
		if !slices.Equal(got, want) {
			t.Errorf("gz=%v tree:\n%s\nwant:\n%s", compressed, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		a, _ := os.Stat(filepath.Join(dest, "app/run"))
		b, _ := os.Stat(filepath.Join(dest, "app/run2"))
		if !os.SameFile(a, b) {
			t.Errorf("hard link not preserved")
		}
	}
}

func TestExtractContextCancelled(t *testing.T) {
	zp := makeZip(t, ent{name: "a", body: "1"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest, _ := sandbox(t)
	if err := ExtractZip(ctx, zp, dest, Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestExtractTarBrokenStreamRemovesEscapingLink(t *testing.T) {
	// x -> y/.. is harmless until y -> . arrives; the stream then breaks: x must not survive.
	tb := makeTar(t, ent{name: "x", body: "y/..", mode: sym}, ent{name: "y", body: ".", mode: sym})
	tb = append(tb[:len(tb)-1024], bytes.Repeat([]byte{'x'}, 1024)...) // garbage instead of the trailer
	dest, check := sandbox(t)
	err := ExtractTar(context.Background(), bytes.NewReader(tb), dest, false, Limits{})
	if err == nil || !strings.Contains(err.Error(), "read tar") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("escaping link left behind: %v", err)
	}
	check()
}

func TestExtractZipLinkOrder(t *testing.T) {
	// b resolves inside dest only through a, which comes later in the archive.
	ents := []ent{
		{name: "b", body: "a/../../x", mode: sym},
		{name: "p/q/", mode: fs.ModeDir | 0o755},
		{name: "a", body: "p/q", mode: sym},
	}
	dest, check := sandbox(t)
	if err := ExtractZip(context.Background(), makeZip(t, ents...), dest, Limits{}); err != nil {
		t.Fatalf("valid archive refused: %v", err)
	}
	check()
	// The same archive cut short by a bad entry before a: b must not survive, since without a
	// it leads out of dest.
	cut := []ent{ents[0], {name: "bad", raw: zeroDeflate(1), declaredSize: 10, crc: 0}, ents[1], ents[2]}
	dest, check = sandbox(t)
	err := ExtractZip(context.Background(), makeZip(t, cut...), dest, Limits{})
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link b left behind: %v", err)
	}
	check()
}
