package build

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor/build/docker"
	"github.com/conveyorci/conveyor/internal/fixtures"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

const (
	busybox = "conveyor/busybox:latest"
	debian  = "conveyor/build-debian:bookworm"
)

// dockerBackend connects to the engine; without Docker the test skips, unless CI is set, where it
// must fail.
func dockerBackend(t testing.TB) *docker.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := docker.New(ctx, slog.New(slog.DiscardHandler), docker.Options{Instance: "conveyor-test-" + uuid.NewString()[:8]})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker is required in CI: %v", err)
		}
		t.Skipf("Docker is not available: %v", err)
	}
	for _, img := range []string{busybox, debian} {
		if ok, _ := b.ImageExists(ctx, img); !ok {
			t.Fatalf("image %s is missing: run `make images`", img)
		}
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mapSecrets is a secret source for tests.
type mapSecrets map[string]string

func (m mapSecrets) SecretValue(_ context.Context, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

type runnerHarness struct {
	t      *testing.T
	runner *Runner
	logs   *logs.Store
	db     *store.DB
	// tee, when set, sees every byte written to the build log (tests await lines through it).
	tee io.Writer
}

type teeCloser struct {
	io.WriteCloser
	tee io.Writer
}

func (t teeCloser) Write(p []byte) (int, error) {
	_, _ = t.tee.Write(p)
	return t.WriteCloser.Write(p)
}

// lineWatch signals once a written line contains want.
type lineWatch struct {
	mu   sync.Mutex
	want string
	seen bytes.Buffer
	hit  chan struct{}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen.Write(p)
	if strings.Contains(w.seen.String(), w.want) {
		select {
		case <-w.hit:
		default:
			close(w.hit)
		}
	}
	return len(p), nil
}

func newRunnerHarness(t *testing.T, secrets SecretSource) *runnerHarness {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := store.OpenBlobs(filepath.Join(dir, "blobs"), db)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logs.Open(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	return &runnerHarness{t: t, db: db, logs: ls, runner: &Runner{Docker: dockerBackend(t), Blobs: blobs, Secrets: secrets,
		Log: slog.New(slog.DiscardHandler), TempDir: dir}}
}

// zipTree zips a directory plus extra files (name → content; names ending in .sh are executable).
func zipTree(t *testing.T, dir string, extra map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, body []byte, mode fs.FileMode) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(body)
	}
	if dir != "" {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			info, _ := d.Info()
			add(filepath.ToSlash(rel), body, info.Mode().Perm()|0o600)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		add(name, []byte(body), mode)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "source.zip")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type finished struct {
	build  Build
	result Result
	log    string
}

// run runs a build of the given source and buildspec (inline when non-empty).
func (h *runnerHarness) run(ctx context.Context, spec RunSpec) finished {
	h.t.Helper()
	if spec.BuildID == "" {
		spec.BuildID = "test:" + uuid.NewString()
	}
	if spec.Project == "" {
		spec.Project = "test"
	}
	if spec.Image == "" {
		spec.Image = busybox
	}
	if spec.Region == "" {
		spec.Region = "local"
	}
	if spec.Number == 0 {
		spec.Number = 1
	}
	spec.StartTime = time.Now()
	b := &Build{ID: spec.BuildID, BuildStatus: StatusInProgress, ProjectName: spec.Project}
	var mu sync.Mutex
	rec := Record{Build: b, Save: func(*Build) { mu.Lock(); mu.Unlock() }}
	id := strings.ReplaceAll(spec.BuildID, ":", "_")
	res := h.runner.Run(ctx, spec, rec, func(secrets []string) (io.WriteCloser, error) {
		w, err := h.logs.Create("builds", id, logs.Options{Secrets: secrets})
		if err != nil || h.tee == nil {
			return w, err
		}
		return teeCloser{w, h.tee}, nil
	})
	rc, err := h.logs.Open("builds", id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rc.Close()
	text, _ := io.ReadAll(rc)
	return finished{build: *b, result: res, log: string(text)}
}

func (f finished) phase(t string) BuildPhase {
	for _, p := range f.build.Phases {
		if p.PhaseType == t {
			return p
		}
	}
	return BuildPhase{}
}

func (f finished) ran(t string) bool { return f.phase(t).PhaseType != "" }

func inline(buildspec string) RunSpec {
	return RunSpec{Buildspec: buildspec, Sources: []Input{{}}}
}

func zipNames(t *testing.T, blobs *store.Blobs, sha string) []string {
	t.Helper()
	p, err := blobs.Path(sha)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

func TestSampleAppBuilds(t *testing.T) {
	h := newRunnerHarness(t, nil)
	src := zipTree(t, fixtures.Dir(t, "sample-app/v1"), nil)
	f := h.run(context.Background(), RunSpec{Image: debian, Sources: []Input{{ZipPath: src}}, Outputs: []Output{{Name: "BuildArtifact"}},
		ResolvedSourceVersion: "0123456789abcdef"})
	if f.build.BuildStatus != StatusSucceeded {
		t.Fatalf("build %s:\n%s", f.build.BuildStatus, f.log)
	}
	if len(f.result.Artifacts) != 1 {
		t.Fatalf("artifacts = %+v", f.result.Artifacts)
	}
	got := zipNames(t, h.runner.Blobs, f.result.Artifacts[0].Blob.SHA256)
	want := []string{"appspec.yml", "bin/sample-app", "scripts/before_install.sh", "scripts/start_server.sh", "scripts/stop_server.sh", "scripts/validate_service.sh"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("artifact holds %v, want %v", got, want)
	}
	if len(f.build.ExportedEnvironmentVariables) != 1 || f.build.ExportedEnvironmentVariables[0].Name != "APP_VERSION" ||
		f.build.ExportedEnvironmentVariables[0].Value != "1-0123456" {
		t.Errorf("exported = %+v", f.build.ExportedEnvironmentVariables)
	}
	for _, want := range []string{"Running command go test ./...", "building sample-app 1-0123456", "build finished with status 1"} {
		if !strings.Contains(f.log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	order := []string{PhaseProvisioning, PhaseDownloadSource, PhaseInstall, PhasePreBuild, PhaseBuild, PhasePostBuild, PhaseUploadArtifacts, PhaseFinalizing, PhaseCompleted}
	for i, p := range f.build.Phases {
		if i >= len(order) || p.PhaseType != order[i] {
			t.Fatalf("phases = %+v", f.build.Phases)
		}
	}
}

func TestFailingPreBuildSkipsBuildAndPostBuild(t *testing.T) {
	h := newRunnerHarness(t, nil)
	f := h.run(context.Background(), inline(`version: 0.2
phases:
  pre_build:
    commands:
      - echo testing
      - exit 3
      - echo never
    finally:
      - echo pre_build finally ran
  build:
    commands:
      - echo BUILD RAN
  post_build:
    commands:
      - echo POST_BUILD RAN
`))
	if f.build.BuildStatus != StatusFailed {
		t.Fatalf("status %s", f.build.BuildStatus)
	}
	pb := f.phase(PhasePreBuild)
	if pb.PhaseStatus != StatusFailed || len(pb.Contexts) != 1 || pb.Contexts[0].StatusCode != ContextCommandError ||
		pb.Contexts[0].Message != "Error while executing command: exit 3. Reason: exit status 3" {
		t.Errorf("PRE_BUILD = %+v", pb)
	}
	if f.ran(PhaseBuild) || f.ran(PhasePostBuild) || strings.Contains(f.log, "BUILD RAN") {
		t.Error("BUILD and POST_BUILD must not run after a failed PRE_BUILD")
	}
	if !strings.Contains(f.log, "pre_build finally ran") || strings.Contains(f.log, "never") {
		t.Errorf("finally must run and later commands must not:\n%s", f.log)
	}
	if !f.ran(PhaseUploadArtifacts) {
		t.Error("UPLOAD_ARTIFACTS is always attempted")
	}
}

func TestPostBuildRunsAfterAFailedBuild(t *testing.T) {
	h := newRunnerHarness(t, nil)
	f := h.run(context.Background(), inline(`version: 0.2
phases:
  build:
    commands:
      - "false"
  post_build:
    commands:
      - echo "post_build sees CODEBUILD_BUILD_SUCCEEDING=$CODEBUILD_BUILD_SUCCEEDING"
`))
	if f.build.BuildStatus != StatusFailed || f.phase(PhasePostBuild).PhaseStatus != StatusSucceeded {
		t.Fatalf("status %s, post_build %+v", f.build.BuildStatus, f.phase(PhasePostBuild))
	}
	if !strings.Contains(f.log, "post_build sees CODEBUILD_BUILD_SUCCEEDING=0") {
		t.Errorf("log:\n%s", f.log)
	}
}

func TestShellStatePersistsIn02NotIn01(t *testing.T) {
	h := newRunnerHarness(t, nil)
	body := `phases:
  install:
    commands:
      - mkdir -p deep/er && cd deep/er
      - PLAIN=kept; export EXPORTED=also
  build:
    commands:
      - echo "pwd=$(pwd) plain=${PLAIN:-unset} exported=${EXPORTED:-unset}"
`
	f := h.run(context.Background(), inline("version: 0.2\n"+body))
	if f.build.BuildStatus != StatusSucceeded || !strings.Contains(f.log, "/src/deep/er plain=kept exported=also") {
		t.Errorf("0.2 must carry state across commands and phases:\n%s", f.log)
	}
	f = h.run(context.Background(), inline("version: 0.1\n"+body))
	if f.build.BuildStatus != StatusSucceeded || !strings.Contains(f.log, "/src plain=unset exported=unset") {
		t.Errorf("0.1 must run every command in a fresh shell:\n%s", f.log)
	}
}

func TestSecretsAreResolvedAndMasked(t *testing.T) {
	h := newRunnerHarness(t, mapSecrets{"/prod/db-password": "hunter2-s3cret", "prod/api": `{"token":"tok-abcdef-123","user":"svc"}`})
	spec := inline(`version: 0.2
env:
  parameter-store:
    DB_PASSWORD: /prod/db-password
  secrets-manager:
    API_TOKEN: prod/api:token
phases:
  build:
    commands:
      - echo "password is $DB_PASSWORD, token is $API_TOKEN"
      - printf '%s' "$DB_PASSWORD" | cut -c1-7; printf '%s\n' "$DB_PASSWORD" | cut -c8-
      - test "$API_TOKEN" = tok-abcdef-123
`)
	spec.Env = []EnvironmentVariable{{Name: "FROM_PROJECT", Value: "prod/api:user", Type: VarSecretsManager}}
	f := h.run(context.Background(), spec)
	if f.build.BuildStatus != StatusSucceeded {
		t.Fatalf("status %s:\n%s", f.build.BuildStatus, f.log)
	}
	for _, secret := range []string{"hunter2-s3cret", "tok-abcdef-123"} {
		if strings.Contains(f.log, secret) {
			t.Errorf("secret %q is in the log:\n%s", secret, f.log)
		}
	}
	if !strings.Contains(f.log, "password is ***, token is ***") {
		t.Errorf("masked line missing:\n%s", f.log)
	}
	f = h.run(context.Background(), inline("version: 0.2\nenv:\n  parameter-store:\n    X: /missing\nphases:\n  build:\n    commands:\n      - echo hi\n"))
	ds := f.phase(PhaseDownloadSource)
	if f.build.BuildStatus != StatusFailed || ds.PhaseStatus != StatusFailed || !strings.Contains(ds.Contexts[0].Message, "/missing") {
		t.Errorf("a missing parameter must fail DOWNLOAD_SOURCE naming it: %+v", ds)
	}
}

func TestMalformedBuildspecFailsBeforeAnyCommand(t *testing.T) {
	h := newRunnerHarness(t, nil)
	src := zipTree(t, "", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n    comands:\n      - nope\n"})
	f := h.run(context.Background(), RunSpec{Sources: []Input{{ZipPath: src}}})
	ds := f.phase(PhaseDownloadSource)
	if f.build.BuildStatus != StatusFailed || ds.PhaseStatus != StatusFailed || ds.Contexts[0].StatusCode != ContextYAMLError {
		t.Fatalf("phase = %+v", ds)
	}
	if !strings.Contains(ds.Contexts[0].Message, "buildspec.yml:6:5") || f.ran(PhaseBuild) {
		t.Errorf("the context must name file:line:col and no command may run: %+v\n%s", ds, f.log)
	}
}

func TestTimeoutStopAndOutOfMemory(t *testing.T) {
	h := newRunnerHarness(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	f := h.run(ctx, inline("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n"))
	if f.build.BuildStatus != StatusTimedOut || time.Since(start) > 30*time.Second {
		t.Errorf("timeout: %s after %s", f.build.BuildStatus, time.Since(start))
	}

	stopCtx, stop := context.WithCancelCause(context.Background())
	watch := &lineWatch{want: "started sleeping\n", hit: make(chan struct{})}
	h.tee = watch
	go func() {
		select { // stop once the command runs: its first output line is the event
		case <-watch.hit:
			stop(ErrStopped())
		case <-stopCtx.Done():
		}
	}()
	f = h.run(stopCtx, RunSpec{BuildID: "stopme:1", Buildspec: "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started sleeping; sleep 600\n", Sources: []Input{{}}})
	h.tee = nil
	if f.build.BuildStatus != StatusStopped {
		t.Errorf("stop: %s\n%s", f.build.BuildStatus, f.log)
	}

	spec := inline("version: 0.2\nphases:\n  build:\n    commands:\n      - x=$(head -c 1000000000 /dev/zero | tr '\\0' a); echo done\n")
	spec.Limits = Limits{MemoryBytes: 64 << 20}
	f = h.run(context.Background(), spec)
	b := f.phase(PhaseBuild)
	if f.build.BuildStatus != StatusFailed || !f.build.OutOfMemory || len(b.Contexts) == 0 || b.Contexts[0].StatusCode != ContextOutOfMemory ||
		!strings.Contains(b.Contexts[0].Message, "ran out of memory (limit 64.0 MiB)") || strings.Contains(b.Contexts[0].Message, "137") {
		t.Errorf("out of memory must be reported as such: %+v", b)
	}
}

func TestCacheIsRestoredOnTheNextBuild(t *testing.T) {
	h := newRunnerHarness(t, nil)
	vol := "conveyor-cache-test-" + uuid.NewString()[:8]
	t.Cleanup(func() { _ = h.runner.Docker.VolumeRemove(context.Background(), vol) })
	spec := inline(`version: 0.2
phases:
  build:
    commands:
      - 'if [ -f deps/installed ]; then echo "deps came from the cache: $(cat deps/installed)"; else mkdir -p deps && echo first > deps/installed && echo "deps installed"; fi'
cache:
  paths:
    - deps/**/*
`)
	spec.CacheVolume = vol
	f := h.run(context.Background(), spec)
	if f.build.BuildStatus != StatusSucceeded || !strings.Contains(f.log, "deps installed") || !strings.Contains(f.log, "saved deps to the cache") {
		t.Fatalf("first build:\n%s", f.log)
	}
	f = h.run(context.Background(), spec)
	if !strings.Contains(f.log, "restored deps from the cache (1 files)") || !strings.Contains(f.log, "deps came from the cache: first") {
		t.Fatalf("second build must use the cache:\n%s", f.log)
	}
}

func TestJUnitReportIsParsed(t *testing.T) {
	h := newRunnerHarness(t, nil)
	report := `<testsuites><testsuite name="pkg" tests="3">
<testcase classname="pkg" name="TestA" time="0.5"/>
<testcase classname="pkg" name="TestB" time="1.0"><failure message="want 1, got 2">boom</failure></testcase>
<testcase classname="pkg" name="TestC"><skipped/></testcase>
</testsuite></testsuites>`
	src := zipTree(t, "", map[string]string{"buildspec.yml": `version: 0.2
phases:
  build:
    commands:
      - mkdir -p out && cp junit.xml out/
reports:
  unit:
    files:
      - "**/*.xml"
    base-directory: out
`, "junit.xml": report})
	f := h.run(context.Background(), RunSpec{Sources: []Input{{ZipPath: src}}})
	if f.build.BuildStatus != StatusSucceeded || len(f.result.Reports) != 1 {
		t.Fatalf("status %s, reports %d\n%s", f.build.BuildStatus, len(f.result.Reports), f.log)
	}
	r := f.result.Reports[0]
	if r.Report.Status != "FAILED" || len(r.Cases) != 3 || r.Report.Group != "test-unit" || !strings.Contains(r.Report.ARN, ":report/test-unit:") {
		t.Fatalf("report = %+v, %d cases", r.Report, len(r.Cases))
	}
	statuses := map[string]string{}
	for _, c := range r.Cases {
		statuses[c.Name] = c.Status
	}
	if statuses["TestA"] != "SUCCEEDED" || statuses["TestB"] != "FAILED" || statuses["TestC"] != "SKIPPED" {
		t.Errorf("cases = %v", statuses)
	}
	if len(f.build.ReportArns) != 1 || f.build.ReportArns[0] != r.Report.ARN {
		t.Errorf("reportArns = %v", f.build.ReportArns)
	}
}

func TestMissingImageFailsProvisioningClearly(t *testing.T) {
	h := newRunnerHarness(t, nil)
	spec := inline("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n")
	spec.Image = "registry.invalid/nothing:1"
	f := h.run(context.Background(), spec)
	p := f.phase(PhaseProvisioning)
	if f.build.BuildStatus != StatusFailed || p.PhaseStatus != StatusFailed || len(p.Contexts) == 0 ||
		!strings.Contains(p.Contexts[0].Message, "registry.invalid/nothing:1") {
		t.Fatalf("provisioning = %+v", p)
	}
}

func TestOnFailureContinueGoesOnToBuild(t *testing.T) {
	h := newRunnerHarness(t, nil)
	f := h.run(context.Background(), inline(`version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - "false"
  build:
    commands:
      - echo "build ran with CODEBUILD_BUILD_SUCCEEDING=$CODEBUILD_BUILD_SUCCEEDING"
`))
	if f.build.BuildStatus != StatusFailed || f.phase(PhaseInstall).PhaseStatus != StatusFailed {
		t.Fatalf("status %s, install %+v", f.build.BuildStatus, f.phase(PhaseInstall))
	}
	if !strings.Contains(f.log, "build ran with CODEBUILD_BUILD_SUCCEEDING=0") {
		t.Errorf("on-failure CONTINUE must go on to BUILD:\n%s", f.log)
	}
}

func TestRunAsRetryAndSecondaryArtifacts(t *testing.T) {
	h := newRunnerHarness(t, nil)
	spec := inline(`version: 0.2
phases:
  install:
    run-as: builder
    commands:
      - echo "install runs as $(id -un)"
  build:
    on-failure: RETRY-2
    commands:
      - n=$(cat /tmp/attempts 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/attempts; echo "attempt $n"; [ $n -ge 2 ]
      - mkdir -p dist docs && echo app > dist/app.bin && echo manual > docs/manual.txt
artifacts:
  files:
    - dist/**/*
  secondary-artifacts:
    Docs:
      files:
        - docs/**/*
`)
	spec.Outputs = []Output{{Name: "App"}, {Identifier: "Docs", Name: "Docs"}}
	f := h.run(context.Background(), spec)
	if f.build.BuildStatus != StatusSucceeded {
		t.Fatalf("status %s:\n%s", f.build.BuildStatus, f.log)
	}
	if !strings.Contains(f.log, "install runs as builder") {
		t.Errorf("run-as must run the phase as builder:\n%s", f.log)
	}
	if !strings.Contains(f.log, "Retrying phase BUILD (attempt 2 of 3)") || !strings.Contains(f.log, "attempt 2") {
		t.Errorf("on-failure RETRY-2 must retry the failed phase:\n%s", f.log)
	}
	if len(f.result.Artifacts) != 2 {
		t.Fatalf("artifacts = %+v", f.result.Artifacts)
	}
	for _, a := range f.result.Artifacts {
		names := zipNames(t, h.runner.Blobs, a.Blob.SHA256)
		want := map[string]string{"App": "dist/app.bin", "Docs": "docs/manual.txt"}[a.Name]
		if len(names) != 1 || names[0] != want {
			t.Errorf("artifact %s holds %v, want [%s]", a.Name, names, want)
		}
	}
}

func TestFailingUnitTestFailsPreBuildNamingTheCommand(t *testing.T) {
	h := newRunnerHarness(t, nil)
	dir := t.TempDir()
	src := fixtures.Dir(t, "sample-app/v1")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	test, _ := os.ReadFile(filepath.Join(dir, "main_test.go"))
	broken := strings.Replace(string(test), "func Test", "func TestBroken(t *testing.T) { t.Fatal(\"the handler is broken\") }\n\nfunc Test", 1)
	if err := os.WriteFile(filepath.Join(dir, "main_test.go"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	f := h.run(context.Background(), RunSpec{Image: debian, Sources: []Input{{ZipPath: zipTree(t, dir, nil)}}, Outputs: []Output{{Name: "BuildArtifact"}}})
	pb := f.phase(PhasePreBuild)
	if f.build.BuildStatus != StatusFailed || pb.PhaseStatus != StatusFailed || len(pb.Contexts) == 0 ||
		pb.Contexts[0].Message != "Error while executing command: go test ./.... Reason: exit status 1" {
		t.Fatalf("PRE_BUILD = %+v\n%s", pb, f.log)
	}
	if f.ran(PhaseBuild) || f.ran(PhasePostBuild) || !strings.Contains(f.log, "the handler is broken") {
		t.Errorf("BUILD and POST_BUILD must not run; the test output must be in the log:\n%s", f.log)
	}
}
