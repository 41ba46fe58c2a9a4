package store

import (
	"context"
	"fmt"
	"time"
)

// RuleExecution is one evaluation of one rule of a stage condition.
type RuleExecution struct {
	ID              string
	ExecutionID     string
	Pipeline        string
	PipelineVersion int
	StageName       string
	StageAttempt    int
	ConditionType   string // BEFORE_ENTRY, ON_SUCCESS or ON_FAILURE
	RuleName        string
	Status          string // InProgress, Succeeded, Failed or Abandoned
	Summary         string
	Input           []byte // JSON
	UpdatedBy       string
	WakeAt          time.Time // a waiting rule is checked again then
	Deadline        time.Time // a waiting rule fails then (zero: never)
	Started         time.Time
	Updated         time.Time
}

const ruleColumns = `id, execution_id, pipeline_name, pipeline_version, stage_name, stage_attempt, condition_type,
	rule_name, status, summary, input, updated_by, wake_at, deadline, started_at, updated_at`

func scanRule(s scanner) (RuleExecution, error) {
	var r RuleExecution
	var input string
	var wake, deadline, started, updated int64
	err := s.Scan(&r.ID, &r.ExecutionID, &r.Pipeline, &r.PipelineVersion, &r.StageName, &r.StageAttempt, &r.ConditionType,
		&r.RuleName, &r.Status, &r.Summary, &input, &r.UpdatedBy, &wake, &deadline, &started, &updated)
	r.Input = []byte(input)
	r.WakeAt, r.Deadline, r.Started, r.Updated = fromMS(wake), fromMS(deadline), fromMS(started), fromMS(updated)
	return r, err
}

// PutRuleExecution inserts a rule execution or updates its status, summary and times.
func (tx *Tx) PutRuleExecution(ctx context.Context, r *RuleExecution) error {
	if r.Started.IsZero() {
		r.Started = tx.now
	}
	r.Updated = tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO rule_executions (`+ruleColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, summary = excluded.summary,
		updated_by = excluded.updated_by, wake_at = excluded.wake_at, updated_at = excluded.updated_at`,
		r.ID, r.ExecutionID, r.Pipeline, r.PipelineVersion, r.StageName, r.StageAttempt, r.ConditionType,
		r.RuleName, r.Status, r.Summary, nonEmptyJSON(r.Input, "{}"), r.UpdatedBy, ms(r.WakeAt), ms(r.Deadline),
		ms(r.Started), ms(tx.now))
	if err != nil {
		return fmt.Errorf("record rule %s of stage %s: %w", r.RuleName, r.StageName, err)
	}
	return nil
}

func (tx *Tx) queryRules(ctx context.Context, query string, args ...any) ([]RuleExecution, error) {
	out, err := queryAll(ctx, tx.q, scanRule, `SELECT `+ruleColumns+` FROM rule_executions `+query, args...)
	if err != nil {
		return nil, fmt.Errorf("list rule executions: %w", err)
	}
	return out, nil
}

// StageRuleExecutions lists the rule executions of one execution's stage, oldest first.
func (tx *Tx) StageRuleExecutions(ctx context.Context, executionID, stage string) ([]RuleExecution, error) {
	return tx.queryRules(ctx, `WHERE execution_id = ? AND stage_name = ? ORDER BY started_at, rowid`, executionID, stage)
}

// RuleFilter narrows ListRuleExecutions.
type RuleFilter struct {
	ExecutionID string
	Before      string // page cursor: a rule execution id; list what started before it
	Limit       int
}

// ListRuleExecutions lists a pipeline's rule executions, newest first.
func (tx *Tx) ListRuleExecutions(ctx context.Context, pipeline string, f RuleFilter) ([]RuleExecution, error) {
	q := `WHERE pipeline_name = ?`
	args := []any{pipeline}
	if f.ExecutionID != "" {
		q += ` AND execution_id = ?`
		args = append(args, f.ExecutionID)
	}
	if f.Before != "" {
		q += ` AND rowid < (SELECT rowid FROM rule_executions WHERE id = ?)`
		args = append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return tx.queryRules(ctx, q+` ORDER BY rowid DESC LIMIT ?`, args...)
}
