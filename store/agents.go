package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AgentToken is a single-use registration token, known by its hash.
type AgentToken struct {
	Hash      string
	Tags      map[string]string
	CreatedBy string
	Created   time.Time
	Expires   time.Time
	Used      time.Time
	UsedBy    string
}

// CreateAgentToken stores a token's hash.
func (tx *Tx) CreateAgentToken(ctx context.Context, t AgentToken) error {
	tags, err := json.Marshal(nonNilTags(t.Tags))
	if err != nil {
		return err
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO deploy_agent_tokens (hash, tags, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		t.Hash, string(tags), t.CreatedBy, ms(tx.now), ms(t.Expires))
	if err != nil {
		return fmt.Errorf("insert registration token: %w", err)
	}
	return nil
}

// GetAgentToken reads a token by its hash.
func (tx *Tx) GetAgentToken(ctx context.Context, hash string) (AgentToken, error) {
	var t AgentToken
	var tags string
	var created, expires, used int64
	err := tx.q.QueryRowContext(ctx, `SELECT hash, tags, created_by, created_at, expires_at, used_at, used_by
		FROM deploy_agent_tokens WHERE hash = ?`, hash).Scan(&t.Hash, &tags, &t.CreatedBy, &created, &expires, &used, &t.UsedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return AgentToken{}, fmt.Errorf("registration token: %w", ErrNotFound)
	}
	if err != nil {
		return AgentToken{}, fmt.Errorf("read registration token: %w", err)
	}
	t.Created, t.Expires, t.Used = fromMS(created), fromMS(expires), fromMS(used)
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return AgentToken{}, fmt.Errorf("registration token tags: %w", err)
	}
	return t, nil
}

// UseAgentToken marks a token used by instance, once: ErrConflict if it was used already.
func (tx *Tx) UseAgentToken(ctx context.Context, hash, instance string) error {
	res, err := tx.q.ExecContext(ctx, `UPDATE deploy_agent_tokens SET used_at = ?, used_by = ? WHERE hash = ? AND used_at = 0`,
		ms(tx.now), instance, hash)
	if err != nil {
		return fmt.Errorf("use registration token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("registration token: %w", ErrConflict)
	}
	return nil
}

// Instance is a deployment host: an on-premises instance, normally registered by its agent.
type Instance struct {
	Name           string
	ID             string
	AgentID        string // "" until an agent registers
	CredentialHash string
	IAMUserArn     string
	IAMSessionArn  string
	Tags           map[string]string
	Hostname       string
	AgentVersion   string
	OS             string
	Arch           string
	Registered     time.Time
	Deregistered   time.Time
	Revoked        bool
	LastSeen       time.Time
}

// Active says whether the instance may take deployments and its agent may call the server.
func (i Instance) Active() bool { return !i.Revoked && i.Deregistered.IsZero() }

func nonNilTags(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// PutInstance inserts or replaces the instance named i.Name (every column but last_seen_at).
func (tx *Tx) PutInstance(ctx context.Context, i Instance) error {
	tags, err := json.Marshal(nonNilTags(i.Tags))
	if err != nil {
		return err
	}
	var agentID any
	if i.AgentID != "" {
		agentID = i.AgentID
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO deploy_instances (name, id, agent_id, credential_hash, iam_user_arn, iam_session_arn,
		tags, hostname, agent_version, os, arch, registered_at, deregistered_at, revoked)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET id = excluded.id, agent_id = excluded.agent_id, credential_hash = excluded.credential_hash,
			iam_user_arn = excluded.iam_user_arn, iam_session_arn = excluded.iam_session_arn, tags = excluded.tags,
			hostname = excluded.hostname, agent_version = excluded.agent_version, os = excluded.os, arch = excluded.arch,
			registered_at = excluded.registered_at, deregistered_at = excluded.deregistered_at, revoked = excluded.revoked`,
		i.Name, i.ID, agentID, i.CredentialHash, i.IAMUserArn, i.IAMSessionArn, string(tags), i.Hostname, i.AgentVersion, i.OS, i.Arch,
		ms(i.Registered), ms(i.Deregistered), i.Revoked)
	if isUnique(err) {
		return fmt.Errorf("instance %s: %w", i.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store instance %s: %w", i.Name, err)
	}
	return nil
}

const instanceColumns = `name, id, COALESCE(agent_id, ''), credential_hash, iam_user_arn, iam_session_arn, tags, hostname, agent_version,
	os, arch, registered_at, deregistered_at, revoked, last_seen_at`

func scanInstance(s scanner) (Instance, error) {
	var i Instance
	var tags string
	var reg, dereg, seen int64
	err := s.Scan(&i.Name, &i.ID, &i.AgentID, &i.CredentialHash, &i.IAMUserArn, &i.IAMSessionArn, &tags, &i.Hostname, &i.AgentVersion,
		&i.OS, &i.Arch, &reg, &dereg, &i.Revoked, &seen)
	if err != nil {
		return Instance{}, err
	}
	i.Registered, i.Deregistered, i.LastSeen = fromMS(reg), fromMS(dereg), fromMS(seen)
	if err := json.Unmarshal([]byte(tags), &i.Tags); err != nil {
		return Instance{}, fmt.Errorf("tags of instance %s: %w", i.Name, err)
	}
	return i, nil
}

// GetInstance reads an instance by name.
func (tx *Tx) GetInstance(ctx context.Context, name string) (Instance, error) {
	i, err := scanInstance(tx.q.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM deploy_instances WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, fmt.Errorf("instance %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("read instance %s: %w", name, err)
	}
	return i, nil
}

// InstanceByAgent reads the instance an agent registered as.
func (tx *Tx) InstanceByAgent(ctx context.Context, agentID string) (Instance, error) {
	i, err := scanInstance(tx.q.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM deploy_instances WHERE agent_id = ?`, agentID))
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, fmt.Errorf("agent %s: %w", agentID, ErrNotFound)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("read agent %s: %w", agentID, err)
	}
	return i, nil
}

// ListInstances lists every instance by name.
func (tx *Tx) ListInstances(ctx context.Context) ([]Instance, error) {
	out, err := queryAll(ctx, tx.q, scanInstance, `SELECT `+instanceColumns+` FROM deploy_instances ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// SetInstanceTags replaces an instance's tags.
func (tx *Tx) SetInstanceTags(ctx context.Context, name string, tags map[string]string) error {
	b, err := json.Marshal(nonNilTags(tags))
	if err != nil {
		return err
	}
	res, err := tx.q.ExecContext(ctx, `UPDATE deploy_instances SET tags = ? WHERE name = ?`, string(b), name)
	if err != nil {
		return fmt.Errorf("tag instance %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("instance %s: %w", name, ErrNotFound)
	}
	return nil
}

// RevokeInstance refuses the instance's agent from now on; deregister also marks it deregistered.
func (tx *Tx) RevokeInstance(ctx context.Context, name string, deregister bool) error {
	q := `UPDATE deploy_instances SET revoked = 1 WHERE name = ?`
	args := []any{name}
	if deregister {
		q = `UPDATE deploy_instances SET revoked = 1, deregistered_at = CASE deregistered_at WHEN 0 THEN ? ELSE deregistered_at END WHERE name = ?`
		args = []any{ms(tx.now), name}
	}
	res, err := tx.q.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("revoke instance %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("instance %s: %w", name, ErrNotFound)
	}
	return nil
}

// TouchInstances records when agents were last heard from.
func (tx *Tx) TouchInstances(ctx context.Context, seen map[string]time.Time) error {
	for name, at := range seen {
		if _, err := tx.q.ExecContext(ctx, `UPDATE deploy_instances SET last_seen_at = ? WHERE name = ? AND last_seen_at < ?`,
			ms(at), name, ms(at)); err != nil {
			return fmt.Errorf("record heartbeat of %s: %w", name, err)
		}
	}
	return nil
}
