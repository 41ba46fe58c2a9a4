package lifecycle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// dirFetcher serves revisions from files in a directory, as the server serves them from its blob
// store (the HTTP transport is the agent package's, tested there against the real server).
type dirFetcher struct{ dir string }

func (f dirFetcher) Fetch(_ context.Context, p string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(f.dir, filepath.Base(p)))
}

// recorder is a Reporter that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	events []protocol.EventReport
	lines  []protocol.LogLine
	// stopAfter makes the report of that event's end answer Continue=false.
	stopAfter string
}

func (r *recorder) Event(_ context.Context, e protocol.EventReport) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return !(e.Event == r.stopAfter && e.Status != protocol.StatusInProgress)
}

func (r *recorder) Line(l protocol.LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
}

// final returns the last report of each event: "Event=Status".
func (r *recorder) final() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Status != protocol.StatusInProgress {
			out = append(out, e.Event+"="+e.Status)
		}
	}
	return out
}

func (r *recorder) report(ev string) protocol.EventReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Event == ev && r.events[i].Status != protocol.StatusInProgress {
			return r.events[i]
		}
	}
	return protocol.EventReport{}
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		fmt.Fprintf(&b, "%s %s [%s] %s\n", l.Event, l.Script, l.Stream, l.Text)
	}
	return b.String()
}

// tree is a revision's files: path → content (mode 0755 when the path ends in .sh).
type tree map[string]string

func (t tree) names() []string {
	var ns []string
	for n := range t {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func modeOf(name string) int64 {
	if strings.HasSuffix(name, ".sh") || strings.HasPrefix(name, "bin/") {
		return 0o755
	}
	return 0o644
}

func tgz(t testing.TB, files tree) []byte { return tarball(t, files, true) }

// tarball is a tar of files, gzipped when gz (the sample app's 8 MB binary is quicker to test
// uncompressed under the race detector).
func tarball(t testing.TB, files tree, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.Writer = &b
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&b)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, n := range files.names() {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: modeOf(n), Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return b.Bytes()
}

func zipOf(t testing.TB, files tree) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range files.names() {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		h.SetMode(fs.FileMode(modeOf(n)))
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	zw.Close()
	return b.Bytes()
}

// world is a deployment root, a destination for the revisions, and a store of bundles.
type world struct {
	t       *testing.T
	root    string
	dest    string
	bundles string
	x       *Executor
	n       int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, root: t.TempDir(), dest: t.TempDir(), bundles: t.TempDir()}
	w.x = w.executor()
	return w
}

func (w *world) executor() *Executor {
	x, err := New(Config{Root: w.root, Fetcher: dirFetcher{w.bundles}, Env: append(os.Environ(), "CONVEYOR_AGENT_TOKEN=secret")})
	if err != nil {
		w.t.Fatal(err)
	}
	return x
}

// command stores a bundle and returns a command deploying it with every in-place event.
func (w *world) command(bundle []byte, bundleType string) protocol.Command {
	w.n++
	name := fmt.Sprintf("bundle-%d", w.n)
	if err := os.WriteFile(filepath.Join(w.bundles, name), bundle, 0o644); err != nil {
		w.t.Fatal(err)
	}
	sum := sha256.Sum256(bundle)
	return protocol.Command{
		ID: fmt.Sprintf("cmd-%d", w.n), DeploymentID: fmt.Sprintf("d-%09d", w.n), ApplicationName: "SampleApp",
		DeploymentGroupName: "Prod", DeploymentGroupID: "dg-1111", Creator: "user",
		Revision: protocol.Revision{BundlePath: "/agent/v1/bundles/" + name, SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(bundle)), BundleType: bundleType, Bucket: "releases", Key: "app.zip", ETag: "abc123"},
		Events:       append([]string(nil), protocol.InPlaceEvents...),
		LeaseSeconds: 60,
	}
}

func (w *world) run(cmd protocol.Command) (*recorder, protocol.Completion) {
	rec := &recorder{}
	c := w.x.Run(context.Background(), cmd, rec)
	if err := w.x.Forget(cmd.ID); err != nil {
		w.t.Fatal(err)
	}
	return rec, c
}

func (w *world) deployDir(cmd protocol.Command) string {
	return filepath.Join(w.root, cmd.DeploymentGroupID, cmd.DeploymentID)
}

func (w *world) scriptsLog(cmd protocol.Command) string {
	b, err := os.ReadFile(filepath.Join(w.deployDir(cmd), "logs", "scripts.log"))
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// appspec writes a minimal appspec installing everything into dest, plus extra YAML.
func (w *world) appspec(extra string) string {
	return "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: " + w.dest + "/app\n" + extra
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
