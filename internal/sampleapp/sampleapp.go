// Package sampleapp gives tests the revision the shared sample app's build produces (bin/sample-app,
// appspec.yml, scripts/*.sh) for one of its versions, built on this machine, optionally adapted
// (paths, port) so that it can be deployed to an agent running outside a container.
package sampleapp

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

// File is one file of a revision.
type File struct {
	Body []byte
	Mode fs.FileMode
}

// Scripts are the revision's text files, as the fixture ships them.
var Scripts = []string{"appspec.yml", "scripts/before_install.sh", "scripts/start_server.sh", "scripts/stop_server.sh", "scripts/validate_service.sh"}

type build struct {
	once sync.Once
	bin  []byte
	err  error
}

var builds sync.Map // fixture directory → *build

// Binary builds the sample app's program of a version ("v1", "v2-broken-port", "v3"), once per
// process.
func Binary(tb testing.TB, version string) []byte {
	tb.Helper()
	src := fixtures.Dir(tb, "sample-app/"+version)
	v, _ := builds.LoadOrStore(src, &build{})
	b := v.(*build)
	b.once.Do(func() {
		out, err := os.CreateTemp("", "conveyor-sample-app-*")
		if err != nil {
			b.err = err
			return
		}
		out.Close()
		defer os.Remove(out.Name())
		cmd := exec.Command("go", "build", "-o", out.Name(), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", src, err, msg)
			return
		}
		b.bin, b.err = os.ReadFile(out.Name())
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.bin
}

// Revision returns the files of a version's revision; adapt (when not nil) rewrites the appspec
// and the scripts.
func Revision(tb testing.TB, version string, adapt *strings.Replacer) map[string]File {
	tb.Helper()
	src := fixtures.Dir(tb, "sample-app/"+version)
	files := map[string]File{"bin/sample-app": {Body: Binary(tb, version), Mode: 0o755}}
	for _, name := range Scripts {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			tb.Fatal(err)
		}
		if adapt != nil {
			b = []byte(adapt.Replace(string(b)))
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		files[name] = File{Body: b, Mode: mode}
	}
	return files
}

// Local adapts a revision to a host that is not a container: its paths move below dest and it
// listens on port instead of 8080.
func Local(dest, port string) *strings.Replacer {
	return strings.NewReplacer("/opt/sample-app", dest+"/opt/sample-app", "/var/log/sample-app", dest+"/log",
		"/var/run/sample-app.pid", dest+"/sample-app.pid", "8080", port)
}
