package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one recorded action: who did what to which resource, how, and with what outcome.
type AuditEntry struct {
	Seq        int64
	At         time.Time
	Actor      string
	Role       string
	Source     string
	Action     string
	Target     string
	Detail     string
	Outcome    string
	RequestID  string
	RemoteAddr string
}

// InsertAudit appends an entry (its time is the transaction's).
func (tx *Tx) InsertAudit(ctx context.Context, e AuditEntry) error {
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO audit_log (at, actor, role, source, action, target, detail, outcome,
		request_id, remote_addr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(tx.now), e.Actor, e.Role, e.Source, e.Action, e.Target, e.Detail, e.Outcome, e.RequestID, e.RemoteAddr)
	if err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	Actor     string // exact
	Action    string // prefix
	BeforeSeq int64  // page cursor (0 = newest)
	Limit     int
}

// ListAudit lists entries newest first.
func (tx *Tx) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where = append(where, `actor = ?`)
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		where = append(where, `action >= ? AND action < ?`)
		args = append(args, f.Action, f.Action+"\U0010FFFF")
	}
	if f.BeforeSeq > 0 {
		where = append(where, `seq < ?`)
		args = append(args, f.BeforeSeq)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT seq, at, actor, role, source, action, target, detail, outcome, request_id, remote_addr FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	args = append(args, f.Limit)
	rows, err := tx.q.QueryContext(ctx, q+` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Role, &e.Source, &e.Action, &e.Target, &e.Detail, &e.Outcome,
			&e.RequestID, &e.RemoteAddr); err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
