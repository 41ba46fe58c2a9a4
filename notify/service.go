package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/store"
)

// SecretSource reads secrets by name (build.StoreSecrets is one).
type SecretSource interface {
	SecretValue(ctx context.Context, name string) (string, error)
}

// DeploymentEvent is a deployment's state change, as the deploy engine reports it.
type DeploymentEvent struct {
	DeploymentID    string
	Application     string
	DeploymentGroup string
	// Status is Started, Succeeded, Failed or RolledBack.
	Status string
	// Pipeline and PipelineExecutionID are set when a pipeline action started the deployment.
	Pipeline            string
	PipelineExecutionID string
	Message             string
	// Path is the dashboard page of the deployment (e.g. /deployments/d-123), made absolute here.
	Path string
}

// DeploymentNotifier is the hook the deploy engine calls; it never blocks.
type DeploymentNotifier interface {
	DeploymentChanged(ctx context.Context, e DeploymentEvent)
}

// Config wires a Service.
type Config struct {
	DB      *store.DB
	Secrets SecretSource
	Log     *slog.Logger
	// BaseURL is the dashboard's external URL (links in messages), e.g. https://ci.example.com.
	BaseURL string
	// Backoff lists the waits between attempts; its length is the number of retries (default
	// 10s, 30s, 2m, 10m, 30m, 1h).
	Backoff []time.Duration
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	Now     func() time.Time
	// OnAttempt hears each recorded attempt (the dashboard's live updates); must not block.
	OnAttempt func(deliveryID, target, status string)
}

// Service evaluates rules and delivers notifications.
type Service struct {
	cfg     Config
	log     *slog.Logger
	start   time.Time
	baseURL atomic.Value // string

	wake   chan struct{} // the delivery worker: something became due
	events chan func(ctx context.Context)

	mu    sync.Mutex
	dirty map[string]bool
	scan  chan struct{}
	seen  map[string]map[string]string // pipeline → execution id → last status seen

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a service; call Start to run its workers.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Backoff == nil {
		cfg.Backoff = []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), events: make(chan func(context.Context), 1024),
		dirty: map[string]bool{}, scan: make(chan struct{}, 1), seen: map[string]map[string]string{}}
	s.baseURL.Store(cfg.BaseURL)
	return s
}

// SetBaseURL sets the dashboard's external URL for links in messages.
func (s *Service) SetBaseURL(u string) { s.baseURL.Store(u) }

// Start runs the workers until Close.
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.start = s.cfg.Now().Add(-time.Second)
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.watch(ctx) }()
	go func() { defer s.wg.Done(); s.handleEvents(ctx) }()
	go func() { defer s.wg.Done(); s.deliverLoop(ctx) }()
}

// Close stops the workers; pending deliveries stay in the database for the next start.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
}

func (s *Service) link(path string) string {
	base, _ := s.baseURL.Load().(string)
	if base == "" || path == "" {
		return path
	}
	return base + path
}

func executionPath(pipeline, id string) string {
	return "/pipelines/" + url.PathEscape(pipeline) + "/executions/" + url.PathEscape(id)
}

// ApprovalPath is the dashboard page of a waiting approval.
func ApprovalPath(pipeline, executionID, stage, action string) string {
	return executionPath(pipeline, executionID) + "/approvals/" + url.PathEscape(stage) + "/" + url.PathEscape(action)
}

// queue hands work to the event worker without blocking the caller (the engine, an executor).
func (s *Service) queue(what string, fn func(ctx context.Context)) {
	select {
	case s.events <- fn:
	default:
		s.log.Error("notification queue full: an event is dropped", "event", what)
	}
}

func (s *Service) handleEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case fn := <-s.events:
			fn(ctx)
		}
	}
}

// --- pipeline.Observer: executions are compared with what was seen on each change ---

// ExecutionStarted implements pipeline.Observer.
func (s *Service) ExecutionStarted(string) {}

// ExecutionFinished implements pipeline.Observer.
func (s *Service) ExecutionFinished(string, string) {}

// StageEntered implements pipeline.Observer.
func (s *Service) StageEntered(string, string) {}

// ActionFinished implements pipeline.Observer.
func (s *Service) ActionFinished(executor.ActionType, string, time.Duration) {}

// Changed implements pipeline.Observer: the pipeline is looked at again by the watcher.
func (s *Service) Changed(pipeline string) {
	s.mu.Lock()
	s.dirty[pipeline] = true
	s.mu.Unlock()
	select {
	case s.scan <- struct{}{}:
	default:
	}
}

func (s *Service) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.scan:
		}
		s.mu.Lock()
		dirty := s.dirty
		s.dirty = map[string]bool{}
		s.mu.Unlock()
		for p := range dirty {
			if err := s.scanPipeline(ctx, p); err != nil && ctx.Err() == nil {
				s.log.Warn("notifications: reading executions", "pipeline", p, "err", err)
			}
		}
	}
}

// terminalEvent maps a final execution status to its event.
var terminalEvent = map[string]string{
	"Succeeded": ExecutionSucceeded, "Failed": ExecutionFailed, "Superseded": ExecutionSuperseded, "Stopped": ExecutionStopped,
}

// scanPipeline compares the pipeline's recent and unfinished executions with what was seen: new
// ones started, changed ones may have finished. Executions that started or ended before this
// process started are not announced (a restart must not replay history); the dedupe key in the
// deliveries table keeps an event seen twice from being sent twice.
func (s *Service) scanPipeline(ctx context.Context, pipeline string) error {
	list, err := s.cfg.DB.Read().RecentExecutions(ctx, pipeline, 20)
	if err != nil {
		return err
	}
	s.mu.Lock()
	seen := s.seen[pipeline]
	if seen == nil {
		seen = map[string]string{}
		s.seen[pipeline] = seen
	}
	s.mu.Unlock()
	present := map[string]bool{}
	for _, ex := range list {
		present[ex.ID] = true
		prev, known := seen[ex.ID]
		if !known && !ex.Created.Before(s.start) {
			s.emitExecution(ctx, ex, ExecutionStarted)
		}
		if ev, final := terminalEvent[ex.Status]; final && prev != ex.Status && !ex.Updated.Before(s.start) {
			s.emitExecution(ctx, ex, ev)
		}
		seen[ex.ID] = ex.Status
	}
	for id, status := range seen {
		if present[id] {
			continue
		}
		if status == "InProgress" || status == "Stopping" {
			// It left the window of recent executions while unfinished: read it once more.
			ex, err := s.cfg.DB.Read().GetExecution(ctx, pipeline, id)
			if err == nil {
				if ev, final := terminalEvent[ex.Status]; final {
					s.emitExecution(ctx, ex, ev)
				}
			}
		}
		delete(seen, id)
	}
	return nil
}

func (s *Service) emitExecution(ctx context.Context, ex store.Execution, event string) {
	m := Message{Event: event, Time: ex.Updated, Pipeline: ex.Pipeline, PipelineExecutionID: ex.ID, Status: ex.Status,
		Summary: ex.StatusSummary, Trigger: &Trigger{Type: ex.TriggerType, Detail: ex.TriggerDetail},
		URL: s.link(executionPath(ex.Pipeline, ex.ID))}
	if event == ExecutionStarted {
		m.Status, m.Time = "InProgress", ex.Created
	}
	s.emit(ctx, m, "execution:"+ex.ID+":"+event, nil)
}

// ApprovalNeeded implements approval.Notifier: rules for approval.needed, and the target the
// action's NotificationArn names.
func (s *Service) ApprovalNeeded(_ context.Context, job executor.Job) {
	// The message is built now, not when the queue gets to it: the caller owns job.Configuration
	// and may reuse or change the map once this returns.
	path := ApprovalPath(job.PipelineName, job.PipelineExecutionID, job.StageName, job.ActionName)
	custom := job.Configuration["CustomData"]
	approval := &Approval{Stage: job.StageName, Action: job.ActionName, ActionExecutionID: job.ActionExecutionID,
		CustomData: custom, ExternalEntityLink: job.Configuration["ExternalEntityLink"], Expires: job.Deadline.UTC()}
	var extra []string
	if arn := job.Configuration["NotificationArn"]; arn != "" {
		extra = append(extra, TargetFromArn(arn))
	}
	pipeline, execution, dedupe := job.PipelineName, job.PipelineExecutionID, "approval:"+job.ActionExecutionID
	s.queue(ApprovalNeeded, func(ctx context.Context) {
		approval.URL = s.link(path)
		m := Message{Event: ApprovalNeeded, Time: s.cfg.Now().UTC(), Pipeline: pipeline, PipelineExecutionID: execution,
			Status: "InProgress", Summary: custom, URL: s.link(path), Approval: approval}
		s.emit(ctx, m, dedupe, extra)
	})
}

// deploymentEvents maps deployment statuses to events.
var deploymentEvents = map[string]string{"Started": DeploymentStarted, "Succeeded": DeploymentSucceeded,
	"Failed": DeploymentFailed, "RolledBack": DeploymentRolledBack}

// DeploymentChanged implements DeploymentNotifier.
func (s *Service) DeploymentChanged(_ context.Context, e DeploymentEvent) {
	event, ok := deploymentEvents[e.Status]
	if !ok {
		s.log.Warn("notifications: unknown deployment status", "status", e.Status, "deployment_id", e.DeploymentID)
		return
	}
	s.queue(event, func(ctx context.Context) {
		m := Message{Event: event, Time: s.cfg.Now().UTC(), Pipeline: e.Pipeline, PipelineExecutionID: e.PipelineExecutionID,
			Status: e.Status, Summary: e.Message, URL: s.link(e.Path),
			Deployment: &Deployment{ID: e.DeploymentID, Application: e.Application, DeploymentGroup: e.DeploymentGroup,
				Status: e.Status, Message: e.Message}}
		s.emit(ctx, m, "deployment:"+e.DeploymentID+":"+e.Status, nil)
	})
}

// emit records one delivery per target the rules (and extra) name.
func (s *Service) emit(ctx context.Context, m Message, dedupe string, extra []string) {
	rules, err := s.Rules(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("notifications: reading rules", "err", err)
		}
		return
	}
	targets := map[string]bool{}
	for _, t := range extra {
		targets[t] = true
	}
	for _, r := range rules {
		if r.matches(m.Event, m.Pipeline) {
			for _, t := range r.Targets {
				targets[t] = true
			}
		}
	}
	if len(targets) == 0 {
		return
	}
	enqueued := 0
	err = s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		enqueued = 0
		for t := range targets {
			msg := m
			msg.DeliveryID = uuid.NewString()
			payload, err := json.Marshal(msg)
			if err != nil {
				return err
			}
			ok, err := tx.EnqueueDelivery(ctx, store.Delivery{ID: msg.DeliveryID, Target: t, Event: m.Event, DedupeKey: dedupe, Payload: payload})
			if err != nil {
				return err
			}
			if ok {
				enqueued++
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("notifications: recording deliveries", "event", m.Event, "pipeline", m.Pipeline, "err", err)
		}
		return
	}
	if enqueued > 0 {
		s.kick()
	}
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// --- targets and rules ---

// NotFoundError names a target, rule or delivery that does not exist.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " does not exist" }

// ConflictError is a change that would break another definition.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// PutTarget creates or replaces a target; created reports which.
func (s *Service) PutTarget(ctx context.Context, t Target) (bool, error) {
	if err := t.Validate(); err != nil {
		return false, err
	}
	for _, name := range []string{t.URLSecret, t.SigningSecret} {
		if name == "" {
			continue
		}
		if _, err := s.cfg.Secrets.SecretValue(ctx, name); errors.Is(err, store.ErrNotFound) {
			field := "signingSecret"
			if name == t.URLSecret {
				field = "urlSecret"
			}
			return false, &ValidationError{[]string{fmt.Sprintf("%s: secret %q does not exist; store it first with conveyor secrets put %s", field, name, name)}}
		} else if err != nil {
			return false, err
		}
	}
	body, _ := json.Marshal(t)
	var created bool
	err := s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		created, err = tx.PutNotificationDefinition(ctx, store.NotificationTargets, t.Name, body)
		return err
	})
	return created, err
}

// PutRule creates or replaces a rule; its targets must exist.
func (s *Service) PutRule(ctx context.Context, r Rule) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	body, _ := json.Marshal(r)
	var created bool
	err := s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		var missing []string
		for i, t := range r.Targets {
			if _, err := tx.GetNotificationDefinition(ctx, store.NotificationTargets, t); errors.Is(err, store.ErrNotFound) {
				missing = append(missing, fmt.Sprintf("targets[%d]: target %q does not exist", i, t))
			} else if err != nil {
				return err
			}
		}
		if len(missing) > 0 {
			return &ValidationError{missing}
		}
		var err error
		created, err = tx.PutNotificationDefinition(ctx, store.NotificationRules, r.Name, body)
		return err
	})
	return created, err
}

// DeleteTarget removes a target no rule names.
func (s *Service) DeleteTarget(ctx context.Context, name string) error {
	return s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		rules, err := listRules(ctx, tx)
		if err != nil {
			return err
		}
		for _, r := range rules {
			for _, t := range r.Targets {
				if t == name {
					return &ConflictError{fmt.Sprintf("rule %s sends to target %s; change or delete the rule first", r.Name, name)}
				}
			}
		}
		err = tx.DeleteNotificationDefinition(ctx, store.NotificationTargets, name)
		if errors.Is(err, store.ErrNotFound) {
			return &NotFoundError{"target " + name}
		}
		return err
	})
}

// DeleteRule removes a rule.
func (s *Service) DeleteRule(ctx context.Context, name string) error {
	return s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		err := tx.DeleteNotificationDefinition(ctx, store.NotificationRules, name)
		if errors.Is(err, store.ErrNotFound) {
			return &NotFoundError{"rule " + name}
		}
		return err
	})
}

// Targets lists targets.
func (s *Service) Targets(ctx context.Context) ([]Target, error) {
	defs, err := s.cfg.DB.Read().ListNotificationDefinitions(ctx, store.NotificationTargets)
	if err != nil {
		return nil, err
	}
	out := make([]Target, 0, len(defs))
	for _, d := range defs {
		var t Target
		if err := json.Unmarshal(d.Definition, &t); err != nil {
			return nil, fmt.Errorf("stored target %s: %w", d.Name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Rules lists rules.
func (s *Service) Rules(ctx context.Context) ([]Rule, error) { return listRules(ctx, s.cfg.DB.Read()) }

func listRules(ctx context.Context, tx *store.Tx) ([]Rule, error) {
	defs, err := tx.ListNotificationDefinitions(ctx, store.NotificationRules)
	if err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(defs))
	for _, d := range defs {
		var r Rule
		if err := json.Unmarshal(d.Definition, &r); err != nil {
			return nil, fmt.Errorf("stored rule %s: %w", d.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Deliveries lists deliveries newest first.
func (s *Service) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	return s.cfg.DB.Read().ListDeliveries(ctx, f)
}

// RetryDelivery sends a failed delivery again.
func (s *Service) RetryDelivery(ctx context.Context, id string) error {
	err := s.cfg.DB.Write(ctx, func(tx *store.Tx) error { return tx.RetryDelivery(ctx, id) })
	if errors.Is(err, store.ErrNotFound) {
		return &NotFoundError{"failed delivery " + id}
	}
	if err == nil {
		s.kick()
	}
	return err
}

// Test sends a test message to a target now (not through the queue) and reports the outcome.
func (s *Service) Test(ctx context.Context, target string) error {
	m := Message{DeliveryID: uuid.NewString(), Event: "test", Time: s.cfg.Now().UTC(), Summary: "A test notification from Conveyor",
		URL: s.link("/")}
	payload, _ := json.Marshal(m)
	_, err := s.attempt(ctx, store.Delivery{ID: m.DeliveryID, Target: target, Event: "test", Payload: payload})
	return err
}
