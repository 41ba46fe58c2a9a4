package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Deployment is one CodeDeploy deployment; Revision and Detail are the domain's JSON.
type Deployment struct {
	Seq           int64
	ID            string
	Application   string
	GroupID       string
	GroupName     string
	ConfigName    string
	Status        string
	Creator       string
	Revision      []byte
	Detail        []byte
	ExternalID    string
	StopRequested bool
	Created       time.Time
	Started       time.Time
	Completed     time.Time
	Updated       time.Time
}

const deploymentColumns = `seq, id, application, group_id, group_name, config_name, status, creator, revision, detail, external_id,
	stop_requested, created_at, started_at, completed_at, updated_at`

func scanDeployment(s scanner) (Deployment, error) {
	var d Deployment
	var rev, detail string
	var created, started, completed, updated int64
	err := s.Scan(&d.Seq, &d.ID, &d.Application, &d.GroupID, &d.GroupName, &d.ConfigName, &d.Status, &d.Creator, &rev, &detail,
		&d.ExternalID, &d.StopRequested, &created, &started, &completed, &updated)
	d.Revision, d.Detail = []byte(rev), []byte(detail)
	d.Created, d.Started, d.Completed, d.Updated = fromMS(created), fromMS(started), fromMS(completed), fromMS(updated)
	return d, err
}

// InsertDeployment records a new deployment; ErrConflict if its id or external id exists.
func (tx *Tx) InsertDeployment(ctx context.Context, d *Deployment) error {
	d.Created, d.Updated = tx.now, tx.now
	res, err := tx.q.ExecContext(ctx, `INSERT INTO deployments (id, application, group_id, group_name, config_name, status, creator,
		revision, detail, external_id, created_at, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Application, d.GroupID, d.GroupName, d.ConfigName, d.Status, d.Creator, string(d.Revision), nonEmptyJSON(d.Detail, "{}"),
		d.ExternalID, ms(tx.now), ms(d.Started), ms(tx.now))
	if isUnique(err) {
		return fmt.Errorf("deployment %s: %w", d.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert deployment: %w", err)
	}
	d.Seq, _ = res.LastInsertId()
	return nil
}

// UpdateDeployment writes a deployment's status, detail, stop flag and times, if its status is
// still from (compare-and-set): ErrConflict otherwise.
func (tx *Tx) UpdateDeployment(ctx context.Context, d *Deployment, from string) error {
	d.Updated = tx.now
	res, err := tx.q.ExecContext(ctx, `UPDATE deployments SET status = ?, detail = ?, stop_requested = ?, started_at = ?, completed_at = ?,
		updated_at = ? WHERE id = ? AND status = ?`,
		d.Status, nonEmptyJSON(d.Detail, "{}"), d.StopRequested, ms(d.Started), ms(d.Completed), ms(tx.now), d.ID, from)
	if err != nil {
		return fmt.Errorf("update deployment %s: %w", d.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("deployment %s is no longer %s: %w", d.ID, from, ErrConflict)
	}
	return nil
}

// GetDeployment reads a deployment.
func (tx *Tx) GetDeployment(ctx context.Context, id string) (Deployment, error) {
	d, err := scanDeployment(tx.q.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Deployment{}, fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Deployment{}, fmt.Errorf("read deployment %s: %w", id, err)
	}
	return d, nil
}

// DeploymentByExternalID finds the deployment an external caller (a pipeline action) created.
func (tx *Tx) DeploymentByExternalID(ctx context.Context, externalID string) (Deployment, error) {
	d, err := scanDeployment(tx.q.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE external_id = ?`, externalID))
	if errors.Is(err, sql.ErrNoRows) {
		return Deployment{}, fmt.Errorf("deployment for %s: %w", externalID, ErrNotFound)
	}
	if err != nil {
		return Deployment{}, fmt.Errorf("read deployment for %s: %w", externalID, err)
	}
	return d, nil
}

// DeploymentFilter selects deployments for ListDeployments.
type DeploymentFilter struct {
	Application string
	GroupID     string
	Statuses    []string
	From, To    time.Time // created in [From, To]; zero: unbounded
	ExternalID  string
	AfterSeq    int64 // newest first: only deployments with seq < AfterSeq (0: from the newest)
	Limit       int
}

// ListDeployments lists deployments newest first.
func (tx *Tx) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	where := []string{"1 = 1"}
	var args []any
	add := func(cond string, v ...any) { where = append(where, cond); args = append(args, v...) }
	if f.Application != "" {
		add("application = ?", f.Application)
	}
	if f.GroupID != "" {
		add("group_id = ?", f.GroupID)
	}
	if len(f.Statuses) > 0 {
		add("status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")", toAny(f.Statuses)...)
	}
	if !f.From.IsZero() {
		add("created_at >= ?", ms(f.From))
	}
	if !f.To.IsZero() {
		add("created_at <= ?", ms(f.To))
	}
	if f.ExternalID != "" {
		add("external_id = ?", f.ExternalID)
	}
	if f.AfterSeq > 0 {
		add("seq < ?", f.AfterSeq)
	}
	if f.Limit <= 0 {
		f.Limit = -1
	}
	return tx.queryDeployments(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq DESC LIMIT ?`, append(args, f.Limit)...)
}

func (tx *Tx) queryDeployments(ctx context.Context, q string, args ...any) ([]Deployment, error) {
	out, err := queryAll(ctx, tx.q, scanDeployment, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return out, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// ActiveDeployments lists Queued and InProgress deployments, oldest first.
func (tx *Tx) ActiveDeployments(ctx context.Context, groupID string) ([]Deployment, error) {
	q := `SELECT ` + deploymentColumns + ` FROM deployments WHERE status IN ('Queued', 'InProgress')`
	var args []any
	if groupID != "" {
		q += ` AND group_id = ?`
		args = append(args, groupID)
	}
	return tx.queryDeployments(ctx, q+` ORDER BY seq`, args...)
}

// LastDeployment returns the group's newest deployment with one of the statuses, created before
// beforeSeq (0: any); ErrNotFound if there is none.
func (tx *Tx) LastDeployment(ctx context.Context, groupID string, beforeSeq int64, statuses ...string) (Deployment, error) {
	q := `SELECT ` + deploymentColumns + ` FROM deployments WHERE group_id = ?`
	args := []any{groupID}
	if beforeSeq > 0 {
		q += ` AND seq < ?`
		args = append(args, beforeSeq)
	}
	if len(statuses) > 0 {
		q += ` AND status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		args = append(args, toAny(statuses)...)
	}
	d, err := scanDeployment(tx.q.QueryRowContext(ctx, q+` ORDER BY seq DESC LIMIT 1`, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Deployment{}, fmt.Errorf("deployment of group %s: %w", groupID, ErrNotFound)
	}
	if err != nil {
		return Deployment{}, fmt.Errorf("read last deployment of group %s: %w", groupID, err)
	}
	return d, nil
}

// DeploymentTarget is one host's part of a deployment, with its host command once dispatched.
type DeploymentTarget struct {
	DeploymentID    string
	Instance        string
	Position        int
	Status          string
	Events          []byte // JSON
	RevisionSHA256  string
	CommandID       string
	AgentID         string
	Delivered       time.Time
	Reported        time.Time
	CancelRequested bool
	EndReason       string
	Message         string
	Dispatched      time.Time
	Ended           time.Time
	Updated         time.Time
}

const targetColumns = `deployment_id, instance, position, status, events, revision_sha256, COALESCE(command_id, ''), agent_id,
	delivered_at, reported_at, cancel_requested, end_reason, message, dispatched_at, ended_at, updated_at`

func scanTarget(s scanner) (DeploymentTarget, error) {
	var t DeploymentTarget
	var events string
	var delivered, reported, dispatched, ended, updated int64
	err := s.Scan(&t.DeploymentID, &t.Instance, &t.Position, &t.Status, &events, &t.RevisionSHA256, &t.CommandID, &t.AgentID,
		&delivered, &reported, &t.CancelRequested, &t.EndReason, &t.Message, &dispatched, &ended, &updated)
	t.Events = []byte(events)
	t.Delivered, t.Reported, t.Dispatched, t.Ended, t.Updated = fromMS(delivered), fromMS(reported), fromMS(dispatched), fromMS(ended), fromMS(updated)
	return t, err
}

// InsertTarget records a host of a deployment.
func (tx *Tx) InsertTarget(ctx context.Context, t *DeploymentTarget) error {
	t.Updated = tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO deployment_targets (deployment_id, instance, position, status, events, revision_sha256, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.DeploymentID, t.Instance, t.Position, t.Status, nonEmptyJSON(t.Events, "[]"), t.RevisionSHA256, ms(tx.now))
	if err != nil {
		return fmt.Errorf("insert target %s of %s: %w", t.Instance, t.DeploymentID, err)
	}
	return nil
}

// UpdateTarget writes every mutable column of a target if its status is still from
// (compare-and-set): ErrConflict otherwise. That is what makes a duplicate or late agent report,
// racing a lease expiry or a stop, change nothing.
func (tx *Tx) UpdateTarget(ctx context.Context, t *DeploymentTarget, from string) error {
	t.Updated = tx.now
	var cmd any
	if t.CommandID != "" {
		cmd = t.CommandID
	}
	res, err := tx.q.ExecContext(ctx, `UPDATE deployment_targets SET status = ?, events = ?, command_id = ?, agent_id = ?, delivered_at = ?,
		reported_at = ?, cancel_requested = ?, end_reason = ?, message = ?, dispatched_at = ?, ended_at = ?, updated_at = ?
		WHERE deployment_id = ? AND instance = ? AND status = ?`,
		t.Status, nonEmptyJSON(t.Events, "[]"), cmd, t.AgentID, ms(t.Delivered), ms(t.Reported), t.CancelRequested, t.EndReason, t.Message,
		ms(t.Dispatched), ms(t.Ended), ms(tx.now), t.DeploymentID, t.Instance, from)
	if err != nil {
		return fmt.Errorf("update target %s of %s: %w", t.Instance, t.DeploymentID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("target %s of %s is no longer %s: %w", t.Instance, t.DeploymentID, from, ErrConflict)
	}
	return nil
}

// ListTargets lists a deployment's targets in rollout order.
func (tx *Tx) ListTargets(ctx context.Context, deploymentID string) ([]DeploymentTarget, error) {
	return tx.queryTargets(ctx, `SELECT `+targetColumns+` FROM deployment_targets WHERE deployment_id = ? ORDER BY position, instance`, deploymentID)
}

func (tx *Tx) queryTargets(ctx context.Context, q string, args ...any) ([]DeploymentTarget, error) {
	out, err := queryAll(ctx, tx.q, scanTarget, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	return out, nil
}

// TargetByCommand finds the target carrying a host command.
func (tx *Tx) TargetByCommand(ctx context.Context, commandID string) (DeploymentTarget, error) {
	t, err := scanTarget(tx.q.QueryRowContext(ctx, `SELECT `+targetColumns+` FROM deployment_targets WHERE command_id = ?`, commandID))
	if errors.Is(err, sql.ErrNoRows) {
		return DeploymentTarget{}, fmt.Errorf("command %s: %w", commandID, ErrNotFound)
	}
	if err != nil {
		return DeploymentTarget{}, fmt.Errorf("read command %s: %w", commandID, err)
	}
	return t, nil
}

// OpenTargets lists targets whose command runs (status InProgress), of one instance or of all
// when instance is "".
func (tx *Tx) OpenTargets(ctx context.Context, instance string) ([]DeploymentTarget, error) {
	if instance == "" {
		return tx.queryTargets(ctx, `SELECT `+targetColumns+` FROM deployment_targets WHERE status = 'InProgress' ORDER BY dispatched_at`)
	}
	return tx.queryTargets(ctx, `SELECT `+targetColumns+` FROM deployment_targets WHERE status = 'InProgress' AND instance = ?
		ORDER BY dispatched_at`, instance)
}

// InstanceHistory returns, for each instance that a deployment of the group reached, its latest
// target there (for rollout order: unhealthy hosts first, hosts already on the revision last).
func (tx *Tx) InstanceHistory(ctx context.Context, groupID string) (map[string]DeploymentTarget, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT `+targetColumns+` FROM deployment_targets
		WHERE deployment_id IN (SELECT id FROM deployments WHERE group_id = ?) AND status IN ('Succeeded', 'Failed')
		ORDER BY (SELECT seq FROM deployments WHERE id = deployment_id)`, groupID)
	if err != nil {
		return nil, fmt.Errorf("instance history of group %s: %w", groupID, err)
	}
	defer rows.Close()
	out := map[string]DeploymentTarget{}
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			return nil, err
		}
		out[t.Instance] = t
	}
	return out, rows.Err()
}
