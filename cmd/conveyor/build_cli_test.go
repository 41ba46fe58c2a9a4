package main

// End-to-end tests of the build commands (build, logs, secrets, projects, apply's projects:
// section, build --local) against a real in-process server and real Docker builds with the small
// busybox image. States are awaited through the API or the log stream, never with fixed sleeps.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/executor/build/docker"
)

const (
	cliBusybox = "conveyor/busybox:latest"
	cliDebian  = "conveyor/build-debian:bookworm"
)

// needDocker returns a Docker backend, or skips the test when Docker is unreachable; with CI set
// the test fails instead.
func needDocker(t *testing.T) *docker.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := docker.New(ctx, slog.New(slog.DiscardHandler), docker.Options{Instance: localInstance})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker is required in CI: %v", err)
		}
		t.Skipf("Docker is not available: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	for _, img := range []string{cliBusybox, cliDebian} {
		if ok, _ := b.ImageExists(ctx, img); !ok {
			t.Fatalf("image %s is missing: run `make images`", img)
		}
	}
	return b
}

// withStdin makes content the process's standard input for the rest of the test.
func withStdin(t *testing.T, content string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = old; f.Close() })
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Fatalf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}

func mustNotContain(t *testing.T, what, text string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(text, w) {
			t.Fatalf("%s contains %q:\n%s", what, w, text)
		}
	}
}

func TestSecretsCommands(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	const argValue, stdinValue = "arg-v4lue-0123456789", "stdin-v4lue-9876543210"

	out := mustCLI(t, "secrets", "put", "/ci/token", argValue, "--description", "CI token")
	mustContain(t, "put", out, "stored secret /ci/token (version 1)")
	mustNotContain(t, "put", out, argValue)

	withStdin(t, stdinValue+"\n")
	out, errOut, code := cli(t, "secrets", "put", "db/password", "--description", "database")
	if code != 0 {
		t.Fatalf("put from stdin: exit %d: %s", code, errOut)
	}
	mustNotContain(t, "put from stdin", out+errOut, stdinValue)
	// One trailing line break was stripped, nothing else.
	got, err := s.app.db.Read().SecretValue(context.Background(), s.app.keys.Sealer, "db/password")
	if err != nil || got != stdinValue {
		t.Fatalf("stored value %q (%v), want %q", got, err, stdinValue)
	}
	got, err = s.app.db.Read().SecretValue(context.Background(), s.app.keys.Sealer, "/ci/token")
	if err != nil || got != argValue {
		t.Fatalf("stored value %q (%v), want %q", got, err, argValue)
	}

	out = mustCLI(t, "secrets", "put", "/ci/token", "another-v4lue-xyz")
	mustContain(t, "second put", out, "updated secret /ci/token (version 2)")

	for _, args := range [][]string{
		{"secrets", "list"}, {"secrets", "list", "--output", "json"},
		{"secrets", "get-metadata", "/ci/token"}, {"secrets", "get-metadata", "db/password", "--output", "json"},
	} {
		out := mustCLI(t, args...)
		mustNotContain(t, strings.Join(args, " "), out, argValue, stdinValue, "another-v4lue-xyz")
	}
	list := mustCLI(t, "secrets", "list")
	mustContain(t, "list", list, "/ci/token", "db/password", "CI token", "database")
	meta := mustCLI(t, "secrets", "get-metadata", "/ci/token")
	mustContain(t, "get-metadata", meta, "/ci/token", "CI token", "version:", "2")
	var js struct {
		Secrets []secretMeta `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "secrets", "list", "--output", "json")), &js); err != nil || len(js.Secrets) != 2 {
		t.Fatalf("list --output json: %v %+v", err, js)
	}

	mustContain(t, "delete", mustCLI(t, "secrets", "delete", "db/password"), "deleted secret db/password")
	errOut = failCLI(t, 1, "secrets", "get-metadata", "db/password")
	mustContain(t, "get-metadata after delete", errOut, "ResourceNotFoundException")
	// An empty value is refused before anything is sent.
	withStdin(t, "\n")
	failCLI(t, 1, "secrets", "put", "empty")
}

// buildIDFrom finds a build id ("project:uuid") in text.
func buildIDFrom(t *testing.T, project, text string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(project) + `:[0-9a-f-]{36}`).FindString(text)
	if m == "" {
		t.Fatalf("no build id of %s in:\n%s", project, text)
	}
	return m
}

func buildJSON(t *testing.T, id string) map[string]any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "build", "get", id, "--output", "json")), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

const echoProject = `name: cli-echo
description: echoes, for the CLI tests
source:
  type: NO_SOURCE
  buildspec: |
    version: 0.2
    env:
      parameter-store:
        TOKEN: /ci/token
    phases:
      build:
        commands:
          - echo "hello from $CODEBUILD_BUILD_ID"
          - echo "token is $TOKEN"
          - '[ "$TOKEN" = "stdin-t0ken-abcdef" ] && echo token-ok'
          - echo "greeting is $GREETING"
artifacts: {type: NO_ARTIFACTS}
environment:
  image: conveyor/busybox:latest
  computeType: BUILD_GENERAL1_SMALL
  environmentVariables:
    - {name: GREETING, value: from-the-project}
`

func TestBuildCommands(t *testing.T) {
	needDocker(t)
	s := startServer(t)
	cliAgainst(t, s)
	dir := t.TempDir()

	withStdin(t, "stdin-t0ken-abcdef\n")
	mustCLI(t, "secrets", "put", "/ci/token")
	mustContain(t, "projects create", mustCLI(t, "projects", "create", "-f", writeFile(t, dir, "echo.yaml", echoProject)), "created project cli-echo")
	mustContain(t, "projects list", mustCLI(t, "projects", "list"), "cli-echo", "NO_SOURCE", cliBusybox)

	// --follow streams the build's output and exits by its result.
	out, errOut, code := cli(t, "build", "start", "cli-echo", "--follow", "--env", "GREETING=from-the-command-line")
	if code != 0 {
		t.Fatalf("build start --follow: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	id := buildIDFrom(t, "cli-echo", errOut)
	mustContain(t, "followed log", out, "hello from "+id, "token is ***", "token-ok", "greeting is from-the-command-line", "Build "+id+": SUCCEEDED")
	mustNotContain(t, "followed log", out, "stdin-t0ken-abcdef")

	// logs prints the whole log; --tail N its end; -f --tail N the same, then the end of the build.
	full := mustCLI(t, "logs", id)
	if full != out {
		t.Fatalf("logs differs from the followed output:\n%s\n---\n%s", full, out)
	}
	lines := strings.Split(strings.TrimSuffix(full, "\n"), "\n")
	last2 := strings.Join(lines[len(lines)-2:], "\n") + "\n"
	if got := mustCLI(t, "logs", id, "--tail", "2"); got != last2 {
		t.Fatalf("logs --tail 2 = %q, want %q", got, last2)
	}
	if got := mustCLI(t, "logs", "-f", "--tail", "2", id); got != last2 {
		t.Fatalf("logs -f --tail 2 = %q, want %q", got, last2)
	}

	// build get shows the phases.
	get := mustCLI(t, "build", "get", id)
	mustContain(t, "build get", get, "status:     SUCCEEDED", "PHASE", "SUBMITTED", "PROVISIONING", "DOWNLOAD_SOURCE", "BUILD", "FINALIZING", "COMPLETED", "conveyor logs "+id)
	if b := buildJSON(t, id); b["buildStatus"] != "SUCCEEDED" || b["id"] != id {
		t.Fatalf("build get --output json: %v", b)
	}

	// A failing buildspec (sent inline from a local file) exits 1 and says where it failed.
	fail := writeFile(t, dir, "fail.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo about to fail\n      - exit 3\n")
	out, errOut, code = cli(t, "build", "start", "cli-echo", "--buildspec", fail, "--follow")
	if code != 1 {
		t.Fatalf("failing build: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	failedID := buildIDFrom(t, "cli-echo", errOut)
	mustContain(t, "failing build output", out, "about to fail", "Build "+failedID+": FAILED")
	mustContain(t, "failing build error", errOut, "FAILED", "BUILD FAILED: COMMAND_EXECUTION_ERROR", "exit status 3")
	mustContain(t, "build get of the failed build", mustCLI(t, "build", "get", failedID), "COMMAND_EXECUTION_ERROR")
	// A buildspec with a mistake is refused before anything is started.
	bad := writeFile(t, dir, "bad.yml", "version: 0.2\nphases:\n  biuld:\n    commands: [true]\n")
	mustContain(t, "bad buildspec", failCLI(t, 1, "build", "start", "cli-echo", "--buildspec", bad), `unknown key "biuld"`)

	// --wait prints the id and exits by the result.
	out = mustCLI(t, "build", "start", "cli-echo", "--wait")
	waited := strings.TrimSpace(out)
	if buildIDFrom(t, "cli-echo", out) != waited {
		t.Fatalf("build start --wait printed %q, want the id alone", out)
	}
	out, _, code = cli(t, "build", "retry", failedID, "--wait")
	if code != 1 {
		t.Fatalf("retry of a failing build: exit %d, want 1", code)
	}
	retried := strings.TrimSpace(out)
	if retried == failedID || buildIDFrom(t, "cli-echo", out) != retried {
		t.Fatalf("build retry printed %q", out)
	}

	list := mustCLI(t, "build", "list", "cli-echo")
	mustContain(t, "build list", list, id, failedID, waited, retried, "SUCCEEDED", "FAILED")
	if strings.Index(list, retried) > strings.Index(list, id) {
		t.Fatalf("build list is not newest first:\n%s", list)
	}

	// Following a live build: -f --tail 2 prints what is there, then the rest until the end.
	slow := writeFile(t, dir, "slow.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo before-the-pause\n      - sleep 1\n      - echo after-the-pause\n")
	live := strings.TrimSpace(mustCLI(t, "build", "start", "cli-echo", "--buildspec", slow))
	followed := mustCLI(t, "logs", "-f", "--tail", "2", live)
	mustContain(t, "live follow", followed, "after-the-pause", "Build "+live+": SUCCEEDED")
	whole := mustCLI(t, "logs", live)
	if !strings.HasSuffix(whole, followed) {
		t.Fatalf("the followed lines are not the end of the log:\n%s\n---\n%s", followed, whole)
	}

	// Stopping a running build: it ends STOPPED and logs -f exits 1.
	sleepy := writeFile(t, dir, "sleepy.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo sleeping\n      - sleep 120\n")
	running := strings.TrimSpace(mustCLI(t, "build", "start", "cli-echo", "--buildspec", sleepy))
	eventually(t, "the build to run its sleep", 60*time.Second, func() bool {
		out, _, _ := cli(t, "logs", running, "--tail", "1")
		return strings.Contains(out, "Running command sleep 120")
	})
	mustContain(t, "build stop", mustCLI(t, "build", "stop", running), "stopping build "+running)
	out, errOut, code = cli(t, "logs", "-f", running)
	if code != 1 {
		t.Fatalf("logs -f of a stopped build: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, "stopped build", errOut, "STOPPED")
	if b := buildJSON(t, running); b["buildStatus"] != "STOPPED" {
		t.Fatalf("stopped build: %v", b["buildStatus"])
	}

	mustContain(t, "projects delete", mustCLI(t, "projects", "delete", "cli-echo"), "deleted project cli-echo")
}

func TestApplyProjects(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	dir := t.TempDir()
	v1 := `projects:
  - name: web-build
    description: builds the web app
    source: {type: CODEPIPELINE}
    artifacts: {type: CODEPIPELINE}
    environment:
      image: conveyor/build-debian:bookworm
      environmentVariables:
        - {name: GOVERSION, value: 1.10}
    cache: {type: LOCAL}
    timeoutInMinutes: 30
  - name: nightly
    source:
      type: NO_SOURCE
      buildspec: |
        version: 0.2
        phases:
          build:
            commands: [echo nightly]
    artifacts: {type: NO_ARTIFACTS}
    environment: {image: conveyor/busybox:latest}
pipelines:
  - name: web
    stages:
      - name: Source
        actions:
          - name: Fetch
            actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
            configuration: {S3Bucket: team-bundles, S3ObjectKey: web.zip, PollForSourceChanges: "false"}
            outputArtifacts: [{name: Src}]
      - name: Build
        actions:
          - name: Build
            actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
            configuration: {ProjectName: web-build}
            inputArtifacts: [{name: Src}]
`
	file := writeFile(t, dir, "conveyor.yaml", v1)
	out := mustCLI(t, "apply", "-f", file)
	want := "project web-build: created\nproject nightly: created\npipeline web: created (version 1)\n"
	if out != want {
		t.Fatalf("first apply:\n%s\nwant:\n%s", out, want)
	}
	out = mustCLI(t, "apply", "-f", file)
	mustContain(t, "second apply", out, "project web-build: unchanged", "project nightly: unchanged", "pipeline web: unchanged")

	// What was created is what the file says, scalars by their text.
	got := mustCLI(t, "projects", "get", "web-build")
	mustContain(t, "projects get", got, "name: web-build", `value: "1.10"`, "timeoutInMinutes: 30", "type: LOCAL")

	// Change one member and drop two: the update converges.
	v2 := strings.Replace(v1, "    cache: {type: LOCAL}\n", "", 1)
	v2 = strings.Replace(v2, "    description: builds the web app\n", "", 1)
	v2 = strings.Replace(v2, "timeoutInMinutes: 30", "timeoutInMinutes: 45", 1)
	writeFile(t, dir, "conveyor.yaml", v2)
	out = mustCLI(t, "apply", "-f", file, "--dry-run")
	mustContain(t, "dry run", out, "project web-build: would update: cache, description, timeoutInMinutes", "project nightly: unchanged")
	out = mustCLI(t, "apply", "-f", file)
	mustContain(t, "third apply", out, "project web-build: updated: cache, description, timeoutInMinutes")
	out = mustCLI(t, "apply", "-f", file)
	mustContain(t, "fourth apply", out, "project web-build: unchanged")
	got = mustCLI(t, "projects", "get", "web-build", "--output", "json")
	mustNotContain(t, "project after the update", got, `"LOCAL"`, "builds the web app")
	mustContain(t, "project after the update", got, `"timeoutInMinutes": 45`)

	// Mistakes are reported at their place in conveyor.yaml; the valid resources are still applied.
	v3 := v2 + ""
	v3 = strings.Replace(v3, "projects:\n", `projects:
  - name: broken
    sourc: {type: NO_SOURCE}
    artifacts: {type: NO_ARTIFACTS}
    environment: {image: conveyor/busybox:latest}
  - name: wrong-compute
    source: {type: CODEPIPELINE}
    artifacts: {type: CODEPIPELINE}
    environment: {image: x, computeType: BUILD_GENERAL1_HUGE}
`, 1)
	writeFile(t, dir, "conveyor.yaml", v3)
	out, errOut, code := cli(t, "apply", "-f", file)
	if code != 1 {
		t.Fatalf("apply with errors: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, "apply errors", errOut,
		file+":"+position(t, v3, "sourc:")+`: projects[0].sourc: unknown key "sourc" (did you mean "source"?)`,
		file+":"+position(t, v3, "computeType: BUILD_GENERAL1_HUGE")+": projects[1].environment.computeType: ",
		"2 of 5 resources failed")
	mustContain(t, "apply output", out, "project broken: invalid (1 error), not applied", "project wrong-compute: invalid",
		"project web-build: unchanged", "pipeline web: unchanged")
	// validate reports the same problems offline.
	vout, _, vcode := cli(t, "validate", file)
	if vcode != 1 {
		t.Fatalf("validate: exit %d", vcode)
	}
	mustContain(t, "validate", vout, `projects[0].sourc: unknown key "sourc"`, "projects[1].environment.computeType")
}

// lockedBuffer is an output buffer that tests may read while a command writes to it, and that
// signals when some text appears.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found chan struct{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.found != nil && strings.Contains(b.buf.String(), b.want) {
		select {
		case <-b.found:
		default:
			close(b.found)
		}
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func zipNames(t *testing.T, path string) []string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	return names
}

const localBuildspecYAML = `version: 0.2
env:
  variables:
    FROM_BUILDSPEC: buildspec
  parameter-store:
    TOKEN: /local/token
  exported-variables: [VERSION]
phases:
  build:
    commands:
      - echo "local build of $(cat input.txt) with $FROM_ENV_FILE, $FROM_BUILDSPEC, token $TOKEN"
      - test -f .hidden/dotfile && echo dotfiles-are-copied
      - mkdir -p dist/sub cachedir
      - echo app > dist/app.txt && echo b > dist/sub/b.txt && echo ignored > dist/skip.tmp
      - echo run >> cachedir/runs && echo "cache has $(wc -l < cachedir/runs) runs"
      - VERSION=2.0.$(wc -l < cachedir/runs | tr -d ' ')
      - |
        cat > junit.xml <<XML
        <testsuite name="unit" tests="2"><testcase classname="pkg" name="first" time="0.5"/><testcase classname="pkg" name="second" time="0.25"/></testsuite>
        XML
artifacts:
  base-directory: dist
  files: ['**/*']
  exclude-paths: ['*.tmp']
  secondary-artifacts:
    junit:
      files: [junit.xml]
reports:
  unit-tests:
    files: [junit.xml]
cache:
  paths: ['cachedir/**/*']
`

func TestLocalBuild(t *testing.T) {
	backend := needDocker(t)
	src := t.TempDir()
	writeFile(t, src, "buildspec.yml", localBuildspecYAML)
	writeFile(t, src, "input.txt", "the-input")
	writeFile(t, src, ".hidden/dotfile", "dotfiles are part of the source")
	work := t.TempDir()
	envFile := writeFile(t, work, "build.env", "# comment\n\nFROM_ENV_FILE=\"the env file\"\n")
	secrets := writeFile(t, work, "secrets.env", "/local/token=l0cal-t0ken-value\n")
	outDir, repDir := filepath.Join(work, "out"), filepath.Join(work, "reports")
	realSrc, _ := filepath.EvalSymlinks(src)
	volume := localCacheVolume(realSrc)
	t.Cleanup(func() { _ = backend.VolumeRemove(context.Background(), volume) })

	args := []string{"build", "--local", "-s", src, "-i", cliBusybox, "-a", outDir, "-r", repDir, "-e", envFile, "--secrets-file", secrets}
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("build --local: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	mustContain(t, "local build output", out,
		`local build of the-input with "the env file", buildspec, token ***`, // quotes of the env file are kept
		"dotfiles-are-copied", "cache has 1 runs", ": SUCCEEDED", "VERSION=2.0.1", "unit-tests", "2 tests: 2 SUCCEEDED")
	mustNotContain(t, "local build output", out, "l0cal-t0ken-value")
	if got := zipNames(t, filepath.Join(outDir, "artifacts.zip")); strings.Join(got, ",") != "app.txt,sub/b.txt" {
		t.Fatalf("artifacts.zip holds %v, want app.txt and sub/b.txt", got)
	}
	if got := zipNames(t, filepath.Join(outDir, "junit.zip")); strings.Join(got, ",") != "junit.xml" {
		t.Fatalf("junit.zip holds %v", got)
	}
	var rep struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Summary struct {
			Total        int            `json:"total"`
			StatusCounts map[string]int `json:"statusCounts"`
		} `json:"summary"`
		TestCases []localTestCase `json:"testCases"`
	}
	data, err := os.ReadFile(filepath.Join(repDir, "unit-tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Name != "unit-tests" || rep.Status != "SUCCEEDED" || rep.Summary.Total != 2 || rep.Summary.StatusCounts["SUCCEEDED"] != 2 ||
		len(rep.TestCases) != 2 || rep.TestCases[0].Name != "first" || rep.TestCases[0].DurationInNanoSeconds != 500_000_000 {
		t.Fatalf("report: %s", data)
	}

	// A second build of the same directory restores the cache the first one saved.
	out, errOut, code = cli(t, args...)
	if code != 0 {
		t.Fatalf("second build --local: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, "second local build", out, "restored cachedir from the cache", "cache has 2 runs", "VERSION=2.0.2")

	// A failing build exits 1; --no-cache leaves the cache alone; a buildspec outside the source
	// is sent inline.
	fail := writeFile(t, work, "fail.yml", "version: 0.2\ncache:\n  paths: ['cachedir/**/*']\nphases:\n  build:\n    commands:\n      - echo failing now\n      - exit 4\n")
	out, errOut, code = cli(t, "build", "--local", "-s", src, "-i", cliBusybox, "-b", fail, "--no-cache")
	if code != 1 {
		t.Fatalf("failing local build: exit %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, "failing local build", out, "failing now", "FAILED", "COMMAND_EXECUTION_ERROR", "exit status 4")
	mustNotContain(t, "failing local build", out, "Restoring the cache")

	// A symbolic link that leaves the source is refused.
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "escape")); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "escaping link", failCLI(t, 1, "build", "--local", "-s", src, "-i", cliBusybox, "--no-cache"), "escape is a symbolic link to /etc/passwd, outside the source directory")
}

func TestLocalBuildStoppedByInterrupt(t *testing.T) {
	needDocker(t)
	src := t.TempDir()
	writeFile(t, src, "buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo going to sleep\n      - sleep 120\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{want: "Running command sleep 120", found: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- runBuild(ctx, []string{"--local", "-s", src, "-i", cliBusybox}, out, &lockedBuffer{}) }()
	select {
	case <-out.found:
	case err := <-done:
		t.Fatalf("the build ended before its sleep: %v\n%s", err, out)
	case <-time.After(60 * time.Second):
		t.Fatalf("the build did not reach its sleep:\n%s", out)
	}
	cancel() // what Ctrl-C does
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the build did not stop:\n%s", out)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("exit: %v", err)
	}
	mustContain(t, "stopped local build", out.String(), "BUILD_STOPPED", ": STOPPED")
}

// cutReader passes n bytes, then fails as a dropped connection does.
type cutReader struct {
	r io.ReadCloser
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func (c *cutReader) Close() error { return c.r.Close() }

func TestLogsFollowResumesAfterADroppedConnection(t *testing.T) {
	needDocker(t)
	s := startServer(t)
	cliAgainst(t, s)
	dir := t.TempDir()
	mustCLI(t, "projects", "create", "-f", writeFile(t, dir, "p.yaml", `name: chatty
source:
  type: NO_SOURCE
  buildspec: |
    version: 0.2
    phases:
      build:
        commands:
          - for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i"; done
artifacts: {type: NO_ARTIFACTS}
environment: {image: conveyor/busybox:latest}
`))
	id := strings.TrimSpace(mustCLI(t, "build", "start", "chatty", "--wait"))
	full := mustCLI(t, "logs", id)

	// A proxy in front of the server cuts the first event stream in the middle of its fourth event.
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // the cut is on purpose
	var mu sync.Mutex
	var resumedFrom []string
	streams := 0
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		streams++
		resumedFrom = append(resumedFrom, resp.Request.Header.Get("Last-Event-ID"))
		if streams == 1 {
			resp.Body = &cutReader{r: resp.Body, n: 3*len("id: 1\nevent: line\ndata: \"\"\n\n") + 60}
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	t.Setenv("CONVEYOR_ENDPOINT", front.URL)

	out, errOut, code := cli(t, "logs", "-f", id)
	if code != 0 {
		t.Fatalf("logs -f through the proxy: exit %d\n%s\n%s", code, out, errOut)
	}
	if out != full {
		t.Fatalf("the resumed output differs from the log (lost or repeated lines):\n%s\n---\n%s", out, full)
	}
	mustContain(t, "resume notice", errOut, "resuming after line")
	mu.Lock()
	defer mu.Unlock()
	if streams < 2 || resumedFrom[0] != "" || resumedFrom[1] == "" || resumedFrom[1] == "0" {
		t.Fatalf("streams %d, Last-Event-ID %q", streams, resumedFrom)
	}
}
