package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/store"
)

// maxReportedErrors caps how many declaration errors an API message carries: hostile input can
// produce hundreds of thousands.
const maxReportedErrors = 100

// declarationError turns parse and validation failures into API errors: the code follows the
// broadest kind of error present, the message carries the errors one per line.
func declarationError(err error) error {
	var verrs ValidationErrors
	if errors.As(err, &verrs) && len(verrs) > 0 {
		shown := verrs
		if len(shown) > maxReportedErrors {
			shown = shown[:maxReportedErrors]
		}
		msg := shown.Error()
		if len(verrs) > len(shown) {
			msg += fmt.Sprintf("\n… and %d more errors", len(verrs)-len(shown))
		}
		return &Error{Code: verrs.Code(), Msg: msg}
	}
	return &Error{Code: CodeInvalidStructure, Msg: err.Error()}
}

// ParseAndValidate parses a declaration (JSON or YAML, bare or wrapped) and validates it against the
// registered providers, reporting parse and rule errors together. filename labels positions.
func (e *Engine) ParseAndValidate(filename string, raw []byte) (*Declaration, error) {
	d, _, err := ParseAndValidate(filename, raw, e.providers)
	if err != nil {
		return nil, declarationError(err)
	}
	return d, nil
}

// PipelineInfo is a pipeline as stored: its declaration and metadata.
type PipelineInfo struct {
	Declaration *Declaration
	Arn         string
	Created     time.Time
	Updated     time.Time
}

// CreatePipeline stores a new pipeline at version 1 and starts its first execution, as CodePipeline
// does (trigger CreatePipeline).
func (e *Engine) CreatePipeline(ctx context.Context, raw []byte, tags []store.Tag, identity string) (PipelineInfo, error) {
	d, err := e.ParseAndValidate("pipeline", raw)
	if err != nil {
		return PipelineInfo{}, err
	}
	if err := validateTags(tags); err != nil {
		return PipelineInfo{}, err
	}
	d.Version = 1
	body, err := json.Marshal(d)
	if err != nil {
		return PipelineInfo{}, fmt.Errorf("encode declaration: %w", err)
	}
	unlock := e.lock(d.Name)
	defer unlock()
	var rec store.Pipeline
	var fx effects
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		fx = effects{}
		var err error
		if rec, err = tx.CreatePipeline(ctx, d.Name, body); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf(CodePipelineNameInUse, "A pipeline named %s already exists", d.Name)
			}
			return err
		}
		if err := tx.SetTags(ctx, e.PipelineArn(d.Name), tags); err != nil {
			return err
		}
		_, err = e.startExecution(ctx, tx, d, rec.Version, StartInput{Pipeline: d.Name, TriggerType: TriggerCreatePipeline, TriggerDetail: identity}, &fx)
		if _, ok := CodeOf(err); ok {
			// e.g. a variable without a default: the pipeline is created, it just cannot start by itself.
			e.log.Warn("pipeline created without a first execution", "pipeline", d.Name, "err", err)
			return nil
		}
		return err
	})
	if err != nil {
		return PipelineInfo{}, err
	}
	e.apply(d.Name, fx)
	e.log.Info("pipeline created", "pipeline", d.Name, "by", identity)
	return PipelineInfo{Declaration: d, Arn: e.PipelineArn(d.Name), Created: rec.Created, Updated: rec.Updated}, nil
}

// UpdatePipeline stores a new version of an existing pipeline. Executions keep the version they
// started with; those still waiting to enter a stage are Cancelled, as in CodePipeline.
func (e *Engine) UpdatePipeline(ctx context.Context, raw []byte, identity string) (PipelineInfo, error) {
	d, err := e.ParseAndValidate("pipeline", raw)
	if err != nil {
		return PipelineInfo{}, err
	}
	unlock := e.lock(d.Name)
	defer unlock()
	var rec store.Pipeline
	var fx effects
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		fx = effects{}
		cur, err := tx.GetPipeline(ctx, d.Name)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(CodePipelineNotFound, "Pipeline %s does not exist", d.Name)
		}
		if err != nil {
			return err
		}
		d.Version = cur.Version + 1
		body, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if rec, err = tx.UpdatePipeline(ctx, d.Name, d.Version, body); err != nil {
			return err
		}
		return e.advance(ctx, tx, d.Name, &fx)
	})
	if err != nil {
		return PipelineInfo{}, err
	}
	fx.changed = true
	e.apply(d.Name, fx)
	e.log.Info("pipeline updated", "pipeline", d.Name, "version", d.Version, "by", identity)
	return PipelineInfo{Declaration: d, Arn: e.PipelineArn(d.Name), Created: rec.Created, Updated: rec.Updated}, nil
}

// DeletePipeline removes a pipeline and its history; running actions are cancelled.
func (e *Engine) DeletePipeline(ctx context.Context, name, identity string) error {
	unlock := e.lock(name)
	defer unlock()
	var fx effects
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		fx = effects{}
		running, err := tx.InProgressActions(ctx, name)
		if err != nil {
			return err
		}
		for _, a := range running {
			fx.cancel = append(fx.cancel, a.ID)
		}
		if err := tx.DeletePipeline(ctx, name); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errorf(CodePipelineNotFound, "Pipeline %s does not exist", name)
			}
			return err
		}
		return tx.DeleteTags(ctx, e.PipelineArn(name))
	})
	if err != nil {
		return err
	}
	e.forget(name)
	fx.changed = true
	e.apply(name, fx)
	e.log.Info("pipeline deleted", "pipeline", name, "by", identity)
	return nil
}

// forget drops cached declarations of a pipeline (a re-created pipeline restarts at version 1).
func (e *Engine) forget(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.decls {
		if k.name == name {
			delete(e.decls, k)
		}
	}
}

// GetPipeline returns a pipeline's declaration, at a version (0 = current).
func (e *Engine) GetPipeline(ctx context.Context, name string, version int) (PipelineInfo, error) {
	tx := e.db.Read()
	rec, err := tx.GetPipeline(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return PipelineInfo{}, errorf(CodePipelineNotFound, "Pipeline %s does not exist", name)
	}
	if err != nil {
		return PipelineInfo{}, err
	}
	raw := rec.Declaration
	if version != 0 && version != rec.Version {
		if raw, err = tx.GetPipelineVersion(ctx, name, version); errors.Is(err, store.ErrNotFound) {
			return PipelineInfo{}, errorf(CodePipelineVersionNotFound, "Pipeline %s has no version %d", name, version)
		} else if err != nil {
			return PipelineInfo{}, err
		}
	}
	d := &Declaration{}
	if err := json.Unmarshal(raw, d); err != nil {
		return PipelineInfo{}, fmt.Errorf("stored declaration of %s: %w", name, err)
	}
	return PipelineInfo{Declaration: d, Arn: e.PipelineArn(name), Created: rec.Created, Updated: rec.Updated}, nil
}

// PipelineSummary is one entry of ListPipelines.
type PipelineSummary struct {
	Name          string    `json:"name"`
	Version       int       `json:"version"`
	PipelineType  string    `json:"pipelineType"`
	ExecutionMode string    `json:"executionMode"`
	Created       Timestamp `json:"created"`
	Updated       Timestamp `json:"updated"`
}

// ListPipelines lists pipelines by name; nextToken is the opaque cursor from a previous page.
func (e *Engine) ListPipelines(ctx context.Context, nextToken string, maxResults int) ([]PipelineSummary, string, error) {
	if maxResults <= 0 || maxResults > 1000 {
		maxResults = 1000
	}
	after, err := decodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	recs, err := e.db.Read().ListPipelines(ctx, after, maxResults+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(recs) > maxResults {
		recs = recs[:maxResults]
		next = encodeToken(recs[len(recs)-1].Name)
	}
	out := make([]PipelineSummary, 0, len(recs))
	for _, r := range recs {
		var d Declaration
		if err := json.Unmarshal(r.Declaration, &d); err != nil {
			return nil, "", fmt.Errorf("stored declaration of %s: %w", r.Name, err)
		}
		out = append(out, PipelineSummary{Name: r.Name, Version: r.Version, PipelineType: d.EffectivePipelineType(),
			ExecutionMode: d.EffectiveExecutionMode(), Created: Timestamp(r.Created), Updated: Timestamp(r.Updated)})
	}
	return out, next, nil
}

// StartInput is what starts an execution.
type StartInput struct {
	Pipeline           string
	Variables          []PipelineVariable
	ClientRequestToken string
	SourceRevisions    []SourceRevisionInput
	TriggerType        string
	TriggerDetail      string
}

// PipelineVariable is a name and value given to StartPipelineExecution.
type PipelineVariable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SourceRevisionInput pins a source action's revision for one execution.
type SourceRevisionInput struct {
	ActionName    string `json:"actionName"`
	RevisionType  string `json:"revisionType"`
	RevisionValue string `json:"revisionValue"`
}

var clientTokenPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,128}$`)

// StartExecution starts an execution of the pipeline's current version. A repeated
// ClientRequestToken returns the execution it started the first time.
func (e *Engine) StartExecution(ctx context.Context, in StartInput) (string, error) {
	if in.TriggerType == "" {
		in.TriggerType = TriggerStartExecution
	}
	if in.ClientRequestToken != "" && !clientTokenPattern.MatchString(in.ClientRequestToken) {
		return "", errorf(CodeValidation, "clientRequestToken must be 1-128 letters, digits or hyphens")
	}
	unlock := e.lock(in.Pipeline)
	defer unlock()
	var id string
	var fx effects
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		fx = effects{}
		if in.ClientRequestToken != "" {
			prev, err := tx.ExecutionByClientToken(ctx, in.Pipeline, in.ClientRequestToken)
			if err == nil {
				id = prev.ID
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		rec, err := tx.GetPipeline(ctx, in.Pipeline)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(CodePipelineNotFound, "Pipeline %s does not exist", in.Pipeline)
		}
		if err != nil {
			return err
		}
		d, err := e.declaration(ctx, tx, in.Pipeline, rec.Version)
		if err != nil {
			return err
		}
		id, err = e.startExecution(ctx, tx, d, rec.Version, in, &fx)
		return err
	})
	if err != nil {
		return "", err
	}
	e.apply(in.Pipeline, fx)
	return id, nil
}

var variableNamePattern = regexp.MustCompile(`^[A-Za-z0-9@\-_]+$`)

func (e *Engine) startExecution(ctx context.Context, tx *store.Tx, d *Declaration, version int, in StartInput, fx *effects) (string, error) {
	active, err := tx.ActiveExecutions(ctx, d.Name)
	if err != nil {
		return "", err
	}
	if len(active) >= e.maxActive {
		return "", errorf(CodeConcurrentLimitExceeded, "Pipeline %s already has %d unfinished executions", d.Name, len(active))
	}
	vars, err := resolvePipelineVariables(d, in.Variables)
	if err != nil {
		return "", err
	}
	if err := checkSourceRevisions(d, in.SourceRevisions); err != nil {
		return "", err
	}
	varsJSON, _ := json.Marshal(vars)
	revs := make([]sourceRevisionOverride, 0, len(in.SourceRevisions))
	for _, r := range in.SourceRevisions {
		revs = append(revs, sourceRevisionOverride(r))
	}
	revsJSON, _ := json.Marshal(revs)
	ex := &store.Execution{
		ID: newID(), Pipeline: d.Name, PipelineVersion: version, Status: StatusInProgress,
		Mode: d.EffectiveExecutionMode(), Type: ExecutionTypeStandard, TriggerType: in.TriggerType, TriggerDetail: truncate(in.TriggerDetail, 1024),
		StageIndex: 0, Waiting: true, Variables: varsJSON, SourceRevisions: revsJSON, ClientRequestToken: in.ClientRequestToken,
	}
	if err := tx.InsertExecution(ctx, ex); err != nil {
		return "", err
	}
	fx.started++
	e.log.Info("execution started", "pipeline", d.Name, "execution_id", ex.ID, "trigger", in.TriggerType)
	return ex.ID, e.advance(ctx, tx, d.Name, fx)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// resolvePipelineVariables applies StartPipelineExecution's variables over the declared defaults.
func resolvePipelineVariables(d *Declaration, given []PipelineVariable) ([]nameValue, error) {
	if len(given) > 0 && d.EffectivePipelineType() != PipelineTypeV2 {
		return nil, errorf(CodeValidation, "Pipeline %s is V1: pipeline variables need pipelineType V2", d.Name)
	}
	if len(given) > 50 {
		return nil, errorf(CodeValidation, "At most 50 variables may be given, got %d", len(given))
	}
	declared := map[string]bool{}
	for _, v := range d.Variables {
		declared[v.Name] = true
	}
	values := map[string]string{}
	for _, v := range given {
		if !variableNamePattern.MatchString(v.Name) || len(v.Name) > 128 {
			return nil, errorf(CodeValidation, "Variable name %q must be 1-128 characters of A-Z a-z 0-9 @ - _", v.Name)
		}
		if !declared[v.Name] {
			return nil, errorf(CodeValidation, "Variable %s is not declared by pipeline %s", v.Name, d.Name)
		}
		if _, dup := values[v.Name]; dup {
			return nil, errorf(CodeValidation, "Variable %s is given twice", v.Name)
		}
		if len(v.Value) > 1000 {
			return nil, errorf(CodeValidation, "Variable %s: value longer than 1000 characters", v.Name)
		}
		values[v.Name] = v.Value
	}
	out := make([]nameValue, 0, len(d.Variables))
	for _, v := range d.Variables {
		val, ok := values[v.Name]
		if !ok {
			if v.DefaultValue == "" {
				return nil, errorf(CodeValidation, "Variable %s has no default value and no value was given", v.Name)
			}
			val = v.DefaultValue
		}
		out = append(out, nameValue{Name: v.Name, ResolvedValue: val})
	}
	return out, nil
}

// sourceRevisionTypes lists the revision types each source provider accepts.
var sourceRevisionTypes = map[string][]string{
	"S3":                       {"S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"},
	"CodeStarSourceConnection": {"COMMIT_ID"},
	"CodeCommit":               {"COMMIT_ID"},
	"ECR":                      {"IMAGE_DIGEST"},
}

func checkSourceRevisions(d *Declaration, revs []SourceRevisionInput) error {
	seen := map[string]bool{}
	for _, r := range revs {
		if len(d.Stages) == 0 {
			break
		}
		var act *Action
		for i := range d.Stages[0].Actions {
			if d.Stages[0].Actions[i].Name == r.ActionName {
				act = &d.Stages[0].Actions[i]
			}
		}
		if act == nil {
			return errorf(CodeValidation, "sourceRevisions: %s is not a source action of pipeline %s", r.ActionName, d.Name)
		}
		if seen[r.ActionName] {
			return errorf(CodeValidation, "sourceRevisions: action %s is named twice", r.ActionName)
		}
		seen[r.ActionName] = true
		allowed := sourceRevisionTypes[act.ActionTypeID.Provider]
		ok := false
		for _, t := range allowed {
			ok = ok || t == r.RevisionType
		}
		if !ok {
			return errorf(CodeValidation, "sourceRevisions: action %s (%s) accepts revision types %s, not %q",
				r.ActionName, act.ActionTypeID.Provider, strings.Join(allowed, ", "), r.RevisionType)
		}
		if r.RevisionValue == "" || len(r.RevisionValue) > 1500 {
			return errorf(CodeValidation, "sourceRevisions: action %s needs a revisionValue of 1-1500 characters", r.ActionName)
		}
	}
	return nil
}

// StopExecution stops an execution: wait for in-progress actions (abandon=false) or abandon them.
func (e *Engine) StopExecution(ctx context.Context, pipeline, executionID string, abandon bool, reason, identity string) error {
	if len(reason) > 200 {
		return errorf(CodeValidation, "reason must be at most 200 characters")
	}
	return e.mutate(ctx, pipeline, func(tx *store.Tx, fx *effects) error {
		ex, err := e.execution(ctx, tx, pipeline, executionID)
		if err != nil {
			return err
		}
		switch {
		case ex.Status == StatusStopping && !abandon:
			return errorf(CodeDuplicatedStop, "Execution %s is already stopping; only a stop and abandon request is accepted now", executionID)
		case ex.Status != StatusInProgress && ex.Status != StatusStopping:
			return errorf(CodeNotStoppable, "Execution %s is %s and cannot be stopped", executionID, ex.Status)
		}
		from := ex.Status
		ex.Status, ex.StopAbandon = StatusStopping, abandon
		if reason != "" {
			ex.StopReason = reason
		}
		if err := tx.UpdateExecution(ctx, &ex, from); err != nil {
			return err
		}
		e.log.Info("execution stopping", "pipeline", pipeline, "execution_id", executionID, "abandon", abandon, "by", identity)
		return nil
	})
}

// mutate runs fn and advance in one transaction under the pipeline lock, then applies effects.
func (e *Engine) mutate(ctx context.Context, pipeline string, fn func(tx *store.Tx, fx *effects) error) error {
	unlock := e.lock(pipeline)
	defer unlock()
	var fx effects
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		fx = effects{}
		if _, err := tx.GetPipeline(ctx, pipeline); errors.Is(err, store.ErrNotFound) {
			return errorf(CodePipelineNotFound, "Pipeline %s does not exist", pipeline)
		} else if err != nil {
			return err
		}
		if err := fn(tx, &fx); err != nil {
			return err
		}
		return e.advance(ctx, tx, pipeline, &fx)
	})
	if err != nil {
		return err
	}
	fx.changed = true
	e.apply(pipeline, fx)
	return nil
}

func (e *Engine) execution(ctx context.Context, tx *store.Tx, pipeline, id string) (store.Execution, error) {
	ex, err := tx.GetExecution(ctx, pipeline, id)
	if errors.Is(err, store.ErrNotFound) {
		return ex, errorf(CodeExecutionNotFound, "Pipeline %s has no execution %s", pipeline, id)
	}
	return ex, err
}

// RetryStage re-runs a failed or stopped stage of the latest execution that entered it.
func (e *Engine) RetryStage(ctx context.Context, pipeline, stage, executionID, mode, identity string) error {
	if mode != RetryFailedActions && mode != RetryAllActions {
		return errorf(CodeValidation, "retryMode must be FAILED_ACTIONS or ALL_ACTIONS, not %q", mode)
	}
	return e.mutate(ctx, pipeline, func(tx *store.Tx, fx *effects) error {
		ex, err := e.execution(ctx, tx, pipeline, executionID)
		if err != nil {
			return err
		}
		d, err := e.declaration(ctx, tx, pipeline, ex.PipelineVersion)
		if err != nil {
			return err
		}
		idx := d.StageIndex(stage)
		if idx < 0 {
			return errorf(CodeStageNotFound, "Pipeline %s has no stage %s", pipeline, stage)
		}
		rec, err := tx.GetPipeline(ctx, pipeline)
		if err != nil {
			return err
		}
		if ex.PipelineVersion != rec.Version {
			return errorf(CodeStageNotRetryable, "Execution %s ran version %d of the pipeline; the pipeline is now at version %d",
				executionID, ex.PipelineVersion, rec.Version)
		}
		latest, err := tx.LatestStageExecution(ctx, pipeline, stage)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(CodeStageNotRetryable, "Stage %s has not run yet", stage)
		}
		if err != nil {
			return err
		}
		if latest.ExecutionID != executionID {
			return errorf(CodeNotLatestExecution, "Execution %s is not the latest execution of stage %s: %s entered it since",
				executionID, stage, latest.ExecutionID)
		}
		if (ex.Status != StatusFailed && ex.Status != StatusStopped) || (latest.Status != StatusFailed && latest.Status != StatusStopped) ||
			ex.StageIndex != idx {
			return errorf(CodeStageNotRetryable, "Stage %s of execution %s is %s; only a failed or stopped stage can be retried",
				stage, executionID, latest.Status)
		}
		from := ex.Status
		ex.Status, ex.StatusSummary, ex.StopReason, ex.StopAbandon, ex.Waiting = StatusInProgress, "", "", false, false
		if err := tx.UpdateExecution(ctx, &ex, from); err != nil {
			return err
		}
		latest.Attempt++
		latest.ManualRetries++
		latest.RetryTrigger = retryManual
		latest.Status = StatusInProgress
		if mode == RetryAllActions {
			latest.BaseAttempt = latest.Attempt
		}
		fx.entered = append(fx.entered, stage)
		e.log.Info("stage retried", "pipeline", pipeline, "execution_id", executionID, "stage", stage, "retry_mode", mode, "by", identity)
		return tx.PutStageExecution(ctx, &latest)
	})
}

// current returns a pipeline's record and the declaration of its current version.
func (e *Engine) current(ctx context.Context, tx *store.Tx, pipeline string) (store.Pipeline, *Declaration, error) {
	rec, err := tx.GetPipeline(ctx, pipeline)
	if err != nil {
		return rec, nil, err
	}
	d, err := e.declaration(ctx, tx, pipeline, rec.Version)
	return rec, d, err
}

// ApprovalResult is a reviewer's decision.
type ApprovalResult struct {
	Status  string // Approved | Rejected
	Summary string
}

// PutApprovalResult approves or rejects a waiting Manual approval. Approve, reject, stop and timeout
// race through one compare-and-set on the action execution: exactly one wins.
func (e *Engine) PutApprovalResult(ctx context.Context, pipeline, stage, action, token string, result ApprovalResult, identity string) (time.Time, error) {
	if result.Status != "Approved" && result.Status != "Rejected" {
		return time.Time{}, errorf(CodeValidation, "result.status must be Approved or Rejected, not %q", result.Status)
	}
	if len(result.Summary) > 512 {
		return time.Time{}, errorf(CodeValidation, "result.summary must be at most 512 characters")
	}
	var at time.Time
	err := e.mutate(ctx, pipeline, func(tx *store.Tx, fx *effects) error {
		_, d, err := e.current(ctx, tx, pipeline)
		if err != nil {
			return err
		}
		if d.StageIndex(stage) < 0 {
			return errorf(CodeStageNotFound, "Pipeline %s has no stage %s", pipeline, stage)
		}
		act, ok := d.Action(stage, action)
		if !ok {
			return errorf(CodeActionNotFound, "Stage %s of pipeline %s has no action %s", stage, pipeline, action)
		}
		if act.ActionTypeID.Category != "Approval" {
			return errorf(CodeInvalidApprovalToken, "Action %s is not an approval action", action)
		}
		a, err := tx.ActionByToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (a.Pipeline != pipeline || a.StageName != stage || a.ActionName != action)) {
			return errorf(CodeInvalidApprovalToken, "The approval token is not valid for %s/%s/%s", pipeline, stage, action)
		}
		if err != nil {
			return err
		}
		if a.Status != StatusInProgress {
			if a.Reason == "" || a.Reason == ReasonRejected {
				return errorf(CodeApprovalAlreadyCompleted, "The approval was already %s by %s",
					map[bool]string{true: "approved", false: "rejected"}[a.Status == StatusSucceeded], a.UpdatedBy)
			}
			return errorf(CodeInvalidApprovalToken, "The approval is no longer waiting: it ended with reason %q", a.Reason)
		}
		a.Summary, a.UpdatedBy = result.Summary, identity
		if result.Status == "Approved" {
			a.Status, a.PercentComplete = StatusSucceeded, 100
		} else {
			a.Status, a.Reason, a.ErrorCode = StatusFailed, ReasonRejected, "JobFailed"
			if a.Summary == "" {
				a.Summary = "Rejected"
			}
		}
		if err := tx.FinishAction(ctx, &a); err != nil {
			return err
		}
		at = tx.Now()
		fx.cancel = append(fx.cancel, a.ID)
		fx.actions = append(fx.actions, actionEvent{typeOf(act.ActionTypeID), a.Status, at.Sub(a.Started)})
		e.log.Info("approval decided", "pipeline", pipeline, "execution_id", a.ExecutionID, "action_execution_id", a.ID,
			"result", result.Status, "by", identity)
		return nil
	})
	return at, err
}

// SetTransition enables or disables a stage's inbound or outbound transition.
func (e *Engine) SetTransition(ctx context.Context, pipeline, stage, typ string, enabled bool, reason, identity string) error {
	if typ != "Inbound" && typ != "Outbound" {
		return errorf(CodeValidation, "transitionType must be Inbound or Outbound, not %q", typ)
	}
	if !enabled {
		if reason == "" || len(reason) > 300 || !transitionReasonPattern.MatchString(reason) {
			return errorf(CodeValidation, "reason is required: 1-300 characters of letters, digits, spaces and !@().*?-")
		}
	}
	return e.mutate(ctx, pipeline, func(tx *store.Tx, fx *effects) error {
		_, d, err := e.current(ctx, tx, pipeline)
		if err != nil {
			return err
		}
		if d.StageIndex(stage) < 0 {
			return errorf(CodeStageNotFound, "Pipeline %s has no stage %s", pipeline, stage)
		}
		if enabled {
			reason = ""
		}
		e.log.Info("stage transition changed", "pipeline", pipeline, "stage", stage, "type", typ, "enabled", enabled, "by", identity)
		return tx.SetTransition(ctx, pipeline, store.Transition{StageName: stage, Type: typ, Enabled: enabled, Reason: reason, ChangedBy: identity})
	})
}

var transitionReasonPattern = regexp.MustCompile(`^[a-zA-Z0-9!@ \(\)\.\*\?\-]+$`)

// pipelineNameFromArn extracts the pipeline name of a CodePipeline ARN of this region.
func (e *Engine) pipelineNameFromArn(arn string) (string, bool) {
	prefix := fmt.Sprintf("arn:aws:codepipeline:%s:000000000000:", e.region)
	name, ok := strings.CutPrefix(arn, prefix)
	return name, ok && name != "" && !strings.Contains(name, "/")
}

func (e *Engine) taggedPipeline(ctx context.Context, tx *store.Tx, arn string) error {
	name, ok := e.pipelineNameFromArn(arn)
	if !ok {
		return errorf(CodeResourceNotFound, "Resource %s does not exist", arn)
	}
	if _, err := tx.GetPipeline(ctx, name); errors.Is(err, store.ErrNotFound) {
		return errorf(CodeResourceNotFound, "Resource %s does not exist", arn)
	} else if err != nil {
		return err
	}
	return nil
}

func validateTags(tags []store.Tag) error {
	if len(tags) > 50 {
		return errorf(CodeInvalidTags, "At most 50 tags are allowed, got %d", len(tags))
	}
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			return errorf(CodeInvalidTags, "Tag keys are 1-128 characters and values at most 256 (key %q)", t.Key)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errorf(CodeInvalidTags, "Tag keys starting with aws: are reserved (key %q)", t.Key)
		}
	}
	return nil
}

// TagResource adds tags to a pipeline.
func (e *Engine) TagResource(ctx context.Context, arn string, tags []store.Tag) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	return e.db.Write(ctx, func(tx *store.Tx) error {
		if err := e.taggedPipeline(ctx, tx, arn); err != nil {
			return err
		}
		if err := tx.SetTags(ctx, arn, tags); err != nil {
			return err
		}
		all, err := tx.Tags(ctx, arn)
		if err != nil {
			return err
		}
		if len(all) > 50 {
			return errorf(CodeInvalidTags, "A resource can have at most 50 tags; this would make %d", len(all))
		}
		return nil
	})
}

// UntagResource removes tags from a pipeline.
func (e *Engine) UntagResource(ctx context.Context, arn string, keys []string) error {
	return e.db.Write(ctx, func(tx *store.Tx) error {
		if err := e.taggedPipeline(ctx, tx, arn); err != nil {
			return err
		}
		return tx.RemoveTags(ctx, arn, keys)
	})
}

// ListTags lists a pipeline's tags.
func (e *Engine) ListTags(ctx context.Context, arn string) ([]store.Tag, error) {
	tx := e.db.Read()
	if err := e.taggedPipeline(ctx, tx, arn); err != nil {
		return nil, err
	}
	return tx.Tags(ctx, arn)
}

// Declarations returns the current declaration of every pipeline (for triggers that match
// pipelines to events).
func (e *Engine) Declarations(ctx context.Context) ([]*Declaration, error) {
	var out []*Declaration
	tx := e.db.Read()
	after := ""
	for {
		page, err := tx.ListPipelines(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			d, err := e.declaration(ctx, tx, p.Name, p.Version)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].Name
	}
}
