package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// LogKind is the log store kind of build logs.
const LogKind = "builds"

// Service runs CodeBuild: projects, builds (queued under a concurrency limit, run by the Runner,
// recorded in the store), reports. It is safe for concurrent use.
type Service struct {
	db      *store.DB
	blobs   *store.Blobs
	logs    *logs.Store
	runner  *Runner
	region  string
	log     *slog.Logger
	onEvent func(buildID string)
	logCap  int64

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	slots  chan struct{}

	mu        sync.Mutex
	running   map[string]context.CancelCauseFunc
	byProject map[string]int
	done      map[string]chan struct{}
}

// Config wires a Service.
type Config struct {
	DB     *store.DB
	Blobs  *store.Blobs
	Logs   *logs.Store
	Runner *Runner
	Region string
	Logger *slog.Logger
	// MaxConcurrentBuilds caps builds running at once on this server (default: the CPU count, at
	// least 2); more wait in QUEUED.
	MaxConcurrentBuilds int
	// OnEvent hears about every change of a build (live views); must not block.
	OnEvent func(buildID string)
	// LogCap caps each build's log (default 100 MiB); a marker line says what was cut.
	LogCap int64
}

// NewService returns a service; call Start before use.
func NewService(cfg Config) *Service {
	if cfg.MaxConcurrentBuilds <= 0 {
		cfg.MaxConcurrentBuilds = max(2, runtime.NumCPU())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(string) {}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Service{db: cfg.DB, blobs: cfg.Blobs, logs: cfg.Logs, runner: cfg.Runner, region: cfg.Region, log: cfg.Logger,
		onEvent: cfg.OnEvent, logCap: cfg.LogCap, ctx: ctx, cancel: cancel, slots: make(chan struct{}, cfg.MaxConcurrentBuilds),
		running: map[string]context.CancelCauseFunc{}, byProject: map[string]int{}, done: map[string]chan struct{}{}}
}

// Start fails builds a previous run of the server left IN_PROGRESS (their containers died with
// it, or are removed now) and removes orphaned containers and volumes.
func (s *Service) Start(ctx context.Context) error {
	stale, err := s.db.Read().InProgressBuilds(ctx)
	if err != nil {
		return fmt.Errorf("recover builds: %w", err)
	}
	for _, rec := range stale {
		var b Build
		if err := json.Unmarshal(rec.Detail, &b); err != nil {
			return fmt.Errorf("stored build %s: %w", rec.ID, err)
		}
		now := time.Now()
		if n := len(b.Phases); n > 0 && b.Phases[n-1].PhaseStatus == StatusInProgress {
			p := &b.Phases[n-1]
			p.PhaseStatus, p.EndTime = StatusFault, At(now)
			p.Contexts = append(p.Contexts, PhaseContext{StatusCode: ContextFault, Message: "Conveyor restarted while the build was running"})
		}
		b.Phases = append(b.Phases, BuildPhase{PhaseType: PhaseCompleted, StartTime: At(now)})
		b.BuildStatus, b.CurrentPhase, b.EndTime, b.BuildComplete = StatusFault, PhaseCompleted, At(now), true
		detail, _ := json.Marshal(b)
		if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.FinishBuild(ctx, rec.ID, StatusFault, PhaseCompleted, detail) }); err != nil {
			return err
		}
		s.log.Warn("build interrupted by a restart marked FAULT", "build_id", rec.ID)
	}
	if s.runner != nil && s.runner.Docker != nil {
		if n, err := s.runner.Docker.Reap(ctx, s.isRunning); err != nil {
			s.log.Warn("reaping orphaned build containers", "err", err)
		} else if n > 0 {
			s.log.Info("removed orphaned build containers and volumes", "count", n)
		}
	}
	return nil
}

// Close ends running builds as FAULT ("Conveyor shut down") and removes their containers, and
// waits for that; a build the process could not finish is marked FAULT at the next start.
func (s *Service) Close(ctx context.Context) error {
	s.cancel(errShutdown)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("builds still finishing: %w", ctx.Err())
	}
}

func (s *Service) isRunning(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.running[id]
	return ok
}

// ProjectArn is a project's ARN.
func (s *Service) ProjectArn(name string) string {
	return fmt.Sprintf("arn:aws:codebuild:%s:000000000000:project/%s", s.region, name)
}

// InputArtifact is a source handed over by a pipeline action.
type InputArtifact struct {
	Identifier string // "" for the primary source
	BlobSHA256 string
	Revision   string
	RepoURL    string // the git repository it came from (CODEBUILD_SOURCE_REPO_URL), if any
}

// StartInput is StartBuild's request (CodeBuild's member names), plus what a pipeline action passes.
type StartInput struct {
	ProjectName                     string                `json:"projectName"`
	SourceVersion                   string                `json:"sourceVersion,omitempty"`
	SourceTypeOverride              string                `json:"sourceTypeOverride,omitempty"`
	SourceLocationOverride          string                `json:"sourceLocationOverride,omitempty"`
	BuildspecOverride               string                `json:"buildspecOverride,omitempty"`
	EnvironmentVariablesOverride    []EnvironmentVariable `json:"environmentVariablesOverride,omitempty"`
	ImageOverride                   string                `json:"imageOverride,omitempty"`
	ComputeTypeOverride             string                `json:"computeTypeOverride,omitempty"`
	EnvironmentTypeOverride         string                `json:"environmentTypeOverride,omitempty"`
	PrivilegedModeOverride          *bool                 `json:"privilegedModeOverride,omitempty"`
	TimeoutInMinutesOverride        int                   `json:"timeoutInMinutesOverride,omitempty"`
	QueuedTimeoutInMinutesOverride  int                   `json:"queuedTimeoutInMinutesOverride,omitempty"`
	ArtifactsOverride               *ProjectArtifacts     `json:"artifactsOverride,omitempty"`
	SecondaryArtifactsOverride      []ProjectArtifacts    `json:"secondaryArtifactsOverride,omitempty"`
	CacheOverride                   *ProjectCache         `json:"cacheOverride,omitempty"`
	IdempotencyToken                string                `json:"idempotencyToken,omitempty"`
	SecondarySourcesVersionOverride []SourceVersion       `json:"secondarySourcesVersionOverride,omitempty"`

	// Set by the pipeline action, not by API callers.
	Initiator         string          `json:"conveyorInitiator,omitempty"`
	Inputs            []InputArtifact `json:"conveyorInputs,omitempty"`
	OutputNames       []string        `json:"conveyorOutputNames,omitempty"`
	ActionExecutionID string          `json:"conveyorActionExecutionId,omitempty"`
}

var idempotencyPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// StartBuild queues a build and returns its record. A repeated idempotency token for the same
// project returns the build it started the first time.
func (s *Service) StartBuild(ctx context.Context, in StartInput) (Build, error) {
	if in.IdempotencyToken != "" {
		if !idempotencyPattern.MatchString(in.IdempotencyToken) {
			return Build{}, errorf(CodeInvalidInput, "idempotencyToken must be 1-64 letters, digits and _ . : -")
		}
		if prev, err := s.db.Read().BuildByToken(ctx, in.ProjectName, in.IdempotencyToken); err == nil {
			return decodeBuild(prev)
		}
	}
	p, err := s.project(ctx, in.ProjectName)
	if err != nil {
		return Build{}, err
	}
	spec, b, err := s.resolve(ctx, p, &in)
	if err != nil {
		return Build{}, err
	}
	req, _ := json.Marshal(in)
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		n, err := tx.NextBuildNumber(ctx, p.Name)
		if err != nil {
			return err
		}
		spec.Number, b.BuildNumber = n, n
		spec.BuildID = p.Name + ":" + uuid.NewString()
		spec.BuildARN = fmt.Sprintf("arn:aws:codebuild:%s:000000000000:build/%s", s.region, spec.BuildID)
		b.ID, b.Arn = spec.BuildID, spec.BuildARN
		b.Logs = &LogsLocation{GroupName: "/conveyor/builds/" + p.Name, StreamName: spec.logStream(),
			DeepLink: "/api/v1/builds/" + spec.BuildID + "/logs"}
		now := time.Now()
		b.StartTime = At(now)
		b.Phases = []BuildPhase{{PhaseType: PhaseSubmitted, PhaseStatus: StatusSucceeded, StartTime: At(now), EndTime: At(now), DurationInSeconds: ptr(int64(0))},
			{PhaseType: PhaseQueued, PhaseStatus: StatusInProgress, StartTime: At(now)}}
		b.CurrentPhase, b.BuildStatus = PhaseQueued, StatusInProgress
		detail, _ := json.Marshal(b)
		rec := &store.Build{ID: b.ID, Project: p.Name, Number: n, Status: StatusInProgress, CurrentPhase: PhaseQueued,
			Initiator: b.Initiator, IdempotencyToken: in.IdempotencyToken, Request: req, Detail: detail, ActionExecutionID: in.ActionExecutionID}
		return tx.InsertBuild(ctx, rec)
	})
	if errors.Is(err, store.ErrConflict) && in.IdempotencyToken != "" {
		prev, perr := s.db.Read().BuildByToken(ctx, in.ProjectName, in.IdempotencyToken)
		if perr != nil {
			return Build{}, perr
		}
		return decodeBuild(prev)
	}
	if err != nil {
		return Build{}, err
	}
	queued := time.Duration(p.QueuedTimeoutInMinutes) * time.Minute
	if in.QueuedTimeoutInMinutesOverride > 0 {
		queued = time.Duration(in.QueuedTimeoutInMinutesOverride) * time.Minute
	}
	// The record as started: once launched, the build's goroutine owns b.
	started, _ := json.Marshal(b)
	s.launch(spec, b, p.ConcurrentBuildLimit, queued, time.Duration(b.TimeoutInMinutes)*time.Minute)
	s.log.Info("build started", "build_id", b.ID, "project", p.Name, "initiator", b.Initiator)
	var out Build
	if err := json.Unmarshal(started, &out); err != nil {
		return Build{}, err
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

func decodeBuild(rec store.Build) (Build, error) {
	var b Build
	if err := json.Unmarshal(rec.Detail, &b); err != nil {
		return Build{}, fmt.Errorf("stored build %s: %w", rec.ID, err)
	}
	return b, nil
}

// resolve turns a project and StartBuild's overrides into what the runner needs and the initial
// build record.
func (s *Service) resolve(ctx context.Context, p *Project, in *StartInput) (*RunSpec, *Build, error) {
	env := p.Environment
	if in.ImageOverride != "" {
		env.Image = in.ImageOverride
	}
	if in.ComputeTypeOverride != "" {
		env.ComputeType = in.ComputeTypeOverride
	}
	if in.PrivilegedModeOverride != nil {
		env.PrivilegedMode = *in.PrivilegedModeOverride
	}
	limits, err := LimitsFor(env.ComputeType, env.ComputeConfiguration)
	if err != nil {
		return nil, nil, errorf(CodeInvalidInput, "%v", err)
	}
	vars := append(append([]EnvironmentVariable(nil), env.EnvironmentVariables...), in.EnvironmentVariablesOverride...)
	for _, v := range in.EnvironmentVariablesOverride {
		if strings.HasPrefix(v.Name, "CODEBUILD_") || !envNamePattern.MatchString(v.Name) {
			return nil, nil, errorf(CodeInvalidInput, "environment variable %q: not a valid name, or reserved (CODEBUILD_)", v.Name)
		}
	}
	timeout := p.TimeoutInMinutes
	if in.TimeoutInMinutesOverride > 0 {
		if in.TimeoutInMinutesOverride < 5 || in.TimeoutInMinutesOverride > 2160 {
			return nil, nil, errorf(CodeInvalidInput, "timeoutInMinutesOverride must be 5-2160")
		}
		timeout = in.TimeoutInMinutesOverride
	}
	initiator := in.Initiator
	if initiator == "" {
		initiator = "conveyor"
	}
	spec := &RunSpec{Project: p.Name, ProjectARN: p.Arn, Initiator: initiator, Region: s.region, Image: env.Image, Limits: limits,
		Privileged: env.PrivilegedMode, Env: vars, SourceVersion: in.SourceVersion, StartTime: time.Now()}
	source := p.Source
	if in.SourceTypeOverride != "" {
		source.Type = in.SourceTypeOverride
	}
	if in.SourceLocationOverride != "" {
		source.Location = in.SourceLocationOverride
	}
	spec.Buildspec = source.Buildspec
	if in.BuildspecOverride != "" {
		spec.Buildspec = in.BuildspecOverride
	}
	switch source.Type {
	case SourceCodePipeline:
		if len(in.Inputs) == 0 {
			return nil, nil, errorf(CodeInvalidInput, "project %s takes its source from a pipeline (CODEPIPELINE): start it from a pipeline action, or pass sourceTypeOverride NO_SOURCE or S3", p.Name)
		}
		for _, a := range in.Inputs {
			zipPath, err := s.blobs.Path(a.BlobSHA256)
			if err != nil {
				return nil, nil, err
			}
			spec.Sources = append(spec.Sources, Input{Identifier: a.Identifier, ZipPath: zipPath, Version: a.Revision})
			if a.Identifier == "" {
				spec.ResolvedSourceVersion, spec.SourceRepoURL = a.Revision, a.RepoURL
				if spec.SourceVersion == "" {
					spec.SourceVersion = a.Revision
				}
			}
		}
	case SourceNone:
		spec.Sources = []Input{{}}
	case SourceS3:
		bucket, key, _ := strings.Cut(source.Location, "/")
		obj, err := s.db.Read().GetObject(ctx, bucket, key, in.SourceVersion)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, errorf(CodeInvalidInput, "source s3://%s does not exist (version %q): upload it with `conveyor upload %s FILE.zip`", source.Location, in.SourceVersion, source.Location)
		}
		if err != nil {
			return nil, nil, err
		}
		zipPath, err := s.blobs.Path(obj.SHA256)
		if err != nil {
			return nil, nil, err
		}
		spec.Sources = []Input{{ZipPath: zipPath, Version: obj.VersionID}}
		spec.ResolvedSourceVersion, spec.SourceVersion, spec.SourceRepoURL = obj.VersionID, obj.VersionID, "s3://"+source.Location
	default:
		return nil, nil, errorf(CodeInvalidInput, "source type %q is not supported", source.Type)
	}
	artifacts := p.Artifacts
	if in.ArtifactsOverride != nil {
		artifacts = *in.ArtifactsOverride
	}
	secondary := p.SecondaryArtifacts
	if in.SecondaryArtifactsOverride != nil {
		secondary = in.SecondaryArtifactsOverride
	}
	switch {
	case len(in.OutputNames) > 0:
		for i, name := range in.OutputNames {
			out := Output{Name: name}
			if i > 0 {
				out.Identifier = name
			}
			spec.Outputs = append(spec.Outputs, out)
		}
	case artifacts.Type != ArtifactsNone && artifacts.Type != ArtifactsCodePipeline:
		spec.Outputs = append(spec.Outputs, Output{})
		for _, a := range secondary {
			spec.Outputs = append(spec.Outputs, Output{Identifier: a.ArtifactIdentifier})
		}
	}
	cache := p.Cache
	if in.CacheOverride != nil {
		cache = in.CacheOverride
	}
	if cache != nil && cache.Type == CacheLocal {
		spec.CacheVolume = "conveyor-cache-" + sanitizeVolume(p.Name)
	}
	b := &Build{ProjectName: p.Name, SourceVersion: spec.SourceVersion, ResolvedSourceVersion: spec.ResolvedSourceVersion,
		Source: &source, Cache: cache, Environment: &env, ServiceRole: p.ServiceRole, TimeoutInMinutes: timeout,
		QueuedTimeoutInMinutes: p.QueuedTimeoutInMinutes, Initiator: initiator, BuildStatus: StatusInProgress}
	if in.QueuedTimeoutInMinutesOverride > 0 {
		b.QueuedTimeoutInMinutes = in.QueuedTimeoutInMinutesOverride
	}
	// Environment variables of secret types show their reference, never a value; plaintext ones
	// are shown as CodeBuild shows them.
	b.Environment.EnvironmentVariables = vars
	return spec, b, nil
}

func sanitizeVolume(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// launch runs a build in the background: QUEUED until a slot (and the project's concurrent
// build limit) allows, then the runner, then the final record.
func (s *Service) launch(spec *RunSpec, b *Build, projectLimit int, queuedTimeout, timeout time.Duration) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	s.mu.Lock()
	s.running[b.ID] = cancel
	s.done[b.ID] = make(chan struct{})
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel(nil)
		log := s.log.With("build_id", b.ID, "project", spec.Project)
		save := func(b *Build) {
			if b.BuildComplete {
				// Completion is published by record alone, with the artifacts' locations, the
				// reports and the final status in one transaction.
				return
			}
			detail, _ := json.Marshal(b)
			err := s.db.Write(context.WithoutCancel(ctx), func(tx *store.Tx) error {
				return tx.UpdateBuildProgress(context.WithoutCancel(ctx), b.ID, b.CurrentPhase, detail)
			})
			if err != nil {
				log.Error("recording build progress", "err", err)
			}
			s.onEvent(b.ID)
		}
		var result Result
		if s.acquire(ctx, spec.Project, projectLimit, queuedTimeout) {
			q := b.phase(PhaseQueued)
			now := time.Now()
			q.PhaseStatus, q.EndTime, q.DurationInSeconds = StatusSucceeded, At(now), ptr(int64(now.Sub(q.StartTime.Time()).Seconds()))
			save(b)
			runCtx, cancelRun := context.WithTimeout(ctx, timeout)
			spec.StartTime = time.Now()
			result = s.runner.Run(runCtx, *spec, Record{Build: b, Save: save}, func(secrets []string) (io.WriteCloser, error) {
				return s.logs.Create(LogKind, b.ID, logs.Options{Secrets: secrets, Cap: s.logCap})
			})
			cancelRun()
			s.release(spec.Project)
		} else {
			s.endQueued(ctx, b)
		}
		if err := s.record(b, result); err != nil {
			log.Error("recording the end of a build", "err", err)
		}
		log.Info("build finished", "status", b.BuildStatus)
		s.mu.Lock()
		delete(s.running, b.ID)
		close(s.done[b.ID])
		delete(s.done, b.ID)
		s.mu.Unlock()
		s.onEvent(b.ID)
	}()
}

// acquire waits for a build slot and the project's limit; false when the build was stopped or
// its queued timeout passed first.
func (s *Service) acquire(ctx context.Context, project string, limit int, queuedTimeout time.Duration) bool {
	deadline := time.NewTimer(queuedTimeout)
	defer deadline.Stop()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
		s.mu.Lock()
		if limit <= 0 || s.byProject[project] < limit {
			s.byProject[project]++
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		<-s.slots // the project is at its limit: give the slot back and wait for a build to end
		select {
		case <-s.projectFreed(project):
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
	}
}

// projectFreed returns a channel closed when some build ends (a cheap broadcast; acquire re-checks).
func (s *Service) projectFreed(string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	chs := make([]<-chan struct{}, 0, len(s.done))
	for _, ch := range s.done {
		chs = append(chs, ch)
	}
	out := make(chan struct{})
	go func() {
		cases := make(chan struct{}, len(chs))
		for _, ch := range chs {
			go func(ch <-chan struct{}) { <-ch; cases <- struct{}{} }(ch)
		}
		<-cases
		close(out)
	}()
	return out
}

func (s *Service) release(project string) {
	s.mu.Lock()
	s.byProject[project]--
	s.mu.Unlock()
	<-s.slots
}

// endQueued settles a build that never left the queue: stopped, timed out in the queue, or the
// server is shutting down.
func (s *Service) endQueued(ctx context.Context, b *Build) {
	status, code, msg := StatusTimedOut, ContextTimeout, "The build timed out in the queue (queuedTimeoutInMinutes)"
	if errors.Is(context.Cause(ctx), errStopped) {
		status, code, msg = StatusStopped, ContextStopped, "The build was stopped while queued"
	} else if s.ctx.Err() != nil {
		status, code, msg = StatusFault, ContextFault, "Conveyor shut down while the build was queued"
	}
	now := time.Now()
	q := b.phase(PhaseQueued)
	q.PhaseStatus, q.EndTime = status, At(now)
	q.Contexts = append(q.Contexts, PhaseContext{StatusCode: code, Message: msg})
	b.Phases = append(b.Phases, BuildPhase{PhaseType: PhaseCompleted, StartTime: At(now)})
	b.BuildStatus, b.CurrentPhase, b.EndTime, b.BuildComplete = status, PhaseCompleted, At(now), true
}

// record stores a finished build: its artifacts (as objects, for S3-type artifacts), reports and
// final status.
func (s *Service) record(b *Build, result Result) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.db.Write(ctx, func(tx *store.Tx) error {
		for _, r := range result.Reports {
			if err := tx.InsertReport(ctx, r.Report, r.Cases); err != nil {
				return err
			}
		}
		if err := s.storeS3Artifacts(ctx, tx, b, result); err != nil {
			return err
		}
		detail, _ := json.Marshal(b) // after the artifacts' locations are known
		return tx.FinishBuild(ctx, b.ID, b.BuildStatus, b.CurrentPhase, detail)
	})
}

// storeS3Artifacts records artifacts of S3-type projects as objects: bucket = location, key =
// path/[build id/]name(.zip).
func (s *Service) storeS3Artifacts(ctx context.Context, tx *store.Tx, b *Build, result Result) error {
	rec, err := tx.GetBuild(ctx, b.ID)
	if err != nil {
		return err
	}
	var in StartInput
	_ = json.Unmarshal(rec.Request, &in)
	p, err := tx.GetBuildProject(ctx, b.ProjectName)
	if err != nil || len(in.OutputNames) > 0 {
		return nil // deleted project, or a pipeline build: artifacts go to the pipeline
	}
	var proj Project
	_ = json.Unmarshal(p.Definition, &proj)
	targets := map[string]ProjectArtifacts{"": proj.Artifacts}
	if in.ArtifactsOverride != nil {
		targets[""] = *in.ArtifactsOverride
	}
	for _, a := range proj.SecondaryArtifacts {
		targets[a.ArtifactIdentifier] = a
	}
	for _, art := range result.Artifacts {
		t, ok := targets[art.Identifier]
		if !ok || t.Type != ArtifactsS3 {
			continue
		}
		name := t.Name
		if name == "" {
			name = b.ProjectName
		}
		if !strings.HasSuffix(name, ".zip") {
			name += ".zip"
		}
		parts := []string{}
		if t.Path != "" {
			parts = append(parts, strings.Trim(t.Path, "/"))
		}
		if t.NamespaceType == "BUILD_ID" {
			_, id, _ := strings.Cut(b.ID, ":")
			parts = append(parts, id)
		}
		key := strings.Join(append(parts, name), "/")
		if _, err := tx.PutObject(ctx, t.Location, key, art.Blob); err != nil {
			return err
		}
		loc := "arn:aws:s3:::" + t.Location + "/" + key
		if art.Identifier == "" && b.Artifacts != nil {
			b.Artifacts.Location = loc
		}
		for i := range b.SecondaryArtifacts {
			if b.SecondaryArtifacts[i].ArtifactIdentifier == art.Identifier {
				b.SecondaryArtifacts[i].Location = loc
			}
		}
	}
	return nil
}

// Wait blocks until a build ends (or ctx does) and returns its final record.
func (s *Service) Wait(ctx context.Context, id string) (Build, error) {
	s.mu.Lock()
	ch, running := s.done[id]
	s.mu.Unlock()
	if running {
		select {
		case <-ch:
		case <-ctx.Done():
			return Build{}, ctx.Err()
		}
	}
	return s.GetBuild(ctx, id)
}

// GetBuild reads one build.
func (s *Service) GetBuild(ctx context.Context, id string) (Build, error) {
	rec, err := s.db.Read().GetBuild(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Build{}, errorf(CodeNotFound, "build %s does not exist", id)
	}
	if err != nil {
		return Build{}, err
	}
	return decodeBuild(rec)
}

// StopBuild stops a running or queued build and returns its record.
func (s *Service) StopBuild(ctx context.Context, id string) (Build, error) {
	if _, err := s.GetBuild(ctx, id); err != nil {
		return Build{}, err
	}
	var stopped bool
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		stopped, err = tx.RequestBuildStop(ctx, id)
		return err
	})
	if err != nil {
		return Build{}, err
	}
	s.mu.Lock()
	cancel, ok := s.running[id]
	s.mu.Unlock()
	if ok && stopped {
		cancel(errStopped)
		s.log.Info("build stop requested", "build_id", id)
	}
	return s.GetBuild(ctx, id)
}

// RetryBuild starts a new build with the same request.
func (s *Service) RetryBuild(ctx context.Context, id, token string) (Build, error) {
	rec, err := s.db.Read().GetBuild(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Build{}, errorf(CodeNotFound, "build %s does not exist", id)
	}
	if err != nil {
		return Build{}, err
	}
	if rec.Status == StatusInProgress {
		return Build{}, errorf(CodeInvalidInput, "build %s is still running", id)
	}
	var in StartInput
	if err := json.Unmarshal(rec.Request, &in); err != nil {
		return Build{}, fmt.Errorf("stored request of %s: %w", id, err)
	}
	in.IdempotencyToken = token
	in.ActionExecutionID = ""
	return s.StartBuild(ctx, in)
}

// BatchGetBuilds reads builds by id.
func (s *Service) BatchGetBuilds(ctx context.Context, ids []string) ([]Build, []string, error) {
	out := []Build{}
	var missing []string
	for _, id := range ids {
		b, err := s.GetBuild(ctx, id)
		var be *Error
		if errors.As(err, &be) && be.Code == CodeNotFound {
			missing = append(missing, id)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, b)
	}
	return out, missing, nil
}

// ListBuilds lists build ids (of one project when project is set), 100 a page.
func (s *Service) ListBuilds(ctx context.Context, project, sortOrder, nextToken string) ([]string, string, error) {
	if project != "" {
		if _, err := s.project(ctx, project); err != nil {
			return nil, "", err
		}
	}
	var cursor int64
	if nextToken != "" {
		v, err := strconv.ParseInt(nextToken, 10, 64)
		if err != nil {
			return nil, "", errorf(CodeInvalidInput, "invalid nextToken")
		}
		cursor = v
	}
	list, err := s.db.Read().ListBuilds(ctx, project, sortOrder == "ASCENDING", cursor, 101)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > 100 {
		list = list[:100]
		next = strconv.FormatInt(list[99].Seq, 10)
	}
	ids := make([]string, 0, len(list))
	for _, b := range list {
		ids = append(ids, b.ID)
	}
	return ids, next, nil
}

// project reads a project.
func (s *Service) project(ctx context.Context, name string) (*Project, error) {
	rec, err := s.db.Read().GetBuildProject(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(CodeNotFound, "project %s does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	p := &Project{}
	if err := json.Unmarshal(rec.Definition, p); err != nil {
		return nil, fmt.Errorf("stored project %s: %w", name, err)
	}
	return p, nil
}

// CreateProject stores a new project.
func (s *Service) CreateProject(ctx context.Context, p Project) (Project, error) {
	if err := p.Validate(); err != nil {
		return Project{}, errorf(CodeInvalidInput, "%v", err)
	}
	now := float64(time.Now().UnixMilli()) / 1000
	p.Arn, p.Created, p.LastModified = s.ProjectArn(p.Name), &now, &now
	def, _ := json.Marshal(p)
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateBuildProject(ctx, p.Name, def)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return Project{}, errorf(CodeAlreadyExists, "project %s already exists", p.Name)
	}
	if err != nil {
		return Project{}, err
	}
	s.log.Info("build project created", "project", p.Name)
	return p, nil
}

// UpdateProject changes the members of a project that the request carries (CodeBuild's
// UpdateProject semantics: members not given keep their values).
func (s *Service) UpdateProject(ctx context.Context, raw []byte) (Project, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(raw, &req); err != nil {
		return Project{}, errorf(CodeInvalidInput, "malformed request: %v", err)
	}
	var name string
	_ = json.Unmarshal(req["name"], &name)
	cur, err := s.project(ctx, name)
	if err != nil {
		return Project{}, err
	}
	var merged map[string]json.RawMessage
	curJSON, _ := json.Marshal(cur)
	_ = json.Unmarshal(curJSON, &merged)
	for k, v := range req {
		merged[k] = v
	}
	mergedJSON, _ := json.Marshal(merged)
	var p Project
	if err := json.Unmarshal(mergedJSON, &p); err != nil {
		return Project{}, errorf(CodeInvalidInput, "malformed project: %v", err)
	}
	if err := p.Validate(); err != nil {
		return Project{}, errorf(CodeInvalidInput, "%v", err)
	}
	now := float64(time.Now().UnixMilli()) / 1000
	p.Arn, p.Created, p.LastModified = cur.Arn, cur.Created, &now
	def, _ := json.Marshal(p)
	if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.UpdateBuildProject(ctx, p.Name, def) }); err != nil {
		return Project{}, err
	}
	return p, nil
}

// DeleteProject removes a project; its builds are kept.
func (s *Service) DeleteProject(ctx context.Context, name string) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.DeleteBuildProject(ctx, name) })
	if errors.Is(err, store.ErrNotFound) {
		return errorf(CodeNotFound, "project %s does not exist", name)
	}
	return err
}

// BatchGetProjects reads projects by name.
func (s *Service) BatchGetProjects(ctx context.Context, names []string) ([]Project, []string, error) {
	out := []Project{}
	var missing []string
	for _, n := range names {
		p, err := s.project(ctx, n)
		var be *Error
		if errors.As(err, &be) && be.Code == CodeNotFound {
			missing = append(missing, n)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, *p)
	}
	return out, missing, nil
}

// ListProjects lists project names (sortBy NAME, CREATED_TIME, LAST_MODIFIED_TIME).
func (s *Service) ListProjects(ctx context.Context, sortBy, sortOrder string) ([]string, error) {
	col := map[string]string{"": "name", "NAME": "name", "CREATED_TIME": "created_at", "LAST_MODIFIED_TIME": "updated_at"}[sortBy]
	if col == "" {
		return nil, errorf(CodeInvalidInput, "sortBy must be NAME, CREATED_TIME or LAST_MODIFIED_TIME")
	}
	list, err := s.db.Read().ListBuildProjects(ctx, col, sortOrder == "DESCENDING")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list))
	for _, p := range list {
		names = append(names, p.Name)
	}
	return names, nil
}

// ReportView is a report in the CodeBuild API's Report shape.
type ReportView struct {
	Arn         string          `json:"arn"`
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	ReportGroup string          `json:"reportGroupArn"`
	ExecutionID string          `json:"executionId"`
	Status      string          `json:"status"`
	Created     *Epoch          `json:"created"`
	TestSummary json.RawMessage `json:"testSummary,omitempty"`
	Files       json.RawMessage `json:"conveyorFiles,omitempty"`
}

// BatchGetReports reads reports by ARN.
func (s *Service) BatchGetReports(ctx context.Context, arns []string) ([]ReportView, []string, error) {
	out := []ReportView{}
	var missing []string
	for _, arn := range arns {
		r, err := s.db.Read().GetReport(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			missing = append(missing, arn)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		name := r.Group
		if i := strings.Index(arn, ":report/"); i >= 0 {
			name = strings.TrimPrefix(arn[i:], ":report/")
		}
		v := ReportView{Arn: r.ARN, Type: r.Type, Name: name, Status: r.Status, Created: At(r.Created), Files: r.Files,
			ReportGroup: fmt.Sprintf("arn:aws:codebuild:%s:000000000000:report-group/%s", s.region, r.Group),
			ExecutionID: fmt.Sprintf("arn:aws:codebuild:%s:000000000000:build/%s", s.region, r.BuildID)}
		if r.Type == "TEST" {
			v.TestSummary = r.Summary
		}
		out = append(out, v)
	}
	return out, missing, nil
}

// TestCaseView is a test case in the CodeBuild API's TestCase shape.
type TestCaseView struct {
	ReportArn             string `json:"reportArn"`
	TestRawDataPath       string `json:"testRawDataPath,omitempty"`
	Prefix                string `json:"prefix,omitempty"`
	Name                  string `json:"name"`
	Status                string `json:"status"`
	DurationInNanoSeconds int64  `json:"durationInNanoSeconds"`
	Message               string `json:"message,omitempty"`
	Expired               *Epoch `json:"expired,omitempty"`
}

// DescribeTestCases lists a report's test cases, failures first, optionally filtered by status.
func (s *Service) DescribeTestCases(ctx context.Context, arn, status, nextToken string, max int) ([]TestCaseView, string, error) {
	if _, err := s.db.Read().GetReport(ctx, arn); errors.Is(err, store.ErrNotFound) {
		return nil, "", errorf(CodeNotFound, "report %s does not exist", arn)
	}
	if max <= 0 || max > 100 {
		max = 100
	}
	// Pages walk the failures first, then everything else: the token is "phase:seq".
	phase, after := 0, 0
	if nextToken != "" {
		a, b, ok := strings.Cut(nextToken, ":")
		pa, err1 := strconv.Atoi(a)
		pb, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil {
			return nil, "", errorf(CodeInvalidInput, "invalid nextToken")
		}
		phase, after = pa, pb
	}
	groups := [][]string{{"FAILED", "ERROR"}, {"SUCCEEDED", "SKIPPED", "UNKNOWN"}}
	if status != "" {
		groups, phase = [][]string{{status}}, 0
	}
	out := []TestCaseView{}
	for phase < len(groups) {
		need := max - len(out)
		list, err := s.db.Read().TestCases(ctx, arn, groups[phase], after, need+1)
		if err != nil {
			return nil, "", err
		}
		more := len(list) > need
		if more {
			list = list[:need]
		}
		for _, c := range list {
			out = append(out, TestCaseView{ReportArn: arn, Prefix: c.Prefix, Name: c.Name, Status: c.Status,
				DurationInNanoSeconds: c.DurationNanos, Message: c.Message, TestRawDataPath: c.File})
		}
		if more {
			return out, strconv.Itoa(phase) + ":" + strconv.Itoa(list[len(list)-1].Seq), nil
		}
		phase, after = phase+1, 0
		if len(out) == max && phase < len(groups) {
			return out, strconv.Itoa(phase) + ":0", nil
		}
	}
	return out, "", nil
}
