package pipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/store"
)

// The read models below mirror the CodePipeline API output shapes field for field, so the API layer
// only marshals them.

// Timestamp marshals as epoch seconds (fractional), as the AWS JSON protocol wants.
type Timestamp time.Time

// MarshalJSON writes seconds since the epoch with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads epoch seconds.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s: %w", b, err)
	}
	*t = Timestamp(time.UnixMilli(int64(f * 1000)).UTC())
	return nil
}

// Time converts back.
func (t Timestamp) Time() time.Time { return time.Time(t) }

func tsPtr(t time.Time) *Timestamp {
	if t.IsZero() {
		return nil
	}
	ts := Timestamp(t)
	return &ts
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", errorf(CodeInvalidNextToken, "The nextToken is not valid")
	}
	return string(b), nil
}

func typeOf(t ActionTypeID) executor.ActionType {
	return executor.ActionType{Category: t.Category, Owner: t.Owner, Provider: t.Provider}
}

// PipelineState is GetPipelineState's output.
type PipelineState struct {
	PipelineName    string       `json:"pipelineName"`
	PipelineVersion int          `json:"pipelineVersion"`
	Created         Timestamp    `json:"created"`
	Updated         Timestamp    `json:"updated"`
	StageStates     []StageState `json:"stageStates"`
}

// StageState is one stage's live state.
type StageState struct {
	StageName              string              `json:"stageName"`
	InboundExecution       *StageExecutionRef  `json:"inboundExecution,omitempty"`
	InboundExecutions      []StageExecutionRef `json:"inboundExecutions,omitempty"`
	InboundTransitionState TransitionState     `json:"inboundTransitionState"`
	ActionStates           []ActionState       `json:"actionStates"`
	LatestExecution        *StageExecutionRef  `json:"latestExecution,omitempty"`
	RetryStageMetadata     *RetryStageMetadata `json:"retryStageMetadata,omitempty"`
	// Condition states of the latest execution that entered the stage.
	BeforeEntryConditionState *StageConditionState `json:"beforeEntryConditionState,omitempty"`
	OnSuccessConditionState   *StageConditionState `json:"onSuccessConditionState,omitempty"`
	OnFailureConditionState   *StageConditionState `json:"onFailureConditionState,omitempty"`
}

// StageExecutionRef names an execution in or waiting for a stage.
type StageExecutionRef struct {
	PipelineExecutionID string `json:"pipelineExecutionId"`
	Status              string `json:"status"`
	Type                string `json:"type,omitempty"`
}

// TransitionState is a stage's inbound transition.
type TransitionState struct {
	Enabled        bool       `json:"enabled"`
	LastChangedBy  string     `json:"lastChangedBy,omitempty"`
	LastChangedAt  *Timestamp `json:"lastChangedAt,omitempty"`
	DisabledReason string     `json:"disabledReason,omitempty"`
}

// RetryStageMetadata counts a stage's retries.
type RetryStageMetadata struct {
	AutoStageRetryAttempt   int    `json:"autoStageRetryAttempt,omitempty"`
	ManualStageRetryAttempt int    `json:"manualStageRetryAttempt,omitempty"`
	LatestRetryTrigger      string `json:"latestRetryTrigger,omitempty"`
}

// ActionState is one action's latest state.
type ActionState struct {
	ActionName      string                `json:"actionName"`
	CurrentRevision *ActionRevision       `json:"currentRevision,omitempty"`
	LatestExecution *ActionExecutionState `json:"latestExecution,omitempty"`
	EntityURL       string                `json:"entityUrl,omitempty"`
	RevisionURL     string                `json:"revisionUrl,omitempty"`
}

// ActionRevision is the revision a source action last produced.
type ActionRevision struct {
	RevisionID       string    `json:"revisionId"`
	RevisionChangeID string    `json:"revisionChangeId,omitempty"`
	Created          Timestamp `json:"created"`
}

// ActionExecutionState is the latest execution of an action.
type ActionExecutionState struct {
	ActionExecutionID    string        `json:"actionExecutionId"`
	Status               string        `json:"status"`
	Summary              string        `json:"summary,omitempty"`
	LastStatusChange     Timestamp     `json:"lastStatusChange"`
	Token                string        `json:"token,omitempty"`
	LastUpdatedBy        string        `json:"lastUpdatedBy,omitempty"`
	ExternalExecutionID  string        `json:"externalExecutionId,omitempty"`
	ExternalExecutionURL string        `json:"externalExecutionUrl,omitempty"`
	PercentComplete      int           `json:"percentComplete,omitempty"`
	ErrorDetails         *ErrorDetails `json:"errorDetails,omitempty"`
	// Conveyor additions (ignored by AWS SDKs): why the action ended and when it must end.
	Reason              string     `json:"conveyorReason,omitempty"`
	Deadline            *Timestamp `json:"conveyorDeadline,omitempty"`
	PipelineExecutionID string     `json:"conveyorPipelineExecutionId,omitempty"`
}

// ErrorDetails is a failed action's error.
type ErrorDetails struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// State returns GetPipelineState.
func (e *Engine) State(ctx context.Context, name string) (PipelineState, error) {
	tx := e.db.Read()
	rec, err := tx.GetPipeline(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return PipelineState{}, errorf(CodePipelineNotFound, "Pipeline %s does not exist", name)
	}
	if err != nil {
		return PipelineState{}, err
	}
	d, err := e.declaration(ctx, tx, name, rec.Version)
	if err != nil {
		return PipelineState{}, err
	}
	transitions, err := tx.Transitions(ctx, name)
	if err != nil {
		return PipelineState{}, err
	}
	active, err := tx.ActiveExecutions(ctx, name)
	if err != nil {
		return PipelineState{}, err
	}
	latestActions, err := tx.LatestActionExecutions(ctx, name)
	if err != nil {
		return PipelineState{}, err
	}
	out := PipelineState{PipelineName: name, PipelineVersion: rec.Version, Created: Timestamp(rec.Created), Updated: Timestamp(rec.Updated)}
	for i, st := range d.Stages {
		ss := StageState{StageName: st.Name, InboundTransitionState: TransitionState{Enabled: true}}
		for _, t := range transitions {
			if t.StageName == st.Name && t.Type == "Inbound" {
				ss.InboundTransitionState = TransitionState{Enabled: t.Enabled, LastChangedBy: t.ChangedBy,
					LastChangedAt: tsPtr(t.ChangedAt), DisabledReason: t.Reason}
			}
		}
		for _, ex := range active {
			if ex.Waiting && ex.StageIndex == i && ex.PipelineVersion == rec.Version {
				ref := StageExecutionRef{PipelineExecutionID: ex.ID, Status: StatusInProgress, Type: ex.Type}
				ss.InboundExecutions = append(ss.InboundExecutions, ref)
				r := ref
				ss.InboundExecution = &r // the newest waiting one
			}
		}
		if se, err := tx.LatestStageExecution(ctx, name, st.Name); err == nil {
			ex, err := tx.GetExecution(ctx, name, se.ExecutionID)
			if err != nil {
				return PipelineState{}, err
			}
			ss.LatestExecution = &StageExecutionRef{PipelineExecutionID: se.ExecutionID, Status: se.Status, Type: ex.Type}
			if se.AutoRetries > 0 || se.ManualRetries > 0 {
				ss.RetryStageMetadata = &RetryStageMetadata{AutoStageRetryAttempt: se.AutoRetries,
					ManualStageRetryAttempt: se.ManualRetries, LatestRetryTrigger: se.RetryTrigger}
			}
			if err := conditionStates(ctx, tx, &ss, se); err != nil {
				return PipelineState{}, err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return PipelineState{}, err
		}
		for _, act := range st.Actions {
			as := ActionState{ActionName: act.Name}
			if act.ActionTypeID.Category == "Approval" {
				as.EntityURL = act.Configuration["ExternalEntityLink"]
			}
			if a, ok := latestActions[st.Name+"/"+act.Name]; ok {
				as.LatestExecution = actionExecutionState(a)
				if act.ActionTypeID.Category == "Source" && a.Status == StatusSucceeded {
					as.CurrentRevision, as.RevisionURL = currentRevision(a)
				}
			}
			ss.ActionStates = append(ss.ActionStates, as)
		}
		out.StageStates = append(out.StageStates, ss)
	}
	return out, nil
}

func actionExecutionState(a store.ActionExecution) *ActionExecutionState {
	s := &ActionExecutionState{
		ActionExecutionID: a.ID, Status: a.Status, Summary: a.Summary, LastStatusChange: Timestamp(a.Updated),
		LastUpdatedBy: a.UpdatedBy, ExternalExecutionID: a.ExternalExecutionID, ExternalExecutionURL: a.ExternalExecutionURL,
		PercentComplete: a.PercentComplete, Reason: a.Reason, PipelineExecutionID: a.ExecutionID,
	}
	if a.Status == StatusInProgress {
		s.Token = a.Token
		s.Deadline = tsPtr(a.Deadline)
	}
	if a.Status == StatusFailed || a.Status == StatusAbandoned {
		s.ErrorDetails = &ErrorDetails{Code: firstNonEmpty(a.ErrorCode, "JobFailed"), Message: a.Summary}
	}
	return s
}

func currentRevision(a store.ActionExecution) (*ActionRevision, string) {
	var o actionOutput
	if json.Unmarshal(a.Output, &o) != nil {
		return nil, ""
	}
	for _, art := range o.OutputArtifacts {
		if art.Revision != nil {
			return &ActionRevision{RevisionID: art.Revision.RevisionID, RevisionChangeID: art.Revision.RevisionChangeID,
				Created: Timestamp(art.Revision.Created)}, art.Revision.URL
		}
	}
	return nil, ""
}

// ExecutionTrigger says what started an execution.
type ExecutionTrigger struct {
	TriggerType   string `json:"triggerType"`
	TriggerDetail string `json:"triggerDetail,omitempty"`
}

// ArtifactRevision is a source revision an execution used.
type ArtifactRevision struct {
	Name                     string     `json:"name"`
	RevisionID               string     `json:"revisionId,omitempty"`
	RevisionChangeIdentifier string     `json:"revisionChangeIdentifier,omitempty"`
	RevisionSummary          string     `json:"revisionSummary,omitempty"`
	Created                  *Timestamp `json:"created,omitempty"`
	RevisionURL              string     `json:"revisionUrl,omitempty"`
}

// ResolvedVariable is a pipeline variable's value in one execution.
type ResolvedVariable struct {
	Name          string `json:"name"`
	ResolvedValue string `json:"resolvedValue"`
}

// ExecutionDetail is GetPipelineExecution's pipelineExecution.
type ExecutionDetail struct {
	PipelineName        string             `json:"pipelineName"`
	PipelineVersion     int                `json:"pipelineVersion"`
	PipelineExecutionID string             `json:"pipelineExecutionId"`
	Status              string             `json:"status"`
	StatusSummary       string             `json:"statusSummary,omitempty"`
	ArtifactRevisions   []ArtifactRevision `json:"artifactRevisions"`
	Variables           []ResolvedVariable `json:"variables,omitempty"`
	Trigger             ExecutionTrigger   `json:"trigger"`
	ExecutionMode       string             `json:"executionMode"`
	ExecutionType       string             `json:"executionType"`
	RollbackMetadata    *RollbackMetadata  `json:"rollbackMetadata,omitempty"`
}

// RollbackMetadata names the execution a ROLLBACK execution rolled its stage back to.
type RollbackMetadata struct {
	RollbackTargetPipelineExecutionID string `json:"rollbackTargetPipelineExecutionId"`
}

func rollbackMetadata(ex store.Execution) *RollbackMetadata {
	if ex.RollbackTarget == "" {
		return nil
	}
	return &RollbackMetadata{RollbackTargetPipelineExecutionID: ex.RollbackTarget}
}

// GetExecution returns GetPipelineExecution's pipelineExecution.
func (e *Engine) GetExecution(ctx context.Context, pipeline, id string) (ExecutionDetail, error) {
	tx := e.db.Read()
	if _, err := tx.GetPipeline(ctx, pipeline); errors.Is(err, store.ErrNotFound) {
		return ExecutionDetail{}, errorf(CodePipelineNotFound, "Pipeline %s does not exist", pipeline)
	}
	ex, err := e.execution(ctx, tx, pipeline, id)
	if err != nil {
		return ExecutionDetail{}, err
	}
	revs, err := e.artifactRevisions(ctx, tx, ex)
	if err != nil {
		return ExecutionDetail{}, err
	}
	var vars []ResolvedVariable
	_ = json.Unmarshal(ex.Variables, &vars)
	return ExecutionDetail{
		PipelineName: pipeline, PipelineVersion: ex.PipelineVersion, PipelineExecutionID: ex.ID, Status: ex.Status,
		StatusSummary: ex.StatusSummary, ArtifactRevisions: revs, Variables: vars,
		Trigger:       ExecutionTrigger{TriggerType: ex.TriggerType, TriggerDetail: ex.TriggerDetail},
		ExecutionMode: ex.Mode, ExecutionType: ex.Type, RollbackMetadata: rollbackMetadata(ex),
	}, nil
}

// artifactRevisions lists the revisions the execution's source actions produced (for a rollback,
// those of its target, whose artifacts it ran with).
func (e *Engine) artifactRevisions(ctx context.Context, tx *store.Tx, ex store.Execution) ([]ArtifactRevision, error) {
	actions, err := tx.ActionExecutions(ctx, firstNonEmpty(ex.RollbackTarget, ex.ID))
	if err != nil {
		return nil, err
	}
	out := []ArtifactRevision{}
	for _, a := range actions {
		if a.Status != StatusSucceeded {
			continue
		}
		var o actionOutput
		if json.Unmarshal(a.Output, &o) != nil {
			continue
		}
		for _, art := range o.OutputArtifacts {
			if art.Revision == nil {
				continue
			}
			out = append(out, ArtifactRevision{Name: art.Name, RevisionID: art.Revision.RevisionID,
				RevisionChangeIdentifier: art.Revision.RevisionChangeID, RevisionSummary: art.Revision.Summary,
				Created: tsPtr(art.Revision.Created), RevisionURL: art.Revision.URL})
		}
	}
	return out, nil
}

// SourceRevisionSummary is a source revision in an execution summary.
type SourceRevisionSummary struct {
	ActionName      string `json:"actionName"`
	RevisionID      string `json:"revisionId"`
	RevisionSummary string `json:"revisionSummary,omitempty"`
	RevisionURL     string `json:"revisionUrl,omitempty"`
}

// StopTrigger is why an execution was stopped.
type StopTrigger struct {
	Reason string `json:"reason,omitempty"`
}

// ExecutionSummary is one entry of ListPipelineExecutions.
type ExecutionSummary struct {
	PipelineExecutionID string                  `json:"pipelineExecutionId"`
	Status              string                  `json:"status"`
	StatusSummary       string                  `json:"statusSummary,omitempty"`
	StartTime           Timestamp               `json:"startTime"`
	LastUpdateTime      Timestamp               `json:"lastUpdateTime"`
	SourceRevisions     []SourceRevisionSummary `json:"sourceRevisions"`
	Trigger             ExecutionTrigger        `json:"trigger"`
	StopTrigger         *StopTrigger            `json:"stopTrigger,omitempty"`
	ExecutionMode       string                  `json:"executionMode"`
	ExecutionType       string                  `json:"executionType"`
	RollbackMetadata    *RollbackMetadata       `json:"rollbackMetadata,omitempty"`
}

// ListExecutions returns ListPipelineExecutions, newest first.
func (e *Engine) ListExecutions(ctx context.Context, pipeline, succeededInStage, nextToken string, maxResults int) ([]ExecutionSummary, string, error) {
	if maxResults <= 0 || maxResults > 100 {
		maxResults = 100
	}
	cursor, err := decodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	var before int64
	if cursor != "" {
		if before, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return nil, "", errorf(CodeInvalidNextToken, "The nextToken is not valid")
		}
	}
	tx := e.db.Read()
	if _, err := tx.GetPipeline(ctx, pipeline); errors.Is(err, store.ErrNotFound) {
		return nil, "", errorf(CodePipelineNotFound, "Pipeline %s does not exist", pipeline)
	} else if err != nil {
		return nil, "", err
	}
	list, err := tx.ListExecutions(ctx, pipeline, store.ExecutionFilter{BeforeSeq: before, SucceededInStage: succeededInStage, Limit: maxResults + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > maxResults {
		list = list[:maxResults]
		next = encodeToken(strconv.FormatInt(list[len(list)-1].Seq, 10))
	}
	out := make([]ExecutionSummary, 0, len(list))
	for _, ex := range list {
		revs, err := e.artifactRevisions(ctx, tx, ex)
		if err != nil {
			return nil, "", err
		}
		s := ExecutionSummary{
			PipelineExecutionID: ex.ID, Status: ex.Status, StatusSummary: ex.StatusSummary,
			StartTime: Timestamp(ex.Created), LastUpdateTime: Timestamp(ex.Updated), SourceRevisions: []SourceRevisionSummary{},
			Trigger:       ExecutionTrigger{TriggerType: ex.TriggerType, TriggerDetail: ex.TriggerDetail},
			ExecutionMode: ex.Mode, ExecutionType: ex.Type, RollbackMetadata: rollbackMetadata(ex),
		}
		if ex.StopReason != "" || ex.Status == StatusStopped || ex.Status == StatusStopping {
			s.StopTrigger = &StopTrigger{Reason: ex.StopReason}
		}
		d, err := e.declaration(ctx, tx, pipeline, ex.PipelineVersion)
		if err != nil {
			return nil, "", err
		}
		for _, r := range revs {
			s.SourceRevisions = append(s.SourceRevisions, SourceRevisionSummary{ActionName: producerOf(d, r.Name),
				RevisionID: r.RevisionID, RevisionSummary: r.RevisionSummary, RevisionURL: r.RevisionURL})
		}
		out = append(out, s)
	}
	return out, next, nil
}

// producerOf names the action that declares an output artifact.
func producerOf(d *Declaration, artifact string) string {
	for _, st := range d.Stages {
		for _, a := range st.Actions {
			for _, o := range a.OutputArtifacts {
				if o.Name == artifact {
					return a.Name
				}
			}
		}
	}
	return ""
}

// S3Location addresses an artifact; Conveyor's bucket is its blob store, the key the blob's sha256.
type S3Location struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// ArtifactDetail is an artifact in ListActionExecutions.
type ArtifactDetail struct {
	Name       string     `json:"name"`
	S3Location S3Location `json:"s3location"`
}

// ActionExecutionInput is what an action execution ran with.
type ActionExecutionInput struct {
	ActionTypeID          ActionTypeID      `json:"actionTypeId"`
	Configuration         map[string]string `json:"configuration"`
	ResolvedConfiguration map[string]string `json:"resolvedConfiguration"`
	Region                string            `json:"region,omitempty"`
	InputArtifacts        []ArtifactDetail  `json:"inputArtifacts"`
	Namespace             string            `json:"namespace,omitempty"`
}

// ActionExecutionResult is how it ended.
type ActionExecutionResult struct {
	ExternalExecutionID      string        `json:"externalExecutionId,omitempty"`
	ExternalExecutionSummary string        `json:"externalExecutionSummary,omitempty"`
	ExternalExecutionURL     string        `json:"externalExecutionUrl,omitempty"`
	ErrorDetails             *ErrorDetails `json:"errorDetails,omitempty"`
}

// ActionExecutionOutput is what it produced.
type ActionExecutionOutput struct {
	OutputArtifacts []ArtifactDetail       `json:"outputArtifacts"`
	ExecutionResult *ActionExecutionResult `json:"executionResult,omitempty"`
	OutputVariables map[string]string      `json:"outputVariables,omitempty"`
}

// ActionExecutionDetail is one entry of ListActionExecutions.
type ActionExecutionDetail struct {
	PipelineExecutionID string                `json:"pipelineExecutionId"`
	ActionExecutionID   string                `json:"actionExecutionId"`
	PipelineVersion     int                   `json:"pipelineVersion"`
	StageName           string                `json:"stageName"`
	ActionName          string                `json:"actionName"`
	StartTime           Timestamp             `json:"startTime"`
	LastUpdateTime      Timestamp             `json:"lastUpdateTime"`
	UpdatedBy           string                `json:"updatedBy,omitempty"`
	Status              string                `json:"status"`
	Input               ActionExecutionInput  `json:"input"`
	Output              ActionExecutionOutput `json:"output"`
	// Conveyor addition: why the action ended.
	Reason string `json:"conveyorReason,omitempty"`
}

const artifactBucket = "conveyor-artifacts"

// ListActionExecutions returns ListActionExecutions, newest first, optionally for one execution.
func (e *Engine) ListActionExecutions(ctx context.Context, pipeline, executionID, nextToken string, maxResults int) ([]ActionExecutionDetail, string, error) {
	tx, q, err := e.executionPage(ctx, pipeline, executionID, nextToken, maxResults)
	if err != nil {
		return nil, "", err
	}
	list, err := tx.ListActionExecutions(ctx, pipeline, store.ActionFilter{ExecutionID: executionID, Before: q.before, Limit: q.limit + 1})
	if err != nil {
		return nil, "", err
	}
	list, next := lastPage(list, q.limit, func(a store.ActionExecution) string { return a.ID })
	out := make([]ActionExecutionDetail, 0, len(list))
	for _, a := range list {
		out = append(out, actionExecutionDetail(a))
	}
	return out, next, nil
}

// pageQuery is a decoded page request of a per-execution listing.
type pageQuery struct {
	before string // list what came before this id
	limit  int
}

// executionPage checks a listing's pipeline and optional execution and decodes its page request
// (ListActionExecutions, ListRuleExecutions).
func (e *Engine) executionPage(ctx context.Context, pipeline, executionID, nextToken string, maxResults int) (*store.Tx, pageQuery, error) {
	q := pageQuery{limit: maxResults}
	if q.limit <= 0 || q.limit > 100 {
		q.limit = 100
	}
	var err error
	if q.before, err = decodeToken(nextToken); err != nil {
		return nil, q, err
	}
	tx := e.db.Read()
	if _, err := tx.GetPipeline(ctx, pipeline); errors.Is(err, store.ErrNotFound) {
		return nil, q, errorf(CodePipelineNotFound, "Pipeline %s does not exist", pipeline)
	} else if err != nil {
		return nil, q, err
	}
	if executionID != "" {
		if _, err := e.execution(ctx, tx, pipeline, executionID); err != nil {
			return nil, q, err
		}
	}
	return tx, q, nil
}

// lastPage trims a list fetched with limit+1 rows to limit, with the token of the next page.
func lastPage[T any](list []T, limit int, id func(T) string) ([]T, string) {
	if len(list) <= limit {
		return list, ""
	}
	list = list[:limit]
	return list, encodeToken(id(list[len(list)-1]))
}

func artifactDetails(arts []executor.Artifact) []ArtifactDetail {
	out := make([]ArtifactDetail, 0, len(arts))
	for _, a := range arts {
		out = append(out, ArtifactDetail{Name: a.Name, S3Location: S3Location{Bucket: artifactBucket, Key: a.BlobSHA256}})
	}
	return out
}

func actionExecutionDetail(a store.ActionExecution) ActionExecutionDetail {
	var in actionInput
	_ = json.Unmarshal(a.Input, &in)
	var o actionOutput
	_ = json.Unmarshal(a.Output, &o)
	d := ActionExecutionDetail{
		PipelineExecutionID: a.ExecutionID, ActionExecutionID: a.ID, PipelineVersion: a.PipelineVersion,
		StageName: a.StageName, ActionName: a.ActionName, StartTime: Timestamp(a.Started), LastUpdateTime: Timestamp(a.Updated),
		UpdatedBy: a.UpdatedBy, Status: a.Status, Reason: a.Reason,
		Input: ActionExecutionInput{ActionTypeID: in.ActionTypeID, Configuration: in.Configuration,
			ResolvedConfiguration: in.ResolvedConfiguration, Region: in.Region, InputArtifacts: artifactDetails(in.InputArtifacts),
			Namespace: in.Namespace},
		Output: ActionExecutionOutput{OutputArtifacts: artifactDetails(o.OutputArtifacts), OutputVariables: o.OutputVariables},
	}
	if d.Input.Configuration == nil {
		d.Input.Configuration = map[string]string{}
	}
	if a.Status != StatusInProgress || a.ExternalExecutionID != "" {
		r := &ActionExecutionResult{ExternalExecutionID: a.ExternalExecutionID, ExternalExecutionSummary: a.Summary,
			ExternalExecutionURL: a.ExternalExecutionURL}
		if a.Status == StatusFailed || a.Status == StatusAbandoned {
			r.ErrorDetails = &ErrorDetails{Code: firstNonEmpty(a.ErrorCode, "JobFailed"), Message: a.Summary}
		}
		d.Output.ExecutionResult = r
	}
	return d
}
