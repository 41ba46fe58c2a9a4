// Package audit records who did what: approvals, stops, retries, transitions, starts, key, user
// and notification changes, whether they came through the dashboard, the REST extras or the AWS
// JSON API. Entries go to the database (the audit_log table) and are shown to admins.
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/conveyorci/conveyor/store"
)

// Sources of an entry.
const (
	SourceUI     = "ui"
	SourceAPI    = "api"  // the AWS JSON API
	SourceREST   = "rest" // /api/v1
	SourceSystem = "system"
)

// Entry is one action.
type Entry struct {
	Actor      string // user/alice, key/AKIA…
	Role       string
	Source     string
	Action     string // approve, stop, key.create, CodePipeline.StopPipelineExecution …
	Target     string // the resource: pipeline/stage/action, a key id, a user name
	Detail     string // the comment, the reason, the new role
	Outcome    string // ok (default), denied, failed: message
	RequestID  string
	RemoteAddr string
}

// Recorder records entries. Implementations must not fail the caller's request: an entry that
// cannot be stored is logged.
type Recorder interface {
	Record(ctx context.Context, e Entry)
}

// Log is the database-backed Recorder.
type Log struct {
	DB  *store.DB
	Log *slog.Logger
}

// maxField bounds every field: entries describe actions, they do not carry payloads.
const maxField = 1024

func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	return s[:maxField] + "…"
}

// Record implements Recorder.
func (l *Log) Record(ctx context.Context, e Entry) {
	// The caller's request may be ending; the record must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rec := store.AuditEntry{Actor: clip(e.Actor), Role: e.Role, Source: e.Source, Action: clip(e.Action), Target: clip(e.Target),
		Detail: clip(e.Detail), Outcome: clip(e.Outcome), RequestID: e.RequestID, RemoteAddr: e.RemoteAddr}
	if err := l.DB.Write(ctx, func(tx *store.Tx) error { return tx.InsertAudit(ctx, rec) }); err != nil {
		l.logger().Error("audit entry not recorded", "err", err, "actor", e.Actor, "action", e.Action, "target", e.Target)
	}
}

// List reads entries newest first.
func (l *Log) List(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	return l.DB.Read().ListAudit(ctx, f)
}

// Discard records nothing (tests, and callers wired without an audit log).
type Discard struct{}

// Record implements Recorder.
func (Discard) Record(context.Context, Entry) {}

func (l *Log) logger() *slog.Logger {
	if l.Log == nil {
		return slog.Default()
	}
	return l.Log
}
