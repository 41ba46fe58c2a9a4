package store

import (
	"context"
	"fmt"
	"strings"
)

// Reads for the dashboard's overview: a few set-wise queries instead of one per pipeline, so the
// page stays fast with hundreds of pipelines.

// StageExecutionsOf returns the stage records of the given executions, keyed by execution id.
func (tx *Tx) StageExecutionsOf(ctx context.Context, executionIDs []string) (map[string][]StageExecution, error) {
	out := map[string][]StageExecution{}
	for start := 0; start < len(executionIDs); start += 500 {
		chunk := executionIDs[start:min(start+500, len(executionIDs))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := tx.q.QueryContext(ctx, `SELECT `+stageColumns+` FROM stage_executions WHERE execution_id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`) ORDER BY execution_id, stage_index`, args...)
		if err != nil {
			return nil, fmt.Errorf("list stage executions: %w", err)
		}
		for rows.Next() {
			se, err := scanStage(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("list stage executions: %w", err)
			}
			out[se.ExecutionID] = append(out[se.ExecutionID], se)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RunningAction is an InProgress action execution, without its payloads.
type RunningAction struct {
	ID          string
	ExecutionID string
	Pipeline    string
	StageName   string
	ActionName  string
}

// RunningActions lists every InProgress action execution of every pipeline.
func (tx *Tx) RunningActions(ctx context.Context) ([]RunningAction, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT id, execution_id, pipeline_name, stage_name, action_name
		FROM action_executions WHERE status = 'InProgress'`)
	if err != nil {
		return nil, fmt.Errorf("list running actions: %w", err)
	}
	defer rows.Close()
	var out []RunningAction
	for rows.Next() {
		var a RunningAction
		if err := rows.Scan(&a.ID, &a.ExecutionID, &a.Pipeline, &a.StageName, &a.ActionName); err != nil {
			return nil, fmt.Errorf("list running actions: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ActionHistory lists the newest executions of one action of a pipeline (an approval's decisions),
// newest first.
func (tx *Tx) ActionHistory(ctx context.Context, pipeline, stage, action string, limit int) ([]ActionExecution, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	return tx.queryActions(ctx, `WHERE pipeline_name = ? AND stage_name = ? AND action_name = ? ORDER BY rowid DESC LIMIT ?`,
		pipeline, stage, action, limit)
}
