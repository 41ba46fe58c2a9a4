package build

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/archive"
	"github.com/conveyorci/conveyor/executor/build/buildspec"
	"github.com/conveyorci/conveyor/executor/build/docker"
	"github.com/conveyorci/conveyor/executor/build/reports"
	"github.com/conveyorci/conveyor/internal/size"
	"github.com/conveyorci/conveyor/store"
)

// Input is a source a build runs on: a zip (an input artifact or an uploaded object).
type Input struct {
	Identifier string // "" for the primary source
	ZipPath    string // on the host; "" for NO_SOURCE
	Version    string // the revision it came from
}

// Output is an artifact the build must produce: the primary one (Identifier "") or a secondary one.
type Output struct {
	Identifier string
	// Name is what the artifact is called where it goes (the pipeline's output artifact name).
	Name string
}

// RunSpec is everything one build runs with, resolved from the project and StartBuild's overrides.
type RunSpec struct {
	BuildID, BuildARN     string
	Project, ProjectARN   string
	Number                int
	Initiator             string
	Region                string
	Image                 string
	Limits                Limits
	Privileged            bool
	Buildspec             string // inline YAML, or a path relative to the primary source ("" = buildspec.yml)
	Env                   []EnvironmentVariable
	Sources               []Input // primary first
	SourceVersion         string
	ResolvedSourceVersion string
	SourceRepoURL         string
	Outputs               []Output // nil: the build produces no artifacts
	CacheVolume           string   // the project's cache volume; "" = no cache
	StartTime             time.Time
}

func (s *RunSpec) logStream() string {
	_, id, _ := strings.Cut(s.BuildID, ":")
	return id
}

// srcDir is where a source is unpacked: CODEBUILD_SRC_DIR and CODEBUILD_SRC_DIR_<identifier>.
func (s *RunSpec) srcDir(identifier string) string {
	if identifier == "" {
		return fmt.Sprintf("%s/src%d/src", outputRoot, s.Number)
	}
	return fmt.Sprintf("%s/src%d/%s", outputRoot, s.Number, identifier)
}

// Result is what a finished build produced beyond its record.
type Result struct {
	Artifacts []ProducedArtifact
	Reports   []ProducedReport
}

// ProducedArtifact is an artifact zip stored in the blob store.
type ProducedArtifact struct {
	Identifier string
	Name       string
	Blob       store.BlobInfo
	Files      int
}

// ProducedReport is a parsed test report.
type ProducedReport struct {
	Report store.Report
	Cases  []store.TestCase
}

// Runner runs builds in Docker containers.
type Runner struct {
	Docker *docker.Backend
	// DockerErr says why Docker is unavailable when Docker is nil: builds then end FAULT with it.
	DockerErr error
	Blobs     *store.Blobs
	Secrets   SecretSource
	Log       *slog.Logger
	// TempDir holds artifact zips while they are written (default os.TempDir()).
	TempDir string
}

// Record is the build record a run updates; Save persists it (called after every phase change).
type Record struct {
	Build *Build
	Save  func(b *Build)
}

// errStopped is the cause a stopped build's context carries; errShutdown the cause when the
// server shuts down.
var (
	errStopped  = errors.New("build stopped")
	errShutdown = errors.New("Conveyor shut down while the build was running")
)

// ErrStopped returns the cancellation cause for StopBuild.
func ErrStopped() error { return errStopped }

// run is one build in progress.
type run struct {
	r         *Runner
	spec      RunSpec
	rec       Record
	log       *buildLog
	container *docker.Build
	bs        *buildspec.Buildspec
	env       *environment
	failed    bool   // a phase failed: CODEBUILD_BUILD_SUCCEEDING=0
	fatal     string // the build ended abnormally: TIMED_OUT, STOPPED or FAULT
	oom       bool
	// faultMessage says what broke when the build ended in FAULT.
	faultMessage string
	result       Result
}

// buildLog writes the build's log: lines from Conveyor itself ("[Container] …", as CodeBuild's
// agent writes them) and the commands' output. Until the secrets are known it buffers.
type buildLog struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func (l *buildLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return l.buf.Write(p)
	}
	return l.w.Write(p)
}

func (l *buildLog) attach(w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = w
	_, err := w.Write(l.buf.Bytes())
	l.buf.Reset()
	return err
}

func (l *buildLog) printf(format string, args ...any) {
	fmt.Fprintf(l, "[Container] %s %s\n", time.Now().UTC().Format("2006/01/02 15:04:05.000000"), fmt.Sprintf(format, args...))
}

// OpenLog opens the build's log writer once the values to mask are known.
type OpenLog func(secrets []string) (io.WriteCloser, error)

// Run runs one build to its end and fills rec.Build: phases, status, artifacts, exported
// variables. ctx carries the build's timeout and StopBuild (cause ErrStopped()). It never returns
// an error: every outcome is in the record.
func (r *Runner) Run(ctx context.Context, spec RunSpec, rec Record, openLog OpenLog) Result {
	ru := &run{r: r, spec: spec, rec: rec, log: &buildLog{}}
	var logCloser io.Closer
	defer func() {
		ru.finish(ctx)
		if logCloser != nil {
			if err := logCloser.Close(); err != nil {
				r.Log.Warn("closing build log", "build_id", spec.BuildID, "err", err)
			}
		} else if w, err := openLog(nil); err == nil { // failed before the log was opened
			_ = ru.log.attach(w)
			_ = w.Close()
		}
	}()

	// PROVISIONING: the container, with the image pulled when missing.
	ru.startPhase(PhaseProvisioning)
	ru.log.printf("Waiting for agent ping")
	if r.Docker == nil {
		msg := "Docker is not available to this server"
		if r.DockerErr != nil {
			msg += ": " + r.DockerErr.Error()
		}
		ru.log.printf("%s", msg)
		ru.fatal = StatusFault
		ru.settle(StatusFault, ContextFault, msg)
		return ru.result
	}
	mounts := []docker.Mount{{Volume: "output", Target: outputRoot}}
	if spec.CacheVolume != "" {
		if err := r.Docker.VolumeEnsure(ctx, spec.CacheVolume, map[string]string{"conveyor.project": spec.Project}); err != nil {
			ru.endPhase(ctx, err, ContextFault, "cache volume: "+err.Error())
			return ru.result
		}
		mounts = append(mounts, docker.Mount{Volume: spec.CacheVolume, Target: cacheMount, Cache: true})
	}
	c, err := r.Docker.Setup(ctx, docker.Spec{
		BuildID: spec.BuildID, Image: spec.Image, NanoCPUs: spec.Limits.NanoCPUs, MemoryBytes: spec.Limits.MemoryBytes,
		Privileged: spec.Privileged, Mounts: mounts, WorkDir: spec.srcDir(""), PullProgress: ru.log,
		Labels: map[string]string{"conveyor.project": spec.Project},
	})
	if err != nil {
		var ie *docker.ImageError
		if errors.As(err, &ie) {
			ru.log.printf("%v", err)
			ru.endPhaseFailed(ContextClientError, err.Error())
			return ru.result
		}
		ru.endPhase(ctx, err, ContextFault, "could not start the build container: "+err.Error())
		return ru.result
	}
	ru.container = c
	ru.endPhase(ctx, nil, "", "")

	// DOWNLOAD_SOURCE: sources into the container, the buildspec, the variables.
	ru.startPhase(PhaseDownloadSource)
	if !ru.downloadSource(ctx) {
		return ru.result
	}
	w, err := openLog(ru.env.masking)
	if err != nil {
		ru.endPhase(ctx, err, ContextFault, "open build log: "+err.Error())
		return ru.result
	}
	logCloser = w
	if err := ru.log.attach(w); err != nil {
		r.Log.Warn("writing build log", "build_id", spec.BuildID, "err", err)
	}
	if err := c.CopyIn(ctx, conveyorDir, bytes.NewReader(conveyorTar(ru.env, spec.srcDir("")))); err != nil {
		ru.endPhase(ctx, err, ContextFault, "prepare the build container: "+err.Error())
		return ru.result
	}
	ru.restoreCache(ctx)
	if ru.fatal != "" {
		return ru.result
	}
	ru.endPhase(ctx, nil, "", "")

	// INSTALL, PRE_BUILD, BUILD, POST_BUILD, with CodeBuild's transitions: a failed INSTALL or
	// PRE_BUILD skips BUILD and POST_BUILD; POST_BUILD runs after a failed BUILD with
	// CODEBUILD_BUILD_SUCCEEDING=0; on-failure CONTINUE goes on, an explicit ABORT stops.
	ranBuild := false
	skipBuild := false // a failed INSTALL or PRE_BUILD (without on-failure CONTINUE) skips BUILD and POST_BUILD
	for _, name := range buildspec.PhaseNames() {
		if ru.fatal != "" {
			break
		}
		p, ok := ru.bs.Phase(name)
		if skipBuild && !ranBuild && (name == buildspec.PhaseBuild || name == buildspec.PhasePostBuild) {
			continue
		}
		if name == buildspec.PhaseBuild {
			ranBuild = true
		}
		if !ok {
			continue
		}
		failedBefore := ru.failed
		abort := ru.runPhase(ctx, p)
		if abort {
			break
		}
		if ru.failed && !failedBefore && p.OnFailure.Mode != buildspec.OnFailureContinue &&
			(name == buildspec.PhaseInstall || name == buildspec.PhasePreBuild) {
			skipBuild = true
		}
	}
	if ru.fatal == "" {
		ru.exportVariables(ctx)
	}

	// UPLOAD_ARTIFACTS: always attempted unless the build was stopped or timed out.
	if ru.fatal == "" || ru.fatal == StatusFailed {
		ru.startPhase(PhaseUploadArtifacts)
		err := ru.uploadArtifacts(ctx)
		ru.collectReports(ctx)
		if err != nil {
			ru.endPhaseFailed(ContextClientError, err.Error())
		} else {
			ru.endPhase(ctx, nil, "", "")
		}
	}
	return ru.result
}

// startPhase records a phase as in progress.
func (ru *run) startPhase(t string) {
	b := ru.rec.Build
	b.CurrentPhase = t
	b.Phases = append(b.Phases, BuildPhase{PhaseType: t, PhaseStatus: StatusInProgress, StartTime: At(time.Now())})
	ru.rec.Save(b)
	if t != PhaseProvisioning && t != PhaseDownloadSource && t != PhaseUploadArtifacts {
		ru.log.printf("Entering phase %s", t)
	}
}

// endPhase settles the current phase: ok when err is nil, else TIMED_OUT, STOPPED or FAULT by
// what ended the build's context, FAULT otherwise (Docker or the server broke).
func (ru *run) endPhase(ctx context.Context, err error, code, message string) {
	if err == nil {
		ru.settle(StatusSucceeded, "", "")
		return
	}
	status, c, m := ru.classify(ctx, err, code, message)
	ru.fatal = status
	ru.settle(status, c, m)
}

// endPhaseFailed fails the current phase (the build's own fault: a command, a missing file).
func (ru *run) endPhaseFailed(code, message string) {
	ru.failed = true
	if ru.fatal == "" {
		ru.fatal = StatusFailed
	}
	ru.settle(StatusFailed, code, message)
}

func (ru *run) classify(ctx context.Context, err error, code, message string) (string, string, string) {
	switch {
	case errors.Is(context.Cause(ctx), errStopped):
		return StatusStopped, ContextStopped, "The build was stopped"
	case errors.Is(context.Cause(ctx), errShutdown):
		return StatusFault, ContextFault, errShutdown.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return StatusTimedOut, ContextTimeout, "The build timed out"
	}
	return StatusFault, code, message
}

func (ru *run) settle(status, code, message string) {
	b := ru.rec.Build
	p := &b.Phases[len(b.Phases)-1]
	now := time.Now()
	p.PhaseStatus, p.EndTime = status, At(now)
	d := int64(now.Sub(p.StartTime.Time()).Seconds())
	p.DurationInSeconds = &d
	if code != "" {
		p.Contexts = append(p.Contexts, PhaseContext{StatusCode: code, Message: message})
	}
	if p.PhaseType != PhaseProvisioning && p.PhaseType != PhaseDownloadSource && p.PhaseType != PhaseUploadArtifacts {
		ru.log.printf("Phase complete: %s State: %s", p.PhaseType, status)
		if code != "" {
			ru.log.printf("Phase context status code: %s Message: %s", code, message)
		}
	} else if code != "" {
		ru.log.printf("Phase %s %s: %s: %s", p.PhaseType, status, code, message)
	}
	ru.rec.Save(b)
}

// maxBuildspecSize mirrors the buildspec parser's cap, read from a source zip.
const maxBuildspecSize = buildspec.MaxSize

// downloadSource unpacks the sources into the container, reads and parses the buildspec and
// resolves the variables. It returns false when the phase failed.
func (ru *run) downloadSource(ctx context.Context) bool {
	spec := &ru.spec
	for _, in := range spec.Sources {
		dir := spec.srcDir(in.Identifier)
		if in.ZipPath == "" {
			if err := ru.container.CopyIn(ctx, dir, bytes.NewReader(emptyTar())); err != nil {
				ru.endPhase(ctx, err, ContextFault, "create "+dir+": "+err.Error())
				return false
			}
			continue
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.ZipToTar(ctx, in.ZipPath, pw, "", archive.DefaultLimits)) }()
		if err := ru.container.CopyIn(ctx, dir, pr); err != nil {
			pr.CloseWithError(err)
			var ee *archive.EntryError
			if errors.As(err, &ee) || errors.Is(err, archive.ErrCorrupt) {
				ru.endPhaseFailed(ContextClientError, "the source "+sourceName(in)+" is not a safe zip: "+err.Error())
				return false
			}
			ru.endPhase(ctx, err, ContextFault, "copy the source into the container: "+err.Error())
			return false
		}
		ru.log.printf("Source %s unpacked into %s", sourceName(in), dir)
	}
	data, name, err := ru.readBuildspec()
	if err != nil {
		ru.log.printf("%v", err)
		ru.endPhaseFailed(ContextYAMLError, err.Error())
		return false
	}
	bs, err := buildspec.Parse(name, data)
	if err != nil {
		var errs buildspec.Errors
		msg := err.Error()
		if errors.As(err, &errs) && len(errs) > 0 {
			msg = errs[0].Error() // file:line:col: field: message
			if len(errs) > 1 {
				msg += fmt.Sprintf(" (and %d more problems: see the build log)", len(errs)-1)
			}
		}
		fmt.Fprintf(ru.log, "%s\n", err)
		ru.endPhaseFailed(buildspec.ContextStatusCode, msg)
		return false
	}
	ru.bs = bs
	env, err := buildEnvironment(ctx, spec, bs, ru.r.Secrets)
	if err != nil {
		ru.endPhaseFailed(ContextClientError, err.Error())
		return false
	}
	ru.env = env
	for _, p := range bs.Phases {
		for lang, v := range p.RuntimeVersions {
			ru.log.printf("runtime-versions %s: %s requested; Conveyor runs the image as it is (%s)", lang, v, spec.Image)
		}
	}
	if bs.Env.GitCredentialHelper {
		ru.log.printf("env.git-credential-helper is accepted and ignored")
	}
	return true
}

func sourceName(in Input) string {
	if in.Identifier == "" {
		return "primary source"
	}
	return in.Identifier
}

func emptyTar() []byte {
	var b bytes.Buffer
	_ = tarWriterClose(&b)
	return b.Bytes()
}

// readBuildspec returns the inline buildspec, or reads the named file from the primary source zip.
func (ru *run) readBuildspec() ([]byte, string, error) {
	bsName := ru.spec.Buildspec
	if strings.Contains(bsName, "\n") || strings.HasPrefix(strings.TrimSpace(bsName), "version") {
		return []byte(bsName), "buildspec (inline)", nil
	}
	if bsName == "" {
		bsName = "buildspec.yml"
	}
	if strings.HasPrefix(bsName, "arn:") {
		return nil, bsName, fmt.Errorf("buildspec %s: buildspecs in S3 are not supported; put the file in the source or inline it", bsName)
	}
	if len(ru.spec.Sources) == 0 || ru.spec.Sources[0].ZipPath == "" {
		return nil, bsName, fmt.Errorf("no buildspec: the project has no source, so its buildspec must be inline")
	}
	zr, err := zip.OpenReader(ru.spec.Sources[0].ZipPath)
	if err != nil {
		return nil, bsName, fmt.Errorf("open the primary source: %w", err)
	}
	defer zr.Close()
	want := path.Clean(strings.TrimPrefix(bsName, "./"))
	for _, f := range zr.File {
		if path.Clean(f.Name) != want {
			continue
		}
		if f.UncompressedSize64 > maxBuildspecSize {
			return nil, bsName, fmt.Errorf("%s: the buildspec is larger than %d bytes", bsName, maxBuildspecSize)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, bsName, err
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxBuildspecSize+1))
		if err != nil {
			return nil, bsName, err
		}
		if len(data) > maxBuildspecSize {
			return nil, bsName, fmt.Errorf("%s: the buildspec is larger than %d bytes", bsName, maxBuildspecSize)
		}
		return data, bsName, nil
	}
	return nil, bsName, fmt.Errorf("YAML_FILE_ERROR: %s does not exist in the primary source", bsName)
}

// shell is the buildspec's shell (env.shell), /bin/sh by default.
func (ru *run) shell() string {
	if ru.bs.Env.Shell == "bash" {
		return "/bin/bash"
	}
	return "/bin/sh"
}

// tailBuffer keeps the last bytes written, for on-failure RETRY-<regex>.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// runPhase runs a phase's commands and finally block, with its retries. It returns true when the
// build must stop running phases (an explicit on-failure ABORT).
func (ru *run) runPhase(ctx context.Context, p *buildspec.Phase) bool {
	ru.startPhase(p.Type())
	attempts := 1
	if p.OnFailure.Mode == buildspec.OnFailureRetry {
		attempts += p.OnFailure.Retries
	}
	var ok bool
	var failedCmd, reason string
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			ru.log.printf("Retrying phase %s (attempt %d of %d)", p.Type(), attempt, attempts)
		}
		tail := &tailBuffer{max: 64 << 10}
		ok, failedCmd, reason = ru.runCommands(ctx, p, tail)
		if ok || ru.fatal != "" {
			break
		}
		if p.OnFailure.Pattern != nil && !p.OnFailure.Pattern.Match(tail.buf) {
			ru.log.printf("The output does not match %s: not retrying", p.OnFailure.Pattern)
			break
		}
	}
	if ru.fatal != "" {
		code, msg := ru.fatalContext()
		ru.settle(ru.fatal, code, msg)
		return true
	}
	if ok {
		ru.settle(StatusSucceeded, "", "")
		return false
	}
	ru.failed = true
	code := ContextCommandError
	msg := fmt.Sprintf("Error while executing command: %s. Reason: %s", failedCmd, reason)
	if ru.oom {
		code = ContextOutOfMemory
		msg = fmt.Sprintf("Error while executing command: %s. Reason: the build container ran out of memory (limit %s); "+
			"use a larger compute type", failedCmd, size.Bytes(ru.spec.Limits.MemoryBytes))
	}
	ru.settle(StatusFailed, code, msg)
	return p.OnFailure.Mode == buildspec.OnFailureAbort
}

// fatalContext is the phase context of a build that ended abnormally in a command phase.
func (ru *run) fatalContext() (code, message string) {
	switch ru.fatal {
	case StatusStopped:
		return ContextStopped, "The build was stopped"
	case StatusTimedOut:
		return ContextTimeout, "The build timed out"
	}
	return ContextFault, ru.faultMessage
}

// runCommands runs a phase's commands, stopping at the first failure, then its finally block.
func (ru *run) runCommands(ctx context.Context, p *buildspec.Phase, tail io.Writer) (ok bool, failedCmd, reason string) {
	ok = true
	run := func(cmds []buildspec.Command) {
		for _, c := range cmds {
			if ru.fatal != "" {
				return
			}
			good, why := ru.command(ctx, p, c.Text, tail)
			if !good {
				if ok {
					failedCmd, reason = c.Text, why
				}
				ok = false
				return
			}
		}
	}
	run(p.Commands)
	if ru.fatal == "" && len(p.Finally) > 0 {
		run(p.Finally)
	}
	return ok, failedCmd, reason
}

// command runs one command; false with a reason when it failed.
func (ru *run) command(ctx context.Context, p *buildspec.Phase, text string, tail io.Writer) (bool, string) {
	ru.log.printf("Running command %s", text)
	script := conveyorDir + "/run.sh"
	if ru.bs.Version == buildspec.Version01 {
		script = conveyorDir + "/run01.sh"
	}
	succeeding := "1"
	if ru.failed {
		succeeding = "0"
	}
	out := io.MultiWriter(ru.log, tail)
	st, err := ru.container.Exec(ctx, docker.ExecSpec{
		Cmd: []string{ru.shell(), script, text}, Env: []string{succeedingParam + "=" + succeeding}, User: p.RunAs,
	}, out, out)
	if err != nil {
		status, _, _ := ru.classify(ctx, err, "", "")
		ru.fatal = status
		if status == StatusFault {
			ru.faultMessage = "Conveyor could not run the command: " + err.Error()
			if errors.Is(context.Cause(ctx), errShutdown) {
				ru.faultMessage = errShutdown.Error()
			}
			ru.log.printf("%s", ru.faultMessage)
		}
		return false, err.Error()
	}
	if st.OOMKilled {
		ru.oom = true
		ru.rec.Build.OutOfMemory = true
		ru.log.printf("The build container ran out of memory (limit %s): a process was killed", size.Bytes(ru.spec.Limits.MemoryBytes))
	}
	if st.ExitCode != 0 {
		reason := fmt.Sprintf("exit status %d", st.ExitCode)
		if st.OOMKilled {
			reason = "out of memory"
		}
		ru.log.printf("Command did not exit successfully %s %s", text, reason)
		return false, reason
	}
	return true, ""
}

// exportVariables reads env.exported-variables from the shell state after the last phase.
func (ru *run) exportVariables(ctx context.Context) {
	names := ru.bs.Env.ExportedVariables
	if len(names) == 0 || ru.container == nil {
		return
	}
	state := stateEnv
	if ru.bs.Version == buildspec.Version01 {
		state = initialEnv
	}
	var out, errOut bytes.Buffer
	st, err := ru.container.Exec(ctx, docker.ExecSpec{Cmd: append([]string{"/bin/sh", conveyorDir + "/export.sh", state}, names...)}, &out, &errOut)
	if err != nil || st.ExitCode != 0 {
		ru.log.printf("Could not read the exported variables: %v %s", err, errOut.String())
		return
	}
	parts := strings.Split(out.String(), "\x00")
	for i := 0; i+1 < len(parts); i += 2 {
		name, value := parts[i], parts[i+1]
		if ru.env.secret[name] {
			continue // the parser refuses this; a defence in depth
		}
		ru.rec.Build.ExportedEnvironmentVariables = append(ru.rec.Build.ExportedEnvironmentVariables, ExportedVariable{Name: name, Value: value})
	}
	ru.rec.Save(ru.rec.Build)
}

// restoreCache copies the project's cached paths back into place.
func (ru *run) restoreCache(ctx context.Context) {
	roots := ru.cacheRoots()
	if len(roots) == 0 {
		return
	}
	ru.log.printf("Restoring the cache from volume %s", ru.spec.CacheVolume)
	ru.cacheExec(ctx, "restore", roots)
}

// saveCache stores the cache paths in the project's cache volume.
func (ru *run) saveCache(ctx context.Context) {
	roots := ru.cacheRoots()
	if len(roots) == 0 || ru.container == nil {
		return
	}
	ru.log.printf("Saving the cache to volume %s", ru.spec.CacheVolume)
	ru.cacheExec(ctx, "save", roots)
}

func (ru *run) cacheExec(ctx context.Context, mode string, roots []string) {
	st, err := ru.container.Exec(ctx, docker.ExecSpec{Cmd: append([]string{"/bin/sh", conveyorDir + "/cache.sh", mode}, roots...)}, ru.log, ru.log)
	if err != nil || st.ExitCode != 0 {
		ru.log.printf("Cache %s did not complete (exit %d, %v); the build goes on without it", mode, st.ExitCode, err)
	}
}

func (ru *run) cacheRoots() []string {
	if ru.spec.CacheVolume == "" || ru.bs == nil || ru.bs.Cache == nil {
		return nil
	}
	var roots []string
	seen := map[string]bool{}
	for _, p := range ru.bs.Cache.Paths {
		root := cacheRoot(p)
		if root == "" || root == "." || root == "/" {
			ru.log.printf("Cache path %q would cache the whole source or file system: skipped (name a directory, e.g. node_modules/**/*)", p)
			continue
		}
		if !seen[root] {
			seen[root] = true
			roots = append(roots, root)
		}
	}
	return roots
}

// uploadArtifacts zips the selected files of each output and stores them.
func (ru *run) uploadArtifacts(ctx context.Context) error {
	if ru.container == nil || ru.bs == nil || len(ru.spec.Outputs) == 0 {
		return nil
	}
	if ru.bs.Artifacts == nil {
		return errors.New("CLIENT_ERROR: no definition for primary artifacts in buildspec (the project or pipeline action expects output artifacts)")
	}
	var problems []string
	for _, out := range ru.spec.Outputs {
		// A pipeline output is the secondary artifact of the same identifier when the buildspec has
		// one (CodePipeline's rule for several outputs), else the primary artifacts section.
		sel := ru.secondary(out.Name)
		if out.Identifier != "" {
			sel = ru.secondary(out.Identifier)
			if sel == nil {
				problems = append(problems, fmt.Sprintf("no secondary artifact %q in the buildspec (secondary-artifacts identifiers must match the output artifact names)", out.Identifier))
				continue
			}
		} else if sel == nil {
			sel = ru.bs.Artifacts
		}
		art, err := ru.zipArtifact(ctx, out, sel)
		if err != nil {
			problems = append(problems, fmt.Sprintf("artifact %s: %v", artifactLabel(out), err))
			continue
		}
		ru.result.Artifacts = append(ru.result.Artifacts, art)
		ba := BuildArtifacts{Location: "conveyor-artifacts/" + art.Blob.SHA256, Sha256sum: art.Blob.SHA256, Md5sum: art.Blob.MD5,
			ArtifactIdentifier: out.Identifier, Size: art.Blob.Size, Files: art.Files}
		if out.Identifier == "" {
			ru.rec.Build.Artifacts = &ba
		} else {
			ru.rec.Build.SecondaryArtifacts = append(ru.rec.Build.SecondaryArtifacts, ba)
		}
		ru.log.printf("Uploaded %s: %d files, %s, sha256 %s", artifactLabel(out), art.Files, size.Bytes(art.Blob.Size), art.Blob.SHA256)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func (ru *run) secondary(identifier string) *buildspec.Artifacts {
	if identifier == "" {
		return nil
	}
	for i := range ru.bs.Artifacts.Secondary {
		if ru.bs.Artifacts.Secondary[i].Identifier == identifier {
			return &ru.bs.Artifacts.Secondary[i]
		}
	}
	return nil
}

func artifactLabel(o Output) string {
	if o.Name != "" {
		return o.Name
	}
	if o.Identifier != "" {
		return o.Identifier
	}
	return "the primary artifact"
}

func (ru *run) zipArtifact(ctx context.Context, out Output, a *buildspec.Artifacts) (ProducedArtifact, error) {
	src := ru.spec.srcDir("")
	rc, err := ru.container.CopyOut(ctx, src)
	if err != nil {
		return ProducedArtifact{}, fmt.Errorf("read the source directory: %w", err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(ru.r.TempDir, "artifact-*.zip")
	if err != nil {
		return ProducedArtifact{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	m, err := archive.ZipFromTar(ctx, rc, tmp, path.Base(src), archive.Selection{
		Files: a.Files, BaseDirectory: a.BaseDirectory, DiscardPaths: a.DiscardPaths, ExcludePaths: a.ExcludePaths,
		EnableSymlinks: a.EnableSymlinks,
	})
	if err != nil {
		return ProducedArtifact{}, err
	}
	for _, s := range m.Skipped {
		ru.log.printf("Artifact %s: skipped %s: %s", artifactLabel(out), s.Path, s.Reason)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return ProducedArtifact{}, err
	}
	blob, err := ru.r.Blobs.Put(ctx, tmp, 0)
	if err != nil {
		return ProducedArtifact{}, err
	}
	return ProducedArtifact{Identifier: out.Identifier, Name: out.Name, Blob: blob, Files: len(m.Files)}, nil
}

// testFormats are the report formats parsed into test cases; the others are stored as files.
var testFormats = map[string]bool{"JUNITXML": true, "CUCUMBERJSON": true}

// coverageFormats are code coverage formats.
var coverageFormats = map[string]bool{"CLOVERXML": true, "COBERTURAXML": true, "JACOCOXML": true, "SIMPLECOV": true}

// collectReports reads the report files of each report group out of the container and parses them.
func (ru *run) collectReports(ctx context.Context) {
	if ru.container == nil || ru.bs == nil {
		return
	}
	for _, rg := range ru.bs.Reports {
		rep, err := ru.collectReport(ctx, rg)
		if err != nil {
			ru.log.printf("Report %s: %v", rg.Group, err)
			continue
		}
		ru.result.Reports = append(ru.result.Reports, rep)
		ru.rec.Build.ReportArns = append(ru.rec.Build.ReportArns, rep.Report.ARN)
		ru.log.printf("Report %s: %s, %d test cases", rg.Group, rep.Report.Status, len(rep.Cases))
	}
}

func (ru *run) collectReport(ctx context.Context, rg buildspec.Report) (ProducedReport, error) {
	group := rg.Group
	if strings.HasPrefix(group, "arn:") {
		if i := strings.LastIndex(group, "/"); i >= 0 {
			group = group[i+1:]
		}
	} else {
		group = ru.spec.Project + "-" + group
	}
	typ := "TEST"
	if coverageFormats[rg.FileFormat] {
		typ = "CODE_COVERAGE"
	}
	rep := ProducedReport{Report: store.Report{
		ARN:     fmt.Sprintf("arn:aws:codebuild:%s:000000000000:report/%s:%s", ru.spec.Region, group, uuid.NewString()),
		BuildID: ru.spec.BuildID, Group: group, Type: typ, Format: rg.FileFormat,
	}}
	dir := ru.spec.srcDir("")
	if rg.BaseDirectory != "" {
		dir = path.Join(dir, rg.BaseDirectory)
	}
	rc, err := ru.container.CopyOut(ctx, dir)
	if err != nil {
		rep.Report.Status = "INCOMPLETE"
		return rep, fmt.Errorf("read %s: %w", dir, err)
	}
	defer rc.Close()
	var parsed reports.Report
	var files []map[string]any
	err = walkTar(rc, func(name string, r io.Reader) error {
		matched := false
		for _, g := range rg.Files {
			matched = matched || archive.MatchGlob(g, name)
		}
		if !matched {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(r, reports.MaxInputBytes+1))
		if err != nil {
			return err
		}
		blob, err := ru.r.Blobs.Put(ctx, bytes.NewReader(data), 0)
		if err != nil {
			return err
		}
		files = append(files, map[string]any{"name": name, "sha256": blob.SHA256, "size": blob.Size})
		if !testFormats[rg.FileFormat] {
			return nil
		}
		one, err := reports.Parse(rg.FileFormat, bytes.NewReader(data))
		if err != nil {
			ru.log.printf("Report %s: %s is not a valid %s file: %v", rg.Group, name, rg.FileFormat, err)
			return nil
		}
		for i := range one.Cases {
			if one.Cases[i].File == "" {
				one.Cases[i].File = name
			}
		}
		parsed.Cases = append(parsed.Cases, one.Cases...)
		return nil
	})
	if err != nil {
		rep.Report.Status = "INCOMPLETE"
		return rep, err
	}
	rep.Report.Files, _ = json.Marshal(files)
	if len(files) == 0 {
		rep.Report.Status = "INCOMPLETE"
		rep.Report.Summary = []byte("{}")
		return rep, nil
	}
	summary := map[string]any{"total": 0, "statusCounts": map[string]int{}, "durationInNanoSeconds": int64(0)}
	counts := map[string]int{}
	var dur int64
	status := "SUCCEEDED"
	for i, c := range parsed.Cases {
		counts[c.Status]++
		dur += c.DurationNanos
		if c.Status == reports.StatusFailed || c.Status == reports.StatusError {
			status = "FAILED"
		}
		rep.Cases = append(rep.Cases, store.TestCase{ReportARN: rep.Report.ARN, Seq: i + 1, Name: c.Name, Prefix: c.Prefix,
			Status: c.Status, DurationNanos: c.DurationNanos, Message: c.Message, File: c.File})
	}
	summary["total"], summary["statusCounts"], summary["durationInNanoSeconds"] = len(parsed.Cases), counts, dur
	rep.Report.Summary, _ = json.Marshal(summary)
	rep.Report.Status = status
	if typ == "CODE_COVERAGE" {
		rep.Report.Status = "SUCCEEDED"
	}
	return rep, nil
}

// finish runs FINALIZING: saves the cache, removes the container, and settles the build status.
func (ru *run) finish(ctx context.Context) {
	b := ru.rec.Build
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	ru.startPhase(PhaseFinalizing)
	if ru.fatal == "" || ru.fatal == StatusFailed {
		ru.saveCache(cleanup)
	}
	if ru.container != nil {
		if err := ru.container.Destroy(cleanup); err != nil {
			ru.r.Log.Warn("removing build container (the reaper will retry)", "build_id", ru.spec.BuildID, "err", err)
		}
	}
	ru.settle(StatusSucceeded, "", "")
	status := StatusSucceeded
	switch {
	case ru.fatal != "":
		status = ru.fatal
	case ru.failed:
		status = StatusFailed
	}
	now := time.Now()
	b.Phases = append(b.Phases, BuildPhase{PhaseType: PhaseCompleted, StartTime: At(now)})
	b.CurrentPhase, b.BuildStatus, b.EndTime, b.BuildComplete = PhaseCompleted, status, At(now), true
	ru.log.printf("Build %s: %s", ru.spec.BuildID, status)
	ru.rec.Save(b)
}
