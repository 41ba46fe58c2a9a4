package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Connection is a connection to a git repository (CodeConnections' idea). Secrets are sealed at
// rest; the record types carry only whether they are set, ConnectionSecrets opens them.
type Connection struct {
	Name                string
	Provider            string
	URL                 string
	HasToken            bool
	HasSSHKey           bool
	HasWebhookSecret    bool
	AllowPrivateNetwork bool
	PollInterval        time.Duration
	Created             time.Time
	Updated             time.Time
}

// ConnectionSecrets are a connection's credentials in plaintext (in memory only). In a change, a
// nil field keeps the stored value and an empty string removes it.
type ConnectionSecrets struct {
	Token         *string
	SSHKey        *string
	WebhookSecret *string
}

// OpenSecrets are a connection's opened credentials; "" when not set.
type OpenSecrets struct {
	Token, SSHKey, WebhookSecret string
}

// Each secret is sealed under its own context, bound to the connection's name, so a sealed value
// copied into another column or row does not open.
func tokenContext(name string) string   { return "connection-token:" + name }
func sshKeyContext(name string) string  { return "connection-ssh-key:" + name }
func webhookContext(name string) string { return "connection-webhook-secret:" + name }

func sealOptional(s *Sealer, v *string, context string) any {
	if v == nil || *v == "" {
		return nil
	}
	return s.Seal([]byte(*v), context)
}

// CreateConnection inserts a connection; ErrConflict when the name is taken.
func (tx *Tx) CreateConnection(ctx context.Context, s *Sealer, c Connection, sec ConnectionSecrets) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO connections (name, provider, url, token_sealed, ssh_key_sealed,
		secret_sealed, allow_private, poll_interval_ms, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Name, c.Provider, c.URL, sealOptional(s, sec.Token, tokenContext(c.Name)), sealOptional(s, sec.SSHKey, sshKeyContext(c.Name)),
		sealOptional(s, sec.WebhookSecret, webhookContext(c.Name)), c.AllowPrivateNetwork, c.PollInterval.Milliseconds(), ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return fmt.Errorf("connection %s: %w", c.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert connection %s: %w", c.Name, err)
	}
	return nil
}

// UpdateConnection replaces a connection's settings; secrets left nil keep their values.
func (tx *Tx) UpdateConnection(ctx context.Context, s *Sealer, c Connection, sec ConnectionSecrets) error {
	set := `provider = ?, url = ?, allow_private = ?, poll_interval_ms = ?, updated_at = ?`
	args := []any{c.Provider, c.URL, c.AllowPrivateNetwork, c.PollInterval.Milliseconds(), ms(tx.now)}
	for _, f := range []struct {
		column string
		value  *string
		ctx    string
	}{{"token_sealed", sec.Token, tokenContext(c.Name)}, {"ssh_key_sealed", sec.SSHKey, sshKeyContext(c.Name)},
		{"secret_sealed", sec.WebhookSecret, webhookContext(c.Name)}} {
		if f.value != nil {
			set += ", " + f.column + " = ?"
			args = append(args, sealOptional(s, f.value, f.ctx))
		}
	}
	res, err := tx.q.ExecContext(ctx, `UPDATE connections SET `+set+` WHERE name = ?`, append(args, c.Name)...)
	if err != nil {
		return fmt.Errorf("update connection %s: %w", c.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("connection %s: %w", c.Name, ErrNotFound)
	}
	return nil
}

const connectionColumns = `name, provider, url, token_sealed IS NOT NULL, ssh_key_sealed IS NOT NULL,
	secret_sealed IS NOT NULL, allow_private, poll_interval_ms, created_at, updated_at`

func scanConnection(row scanner) (Connection, error) {
	var c Connection
	var poll, created, updated int64
	err := row.Scan(&c.Name, &c.Provider, &c.URL, &c.HasToken, &c.HasSSHKey, &c.HasWebhookSecret,
		&c.AllowPrivateNetwork, &poll, &created, &updated)
	c.PollInterval = time.Duration(poll) * time.Millisecond
	c.Created, c.Updated = fromMS(created), fromMS(updated)
	return c, err
}

// GetConnection reads a connection (never its secrets).
func (tx *Tx) GetConnection(ctx context.Context, name string) (Connection, error) {
	c, err := scanConnection(tx.q.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Connection{}, fmt.Errorf("connection %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Connection{}, fmt.Errorf("read connection %s: %w", name, err)
	}
	return c, nil
}

// ListConnections lists every connection by name.
func (tx *Tx) ListConnections(ctx context.Context) ([]Connection, error) {
	out, err := queryAll(ctx, tx.q, scanConnection, `SELECT `+connectionColumns+` FROM connections ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// ConnectionSecrets opens a connection's credentials and webhook secret.
func (tx *Tx) ConnectionSecrets(ctx context.Context, s *Sealer, name string) (OpenSecrets, error) {
	var token, key, secret []byte
	err := tx.q.QueryRowContext(ctx, `SELECT token_sealed, ssh_key_sealed, secret_sealed FROM connections WHERE name = ?`, name).
		Scan(&token, &key, &secret)
	if errors.Is(err, sql.ErrNoRows) {
		return OpenSecrets{}, fmt.Errorf("connection %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return OpenSecrets{}, fmt.Errorf("read connection %s: %w", name, err)
	}
	var out OpenSecrets
	for _, f := range []struct {
		sealed []byte
		ctx    string
		dst    *string
	}{{token, tokenContext(name), &out.Token}, {key, sshKeyContext(name), &out.SSHKey}, {secret, webhookContext(name), &out.WebhookSecret}} {
		if f.sealed == nil {
			continue
		}
		v, err := s.Open(f.sealed, f.ctx)
		if err != nil {
			return OpenSecrets{}, err
		}
		*f.dst = string(v)
	}
	return out, nil
}

// DeleteConnection removes a connection with its deliveries and poll state.
func (tx *Tx) DeleteConnection(ctx context.Context, name string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM connections WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("connection %s: %w", name, ErrNotFound)
	}
	return nil
}

// WebhookDelivery statuses.
const (
	WebhookPending   = "pending"
	WebhookStarted   = "started"
	WebhookIgnored   = "ignored"
	WebhookDuplicate = "duplicate"
	WebhookRejected  = "rejected"
	WebhookInvalid   = "invalid"
	WebhookFailed    = "failed"
)

// WebhookDelivery is one webhook delivery, or one change polling saw, with its verdict.
type WebhookDelivery struct {
	Seq        int64
	Connection string
	// DeliveryID and EventKey are the dedupe keys ("" when the delivery has none).
	DeliveryID string
	EventKey   string
	Origin     string // webhook | poll
	Received   time.Time
	RemoteAddr string
	Event      string
	Action     string
	Sender     string
	Repository string
	Ref        string
	Before     string
	After      string
	Status     string
	Reason     string
	HTTPStatus int
	Executions []WebhookExecution
	EventJSON  []byte
	Processed  time.Time
}

// WebhookExecution is an execution a delivery started.
type WebhookExecution struct {
	Pipeline    string `json:"pipeline"`
	ExecutionID string `json:"executionId"`
	TriggerType string `json:"triggerType"`
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// RecordWebhookDelivery stores a delivery. When its delivery id or its event key was seen before on the
// same connection, it is stored as a duplicate (without keys) instead, and the earlier delivery is
// returned: the caller then starts nothing. d's Seq, Status and Reason are updated.
func (tx *Tx) RecordWebhookDelivery(ctx context.Context, d *WebhookDelivery) (*WebhookDelivery, error) {
	d.Received = tx.now
	var first *WebhookDelivery
	for _, k := range []struct{ column, value, what string }{{"delivery_id", d.DeliveryID, "delivery id"}, {"event_key", d.EventKey, "repository, ref and commit"}} {
		if k.value == "" {
			continue
		}
		prev, err := tx.scanWebhookDeliveries(ctx, `WHERE connection = ? AND `+k.column+` = ?`, d.Connection, k.value)
		if err != nil {
			return nil, err
		}
		if len(prev) > 0 {
			first = &prev[0]
			d.Status = WebhookDuplicate
			d.Reason = fmt.Sprintf("duplicate of delivery %d received %s (same %s): starts nothing new",
				first.Seq, first.Received.Format(time.RFC3339), k.what)
			d.DeliveryID, d.EventKey = "", ""
			break
		}
	}
	execs, _ := json.Marshal(webhookExecutionsOrEmpty(d.Executions))
	res, err := tx.q.ExecContext(ctx, `INSERT INTO webhook_deliveries (connection, delivery_id, event_key, origin, received_at,
		remote_addr, event, action, sender, repository, ref, before_sha, after_sha, status, reason, http_status, executions,
		event_json, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Connection, nullIfEmpty(d.DeliveryID), nullIfEmpty(d.EventKey), d.Origin, ms(d.Received), d.RemoteAddr, d.Event, d.Action,
		d.Sender, d.Repository, d.Ref, d.Before, d.After, d.Status, d.Reason, d.HTTPStatus, string(execs), string(d.EventJSON),
		ms(d.Processed))
	if err != nil {
		return nil, fmt.Errorf("record delivery for %s: %w", d.Connection, err)
	}
	d.Seq, _ = res.LastInsertId()
	return first, nil
}

func webhookExecutionsOrEmpty(e []WebhookExecution) []WebhookExecution {
	if e == nil {
		return []WebhookExecution{}
	}
	return e
}

// FinishWebhookDelivery records a pending delivery's verdict. A failed delivery gives up its event key,
// so that a redelivery of the same push is tried again rather than taken for a duplicate.
func (tx *Tx) FinishWebhookDelivery(ctx context.Context, seq int64, status, reason string, execs []WebhookExecution) error {
	b, _ := json.Marshal(webhookExecutionsOrEmpty(execs))
	q := `UPDATE webhook_deliveries SET status = ?, reason = ?, executions = ?, processed_at = ? WHERE seq = ?`
	if status == WebhookFailed {
		q = `UPDATE webhook_deliveries SET status = ?, reason = ?, executions = ?, processed_at = ?, event_key = NULL WHERE seq = ?`
	}
	res, err := tx.q.ExecContext(ctx, q, status, reason, string(b), ms(tx.now), seq)
	if err != nil {
		return fmt.Errorf("finish delivery %d: %w", seq, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delivery %d: %w", seq, ErrNotFound)
	}
	return nil
}

const webhookColumns = `seq, connection, COALESCE(delivery_id, ''), COALESCE(event_key, ''), origin, received_at, remote_addr,
	event, action, sender, repository, ref, before_sha, after_sha, status, reason, http_status, executions, event_json, processed_at`

func (tx *Tx) scanWebhookDeliveries(ctx context.Context, where string, args ...any) ([]WebhookDelivery, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhook_deliveries `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		var d WebhookDelivery
		var received, processed int64
		var execs, event string
		if err := rows.Scan(&d.Seq, &d.Connection, &d.DeliveryID, &d.EventKey, &d.Origin, &received, &d.RemoteAddr, &d.Event,
			&d.Action, &d.Sender, &d.Repository, &d.Ref, &d.Before, &d.After, &d.Status, &d.Reason, &d.HTTPStatus, &execs,
			&event, &processed); err != nil {
			return nil, err
		}
		d.Received, d.Processed, d.EventJSON = fromMS(received), fromMS(processed), []byte(event)
		if err := json.Unmarshal([]byte(execs), &d.Executions); err != nil {
			return nil, fmt.Errorf("delivery %d executions: %w", d.Seq, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// GetWebhookDelivery reads one delivery.
func (tx *Tx) GetWebhookDelivery(ctx context.Context, seq int64) (WebhookDelivery, error) {
	list, err := tx.scanWebhookDeliveries(ctx, `WHERE seq = ?`, seq)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if len(list) == 0 {
		return WebhookDelivery{}, fmt.Errorf("delivery %d: %w", seq, ErrNotFound)
	}
	return list[0], nil
}

// ListWebhookDeliveries lists a connection's deliveries, newest first, older than beforeSeq when > 0.
func (tx *Tx) ListWebhookDeliveries(ctx context.Context, connection string, beforeSeq int64, limit int) ([]WebhookDelivery, error) {
	if beforeSeq <= 0 {
		beforeSeq = 1 << 62
	}
	return tx.scanWebhookDeliveries(ctx, `WHERE connection = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, connection, beforeSeq, limit)
}

// PendingWebhookDeliveries lists a connection's deliveries still to be processed, oldest first.
func (tx *Tx) PendingWebhookDeliveries(ctx context.Context, connection string, limit int) ([]WebhookDelivery, error) {
	return tx.scanWebhookDeliveries(ctx, `WHERE connection = ? AND status = 'pending' ORDER BY seq LIMIT ?`, connection, limit)
}

// ConnectionsWithPendingDeliveries names the connections that have deliveries to process.
func (tx *Tx) ConnectionsWithPendingDeliveries(ctx context.Context) ([]string, error) {
	out, err := queryAll(ctx, tx.q, scanString, `SELECT DISTINCT connection FROM webhook_deliveries WHERE status = 'pending' ORDER BY connection`)
	if err != nil {
		return nil, fmt.Errorf("pending deliveries: %w", err)
	}
	return out, nil
}

// PruneRefusedWebhookDeliveries keeps the newest keep refused (rejected or invalid) deliveries of a
// connection: anyone can send those, so they must not grow without bound.
func (tx *Tx) PruneRefusedWebhookDeliveries(ctx context.Context, connection string, keep int) error {
	_, err := tx.q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE connection = ? AND status IN ('rejected', 'invalid')
		AND seq < (SELECT COALESCE(MIN(seq), 0) FROM (SELECT seq FROM webhook_deliveries WHERE connection = ?
		AND status IN ('rejected', 'invalid') ORDER BY seq DESC LIMIT ?))`, connection, connection, keep)
	if err != nil {
		return fmt.Errorf("prune deliveries of %s: %w", connection, err)
	}
	return nil
}

// PollState returns the refs polling last saw of a repository (ok false when never polled).
func (tx *Tx) PollState(ctx context.Context, connection, repository string) (refs map[string]string, ok bool, err error) {
	var raw string
	err = tx.q.QueryRowContext(ctx, `SELECT refs FROM poll_state WHERE connection = ? AND repository = ?`, connection, repository).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read poll state of %s %s: %w", connection, repository, err)
	}
	if err := json.Unmarshal([]byte(raw), &refs); err != nil {
		return nil, false, fmt.Errorf("poll state of %s %s: %w", connection, repository, err)
	}
	return refs, true, nil
}

// PutPollState stores the refs polling saw.
func (tx *Tx) PutPollState(ctx context.Context, connection, repository string, refs map[string]string) error {
	b, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO poll_state (connection, repository, refs, polled_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection, repository) DO UPDATE SET refs = excluded.refs, polled_at = excluded.polled_at`,
		connection, repository, string(b), ms(tx.now))
	if err != nil {
		return fmt.Errorf("store poll state of %s %s: %w", connection, repository, err)
	}
	return nil
}
