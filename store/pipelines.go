package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Pipeline is a stored pipeline (current version).
type Pipeline struct {
	Name        string
	Version     int
	Declaration []byte // JSON
	Created     time.Time
	Updated     time.Time
}

// CreatePipeline inserts a new pipeline at version 1; ErrConflict if the name is taken.
func (tx *Tx) CreatePipeline(ctx context.Context, name string, declaration []byte) (Pipeline, error) {
	p := Pipeline{Name: name, Version: 1, Declaration: declaration, Created: tx.now, Updated: tx.now}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO pipelines (name, version, declaration, created_at, updated_at)
		VALUES (?, 1, ?, ?, ?)`, name, string(declaration), ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return Pipeline{}, fmt.Errorf("pipeline %s: %w", name, ErrConflict)
	}
	if err != nil {
		return Pipeline{}, fmt.Errorf("insert pipeline %s: %w", name, err)
	}
	if err := tx.insertPipelineVersion(ctx, p); err != nil {
		return Pipeline{}, err
	}
	return p, nil
}

// UpdatePipeline stores a new version; declaration must already carry the new version number.
func (tx *Tx) UpdatePipeline(ctx context.Context, name string, version int, declaration []byte) (Pipeline, error) {
	res, err := tx.q.ExecContext(ctx, `UPDATE pipelines SET version = ?, declaration = ?, updated_at = ?
		WHERE name = ? AND version = ?`, version, string(declaration), ms(tx.now), name, version-1)
	if err != nil {
		return Pipeline{}, fmt.Errorf("update pipeline %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Pipeline{}, fmt.Errorf("pipeline %s version %d: %w", name, version-1, ErrConflict)
	}
	p, err := tx.GetPipeline(ctx, name)
	if err != nil {
		return Pipeline{}, err
	}
	return p, tx.insertPipelineVersion(ctx, p)
}

func (tx *Tx) insertPipelineVersion(ctx context.Context, p Pipeline) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO pipeline_versions (pipeline_name, version, declaration, created_at)
		VALUES (?, ?, ?, ?)`, p.Name, p.Version, string(p.Declaration), ms(tx.now))
	if err != nil {
		return fmt.Errorf("insert pipeline version %s/%d: %w", p.Name, p.Version, err)
	}
	return nil
}

// GetPipeline reads the current version of a pipeline.
func (tx *Tx) GetPipeline(ctx context.Context, name string) (Pipeline, error) {
	var p Pipeline
	var decl string
	var created, updated int64
	err := tx.q.QueryRowContext(ctx, `SELECT name, version, declaration, created_at, updated_at FROM pipelines WHERE name = ?`, name).
		Scan(&p.Name, &p.Version, &decl, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Pipeline{}, fmt.Errorf("pipeline %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Pipeline{}, fmt.Errorf("read pipeline %s: %w", name, err)
	}
	p.Declaration, p.Created, p.Updated = []byte(decl), fromMS(created), fromMS(updated)
	return p, nil
}

// GetPipelineVersion reads one version of a pipeline's declaration.
func (tx *Tx) GetPipelineVersion(ctx context.Context, name string, version int) ([]byte, error) {
	var decl string
	err := tx.q.QueryRowContext(ctx, `SELECT declaration FROM pipeline_versions WHERE pipeline_name = ? AND version = ?`,
		name, version).Scan(&decl)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pipeline %s version %d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read pipeline %s version %d: %w", name, version, err)
	}
	return []byte(decl), nil
}

// ListPipelines returns pipelines ordered by name, starting after `after`, at most limit.
func (tx *Tx) ListPipelines(ctx context.Context, after string, limit int) ([]Pipeline, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT name, version, declaration, created_at, updated_at FROM pipelines
		WHERE name > ? ORDER BY name LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	var out []Pipeline
	for rows.Next() {
		var p Pipeline
		var decl string
		var created, updated int64
		if err := rows.Scan(&p.Name, &p.Version, &decl, &created, &updated); err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		p.Declaration, p.Created, p.Updated = []byte(decl), fromMS(created), fromMS(updated)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePipeline removes a pipeline with its versions, executions and transitions.
func (tx *Tx) DeletePipeline(ctx context.Context, name string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM pipelines WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete pipeline %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("pipeline %s: %w", name, ErrNotFound)
	}
	return nil
}

// Transition is the state of a stage's inbound or outbound transition.
type Transition struct {
	StageName string
	Type      string // Inbound | Outbound
	Enabled   bool
	Reason    string
	ChangedBy string
	ChangedAt time.Time
}

// SetTransition records a transition's state.
func (tx *Tx) SetTransition(ctx context.Context, pipeline string, t Transition) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO stage_transitions
		(pipeline_name, stage_name, transition_type, enabled, reason, changed_by, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (pipeline_name, stage_name, transition_type) DO UPDATE SET
		enabled = excluded.enabled, reason = excluded.reason, changed_by = excluded.changed_by, changed_at = excluded.changed_at`,
		pipeline, t.StageName, t.Type, t.Enabled, t.Reason, t.ChangedBy, ms(tx.now))
	if err != nil {
		return fmt.Errorf("set transition %s/%s %s: %w", pipeline, t.StageName, t.Type, err)
	}
	return nil
}

// Transitions lists every recorded transition of a pipeline (absent rows mean enabled).
func (tx *Tx) Transitions(ctx context.Context, pipeline string) ([]Transition, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT stage_name, transition_type, enabled, reason, changed_by, changed_at
		FROM stage_transitions WHERE pipeline_name = ?`, pipeline)
	if err != nil {
		return nil, fmt.Errorf("list transitions of %s: %w", pipeline, err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var t Transition
		var at int64
		if err := rows.Scan(&t.StageName, &t.Type, &t.Enabled, &t.Reason, &t.ChangedBy, &at); err != nil {
			return nil, fmt.Errorf("list transitions of %s: %w", pipeline, err)
		}
		t.ChangedAt = fromMS(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// SetTags adds or replaces tags on a resource.
func (tx *Tx) SetTags(ctx context.Context, arn string, tags []Tag) error {
	for _, t := range tags {
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?)
			ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value`, arn, t.Key, t.Value); err != nil {
			return fmt.Errorf("tag %s: %w", arn, err)
		}
	}
	return nil
}

// RemoveTags removes the named tag keys from a resource.
func (tx *Tx) RemoveTags(ctx context.Context, arn string, keys []string) error {
	for _, k := range keys {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM tags WHERE resource_arn = ? AND key = ?`, arn, k); err != nil {
			return fmt.Errorf("untag %s: %w", arn, err)
		}
	}
	return nil
}

// DeleteTags removes every tag of a resource (when it is deleted).
func (tx *Tx) DeleteTags(ctx context.Context, arn string) error {
	_, err := tx.q.ExecContext(ctx, `DELETE FROM tags WHERE resource_arn = ?`, arn)
	return err
}

// Tags lists a resource's tags ordered by key.
func (tx *Tx) Tags(ctx context.Context, arn string) ([]Tag, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY key`, arn)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", arn, err)
	}
	defer rows.Close()
	out := []Tag{}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
