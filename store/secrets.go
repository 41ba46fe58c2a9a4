package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Secret is a named secret value; Value is only ever plaintext in memory.
type Secret struct {
	Name        string
	Value       string
	Description string
	Version     int
	Created     time.Time
	Updated     time.Time
}

func secretContext(name string) string { return "secret:" + name }

// PutSecret creates a secret or replaces its value (the version goes up by one).
func (tx *Tx) PutSecret(ctx context.Context, s *Sealer, name, value, description string) (Secret, error) {
	sealed := s.Seal([]byte(value), secretContext(name))
	_, err := tx.q.ExecContext(ctx, `INSERT INTO secrets (name, value_sealed, description, version, created_at, updated_at)
		VALUES (?, ?, ?, 1, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value_sealed = excluded.value_sealed,
		description = CASE WHEN excluded.description != '' THEN excluded.description ELSE secrets.description END,
		version = secrets.version + 1, updated_at = excluded.updated_at`,
		name, sealed, description, ms(tx.now), ms(tx.now))
	if err != nil {
		return Secret{}, fmt.Errorf("store secret %s: %w", name, err)
	}
	meta, err := tx.SecretMetadata(ctx, name)
	return meta, err
}

// SecretMetadata reads a secret's metadata, never its value.
func (tx *Tx) SecretMetadata(ctx context.Context, name string) (Secret, error) {
	var sec Secret
	var created, updated int64
	err := tx.q.QueryRowContext(ctx, `SELECT name, description, version, created_at, updated_at FROM secrets WHERE name = ?`, name).
		Scan(&sec.Name, &sec.Description, &sec.Version, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Secret{}, fmt.Errorf("secret %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("read secret %s: %w", name, err)
	}
	sec.Created, sec.Updated = fromMS(created), fromMS(updated)
	return sec, nil
}

// SecretValue opens a secret's value (for builds that reference it).
func (tx *Tx) SecretValue(ctx context.Context, s *Sealer, name string) (string, error) {
	var sealed []byte
	err := tx.q.QueryRowContext(ctx, `SELECT value_sealed FROM secrets WHERE name = ?`, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("secret %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", name, err)
	}
	v, err := s.Open(sealed, secretContext(name))
	return string(v), err
}

// ListSecrets lists metadata of every secret, by name.
func (tx *Tx) ListSecrets(ctx context.Context) ([]Secret, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT name, description, version, created_at, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []Secret
	for rows.Next() {
		var sec Secret
		var created, updated int64
		if err := rows.Scan(&sec.Name, &sec.Description, &sec.Version, &created, &updated); err != nil {
			return nil, err
		}
		sec.Created, sec.Updated = fromMS(created), fromMS(updated)
		out = append(out, sec)
	}
	return out, rows.Err()
}

// DeleteSecret removes a secret.
func (tx *Tx) DeleteSecret(ctx context.Context, name string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("secret %s: %w", name, ErrNotFound)
	}
	return nil
}
