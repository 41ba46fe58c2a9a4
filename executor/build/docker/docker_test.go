package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/volume"
)

// testImage is built by images/build.sh (make images): no registry is needed.
const testImage = "conveyor/busybox:latest"

// unavailable skips a test that needs Docker, or fails it when CI is set: CI must run them.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and Docker is not usable: "+format, args...)
	}
	t.Skipf("Docker not usable: "+format, args...)
}

// newBackend returns a backend with an instance label of its own, so parallel tests and test runs
// never see (or reap) each other's resources, and removes everything of that instance at the end.
func newBackend(t testing.TB) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := New(ctx, log, Options{Instance: "test-" + randomHex(6)})
	if err != nil {
		unavailable(t, "%v", err)
	}
	ok, err := b.ImageExists(ctx, testImage)
	if err != nil {
		unavailable(t, "%v", err)
	}
	if !ok {
		unavailable(t, "image %s is missing: run `make images`", testImage)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := b.Reap(ctx, func(string) bool { return false }); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		vs, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: b.labelFilter()})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, v := range vs.Volumes {
			if err := b.VolumeRemove(ctx, v.Name); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		b.Close()
	})
	return b
}

func setup(t testing.TB, b *Backend, spec Spec) *Build {
	t.Helper()
	if spec.Image == "" {
		spec.Image = testImage
	}
	if spec.BuildID == "" {
		spec.BuildID = "proj:" + randomHex(8)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bd, err := b.Setup(ctx, spec)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := bd.Destroy(ctx); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return bd
}

// sh runs a shell script in the build and returns its state and output.
func sh(t testing.TB, bd *Build, e ExecSpec, script string) (State, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.Cmd = []string{"/bin/sh", "-c", script}
	var out, errOut bytes.Buffer
	st, err := bd.Exec(ctx, e, &out, &errOut)
	if err != nil {
		t.Fatalf("Exec %q: %v (stderr %q)", script, err, errOut.String())
	}
	return st, out.String(), errOut.String()
}

func TestExecExitCodesAndStreams(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{WorkDir: "/work"})

	for _, tc := range []struct {
		script   string
		code     int
		out, err string
	}{
		{"true", 0, "", ""},
		{"exit 3", 3, "", ""},
		{"echo out; echo err >&2; echo out2", 0, "out\nout2\n", "err\n"},
		{"no-such-command", 127, "", "no-such-command: not found"},
		{"kill -9 $$", 137, "", ""},
	} {
		st, out, errOut := sh(t, bd, ExecSpec{}, tc.script)
		if st.ExitCode != tc.code || st.OOMKilled {
			t.Errorf("%q: state %+v, want exit %d", tc.script, st, tc.code)
		}
		if out != tc.out || !strings.Contains(errOut, tc.err) {
			t.Errorf("%q: stdout %q stderr %q, want %q and %q", tc.script, out, errOut, tc.out, tc.err)
		}
	}

	// Commands share the file system, as CodeBuild's phases do.
	sh(t, bd, ExecSpec{}, "echo kept > /tmp/state")
	if _, out, _ := sh(t, bd, ExecSpec{}, "cat /tmp/state"); out != "kept\n" {
		t.Errorf("file written by an earlier command: %q", out)
	}

	// A command run directly (no shell) that does not exist.
	ctx := context.Background()
	st, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"/no/such/binary"}}, nil, nil)
	if err != nil || st.ExitCode != 127 {
		t.Errorf("missing binary: %+v %v, want exit 127", st, err)
	}
}

func TestExecEnvWorkDirUserStdin(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{WorkDir: "/work", Env: []string{"A=container", "B=container"}})

	_, out, _ := sh(t, bd, ExecSpec{}, `echo "$A $B"; pwd; id -un`)
	if out != "container container\n/work\nroot\n" {
		t.Errorf("defaults: %q", out)
	}
	_, out, _ = sh(t, bd, ExecSpec{Env: []string{"B=exec"}, WorkDir: "/tmp", User: "builder"},
		`echo "$A $B"; pwd; id -u; echo "$HOME"; touch /tmp/mine && ls -n /tmp/mine | awk '{print $3}'`)
	if out != "container exec\n/tmp\n1000\n/home/builder\n1000\n" {
		t.Errorf("exec env/workdir/user: %q", out)
	}
	_, out, _ = sh(t, bd, ExecSpec{User: "1000:1000"}, `id -u; id -g`)
	if out != "1000\n1000\n" {
		t.Errorf("numeric user: %q", out)
	}

	st, out, _ := sh(t, bd, ExecSpec{Stdin: strings.NewReader("line one\nline two\n")}, `wc -l; exit 4`)
	if strings.TrimSpace(out) != "2" || st.ExitCode != 4 {
		t.Errorf("stdin: %q %+v", out, st)
	}

	// The engine refuses to start a command in a missing directory or as an unknown user: exit
	// code 126 (a failed command, not a broken backend) and the engine's reason on stdout.
	for _, e := range []ExecSpec{
		{Cmd: []string{"true"}, WorkDir: "/does/not/exist"},
		{Cmd: []string{"true"}, User: "nosuchuser"},
	} {
		var out bytes.Buffer
		st, err := bd.Exec(context.Background(), e, &out, nil)
		if err != nil || st.ExitCode != 126 || out.Len() == 0 {
			t.Errorf("%+v: state %+v err %v output %q, want exit 126 and a reason", e, st, err, out.String())
		}
		t.Logf("%+v: %q", e, out.String())
	}
}

// lineWriter sends each complete line written to it on a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func TestExecStreamsLive(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{})

	// The command prints a line, then blocks until the test writes to its stdin: if the first line
	// arrives while the command still waits, output is streamed, not buffered until the end.
	stdinR, stdinW := io.Pipe()
	out := &lineWriter{lines: make(chan string, 10)}
	type result struct {
		st  State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := bd.Exec(context.Background(), ExecSpec{
			Cmd:   []string{"/bin/sh", "-c", `echo first; echo to-stderr >&2; read -r go; echo "second $go"`},
			Stdin: stdinR,
		}, out, io.Discard)
		done <- result{st, err}
	}()
	select {
	case l := <-out.lines:
		if l != "first" {
			t.Fatalf("first line %q", l)
		}
	case r := <-done:
		t.Fatalf("Exec returned before the first line was seen: %+v", r)
	case <-time.After(30 * time.Second):
		t.Fatal("no first line")
	}
	select {
	case r := <-done:
		t.Fatalf("Exec returned while the command waited for stdin: %+v", r)
	default:
	}
	if _, err := io.WriteString(stdinW, "now\n"); err != nil {
		t.Fatal(err)
	}
	stdinW.Close()
	r := <-done
	if r.err != nil || r.st.ExitCode != 0 {
		t.Fatalf("Exec: %+v %v", r.st, r.err)
	}
	if l := <-out.lines; l != "second now" {
		t.Errorf("second line %q", l)
	}
}

func TestExecBackgroundProcessKeepsStdoutOpen(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{})
	start := time.Now()
	// The background sleep inherits stdout; Exec must still return when the command exits.
	st, out, _ := sh(t, bd, ExecSpec{}, "sleep 120 & echo started")
	if st.ExitCode != 0 || out != "started\n" {
		t.Errorf("state %+v out %q", st, out)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Exec took %s", d)
	}
}

func TestExecCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{})

	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 10)}
	type result struct {
		st  State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"/bin/sh", "-c",
			`sleep 1001 & sh -c 'sleep 1002' & echo running; sleep 1000; echo not-killed`}}, out, io.Discard)
		done <- result{st, err}
	}()
	select {
	case <-out.lines:
	case <-time.After(30 * time.Second):
		t.Fatal("command did not start")
	}
	start := time.Now()
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Exec did not return after cancel")
	}
	took := time.Since(start)
	t.Logf("Exec returned %s after cancel: %+v %v", took, r.st, r.err)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", r.err)
	}
	if took > 5*time.Second {
		t.Errorf("Exec took %s to return after cancel", took)
	}
	// Every process of the command's group is gone; the container still runs commands.
	_, ps, _ := sh(t, bd, ExecSpec{}, "ps -o pid,args")
	for _, n := range []string{"sleep 1000", "sleep 1001", "sleep 1002"} {
		if strings.Contains(ps, n) {
			t.Errorf("%s survived the cancel:\n%s", n, ps)
		}
	}
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{MemoryBytes: 64 << 20})

	// The shell keeps the command substitution's output in memory: ~1 GB against a 64 MB limit.
	st, _, errOut := sh(t, bd, ExecSpec{}, `x=$(head -c 1000000000 /dev/zero | tr '\0' a); echo ${#x}`)
	if !st.OOMKilled || st.ExitCode != 137 {
		t.Errorf("1 GB in 64 MB: state %+v (stderr %q), want OOMKilled and exit 137", st, errOut)
	}
	// A child killed while the command itself survives still counts.
	st, out, _ := sh(t, bd, ExecSpec{}, `sh -c 'x=$(head -c 1000000000 /dev/zero | tr "\0" a)'; echo "child exit $?"`)
	if !st.OOMKilled || st.ExitCode != 0 || out != "child exit 137\n" {
		t.Errorf("OOM in a child: state %+v out %q, want OOMKilled and exit 0", st, out)
	}
	// The flag is per exec: the next command is not OOM killed.
	st, _, _ = sh(t, bd, ExecSpec{}, `head -c 10000000 /dev/zero | tr '\0' a | wc -c`)
	if st.OOMKilled || st.ExitCode != 0 {
		t.Errorf("after OOM: state %+v", st)
	}
}

func TestCopyInOut(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{Mounts: []Mount{{Volume: "src", Target: "/codebuild/output"}}})
	ctx := context.Background()

	files := map[string]string{"a.txt": "alpha\n", "dir/b.sh": "#!/bin/sh\necho beta\n"}
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: int64(len(files["a.txt"]))})
	tw.Write([]byte(files["a.txt"]))
	tw.WriteHeader(&tar.Header{Name: "dir/b.sh", Mode: 0o755, Size: int64(len(files["dir/b.sh"])), Uid: 1000, Gid: 1000})
	tw.Write([]byte(files["dir/b.sh"]))
	tw.Close()

	if err := bd.CopyIn(ctx, "/codebuild/output/src", &in); err != nil {
		t.Fatal(err)
	}
	st, out, _ := sh(t, bd, ExecSpec{WorkDir: "/codebuild/output/src"}, `cat a.txt; ./dir/b.sh; ls -n dir/b.sh | awk '{print $3}'`)
	if st.ExitCode != 0 || out != "alpha\nbeta\n1000\n" {
		t.Errorf("after CopyIn: %+v %q", st, out)
	}
	sh(t, bd, ExecSpec{}, "echo made-in-build > /codebuild/output/src/c.txt")

	rc, err := bd.CopyOut(ctx, "/codebuild/output/src")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			p, _ := io.ReadAll(tr)
			got[h.Name] = string(p)
		}
	}
	want := map[string]string{"src/a.txt": "alpha\n", "src/dir/b.sh": files["dir/b.sh"], "src/c.txt": "made-in-build\n"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("CopyOut %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}

	if _, err := bd.CopyOut(ctx, "/no/such/path"); err == nil {
		t.Error("CopyOut of a missing path succeeded")
	}
}

func TestDestroyIdempotent(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	bd, err := b.Setup(ctx, Spec{BuildID: "destroy:" + randomHex(4), Image: testImage,
		Mounts: []Mount{{Volume: "src", Target: "/src"}, {Volume: "out", Target: "/out"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bd.Volumes) != 2 {
		t.Fatalf("volumes %v", bd.Volumes)
	}
	for i := 0; i < 2; i++ {
		if err := bd.Destroy(ctx); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	if _, err := b.cli.ContainerInspect(ctx, bd.ID); !cerrdefs.IsNotFound(err) {
		t.Errorf("container after Destroy: %v", err)
	}
	for _, v := range bd.Volumes {
		if _, err := b.cli.VolumeInspect(ctx, v); !cerrdefs.IsNotFound(err) {
			t.Errorf("volume %s after Destroy: %v", v, err)
		}
	}
	var nilBuild *Build
	if err := nilBuild.Destroy(ctx); err != nil {
		t.Errorf("Destroy on nil: %v", err)
	}
	// Exec on a destroyed build is an error, not an exit code.
	if _, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"true"}}, nil, nil); err == nil {
		t.Error("Exec after Destroy succeeded")
	}
}

func TestDestroyDuringExec(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	bd := setup(t, b, Spec{})
	out := &lineWriter{lines: make(chan string, 10)}
	done := make(chan error, 1)
	go func() {
		_, err := bd.Exec(context.Background(), ExecSpec{Cmd: []string{"/bin/sh", "-c", "echo up; sleep 1000"}}, out, nil)
		done <- err
	}()
	<-out.lines
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bd.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Exec in a destroyed container returned no error")
		}
		t.Logf("Exec during Destroy: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Exec did not return after Destroy")
	}
}

func TestSetupFailureCleansUp(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	id := "bad:" + randomHex(4)
	// A relative mount target is refused at container creation, after the volume was created.
	_, err := b.Setup(ctx, Spec{BuildID: id, Image: testImage, Mounts: []Mount{{Volume: "src", Target: "relative"}}})
	if err == nil {
		t.Fatal("Setup with a relative mount target succeeded")
	}
	vs, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: b.labelFilter(LabelBuildID + "=" + id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Volumes) != 0 {
		t.Errorf("volumes left after a failed Setup: %v", vs.Volumes)
	}
	// Retrying Setup with the same build id works, and replaces leftovers.
	bd := setup(t, b, Spec{BuildID: id, Mounts: []Mount{{Volume: "src", Target: "/src"}}})
	bd2, err := b.Setup(ctx, Spec{BuildID: id, Image: testImage, Mounts: []Mount{{Volume: "src", Target: "/src"}}})
	if err != nil {
		t.Fatalf("second Setup of the same build: %v", err)
	}
	if bd2.Name != bd.Name || bd2.ID == bd.ID {
		t.Errorf("second Setup: %s/%s vs %s/%s", bd2.Name, bd2.ID, bd.Name, bd.ID)
	}
}

func TestReap(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	cache := "conveyor-test-cache-" + randomHex(4)
	if err := b.VolumeEnsure(ctx, cache, map[string]string{"conveyor.project": "p"}); err != nil {
		t.Fatal(err)
	}
	if err := b.VolumeEnsure(ctx, cache, nil); err != nil { // idempotent
		t.Fatal(err)
	}
	live := setup(t, b, Spec{BuildID: "live:" + randomHex(4), Mounts: []Mount{{Volume: "src", Target: "/src"}, {Volume: cache, Target: "/cache", Cache: true}}})
	orphan := setup(t, b, Spec{BuildID: "orphan:" + randomHex(4), Mounts: []Mount{{Volume: "src", Target: "/src"}, {Volume: cache, Target: "/cache", Cache: true}}})

	// Another instance's orphan must survive this instance's Reap.
	other := newBackend(t)
	foreign := setup(t, other, Spec{BuildID: "orphan-elsewhere"})

	removed, err := b.Reap(ctx, func(id string) bool { return id == live.BuildID })
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 {
		t.Errorf("removed %d, want 2 (the orphan's container and volume)", removed)
	}
	if _, err := b.cli.ContainerInspect(ctx, orphan.ID); !cerrdefs.IsNotFound(err) {
		t.Errorf("orphan container: %v", err)
	}
	if _, err := b.cli.VolumeInspect(ctx, orphan.Volumes[0]); !cerrdefs.IsNotFound(err) {
		t.Errorf("orphan volume: %v", err)
	}
	for _, c := range []string{live.ID, foreign.ID} {
		if info, err := b.cli.ContainerInspect(ctx, c); err != nil || !info.State.Running {
			t.Errorf("container %s should still run: %v", c[:12], err)
		}
	}
	for _, v := range []string{live.Volumes[0], cache} {
		if _, err := b.cli.VolumeInspect(ctx, v); err != nil {
			t.Errorf("volume %s should remain: %v", v, err)
		}
	}
	if st, _, _ := sh(t, live, ExecSpec{}, "true"); st.ExitCode != 0 {
		t.Errorf("live build after Reap: %+v", st)
	}
	// A per-build volume cannot be claimed as a cache volume.
	if err := b.VolumeEnsure(ctx, live.Volumes[0], nil); err == nil {
		t.Error("VolumeEnsure on a per-build volume succeeded")
	}
}

func TestMissingImageFailsClearly(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	// Nothing can be pulled here; where a registry is reachable this name still does not exist.
	img := "conveyor/no-such-image-" + randomHex(4) + ":1"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var progress bytes.Buffer
	start := time.Now()
	_, err := b.Setup(ctx, Spec{BuildID: "img:" + randomHex(4), Image: img, PullProgress: &progress})
	t.Logf("after %s: %v\nprogress: %q", time.Since(start), err, progress.String())
	var ie *ImageError
	if !errors.As(err, &ie) || ie.Image != img {
		t.Fatalf("err = %v, want an *ImageError for %s", err, img)
	}
	msg := err.Error()
	for _, want := range []string{"image " + img + " is not present and cannot be pulled", "make images"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if !strings.Contains(progress.String(), "Pulling") {
		t.Errorf("no pull progress: %q", progress.String())
	}
	if ok, err := b.ImageExists(ctx, img); ok || err != nil {
		t.Errorf("ImageExists = %v, %v", ok, err)
	}
}

func TestWritePullProgress(t *testing.T) {
	stream := `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}
{"status":"Downloading","progressDetail":{"current":1048576,"total":2097152},"progress":"[==>  ]","id":"abc"}
{"status":"Downloading","progressDetail":{"current":1572864,"total":2097152},"progress":"[===> ]","id":"abc"}
{"status":"Pull complete","progressDetail":{},"id":"abc"}
{"status":"Digest: sha256:0123"}
`
	var out bytes.Buffer
	if err := writePullProgress(strings.NewReader(stream), &out); err != nil {
		t.Fatal(err)
	}
	want := "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Downloading 1.0MB/2.0MB\nabc: Pull complete\nDigest: sha256:0123\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	err := writePullProgress(strings.NewReader(`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`), io.Discard)
	if err == nil || err.Error() != "manifest unknown" {
		t.Errorf("error message: %v", err)
	}
}

func TestResourceName(t *testing.T) {
	b := &Backend{instance: "i"}
	n := b.resourceName("my-project:1b2c/../weird name")
	if !strings.HasPrefix(n, "conveyor-my-project-1b2c-..-weird-name-") {
		t.Errorf("name %q", n)
	}
	if b.resourceName("a:b") == b.resourceName("a/b") {
		t.Error("distinct build ids share a name")
	}
	if (&Backend{instance: "j"}).resourceName("a:b") == b.resourceName("a:b") {
		t.Error("distinct instances share a name")
	}
	long := b.resourceName(strings.Repeat("x", 300))
	if len(long) > 64 {
		t.Errorf("long name %d chars", len(long))
	}
}

// TestDebianImage runs the same contract on conveyor/build-debian, where /bin/sh is dash: the
// exec wrapper and the kill must work with it too.
func TestDebianImage(t *testing.T) {
	t.Parallel()
	const debian = "conveyor/build-debian:bookworm"
	b := newBackend(t)
	if ok, err := b.ImageExists(context.Background(), debian); err != nil || !ok {
		unavailable(t, "image %s is missing (%v): run `make images`", debian, err)
	}
	bd := setup(t, b, Spec{Image: debian, WorkDir: "/codebuild/output/src"})

	st, out, _ := sh(t, bd, ExecSpec{User: "builder"}, `go version; git --version >/dev/null && curl --version >/dev/null && pwd && id -un`)
	if st.ExitCode != 0 || !strings.HasPrefix(out, "go version go") || !strings.HasSuffix(out, "/codebuild/output/src\nbuilder\n") {
		t.Errorf("toolchain as builder: %+v %q", st, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	lines := &lineWriter{lines: make(chan string, 10)}
	done := make(chan error, 1)
	go func() {
		_, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"bash", "-c", `sleep 1001 & echo up; wait`}}, lines, nil)
		done <- err
	}()
	<-lines.lines
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after cancel")
	}
	if _, ps, _ := sh(t, bd, ExecSpec{}, "ps -eo args"); strings.Contains(ps, "sleep 1001") {
		t.Errorf("sleep survived the cancel:\n%s", ps)
	}
}
