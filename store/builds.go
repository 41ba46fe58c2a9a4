package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// BuildProject is a stored CodeBuild project.
type BuildProject struct {
	Name         string
	Definition   []byte // JSON
	BuildCounter int
	Created      time.Time
	Updated      time.Time
}

// CreateBuildProject stores a new project; ErrConflict if the name is taken.
func (tx *Tx) CreateBuildProject(ctx context.Context, name string, definition []byte) (BuildProject, error) {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO build_projects (name, definition, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		name, string(definition), ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return BuildProject{}, fmt.Errorf("project %s: %w", name, ErrConflict)
	}
	if err != nil {
		return BuildProject{}, fmt.Errorf("insert project %s: %w", name, err)
	}
	return BuildProject{Name: name, Definition: definition, Created: tx.now, Updated: tx.now}, nil
}

// UpdateBuildProject replaces a project's definition.
func (tx *Tx) UpdateBuildProject(ctx context.Context, name string, definition []byte) error {
	res, err := tx.q.ExecContext(ctx, `UPDATE build_projects SET definition = ?, updated_at = ? WHERE name = ?`,
		string(definition), ms(tx.now), name)
	if err != nil {
		return fmt.Errorf("update project %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("project %s: %w", name, ErrNotFound)
	}
	return nil
}

const projectColumns = `name, definition, build_counter, created_at, updated_at`

func scanProject(s scanner) (BuildProject, error) {
	var p BuildProject
	var def string
	var created, updated int64
	err := s.Scan(&p.Name, &def, &p.BuildCounter, &created, &updated)
	p.Definition, p.Created, p.Updated = []byte(def), fromMS(created), fromMS(updated)
	return p, err
}

// GetBuildProject reads a project.
func (tx *Tx) GetBuildProject(ctx context.Context, name string) (BuildProject, error) {
	p, err := scanProject(tx.q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM build_projects WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return BuildProject{}, fmt.Errorf("project %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return BuildProject{}, fmt.Errorf("read project %s: %w", name, err)
	}
	return p, nil
}

// ListBuildProjects lists projects ordered by the given column (name, created_at or updated_at).
func (tx *Tx) ListBuildProjects(ctx context.Context, orderBy string, descending bool) ([]BuildProject, error) {
	switch orderBy {
	case "name", "created_at", "updated_at":
	default:
		orderBy = "name"
	}
	dir := "ASC"
	if descending {
		dir = "DESC"
	}
	out, err := queryAll(ctx, tx.q, scanProject, `SELECT `+projectColumns+` FROM build_projects ORDER BY `+orderBy+` `+dir+`, name`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// DeleteBuildProject removes a project (its builds are kept).
func (tx *Tx) DeleteBuildProject(ctx context.Context, name string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM build_projects WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete project %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("project %s: %w", name, ErrNotFound)
	}
	return nil
}

// NextBuildNumber increments and returns the project's build counter.
func (tx *Tx) NextBuildNumber(ctx context.Context, project string) (int, error) {
	var n int
	err := tx.q.QueryRowContext(ctx, `UPDATE build_projects SET build_counter = build_counter + 1 WHERE name = ? RETURNING build_counter`, project).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("project %s: %w", project, ErrNotFound)
	}
	return n, err
}

// Build is one build of a project.
type Build struct {
	Seq               int64
	ID                string
	Project           string
	Number            int
	Status            string
	CurrentPhase      string
	Initiator         string
	IdempotencyToken  string
	Request           []byte // JSON
	Detail            []byte // JSON
	ActionExecutionID string
	StopRequested     bool
	Started           time.Time
	Ended             time.Time
	Updated           time.Time
}

const buildColumns = `seq, id, project, build_number, status, current_phase, initiator, COALESCE(idempotency_token, ''),
	request, detail, action_execution_id, stop_requested, started_at, ended_at, updated_at`

func scanBuild(s scanner) (Build, error) {
	var b Build
	var req, detail string
	var started, ended, updated int64
	err := s.Scan(&b.Seq, &b.ID, &b.Project, &b.Number, &b.Status, &b.CurrentPhase, &b.Initiator, &b.IdempotencyToken,
		&req, &detail, &b.ActionExecutionID, &b.StopRequested, &started, &ended, &updated)
	b.Request, b.Detail = []byte(req), []byte(detail)
	b.Started, b.Ended, b.Updated = fromMS(started), fromMS(ended), fromMS(updated)
	return b, err
}

// InsertBuild records a new build; ErrConflict if its idempotency token was used for the project.
func (tx *Tx) InsertBuild(ctx context.Context, b *Build) error {
	var token any
	if b.IdempotencyToken != "" {
		token = b.IdempotencyToken
	}
	b.Started, b.Updated = tx.now, tx.now
	res, err := tx.q.ExecContext(ctx, `INSERT INTO builds (id, project, build_number, status, current_phase, initiator,
		idempotency_token, request, detail, action_execution_id, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.Project, b.Number, b.Status, b.CurrentPhase, b.Initiator, token, string(b.Request), nonEmptyJSON(b.Detail, "{}"),
		b.ActionExecutionID, ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return fmt.Errorf("build with idempotency token %s: %w", b.IdempotencyToken, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert build: %w", err)
	}
	b.Seq, _ = res.LastInsertId()
	return nil
}

// GetBuild reads one build.
func (tx *Tx) GetBuild(ctx context.Context, id string) (Build, error) {
	b, err := scanBuild(tx.q.QueryRowContext(ctx, `SELECT `+buildColumns+` FROM builds WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, fmt.Errorf("build %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Build{}, fmt.Errorf("read build %s: %w", id, err)
	}
	return b, nil
}

// BuildByToken finds the build a StartBuild idempotency token created.
func (tx *Tx) BuildByToken(ctx context.Context, project, token string) (Build, error) {
	b, err := scanBuild(tx.q.QueryRowContext(ctx, `SELECT `+buildColumns+` FROM builds WHERE project = ? AND idempotency_token = ?`, project, token))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, fmt.Errorf("build with token %s: %w", token, ErrNotFound)
	}
	if err != nil {
		return Build{}, fmt.Errorf("read build by token: %w", err)
	}
	return b, nil
}

// BuildByActionExecution finds the build a pipeline action execution started.
func (tx *Tx) BuildByActionExecution(ctx context.Context, actionExecutionID string) (Build, error) {
	b, err := scanBuild(tx.q.QueryRowContext(ctx, `SELECT `+buildColumns+` FROM builds WHERE action_execution_id = ?
		ORDER BY seq DESC LIMIT 1`, actionExecutionID))
	if errors.Is(err, sql.ErrNoRows) {
		return Build{}, fmt.Errorf("build of action execution %s: %w", actionExecutionID, ErrNotFound)
	}
	if err != nil {
		return Build{}, fmt.Errorf("read build by action execution: %w", err)
	}
	return b, nil
}

// UpdateBuildProgress records a running build's phase and detail.
func (tx *Tx) UpdateBuildProgress(ctx context.Context, id, phase string, detail []byte) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE builds SET current_phase = ?, detail = ?, updated_at = ? WHERE id = ? AND status = 'IN_PROGRESS'`,
		phase, string(detail), ms(tx.now), id)
	if err != nil {
		return fmt.Errorf("record progress of build %s: %w", id, err)
	}
	return nil
}

// FinishBuild moves an IN_PROGRESS build to its final status (compare-and-set).
func (tx *Tx) FinishBuild(ctx context.Context, id, status, phase string, detail []byte) error {
	res, err := tx.q.ExecContext(ctx, `UPDATE builds SET status = ?, current_phase = ?, detail = ?, ended_at = ?, updated_at = ?
		WHERE id = ? AND status = 'IN_PROGRESS'`, status, phase, string(detail), ms(tx.now), ms(tx.now), id)
	if err != nil {
		return fmt.Errorf("finish build %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("build %s already ended: %w", id, ErrConflict)
	}
	return nil
}

// RequestBuildStop marks an IN_PROGRESS build to be stopped; false if it is not running.
func (tx *Tx) RequestBuildStop(ctx context.Context, id string) (bool, error) {
	res, err := tx.q.ExecContext(ctx, `UPDATE builds SET stop_requested = 1, updated_at = ? WHERE id = ? AND status = 'IN_PROGRESS'`, ms(tx.now), id)
	if err != nil {
		return false, fmt.Errorf("stop build %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (tx *Tx) queryBuilds(ctx context.Context, where string, args ...any) ([]Build, error) {
	out, err := queryAll(ctx, tx.q, scanBuild, `SELECT `+buildColumns+` FROM builds `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list builds: %w", err)
	}
	return out, nil
}

// ListBuilds lists builds (of one project when project is set) by age; cursor is a seq to start after.
func (tx *Tx) ListBuilds(ctx context.Context, project string, ascending bool, cursor int64, limit int) ([]Build, error) {
	var where []string
	var args []any
	if project != "" {
		where, args = append(where, "project = ?"), append(args, project)
	}
	order := "DESC"
	if ascending {
		order = "ASC"
		if cursor > 0 {
			where, args = append(where, "seq > ?"), append(args, cursor)
		}
	} else if cursor > 0 {
		where, args = append(where, "seq < ?"), append(args, cursor)
	}
	q := ""
	if len(where) > 0 {
		q = "WHERE " + strings.Join(where, " AND ")
	}
	return tx.queryBuilds(ctx, q+" ORDER BY seq "+order+" LIMIT ?", append(args, limit)...)
}

// InProgressBuilds lists every IN_PROGRESS build (recovery after a restart, concurrency limits).
func (tx *Tx) InProgressBuilds(ctx context.Context) ([]Build, error) {
	return tx.queryBuilds(ctx, `WHERE status = 'IN_PROGRESS' ORDER BY seq`)
}

// Report is a test or coverage report of a build.
type Report struct {
	ARN     string
	BuildID string
	Group   string
	Type    string
	Format  string
	Status  string
	Summary []byte // JSON
	Files   []byte // JSON
	Created time.Time
}

// TestCase is one case of a test report.
type TestCase struct {
	ReportARN     string
	Seq           int
	Name          string
	Prefix        string
	Status        string
	DurationNanos int64
	Message       string
	File          string
}

// InsertReport stores a report with its test cases.
func (tx *Tx) InsertReport(ctx context.Context, r Report, cases []TestCase) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO reports (arn, build_id, group_name, type, format, status, summary, files, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ARN, r.BuildID, r.Group, r.Type, r.Format, r.Status,
		nonEmptyJSON(r.Summary, "{}"), nonEmptyJSON(r.Files, "[]"), ms(tx.now))
	if err != nil {
		return fmt.Errorf("insert report %s: %w", r.ARN, err)
	}
	for i, c := range cases {
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO test_cases (report_arn, seq, name, prefix, status, duration_ns, message, file)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ARN, i+1, c.Name, c.Prefix, c.Status, c.DurationNanos, c.Message, c.File); err != nil {
			return fmt.Errorf("insert test case of %s: %w", r.ARN, err)
		}
	}
	return nil
}

// GetReport reads a report.
func (tx *Tx) GetReport(ctx context.Context, arn string) (Report, error) {
	var r Report
	var summary, files string
	var created int64
	err := tx.q.QueryRowContext(ctx, `SELECT arn, build_id, group_name, type, format, status, summary, files, created_at
		FROM reports WHERE arn = ?`, arn).Scan(&r.ARN, &r.BuildID, &r.Group, &r.Type, &r.Format, &r.Status, &summary, &files, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("report %s: %w", arn, ErrNotFound)
	}
	if err != nil {
		return Report{}, fmt.Errorf("read report %s: %w", arn, err)
	}
	r.Summary, r.Files, r.Created = []byte(summary), []byte(files), fromMS(created)
	return r, nil
}

// ReportsOfBuild lists a build's report ARNs.
func (tx *Tx) ReportsOfBuild(ctx context.Context, buildID string) ([]string, error) {
	out, err := queryAll(ctx, tx.q, scanString, `SELECT arn FROM reports WHERE build_id = ? ORDER BY created_at, arn`, buildID)
	if err != nil {
		return nil, fmt.Errorf("list reports of %s: %w", buildID, err)
	}
	return out, nil
}

// TestCases lists a report's cases after seq `after`, optionally only those of the given statuses.
func (tx *Tx) TestCases(ctx context.Context, arn string, statuses []string, after, limit int) ([]TestCase, error) {
	q := `SELECT report_arn, seq, name, prefix, status, duration_ns, message, file FROM test_cases WHERE report_arn = ? AND seq > ?`
	args := []any{arn, after}
	if len(statuses) > 0 {
		q += ` AND status IN (` + strings.TrimSuffix(strings.Repeat("?,", len(statuses)), ",") + `)`
		for _, s := range statuses {
			args = append(args, s)
		}
	}
	rows, err := tx.q.QueryContext(ctx, q+` ORDER BY seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list test cases of %s: %w", arn, err)
	}
	defer rows.Close()
	var out []TestCase
	for rows.Next() {
		var c TestCase
		if err := rows.Scan(&c.ReportARN, &c.Seq, &c.Name, &c.Prefix, &c.Status, &c.DurationNanos, &c.Message, &c.File); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
