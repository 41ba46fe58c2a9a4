package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/store"
)

// Execution statuses (pipeline level).
const (
	StatusInProgress = "InProgress"
	StatusStopping   = "Stopping"
	StatusStopped    = "Stopped"
	StatusSucceeded  = "Succeeded"
	StatusSuperseded = "Superseded"
	StatusFailed     = "Failed"
	StatusCancelled  = "Cancelled"
	StatusAbandoned  = "Abandoned" // action level only
)

// Why an action ended. Retry policy and the UI depend on the distinction.
const (
	ReasonFailed         = "failed"
	ReasonRejected       = "rejected"
	ReasonTimeout        = "timeout"
	ReasonAbandoned      = "abandoned"
	ReasonSuperseded     = "superseded"
	ReasonInfrastructure = "infrastructure"
	ReasonServerRestart  = "server restart"
)

// Trigger types (ExecutionTrigger.triggerType).
const (
	TriggerCreatePipeline       = "CreatePipeline"
	TriggerStartExecution       = "StartPipelineExecution"
	TriggerPollForSourceChanges = "PollForSourceChanges"
	TriggerWebhook              = "Webhook"
	TriggerWebhookV2            = "WebhookV2"
	TriggerCloudWatchEvent      = "CloudWatchEvent"
	TriggerPutActionRevision    = "PutActionRevision"
	TriggerManualRollback       = "ManualRollback"
	TriggerAutomatedRollback    = "AutomatedRollback"
)

// Execution types: a ROLLBACK execution re-runs one stage with an earlier execution's artifacts.
const (
	ExecutionTypeStandard = "STANDARD"
	ExecutionTypeRollback = "ROLLBACK"
)

// Observer hears about state changes after they are committed (metrics, live UI updates,
// notifications). Calls must not block.
type Observer interface {
	ExecutionStarted(pipeline string)
	ExecutionFinished(pipeline, status string)
	StageEntered(pipeline, stage string)
	ActionFinished(provider executor.ActionType, status string, d time.Duration)
	Changed(pipeline string)
}

type nopObserver struct{}

func (nopObserver) ExecutionStarted(string)                                   {}
func (nopObserver) ExecutionFinished(string, string)                          {}
func (nopObserver) StageEntered(string, string)                               {}
func (nopObserver) ActionFinished(executor.ActionType, string, time.Duration) {}
func (nopObserver) Changed(string)                                            {}

// Config wires an Engine.
type Config struct {
	DB        *store.DB
	Providers *executor.Registry
	Region    string
	Logger    *slog.Logger
	Observer  Observer
	// MaxActiveExecutions caps unfinished executions per pipeline (default 1000).
	MaxActiveExecutions int
	// AfterFunc schedules the re-check of a waiting stage condition (default time.AfterFunc; tests
	// pass a clock they move by hand, together with the store's Now).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Engine advances pipeline executions. Every mutation of one pipeline's executions happens under
// that pipeline's lock inside one write transaction; side effects (starting an action, cancelling
// one) happen only after the transaction committed.
type Engine struct {
	db        *store.DB
	providers *executor.Registry
	region    string
	log       *slog.Logger
	obs       Observer
	maxActive int

	ctx    context.Context // engine lifetime: cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	locks   map[string]*sync.Mutex
	running map[string]context.CancelFunc // action execution id → cancel
	decls   map[declKey]*Declaration

	afterFunc func(d time.Duration, f func()) (stop func() bool)
	wakes     map[string]wake // pipeline → its pending re-check
}

// wake is a scheduled re-check of a pipeline's waiting conditions.
type wake struct {
	at   time.Time
	stop func() bool
}

type declKey struct {
	name    string
	version int
}

// New returns an engine; call Start to recover unfinished executions before serving.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.MaxActiveExecutions == 0 {
		cfg.MaxActiveExecutions = 1000
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{afterFunc: cfg.AfterFunc, wakes: map[string]wake{},
		db: cfg.DB, providers: cfg.Providers, region: cfg.Region, log: cfg.Logger, obs: cfg.Observer,
		maxActive: cfg.MaxActiveExecutions, ctx: ctx, cancel: cancel,
		locks: map[string]*sync.Mutex{}, running: map[string]context.CancelFunc{}, decls: map[declKey]*Declaration{},
	}
}

// Providers is the registry the engine runs actions with.
func (e *Engine) Providers() *executor.Registry { return e.providers }

// Region is the region in ARNs.
func (e *Engine) Region() string { return e.region }

// PipelineArn is the ARN of a pipeline.
func (e *Engine) PipelineArn(name string) string {
	return fmt.Sprintf("arn:aws:codepipeline:%s:000000000000:%s", e.region, name)
}

// Start re-attaches to, or fails, every action left InProgress by a previous run of the server, and
// advances every unfinished execution. Nothing stays InProgress forever.
func (e *Engine) Start(ctx context.Context) error {
	names, err := e.db.Read().PipelinesWithActiveExecutions(ctx)
	if err != nil {
		return fmt.Errorf("recover executions: %w", err)
	}
	for _, name := range names {
		if err := e.recoverPipeline(ctx, name); err != nil {
			return fmt.Errorf("recover pipeline %s: %w", name, err)
		}
	}
	return nil
}

func (e *Engine) recoverPipeline(ctx context.Context, name string) error {
	unlock := e.lock(name)
	defer unlock()
	var fx effects
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		fx = effects{}
		actions, err := tx.InProgressActions(ctx, name)
		if err != nil {
			return err
		}
		for _, a := range actions {
			job, provider, err := e.jobFor(ctx, tx, a)
			if err == nil {
				if r, ok := provider.Executor.(executor.Resumer); ok && r.CanResume(job) {
					job.Resumed = true
					fx.launch = append(fx.launch, launch{job: job, provider: provider, deadline: a.Deadline})
					e.log.Info("re-attaching to action after restart", "pipeline", name,
						"execution_id", a.ExecutionID, "action_execution_id", a.ID, "action", a.StageName+"/"+a.ActionName)
					continue
				}
			}
			a.Status, a.Reason = StatusFailed, ReasonServerRestart
			a.Summary = "Conveyor restarted while this action was running and the action could not be resumed"
			if err != nil {
				a.Summary += ": " + err.Error()
			}
			if err := tx.FinishAction(ctx, &a); err != nil {
				return err
			}
			e.log.Warn("failed action interrupted by restart", "pipeline", name,
				"execution_id", a.ExecutionID, "action_execution_id", a.ID, "action", a.StageName+"/"+a.ActionName)
		}
		return e.advance(ctx, tx, name, &fx)
	})
	if err != nil {
		return err
	}
	e.apply(name, fx)
	return nil
}

// Close cancels running actions' contexts (they stay InProgress in the database, to be resumed or
// failed on the next start) and waits for their goroutines up to the context's deadline.
func (e *Engine) Close(ctx context.Context) error {
	e.cancel()
	e.mu.Lock()
	for name, w := range e.wakes {
		w.stop()
		delete(e.wakes, name)
	}
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine close: actions still running: %w", ctx.Err())
	}
}

// lock takes a pipeline's lock and returns its release.
func (e *Engine) lock(pipeline string) func() {
	e.mu.Lock()
	m, ok := e.locks[pipeline]
	if !ok {
		m = &sync.Mutex{}
		e.locks[pipeline] = m
	}
	e.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// effects are what a committed transaction asks for: actions to start, contexts to cancel, events.
type effects struct {
	launch   []launch
	cancel   []string
	started  int
	finished []string // execution statuses
	entered  []string // stage names
	actions  []actionEvent
	changed  bool
	// spawned are executions created while advancing (automatic rollbacks), stepped in the same pass.
	spawned []store.Execution
	// wake is when a waiting stage condition must be checked again (zero: none waits).
	wake time.Time
}

// wakeAt asks for the pipeline to be advanced again at t (the earliest request wins).
func (fx *effects) wakeAt(t time.Time) {
	if !t.IsZero() && (fx.wake.IsZero() || t.Before(fx.wake)) {
		fx.wake = t
	}
}

type launch struct {
	job      executor.Job
	provider executor.Provider
	deadline time.Time
}

type actionEvent struct {
	typ    executor.ActionType
	status string
	d      time.Duration
}

// apply performs the side effects of a committed transaction. Called with the pipeline lock held,
// so a launched action's completion cannot be processed before it is registered.
func (e *Engine) apply(pipeline string, fx effects) {
	e.mu.Lock()
	for _, id := range fx.cancel {
		if c, ok := e.running[id]; ok {
			c()
			delete(e.running, id)
		}
	}
	e.mu.Unlock()
	for _, l := range fx.launch {
		e.start(pipeline, l)
	}
	if !fx.wake.IsZero() {
		e.scheduleWake(pipeline, fx.wake)
	}
	for i := 0; i < fx.started; i++ {
		e.obs.ExecutionStarted(pipeline)
	}
	for _, s := range fx.finished {
		e.obs.ExecutionFinished(pipeline, s)
	}
	for _, s := range fx.entered {
		e.obs.StageEntered(pipeline, s)
	}
	for _, a := range fx.actions {
		e.obs.ActionFinished(a.typ, a.status, a.d)
	}
	if fx.changed || len(fx.launch) > 0 || len(fx.cancel) > 0 || len(fx.actions) > 0 || fx.started > 0 {
		e.obs.Changed(pipeline)
	}
}

// scheduleWake advances the pipeline again at t, when a waiting condition (a deployment window that
// opens, a rule that times out) may have moved. One timer per pipeline: the earliest wins. Waits are
// re-derived from the database on start, so timers need not survive a restart.
func (e *Engine) scheduleWake(pipeline string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return
	}
	if w, ok := e.wakes[pipeline]; ok {
		if !at.Before(w.at) {
			return
		}
		w.stop()
	}
	d := max(at.Sub(e.db.Now()), 0)
	e.wakes[pipeline] = wake{at: at, stop: e.afterFunc(d, func() {
		e.mu.Lock()
		if w, ok := e.wakes[pipeline]; ok && w.at.Equal(at) {
			delete(e.wakes, pipeline)
		}
		e.mu.Unlock()
		if e.ctx.Err() != nil {
			return
		}
		err := e.mutate(e.ctx, pipeline, func(*store.Tx, *effects) error { return nil })
		if code, _ := CodeOf(err); code == CodePipelineNotFound {
			return // deleted while it waited
		}
		if err != nil && e.ctx.Err() == nil {
			e.log.Error("re-checking stage conditions", "pipeline", pipeline, "err", err)
		}
	})}
}

// start runs one action in its own goroutine.
func (e *Engine) start(pipeline string, l launch) {
	if e.ctx.Err() != nil {
		return // shutting down: the action stays InProgress and is recovered on the next start
	}
	ctx, cancel := context.WithDeadline(e.ctx, l.deadline)
	e.mu.Lock()
	e.running[l.job.ActionExecutionID] = cancel
	e.mu.Unlock()
	job := l.job
	job.Progress = func(p executor.Progress) { e.progress(pipeline, job.ActionExecutionID, p) }
	log := e.log.With("pipeline", pipeline, "execution_id", job.PipelineExecutionID,
		"action_execution_id", job.ActionExecutionID, "action", job.StageName+"/"+job.ActionName)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		log.Debug("action started", "provider", job.Type.String(), "resumed", job.Resumed)
		res, err := safeExecute(ctx, l.provider.Executor, job)
		cause := ctx.Err()
		if e.ctx.Err() != nil {
			log.Info("server shutting down: action left InProgress for recovery")
			return
		}
		if err := e.finishAction(pipeline, job, res, err, cause); err != nil {
			log.Error("recording action result", "err", err)
		}
	}()
}

// safeExecute turns a provider panic into an infrastructure error instead of a crashed server.
func safeExecute(ctx context.Context, ex executor.Executor, job executor.Job) (res executor.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("provider %s panicked: %v", job.Type, r)
		}
	}()
	return ex.Execute(ctx, job)
}

func (e *Engine) progress(pipeline, id string, p executor.Progress) {
	err := e.db.Write(e.ctx, func(tx *store.Tx) error {
		return tx.UpdateActionProgress(e.ctx, id, p.ExternalExecutionID, p.ExternalExecutionURL, p.Summary, p.PercentComplete)
	})
	if err != nil && e.ctx.Err() == nil {
		e.log.Error("recording action progress", "action_execution_id", id, "err", err)
		return
	}
	e.obs.Changed(pipeline)
}

// finishAction records how an action ended (compare-and-set: if someone else already decided —
// an approval, an abandon — their decision stands) and advances the pipeline.
func (e *Engine) finishAction(pipeline string, job executor.Job, res executor.Result, execErr, cause error) error {
	unlock := e.lock(pipeline)
	defer unlock()
	e.mu.Lock()
	delete(e.running, job.ActionExecutionID)
	e.mu.Unlock()
	var fx effects
	err := e.db.Write(e.ctx, func(tx *store.Tx) error {
		fx = effects{}
		a, err := tx.GetActionExecution(e.ctx, job.ActionExecutionID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // pipeline deleted meanwhile
		}
		if err != nil {
			return err
		}
		if a.Status != StatusInProgress {
			return nil // decided elsewhere (approval, abandon)
		}
		if errors.Is(cause, context.Canceled) {
			return nil // cancelled by whoever ended it; nothing to record
		}
		outcome(&a, job, res, execErr, cause)
		if err := tx.FinishAction(e.ctx, &a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		}
		fx.actions = append(fx.actions, actionEvent{job.Type, a.Status, tx.Now().Sub(a.Started)})
		return e.advance(e.ctx, tx, pipeline, &fx)
	})
	if err != nil {
		return err
	}
	e.apply(pipeline, fx)
	return nil
}

// outcome fills an action execution's final fields from what the provider returned.
func outcome(a *store.ActionExecution, job executor.Job, res executor.Result, execErr, cause error) {
	a.ExternalExecutionID = firstNonEmpty(res.ExternalExecutionID, a.ExternalExecutionID)
	a.ExternalExecutionURL = firstNonEmpty(res.ExternalExecutionURL, a.ExternalExecutionURL)
	switch {
	case errors.Is(cause, context.DeadlineExceeded):
		a.Status, a.Reason = StatusFailed, ReasonTimeout
		a.Summary = fmt.Sprintf("The action timed out after %s", job.Deadline.Sub(job.StartedAt).Round(time.Second))
		if res.Summary != "" {
			a.Summary += ": " + res.Summary
		}
	case execErr != nil:
		a.Status, a.Reason = StatusFailed, ReasonInfrastructure
		a.Summary = execErr.Error()
		a.ErrorCode = "JobFailed"
	case res.Status == executor.Succeeded:
		a.Status, a.Summary, a.PercentComplete = StatusSucceeded, res.Summary, 100
		out, _ := json.Marshal(actionOutput{OutputArtifacts: res.OutputArtifacts, OutputVariables: res.OutputVariables})
		a.Output = out
	default:
		a.Status, a.Reason, a.Summary, a.ErrorCode = StatusFailed, ReasonFailed, res.Summary, res.ErrorCode
		if a.Summary == "" {
			a.Summary = "The action failed"
		}
		if len(res.OutputVariables) > 0 || len(res.OutputArtifacts) > 0 {
			out, _ := json.Marshal(actionOutput{OutputArtifacts: res.OutputArtifacts, OutputVariables: res.OutputVariables})
			a.Output = out
		}
	}
	if a.ErrorCode == "" && a.Status == StatusFailed {
		a.ErrorCode = "JobFailed"
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// actionInput is what an action execution was started with (stored as JSON).
type actionInput struct {
	ActionTypeID          ActionTypeID             `json:"actionTypeId"`
	Configuration         map[string]string        `json:"configuration"`
	ResolvedConfiguration map[string]string        `json:"resolvedConfiguration"`
	InputArtifacts        []executor.Artifact      `json:"inputArtifacts"`
	OutputArtifacts       []string                 `json:"outputArtifacts"`
	Namespace             string                   `json:"namespace,omitempty"`
	Region                string                   `json:"region,omitempty"`
	SourceRevision        *executor.SourceRevision `json:"sourceRevision,omitempty"`
}

// actionOutput is what an action produced (stored as JSON).
type actionOutput struct {
	OutputArtifacts []executor.Artifact `json:"outputArtifacts,omitempty"`
	OutputVariables map[string]string   `json:"outputVariables,omitempty"`
}

// jobFor rebuilds the Job of a stored action execution (re-attach after restart).
func (e *Engine) jobFor(ctx context.Context, tx *store.Tx, a store.ActionExecution) (executor.Job, executor.Provider, error) {
	var in actionInput
	if err := json.Unmarshal(a.Input, &in); err != nil {
		return executor.Job{}, executor.Provider{}, fmt.Errorf("stored input of %s: %w", a.ID, err)
	}
	t := executor.ActionType{Category: in.ActionTypeID.Category, Owner: in.ActionTypeID.Owner, Provider: in.ActionTypeID.Provider}
	provider, ok := e.providers.Lookup(t)
	if !ok {
		return executor.Job{}, executor.Provider{}, fmt.Errorf("provider %s is not available in this build", t)
	}
	ex, err := tx.GetExecution(ctx, a.Pipeline, a.ExecutionID)
	if err != nil {
		return executor.Job{}, executor.Provider{}, err
	}
	return executor.Job{
		ActionExecutionID: a.ID, PipelineName: a.Pipeline, PipelineExecutionID: a.ExecutionID,
		PipelineVersion: a.PipelineVersion, StageName: a.StageName, ActionName: a.ActionName, Type: t,
		Configuration: in.ResolvedConfiguration, InputArtifacts: in.InputArtifacts, OutputArtifacts: in.OutputArtifacts,
		Namespace: in.Namespace, Token: a.Token, SourceRevision: in.SourceRevision,
		TriggerType: ex.TriggerType, TriggerDetail: ex.TriggerDetail,
		StartedAt: a.Started, Deadline: a.Deadline, ExternalExecutionID: a.ExternalExecutionID,
	}, provider, nil
}

// declaration returns the parsed declaration of a pipeline version (cached; versions never change).
func (e *Engine) declaration(ctx context.Context, tx *store.Tx, name string, version int) (*Declaration, error) {
	k := declKey{name, version}
	e.mu.Lock()
	d, ok := e.decls[k]
	e.mu.Unlock()
	if ok {
		return d, nil
	}
	raw, err := tx.GetPipelineVersion(ctx, name, version)
	if err != nil {
		return nil, err
	}
	d = &Declaration{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("stored declaration of %s version %d: %w", name, version, err)
	}
	e.mu.Lock()
	e.decls[k] = d
	e.mu.Unlock()
	return d, nil
}

func newID() string { return uuid.NewString() }

// ObserverSet fans engine events out to observers added at any time (metrics first, then the
// live UI and notifications as they are wired).
type ObserverSet struct {
	mu   sync.RWMutex
	list []Observer
}

// Add registers an observer.
func (o *ObserverSet) Add(x Observer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list = append(o.list, x)
}

func (o *ObserverSet) each(fn func(Observer)) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, x := range o.list {
		fn(x)
	}
}

// ExecutionStarted implements Observer.
func (o *ObserverSet) ExecutionStarted(p string) { o.each(func(x Observer) { x.ExecutionStarted(p) }) }

// ExecutionFinished implements Observer.
func (o *ObserverSet) ExecutionFinished(p, status string) {
	o.each(func(x Observer) { x.ExecutionFinished(p, status) })
}

// StageEntered implements Observer.
func (o *ObserverSet) StageEntered(p, stage string) {
	o.each(func(x Observer) { x.StageEntered(p, stage) })
}

// ActionFinished implements Observer.
func (o *ObserverSet) ActionFinished(t executor.ActionType, status string, d time.Duration) {
	o.each(func(x Observer) { x.ActionFinished(t, status, d) })
}

// Changed implements Observer.
func (o *ObserverSet) Changed(p string) { o.each(func(x Observer) { x.Changed(p) }) }
