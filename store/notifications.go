package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NotificationKind names the two definition tables: targets and rules.
type NotificationKind string

// The kinds of notification definitions.
const (
	NotificationTargets NotificationKind = "notification_targets"
	NotificationRules   NotificationKind = "notification_rules"
)

// NotificationDefinition is a named target or rule; the definition is JSON the notify package owns.
type NotificationDefinition struct {
	Name       string
	Definition []byte
	Created    time.Time
	Updated    time.Time
}

func (k NotificationKind) table() (string, error) {
	switch k {
	case NotificationTargets, NotificationRules:
		return string(k), nil
	}
	return "", fmt.Errorf("unknown notification kind %q", k)
}

// PutNotificationDefinition creates or replaces a target or rule; created reports which.
func (tx *Tx) PutNotificationDefinition(ctx context.Context, kind NotificationKind, name string, definition []byte) (created bool, err error) {
	table, err := kind.table()
	if err != nil {
		return false, err
	}
	var n int
	if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE name = ?`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("read %s %s: %w", table, name, err)
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO `+table+` (name, definition, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`,
		name, string(definition), ms(tx.now), ms(tx.now))
	if err != nil {
		return false, fmt.Errorf("store %s %s: %w", table, name, err)
	}
	return n == 0, nil
}

// GetNotificationDefinition reads one target or rule.
func (tx *Tx) GetNotificationDefinition(ctx context.Context, kind NotificationKind, name string) (NotificationDefinition, error) {
	table, err := kind.table()
	if err != nil {
		return NotificationDefinition{}, err
	}
	var d NotificationDefinition
	var def string
	var created, updated int64
	err = tx.q.QueryRowContext(ctx, `SELECT name, definition, created_at, updated_at FROM `+table+` WHERE name = ?`, name).
		Scan(&d.Name, &def, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return NotificationDefinition{}, fmt.Errorf("%s %s: %w", table, name, ErrNotFound)
	}
	if err != nil {
		return NotificationDefinition{}, fmt.Errorf("read %s %s: %w", table, name, err)
	}
	d.Definition, d.Created, d.Updated = []byte(def), fromMS(created), fromMS(updated)
	return d, nil
}

// ListNotificationDefinitions lists targets or rules by name.
func (tx *Tx) ListNotificationDefinitions(ctx context.Context, kind NotificationKind) ([]NotificationDefinition, error) {
	table, err := kind.table()
	if err != nil {
		return nil, err
	}
	rows, err := tx.q.QueryContext(ctx, `SELECT name, definition, created_at, updated_at FROM `+table+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	var out []NotificationDefinition
	for rows.Next() {
		var d NotificationDefinition
		var def string
		var created, updated int64
		if err := rows.Scan(&d.Name, &def, &created, &updated); err != nil {
			return nil, fmt.Errorf("list %s: %w", table, err)
		}
		d.Definition, d.Created, d.Updated = []byte(def), fromMS(created), fromMS(updated)
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteNotificationDefinition removes a target or rule.
func (tx *Tx) DeleteNotificationDefinition(ctx context.Context, kind NotificationKind, name string) error {
	table, err := kind.table()
	if err != nil {
		return err
	}
	res, err := tx.q.ExecContext(ctx, `DELETE FROM `+table+` WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", table, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", table, name, ErrNotFound)
	}
	return nil
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event on its way to one target.
type Delivery struct {
	Seq         int64
	ID          string
	Target      string
	Event       string
	DedupeKey   string
	Payload     []byte
	Status      string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	LastStatus  int
	Created     time.Time
	Updated     time.Time
}

const deliveryColumns = `seq, id, target, event, dedupe_key, payload, status, attempts, next_attempt_at, last_error,
	last_status, created_at, updated_at`

func scanDelivery(s scanner) (Delivery, error) {
	var d Delivery
	var payload string
	var next, created, updated int64
	err := s.Scan(&d.Seq, &d.ID, &d.Target, &d.Event, &d.DedupeKey, &payload, &d.Status, &d.Attempts, &next,
		&d.LastError, &d.LastStatus, &created, &updated)
	d.Payload, d.NextAttempt, d.Created, d.Updated = []byte(payload), fromMS(next), fromMS(created), fromMS(updated)
	return d, err
}

// EnqueueDelivery records a pending delivery due now. It returns false, without error, when the
// same event was already enqueued for the target (the dedupe key).
func (tx *Tx) EnqueueDelivery(ctx context.Context, d Delivery) (bool, error) {
	res, err := tx.q.ExecContext(ctx, `INSERT INTO notification_deliveries (id, target, event, dedupe_key, payload, status,
		next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)
		ON CONFLICT (target, dedupe_key) DO NOTHING`,
		d.ID, d.Target, d.Event, d.DedupeKey, string(d.Payload), ms(tx.now), ms(tx.now), ms(tx.now))
	if err != nil {
		return false, fmt.Errorf("enqueue delivery: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DueDeliveries lists pending deliveries whose next attempt is due, oldest first.
func (tx *Tx) DueDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return tx.queryDeliveries(ctx, `WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?`,
		ms(tx.now), limit)
}

// NextDeliveryDue returns when the earliest pending delivery is due (zero when none is pending).
func (tx *Tx) NextDeliveryDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := tx.q.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM notification_deliveries WHERE status = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("next delivery: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromMS(next.Int64), nil
}

// RecordDeliveryAttempt stores the outcome of an attempt: delivered, failed for good, or pending
// again with the next attempt's time.
func (tx *Tx) RecordDeliveryAttempt(ctx context.Context, id, status string, httpStatus int, lastError string, next time.Time) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE notification_deliveries SET status = ?, attempts = attempts + 1,
		last_status = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
		status, httpStatus, lastError, ms(next), ms(tx.now), id)
	if err != nil {
		return fmt.Errorf("record delivery attempt %s: %w", id, err)
	}
	return nil
}

// RetryDelivery makes a failed delivery pending again, due now.
func (tx *Tx) RetryDelivery(ctx context.Context, id string) error {
	res, err := tx.q.ExecContext(ctx, `UPDATE notification_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND status = 'failed'`, ms(tx.now), ms(tx.now), id)
	if err != nil {
		return fmt.Errorf("retry delivery %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("failed delivery %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeliveryFilter narrows ListDeliveries.
type DeliveryFilter struct {
	Status    string // "" for all
	Target    string
	BeforeSeq int64
	Limit     int
}

// ListDeliveries lists deliveries newest first.
func (tx *Tx) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	q := `WHERE 1 = 1`
	var args []any
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Target != "" {
		q += ` AND target = ?`
		args = append(args, f.Target)
	}
	if f.BeforeSeq > 0 {
		q += ` AND seq < ?`
		args = append(args, f.BeforeSeq)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return tx.queryDeliveries(ctx, q+` ORDER BY seq DESC LIMIT ?`, args...)
}

func (tx *Tx) queryDeliveries(ctx context.Context, where string, args ...any) ([]Delivery, error) {
	out, err := queryAll(ctx, tx.q, scanDelivery, `SELECT `+deliveryColumns+` FROM notification_deliveries `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// PruneDeliveries deletes finished deliveries older than before, keeping failures visible for as
// long as pending ones.
func (tx *Tx) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM notification_deliveries WHERE status != 'pending' AND updated_at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return res.RowsAffected()
}

// RecentExecutions lists a pipeline's newest executions and every unfinished one (the
// notifier compares them with what it saw last).
func (tx *Tx) RecentExecutions(ctx context.Context, pipeline string, newest int) ([]Execution, error) {
	return tx.queryExecutions(ctx, `WHERE pipeline_name = ? AND (seq >= COALESCE((SELECT seq FROM executions
		WHERE pipeline_name = ? ORDER BY seq DESC LIMIT 1 OFFSET ?), 0) OR status IN ('InProgress', 'Stopping'))
		ORDER BY seq`, pipeline, pipeline, newest-1)
}
