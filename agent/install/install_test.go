package install

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/conveyorci/conveyor/agent/appspec"
)

// env is a revision, a destination tree and the group's instruction files, in temp directories.
type env struct {
	t       *testing.T
	archive string
	dest    string
	instr   string
	notes   []string
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, archive: t.TempDir(), dest: t.TempDir(), instr: t.TempDir()}
	return e
}

// revision replaces the revision with files (path → content; a trailing / makes a directory,
// "->target" a link).
func (e *env) revision(files map[string]string) {
	e.t.Helper()
	os.RemoveAll(e.archive)
	for p, content := range files {
		full := filepath.Join(e.archive, p)
		if strings.HasSuffix(p, "/") {
			must(e.t, os.MkdirAll(full, 0o755))
			continue
		}
		must(e.t, os.MkdirAll(filepath.Dir(full), 0o755))
		if target, ok := strings.CutPrefix(content, "->"); ok {
			must(e.t, os.Symlink(target, full))
			continue
		}
		must(e.t, os.WriteFile(full, []byte(content), 0o644))
	}
}

func (e *env) spec(src string) *appspec.AppSpec {
	e.t.Helper()
	s, err := appspec.Parse("appspec.yml", []byte(strings.ReplaceAll("version: 0.0\nos: linux\n"+src, "DEST", e.dest)))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) run(spec *appspec.AppSpec, behavior string) (Summary, error) {
	e.notes = nil
	if behavior == "" {
		behavior = appspec.Disallow
	}
	return Run(context.Background(), Options{ArchiveDir: e.archive, Spec: spec, FileExistsBehavior: behavior,
		CleanupFile: filepath.Join(e.instr, "dg-cleanup"), InstallFile: filepath.Join(e.instr, "dg-install.json"),
		Note: func(f string, a ...any) { e.notes = append(e.notes, fmt.Sprintf(f, a...)) }})
}

func (e *env) cleanup() []string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.instr, "dg-cleanup"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			out = append(out, strings.TrimPrefix(l, e.dest))
		}
	}
	return out
}

func (e *env) read(p string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dest, p))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *env) exists(p string) bool {
	_, err := os.Lstat(filepath.Join(e.dest, p))
	return err == nil
}

func (e *env) mode(p string) fs.FileMode {
	e.t.Helper()
	fi, err := os.Lstat(filepath.Join(e.dest, p))
	if err != nil {
		e.t.Fatal(err)
	}
	return fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Files: a directory source copies its contents, a file source goes in by name, missing parents
// are made, and everything created is recorded (parents first) for the next Install to remove.
func TestInstallAndCleanup(t *testing.T) {
	e := newEnv(t)
	e.revision(map[string]string{"appspec.yml": "x", "bin/app": "v1", "conf/app.conf": "c1", "empty/": "", "bin/link": "->app"})
	spec := e.spec("files:\n  - source: /bin\n    destination: DEST/opt/app/bin\n  - source: conf/app.conf\n    destination: DEST/etc/app\n  - source: empty\n    destination: DEST/var/empty\n")
	sum, err := e.run(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.read("opt/app/bin/app") != "v1" || e.read("etc/app/app.conf") != "c1" || !e.exists("var/empty") {
		t.Fatal("files not installed")
	}
	if target, _ := os.Readlink(filepath.Join(e.dest, "opt/app/bin/link")); target != "app" {
		t.Errorf("link installed as %q", target)
	}
	want := []string{"/opt", "/opt/app", "/opt/app/bin", "/opt/app/bin/app", "/opt/app/bin/link", "/etc", "/etc/app", "/etc/app/app.conf", "/var", "/var/empty"}
	if got := e.cleanup(); !reflect.DeepEqual(got, want) {
		t.Errorf("cleanup list\n got %q\nwant %q", got, want)
	}
	if sum.Copied != 3 || sum.Made != 7 || sum.Removed != 0 {
		t.Errorf("summary %+v", sum)
	}
	var plan struct{ Instructions []Instruction }
	b, err := os.ReadFile(filepath.Join(e.instr, "dg-install.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &plan))
	if len(plan.Instructions) != 10 || plan.Instructions[0].Type != "mkdir" || plan.Instructions[3].Type != "copy" {
		t.Errorf("install.json %+v", plan.Instructions)
	}

	// The next revision: the previous install is removed first (so DISALLOW does not trip over
	// it), a file a script added keeps its directory, and a file no longer shipped disappears.
	must(t, os.WriteFile(filepath.Join(e.dest, "etc/app/local.conf"), []byte("mine"), 0o644))
	e.revision(map[string]string{"bin/app": "v2"})
	spec = e.spec("files:\n  - source: bin\n    destination: DEST/opt/app/bin\n")
	sum, err = e.run(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.read("opt/app/bin/app") != "v2" || e.exists("opt/app/bin/link") || e.exists("etc/app/app.conf") || e.exists("var") {
		t.Error("previous install not removed")
	}
	if e.read("etc/app/local.conf") != "mine" || !e.exists("etc") {
		t.Error("a file nobody installed, or its directory, was removed")
	}
	if sum.Removed != 8 || sum.KeptDirs != 2 || len(e.notes) != 2 || !strings.Contains(e.notes[0], "etc/app installed by the previous deployment: it holds other files") {
		t.Errorf("summary %+v, notes %q", sum, e.notes)
	}
	if got := e.cleanup(); !reflect.DeepEqual(got, []string{"/opt", "/opt/app", "/opt/app/bin", "/opt/app/bin/app"}) {
		t.Errorf("cleanup list %q", got)
	}
}

// A cleanup list cut short by a crash: the unfinished last line is ignored.
func TestCleanupAfterACrash(t *testing.T) {
	e := newEnv(t)
	must(t, os.MkdirAll(filepath.Join(e.dest, "a"), 0o755))
	must(t, os.WriteFile(filepath.Join(e.dest, "a/f"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(e.instr, "dg-cleanup"), []byte(e.dest+"/a\n"+e.dest+"/a/f\n"+e.dest+"/a/g"), 0o644))
	e.revision(map[string]string{"x": "1"})
	if _, err := e.run(e.spec(""), ""); err != nil {
		t.Fatal(err)
	}
	if e.exists("a") {
		t.Error("the listed paths were not removed")
	}
}

func TestFileExistsBehavior(t *testing.T) {
	for _, tc := range []struct {
		behavior, appspecLine string
		wantErr               string
		want                  string
		inCleanup             bool
	}{
		{behavior: appspec.Disallow, wantErr: "already exists and was not installed by the previous deployment of this group; file_exists_behavior is DISALLOW"},
		{behavior: appspec.Overwrite, want: "new", inCleanup: true},
		{behavior: appspec.Retain, want: "old"},
	} {
		t.Run(tc.behavior, func(t *testing.T) {
			e := newEnv(t)
			must(t, os.MkdirAll(filepath.Join(e.dest, "app"), 0o755))
			must(t, os.WriteFile(filepath.Join(e.dest, "app/config"), []byte("old"), 0o600))
			e.revision(map[string]string{"config": "new", "other": "x"})
			sum, err := e.run(e.spec("files:\n  - source: /\n    destination: DEST/app\n"), tc.behavior)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), e.dest+"/app/config") {
					t.Fatalf("error %v", err)
				}
				if e.exists("app/other") {
					t.Error("something was written although the plan failed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.read("app/config"); got != tc.want {
				t.Errorf("config = %q, want %q", got, tc.want)
			}
			inCleanup := strings.Contains(strings.Join(e.cleanup(), " "), "/app/config")
			if inCleanup != tc.inCleanup || (tc.behavior == appspec.Retain && sum.Kept != 1) {
				t.Errorf("in cleanup list: %v; summary %+v", inCleanup, sum)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t)
	e.revision(map[string]string{"scripts/start.sh": "s", "scripts/stop.sh": "s", "scripts/README": "r", "scripts/lib/util.sh": "u",
		"secret.key": "k", "bin/app": "b", "data/cache/": ""})
	spec := e.spec(`files:
  - source: /
    destination: DEST/app
permissions:
  - object: DEST/app/scripts
    pattern: "*.sh"
    mode: 755
    type: [file]
  - object: DEST/app/data
    mode: 0700
    type: [directory]
  - object: DEST/app/secret.key
    mode: 400
  - object: DEST/app/bin
    except: [nothing]
    mode: 4750
`)
	if _, err := e.run(spec, ""); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{
		"app/scripts/start.sh": 0o755, "app/scripts/stop.sh": 0o755, "app/scripts/README": 0o644,
		"app/scripts/lib/util.sh": 0o644,                    // "*.sh" selects names directly in the object only
		"app/data/cache":          0o700, "app/data": 0o755, // type directory: below the object, not the object
		"app/secret.key": 0o400, "app/bin/app": 0o750 | fs.ModeSetuid,
	} {
		if got := e.mode(p); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
}

func TestPermissionsOwnerAndGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	e := newEnv(t)
	e.revision(map[string]string{"www/index.html": "hi", "www/img/logo.png": "png"})
	spec := e.spec("files:\n  - source: www\n    destination: DEST/srv/www\npermissions:\n  - object: DEST/srv/www\n    owner: nobody\n    group: \"65534\"\n")
	if _, err := e.run(spec, ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"srv/www/index.html", "srv/www/img", "srv/www/img/logo.png"} {
		fi, err := os.Stat(filepath.Join(e.dest, p))
		must(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s owned by %d:%d", p, st.Uid, st.Gid)
		}
	}
	// srv/www existed before? No: it was made by this Install, but it is the object itself.
	fi, _ := os.Stat(filepath.Join(e.dest, "srv/www"))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
		t.Errorf("the object itself was chowned to %d", st.Uid)
	}

	e.revision(map[string]string{"a": "1"})
	_, err := e.run(e.spec("files:\n  - source: a\n    destination: DEST/x\npermissions:\n  - object: DEST/x\n    owner: no-such-user-at-all\n"), "")
	if err == nil || !strings.Contains(err.Error(), `no user "no-such-user-at-all" on this host`) {
		t.Errorf("unknown owner: %v", err)
	}
}

// ACLs go through setfacl when it is installed, and are skipped with a warning when it is not.
func TestACLs(t *testing.T) {
	e := newEnv(t)
	e.revision(map[string]string{"f": "1"})
	spec := e.spec("files:\n  - source: f\n    destination: DEST/x\npermissions:\n  - object: DEST/x/f\n    mode: 640\n    acls: [\"u:nobody:r\"]\n")
	if _, err := e.run(spec, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("setfacl"); err != nil {
		if len(e.notes) != 1 || !strings.Contains(e.notes[0], "setfacl is not installed") {
			t.Errorf("notes %q", e.notes)
		}
		return
	}
	out, err := exec.Command("getfacl", "-c", filepath.Join(e.dest, "x/f")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "user:nobody:r--") {
		t.Errorf("getfacl: %v %s", err, out)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name, files, spec, want string
	}{
		{"two sources, one destination", "a/x:1,b/x:2", "files:\n  - source: a\n    destination: DEST/d\n  - source: b\n    destination: DEST/d\n",
			"the appspec installs two files at DEST/d/x: a/x and b/x"},
		{"missing source", "a:1", "files:\n  - source: nope\n    destination: DEST/d\n", `files[0]: source "nope" is not in the revision`},
		{"pattern on a file object", "a:1", "files:\n  - source: a\n    destination: DEST/d\npermissions:\n  - object: DEST/d/a\n    pattern: \"*.sh\"\n    mode: 644\n",
			"permissions[0]: DEST/d/a is a file, so pattern and except cannot select anything below it"},
		{"permissions twice", "a:1", "files:\n  - source: a\n    destination: DEST/d\npermissions:\n  - object: DEST/d\n    mode: 644\n  - object: DEST/d/a\n    mode: 600\n",
			"permissions[0] and permissions[1] both apply to DEST/d/a"},
		{"a file where a directory goes", "a/b:1", "files:\n  - source: a\n    destination: DEST/plain-file\n",
			"cannot copy directory a to DEST/plain-file: a file exists there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			files := map[string]string{}
			for _, kv := range strings.Split(tc.files, ",") {
				k, v, _ := strings.Cut(kv, ":")
				files[k] = v
			}
			e.revision(files)
			must(t, os.WriteFile(filepath.Join(e.dest, "plain-file"), nil, 0o644))
			_, err := e.run(e.spec(tc.spec), "")
			want := strings.ReplaceAll(tc.want, "DEST", e.dest)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want %q", err, want)
			}
			if _, err := os.Stat(filepath.Join(e.instr, "dg-cleanup")); err == nil {
				t.Error("a cleanup list was written although the plan failed")
			}
		})
	}
}
