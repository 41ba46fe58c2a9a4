package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

func TestZipToTarRoundTrip(t *testing.T) {
	zp := makeZip(t,
		ent{name: "appspec.yml", body: "version: 0.0\n"},
		ent{name: "bin/app", body: "ELF", mode: 0o755},
		ent{name: "scripts/", mode: fs.ModeDir | 0o750},
		ent{name: "scripts/start.sh", body: "#!/bin/sh\n", mode: 0o755},
		ent{name: "deep/a/b/c.txt", body: "c"},
		ent{name: "current", body: "bin/app", mode: sym},
	)
	var tb bytes.Buffer
	if err := ZipToTar(context.Background(), zp, &tb, "src", Limits{}); err != nil {
		t.Fatal(err)
	}
	// Parents come before children, everything is below the prefix.
	tr := tar.NewReader(bytes.NewReader(tb.Bytes()))
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if name != "src" && !strings.HasPrefix(name, "src/") {
			t.Errorf("entry %q outside the prefix", hdr.Name)
		}
		if p := parentOf(name); p != "" && !seen[p] {
			t.Errorf("entry %q before its parent", hdr.Name)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("entry %q owned by %d:%d", hdr.Name, hdr.Uid, hdr.Gid)
		}
		seen[name] = true
	}
	dest, check := sandbox(t)
	if err := ExtractTar(context.Background(), &tb, dest, false, Limits{}); err != nil {
		t.Fatal(err)
	}
	check()
	got := listTree(t, dest)
	want := []string{
		"src/ 0755",
		"src/appspec.yml 0644 version: 0.0\n",
		"src/bin/ 0755",
		"src/bin/app 0755 ELF",
		"src/current -> bin/app",
		"src/deep/ 0755",
		"src/deep/a/ 0755",
		"src/deep/a/b/ 0755",
		"src/deep/a/b/c.txt 0644 c",
		"src/scripts/ 0750",
		"src/scripts/start.sh 0755 #!/bin/sh\n",
	}
	if !slices.Equal(got, want) {
		t.Errorf("tree:\n%q\nwant:\n%q", got, want)
	}
}

func TestZipToTarRefusesBeforeWriting(t *testing.T) {
	cases := []struct {
		name string
		ents []ent
		rule error
	}{
		{"dotdot", []ent{{name: "ok", body: "1"}, {name: "../x", body: "evil"}}, ErrUnsafePath},
		{"symlink escape", []ent{{name: "ok", body: "1"}, {name: "l", body: "../../etc", mode: sym}}, ErrSymlinkEscape},
		{"through symlink", []ent{{name: "l", body: "d", mode: sym}, {name: "l/x", body: "evil"}}, ErrThroughSymlink},
		{"ratio", []ent{{name: "zeros", raw: zeroDeflate(1024), declaredSize: 1 << 30}}, ErrRatio},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tb bytes.Buffer
			err := ZipToTar(context.Background(), makeZip(t, tc.ents...), &tb, "src", Limits{})
			if !errors.Is(err, tc.rule) {
				t.Fatalf("err = %v, want %v", err, tc.rule)
			}
			if tb.Len() != 0 {
				t.Errorf("%d bytes written before refusing", tb.Len())
			}
		})
	}
	// A lying size is only seen while streaming: the stream stops at the declared size.
	var tb bytes.Buffer
	err := ZipToTar(context.Background(), makeZip(t, ent{name: "zeros", raw: zeroDeflate(1024), declaredSize: 1024}), &tb, "", Limits{})
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("err = %v", err)
	}
	if tb.Len() > 64<<10 {
		t.Errorf("%d bytes streamed", tb.Len())
	}
	if err := ZipToTar(context.Background(), makeZip(t, ent{name: "a", body: "1"}), &tb, "../up", Limits{}); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("prefix: err = %v", err)
	}
}
