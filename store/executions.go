package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Execution is a pipeline execution.
type Execution struct {
	Seq                int64
	ID                 string
	Pipeline           string
	PipelineVersion    int
	Status             string
	StatusSummary      string
	Mode               string
	Type               string
	TriggerType        string
	TriggerDetail      string
	StageIndex         int
	Waiting            bool
	Variables          []byte // JSON
	SourceRevisions    []byte // JSON
	ClientRequestToken string
	// RollbackTarget is, for an execution of type ROLLBACK, the execution whose artifacts and
	// variables it re-runs its stage with.
	RollbackTarget string
	StopReason     string
	StopAbandon    bool
	Created        time.Time
	Updated        time.Time
}

const executionColumns = `seq, id, pipeline_name, pipeline_version, status, status_summary, execution_mode,
	execution_type, trigger_type, trigger_detail, stage_index, waiting, variables, source_revisions,
	COALESCE(client_request_token, ''), rollback_target, stop_reason, stop_abandon, created_at, updated_at`

func scanExecution(s scanner) (Execution, error) {
	var e Execution
	var vars, revs string
	var created, updated int64
	err := s.Scan(&e.Seq, &e.ID, &e.Pipeline, &e.PipelineVersion, &e.Status, &e.StatusSummary, &e.Mode,
		&e.Type, &e.TriggerType, &e.TriggerDetail, &e.StageIndex, &e.Waiting, &vars, &revs,
		&e.ClientRequestToken, &e.RollbackTarget, &e.StopReason, &e.StopAbandon, &created, &updated)
	e.Variables, e.SourceRevisions = []byte(vars), []byte(revs)
	e.Created, e.Updated = fromMS(created), fromMS(updated)
	return e, err
}

// InsertExecution records a new execution; ErrConflict if its client request token was used before.
func (tx *Tx) InsertExecution(ctx context.Context, e *Execution) error {
	var token any
	if e.ClientRequestToken != "" {
		token = e.ClientRequestToken
	}
	e.Created, e.Updated = tx.now, tx.now
	res, err := tx.q.ExecContext(ctx, `INSERT INTO executions (id, pipeline_name, pipeline_version, status,
		status_summary, execution_mode, execution_type, trigger_type, trigger_detail, stage_index, waiting,
		variables, source_revisions, client_request_token, rollback_target, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Pipeline, e.PipelineVersion, e.Status, e.StatusSummary, e.Mode, e.Type, e.TriggerType,
		e.TriggerDetail, e.StageIndex, e.Waiting, nonEmptyJSON(e.Variables, "[]"), nonEmptyJSON(e.SourceRevisions, "[]"),
		token, e.RollbackTarget, ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return fmt.Errorf("execution with client request token %s: %w", e.ClientRequestToken, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert execution: %w", err)
	}
	e.Seq, _ = res.LastInsertId()
	return nil
}

func nonEmptyJSON(b []byte, def string) string {
	if len(b) == 0 {
		return def
	}
	return string(b)
}

// UpdateExecution writes an execution's mutable fields if its status is still `from`.
func (tx *Tx) UpdateExecution(ctx context.Context, e *Execution, from string) error {
	e.Updated = tx.now
	res, err := tx.q.ExecContext(ctx, `UPDATE executions SET status = ?, status_summary = ?, stage_index = ?,
		waiting = ?, stop_reason = ?, stop_abandon = ?, updated_at = ? WHERE id = ? AND status = ?`,
		e.Status, e.StatusSummary, e.StageIndex, e.Waiting, e.StopReason, e.StopAbandon, ms(tx.now), e.ID, from)
	if err != nil {
		return fmt.Errorf("update execution %s: %w", e.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("execution %s is no longer %s: %w", e.ID, from, ErrConflict)
	}
	return nil
}

// GetExecution reads one execution of a pipeline.
func (tx *Tx) GetExecution(ctx context.Context, pipeline, id string) (Execution, error) {
	e, err := scanExecution(tx.q.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE id = ? AND pipeline_name = ?`, id, pipeline))
	if errors.Is(err, sql.ErrNoRows) {
		return Execution{}, fmt.Errorf("execution %s of %s: %w", id, pipeline, ErrNotFound)
	}
	if err != nil {
		return Execution{}, fmt.Errorf("read execution %s: %w", id, err)
	}
	return e, nil
}

// ExecutionByClientToken finds the execution started with a client request token.
func (tx *Tx) ExecutionByClientToken(ctx context.Context, pipeline, token string) (Execution, error) {
	e, err := scanExecution(tx.q.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE pipeline_name = ? AND client_request_token = ?`, pipeline, token))
	if errors.Is(err, sql.ErrNoRows) {
		return Execution{}, fmt.Errorf("execution with token %s: %w", token, ErrNotFound)
	}
	if err != nil {
		return Execution{}, fmt.Errorf("read execution by token: %w", err)
	}
	return e, nil
}

func (tx *Tx) queryExecutions(ctx context.Context, query string, args ...any) ([]Execution, error) {
	out, err := queryAll(ctx, tx.q, scanExecution, `SELECT `+executionColumns+` FROM executions `+query, args...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return out, nil
}

// ActiveExecutions lists a pipeline's executions that are InProgress or Stopping, oldest first.
func (tx *Tx) ActiveExecutions(ctx context.Context, pipeline string) ([]Execution, error) {
	return tx.queryExecutions(ctx, `WHERE pipeline_name = ? AND status IN ('InProgress', 'Stopping') ORDER BY seq`, pipeline)
}

// PipelinesWithActiveExecutions lists the pipelines that have unfinished executions.
func (tx *Tx) PipelinesWithActiveExecutions(ctx context.Context) ([]string, error) {
	out, err := queryAll(ctx, tx.q, scanString, `SELECT DISTINCT pipeline_name FROM executions WHERE status IN ('InProgress', 'Stopping')`)
	if err != nil {
		return nil, fmt.Errorf("list active pipelines: %w", err)
	}
	return out, nil
}

// succeededInStage keeps executions whose stage (the query's next argument) succeeded. Correlated,
// so that newest-first listings walk the pipeline's index and stop at their LIMIT instead of
// collecting every execution that ever passed the stage.
const succeededInStage = `EXISTS (SELECT 1 FROM stage_executions se WHERE se.execution_id = executions.id
	AND se.stage_name = ? AND se.status = 'Succeeded')`

// ExecutionFilter narrows ListExecutions.
type ExecutionFilter struct {
	BeforeSeq        int64  // page cursor: only executions older than this (0 = newest)
	SucceededInStage string // only executions whose stage of this name succeeded
	Limit            int
}

// ListExecutions lists a pipeline's executions newest first.
func (tx *Tx) ListExecutions(ctx context.Context, pipeline string, f ExecutionFilter) ([]Execution, error) {
	var where strings.Builder
	args := []any{pipeline}
	where.WriteString(`WHERE pipeline_name = ?`)
	if f.BeforeSeq > 0 {
		where.WriteString(` AND seq < ?`)
		args = append(args, f.BeforeSeq)
	}
	if f.SucceededInStage != "" {
		where.WriteString(` AND ` + succeededInStage)
		args = append(args, f.SucceededInStage)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return tx.queryExecutions(ctx, where.String()+` ORDER BY seq DESC LIMIT ?`, args...)
}

// LastSucceededInStage returns the newest STANDARD execution of a pipeline version whose stage of
// the given name succeeded (the target of an automatic stage rollback), or ErrNotFound.
func (tx *Tx) LastSucceededInStage(ctx context.Context, pipeline string, version int, stage string) (Execution, error) {
	list, err := tx.queryExecutions(ctx, `WHERE pipeline_name = ? AND pipeline_version = ? AND execution_type = 'STANDARD'
		AND `+succeededInStage+` ORDER BY seq DESC LIMIT 1`, pipeline, version, stage)
	if err != nil {
		return Execution{}, err
	}
	if len(list) == 0 {
		return Execution{}, fmt.Errorf("execution that succeeded in stage %s of %s: %w", stage, pipeline, ErrNotFound)
	}
	return list[0], nil
}

// LatestExecutions returns the newest execution of every pipeline (for overviews), keyed by name.
func (tx *Tx) LatestExecutions(ctx context.Context) (map[string]Execution, error) {
	list, err := tx.queryExecutions(ctx, `WHERE seq IN (SELECT MAX(seq) FROM executions GROUP BY pipeline_name)`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Execution, len(list))
	for _, e := range list {
		out[e.Pipeline] = e
	}
	return out, nil
}

// StageExecution is one execution's run through one stage (the latest attempt).
type StageExecution struct {
	ExecutionID   string
	StageName     string
	StageIndex    int
	Attempt       int
	BaseAttempt   int
	Status        string
	AutoRetries   int
	ManualRetries int
	RetryTrigger  string
	// Overrides lists the condition types (BEFORE_ENTRY, ON_SUCCESS) an operator overrode.
	Overrides []string
	Started   time.Time
	Updated   time.Time
}

// Overridden reports whether the condition type was overridden for this stage run.
func (se *StageExecution) Overridden(conditionType string) bool {
	return slices.Contains(se.Overrides, conditionType)
}

const stageColumns = `execution_id, stage_name, stage_index, attempt, base_attempt, status, auto_retries,
	manual_retries, retry_trigger, condition_overrides, started_at, updated_at`

func scanStage(s scanner) (StageExecution, error) {
	var se StageExecution
	var started, updated int64
	var overrides string
	err := s.Scan(&se.ExecutionID, &se.StageName, &se.StageIndex, &se.Attempt, &se.BaseAttempt, &se.Status, &se.AutoRetries,
		&se.ManualRetries, &se.RetryTrigger, &overrides, &started, &updated)
	se.Started, se.Updated = fromMS(started), fromMS(updated)
	if overrides != "" {
		se.Overrides = strings.Split(overrides, ",")
	}
	return se, err
}

// PutStageExecution inserts or replaces an execution's record of a stage.
func (tx *Tx) PutStageExecution(ctx context.Context, se *StageExecution) error {
	if se.Started.IsZero() {
		se.Started = tx.now
	}
	se.Updated = tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO stage_executions (`+stageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (execution_id, stage_name) DO UPDATE SET attempt = excluded.attempt,
		base_attempt = excluded.base_attempt, status = excluded.status,
		auto_retries = excluded.auto_retries, manual_retries = excluded.manual_retries,
		retry_trigger = excluded.retry_trigger, condition_overrides = excluded.condition_overrides,
		started_at = excluded.started_at, updated_at = excluded.updated_at`,
		se.ExecutionID, se.StageName, se.StageIndex, se.Attempt, se.BaseAttempt, se.Status, se.AutoRetries, se.ManualRetries,
		se.RetryTrigger, strings.Join(se.Overrides, ","), ms(se.Started), ms(tx.now))
	if err != nil {
		return fmt.Errorf("record stage %s of execution %s: %w", se.StageName, se.ExecutionID, err)
	}
	return nil
}

// StageExecutions lists an execution's stages in pipeline order.
func (tx *Tx) StageExecutions(ctx context.Context, executionID string) ([]StageExecution, error) {
	out, err := queryAll(ctx, tx.q, scanStage, `SELECT `+stageColumns+` FROM stage_executions WHERE execution_id = ? ORDER BY stage_index`, executionID)
	if err != nil {
		return nil, fmt.Errorf("list stages of %s: %w", executionID, err)
	}
	return out, nil
}

// LatestStageExecution returns the record of the named stage from the newest execution that
// entered it, or ErrNotFound.
func (tx *Tx) LatestStageExecution(ctx context.Context, pipeline, stage string) (StageExecution, error) {
	se, err := scanStage(tx.q.QueryRowContext(ctx, `SELECT `+prefixed("se", stageColumns)+` FROM executions e
		JOIN stage_executions se ON se.execution_id = e.id AND se.stage_name = ?
		WHERE e.pipeline_name = ? ORDER BY e.seq DESC LIMIT 1`, stage, pipeline))
	if errors.Is(err, sql.ErrNoRows) {
		return StageExecution{}, fmt.Errorf("stage %s of %s: %w", stage, pipeline, ErrNotFound)
	}
	if err != nil {
		return StageExecution{}, fmt.Errorf("latest stage %s of %s: %w", stage, pipeline, err)
	}
	return se, nil
}

func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// ActionExecution is one run of one action.
type ActionExecution struct {
	ID                   string
	ExecutionID          string
	Pipeline             string
	PipelineVersion      int
	StageName            string
	ActionName           string
	RunOrder             int
	Attempt              int
	Status               string
	Reason               string
	Summary              string
	ErrorCode            string
	ExternalExecutionID  string
	ExternalExecutionURL string
	PercentComplete      int
	Token                string
	UpdatedBy            string
	Input                []byte // JSON
	Output               []byte // JSON
	Started              time.Time
	Updated              time.Time
	Deadline             time.Time
}

const actionColumns = `id, execution_id, pipeline_name, pipeline_version, stage_name, action_name, run_order,
	attempt, status, reason, summary, error_code, external_execution_id, external_execution_url,
	percent_complete, token, updated_by, input, output, started_at, updated_at, deadline`

func scanAction(s scanner) (ActionExecution, error) {
	var a ActionExecution
	var in, out string
	var started, updated, deadline int64
	err := s.Scan(&a.ID, &a.ExecutionID, &a.Pipeline, &a.PipelineVersion, &a.StageName, &a.ActionName,
		&a.RunOrder, &a.Attempt, &a.Status, &a.Reason, &a.Summary, &a.ErrorCode, &a.ExternalExecutionID,
		&a.ExternalExecutionURL, &a.PercentComplete, &a.Token, &a.UpdatedBy, &in, &out, &started, &updated, &deadline)
	a.Input, a.Output = []byte(in), []byte(out)
	a.Started, a.Updated, a.Deadline = fromMS(started), fromMS(updated), fromMS(deadline)
	return a, err
}

// InsertActionExecution records an action execution that is about to start.
func (tx *Tx) InsertActionExecution(ctx context.Context, a *ActionExecution) error {
	a.Started, a.Updated = tx.now, tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO action_executions (`+actionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.ExecutionID, a.Pipeline, a.PipelineVersion, a.StageName, a.ActionName, a.RunOrder, a.Attempt,
		a.Status, a.Reason, a.Summary, a.ErrorCode, a.ExternalExecutionID, a.ExternalExecutionURL,
		a.PercentComplete, a.Token, a.UpdatedBy, nonEmptyJSON(a.Input, "{}"), nonEmptyJSON(a.Output, "{}"),
		ms(tx.now), ms(tx.now), ms(a.Deadline))
	if err != nil {
		return fmt.Errorf("insert action execution %s: %w", a.ID, err)
	}
	return nil
}

// FinishAction moves an InProgress action to its final status (compare-and-set). It returns
// ErrConflict when the action already ended: whoever ended it first won.
func (tx *Tx) FinishAction(ctx context.Context, a *ActionExecution) error {
	a.Updated = tx.now
	res, err := tx.q.ExecContext(ctx, `UPDATE action_executions SET status = ?, reason = ?, summary = ?,
		error_code = ?, external_execution_id = ?, external_execution_url = ?, percent_complete = ?,
		updated_by = ?, output = ?, updated_at = ? WHERE id = ? AND status = 'InProgress'`,
		a.Status, a.Reason, a.Summary, a.ErrorCode, a.ExternalExecutionID, a.ExternalExecutionURL,
		a.PercentComplete, a.UpdatedBy, nonEmptyJSON(a.Output, "{}"), ms(tx.now), a.ID)
	if err != nil {
		return fmt.Errorf("finish action execution %s: %w", a.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("action execution %s already ended: %w", a.ID, ErrConflict)
	}
	return nil
}

// UpdateActionProgress records progress of an InProgress action.
func (tx *Tx) UpdateActionProgress(ctx context.Context, id, externalID, externalURL, summary string, percent int) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE action_executions SET
		external_execution_id = CASE WHEN ? != '' THEN ? ELSE external_execution_id END,
		external_execution_url = CASE WHEN ? != '' THEN ? ELSE external_execution_url END,
		summary = CASE WHEN ? != '' THEN ? ELSE summary END,
		percent_complete = ?, updated_at = ? WHERE id = ? AND status = 'InProgress'`,
		externalID, externalID, externalURL, externalURL, summary, summary, percent, ms(tx.now), id)
	if err != nil {
		return fmt.Errorf("record progress of %s: %w", id, err)
	}
	return nil
}

func (tx *Tx) queryActions(ctx context.Context, query string, args ...any) ([]ActionExecution, error) {
	out, err := queryAll(ctx, tx.q, scanAction, `SELECT `+actionColumns+` FROM action_executions `+query, args...)
	if err != nil {
		return nil, fmt.Errorf("list action executions: %w", err)
	}
	return out, nil
}

// GetActionExecution reads one action execution.
func (tx *Tx) GetActionExecution(ctx context.Context, id string) (ActionExecution, error) {
	a, err := scanAction(tx.q.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM action_executions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ActionExecution{}, fmt.Errorf("action execution %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ActionExecution{}, fmt.Errorf("read action execution %s: %w", id, err)
	}
	return a, nil
}

// ActionExecutions lists every action execution of a pipeline execution, oldest first.
func (tx *Tx) ActionExecutions(ctx context.Context, executionID string) ([]ActionExecution, error) {
	return tx.queryActions(ctx, `WHERE execution_id = ? ORDER BY started_at, rowid`, executionID)
}

// InProgressActions lists the InProgress actions of a pipeline.
func (tx *Tx) InProgressActions(ctx context.Context, pipeline string) ([]ActionExecution, error) {
	return tx.queryActions(ctx, `WHERE pipeline_name = ? AND status = 'InProgress' ORDER BY started_at, rowid`, pipeline)
}

// ActionFilter narrows ListActionExecutions.
type ActionFilter struct {
	ExecutionID string
	Before      string // page cursor: an action execution id; list what started before it
	Limit       int
}

// ListActionExecutions lists a pipeline's action executions, newest first.
func (tx *Tx) ListActionExecutions(ctx context.Context, pipeline string, f ActionFilter) ([]ActionExecution, error) {
	q := `WHERE pipeline_name = ?`
	args := []any{pipeline}
	if f.ExecutionID != "" {
		q += ` AND execution_id = ?`
		args = append(args, f.ExecutionID)
	}
	if f.Before != "" {
		q += ` AND rowid < (SELECT rowid FROM action_executions WHERE id = ?)`
		args = append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return tx.queryActions(ctx, q+` ORDER BY rowid DESC LIMIT ?`, args...)
}

// LatestActionExecutions returns the newest action execution of each (stage, action) of a
// pipeline, keyed "stage/action".
func (tx *Tx) LatestActionExecutions(ctx context.Context, pipeline string) (map[string]ActionExecution, error) {
	list, err := tx.queryActions(ctx, `WHERE rowid IN (SELECT MAX(rowid) FROM action_executions
		WHERE pipeline_name = ? GROUP BY stage_name, action_name)`, pipeline)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ActionExecution, len(list))
	for _, a := range list {
		out[a.StageName+"/"+a.ActionName] = a
	}
	return out, nil
}

// ActionByToken finds the action execution holding an approval token.
func (tx *Tx) ActionByToken(ctx context.Context, token string) (ActionExecution, error) {
	a, err := scanAction(tx.q.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM action_executions WHERE token = ?`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return ActionExecution{}, fmt.Errorf("approval token: %w", ErrNotFound)
	}
	if err != nil {
		return ActionExecution{}, fmt.Errorf("read action by token: %w", err)
	}
	return a, nil
}
