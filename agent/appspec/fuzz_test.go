package appspec

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, must answer quickly, must return
// either an appspec or Errors (never both, never neither), and what it accepts must satisfy what
// the agent relies on: paths clean and inside their roots, timeouts within bounds, known events.
// Crashers found by `go test -fuzz` are kept under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, v := range []string{"v1", "v2-broken-port", "v3"} {
		if data, err := os.ReadFile(filepath.Join(fixtures.Dir(f, "sample-app/"+v), "appspec.yml")); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "{", "[]", "null", "- a", "a: &a [*a]", "a: *b", "<<: {a: 1}", "? [a]\n: b\n", "\xef\xbb\xbf",
		"version: 0.0\nos: linux\nfiles: [{source: /, destination: /opt/x}]\nfile_exists_behavior: RETAIN\n",
		"version: 0.0\nos: linux\npermissions: [{object: /a, pattern: '*.sh', except: [b], mode: 4755, acls: ['d:u:x:rw'], type: [file]}]\n",
		"version: 0.0\nos: linux\nhooks: {BeforeInstall: [{location: a, timeout: 9999, runas: u, sudo: yes}], AfterInstall: ~}\n",
		"version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - &a {location: a.sh}\n    - {<<: *a, timeout: 3}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		s, err := Parse("fuzz.yml", data)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || s != nil {
				t.Fatalf("got %v, %T %v", s, err, err)
			}
			for _, e := range es {
				if e.Message == "" || e.File != "fuzz.yml" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("bad error %#v", e)
				}
			}
			if len(es) > maxReportedErrors+1 {
				t.Fatalf("%d errors", len(es))
			}
			return
		}
		if s == nil || s.OS != "linux" || s.Hooks == nil {
			t.Fatalf("accepted %+v", s)
		}
		inside := func(p string) bool {
			return p == "" || (path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../") && !strings.HasPrefix(p, "/"))
		}
		for _, f := range s.Files {
			if !inside(f.Source) || !path.IsAbs(f.Destination) || path.Clean(f.Destination) != f.Destination {
				t.Fatalf("file %+v", f)
			}
		}
		for _, p := range s.Permissions {
			if !path.IsAbs(p.Object) || p.Pattern == "" || (!p.Files && !p.Dirs) {
				t.Fatalf("permission %+v", p)
			}
		}
		for ev, scripts := range s.Hooks {
			if !contains(ScriptEvents, ev) {
				t.Fatalf("event %q", ev)
			}
			for _, sc := range scripts {
				if sc.Location == "" || !inside(sc.Location) || sc.Timeout <= 0 || sc.Timeout > DefaultTimeout {
					t.Fatalf("script %+v", sc)
				}
			}
		}
		switch s.FileExistsBehavior {
		case "", Disallow, Overwrite, Retain:
		default:
			t.Fatalf("behaviour %q", s.FileExistsBehavior)
		}
	})
}
