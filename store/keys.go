package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AccessKey is an API access key. Its secret is only ever held sealed in the database.
type AccessKey struct {
	ID          string
	Secret      string // plaintext, only in memory
	Role        string
	Description string
	Created     time.Time
	LastUsed    time.Time
}

func keyContext(id string) string { return "access-key:" + id }

// CreateAccessKey stores a key with its secret sealed; ErrConflict if the id exists.
func (tx *Tx) CreateAccessKey(ctx context.Context, s *Sealer, k AccessKey) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO access_keys (id, secret_sealed, role, description, created_at)
		VALUES (?, ?, ?, ?, ?)`, k.ID, s.Seal([]byte(k.Secret), keyContext(k.ID)), k.Role, k.Description, ms(tx.now))
	if isUnique(err) {
		return fmt.Errorf("access key %s: %w", k.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert access key: %w", err)
	}
	return nil
}

// GetAccessKey reads a key and opens its secret.
func (tx *Tx) GetAccessKey(ctx context.Context, s *Sealer, id string) (AccessKey, error) {
	var k AccessKey
	var sealed []byte
	var created, used int64
	err := tx.q.QueryRowContext(ctx, `SELECT id, secret_sealed, role, description, created_at, last_used_at
		FROM access_keys WHERE id = ?`, id).Scan(&k.ID, &sealed, &k.Role, &k.Description, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return AccessKey{}, fmt.Errorf("access key %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return AccessKey{}, fmt.Errorf("read access key: %w", err)
	}
	secret, err := s.Open(sealed, keyContext(k.ID))
	if err != nil {
		return AccessKey{}, err
	}
	k.Secret, k.Created, k.LastUsed = string(secret), fromMS(created), fromMS(used)
	return k, nil
}

// ListAccessKeys lists keys without their secrets.
func (tx *Tx) ListAccessKeys(ctx context.Context) ([]AccessKey, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT id, role, description, created_at, last_used_at FROM access_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	defer rows.Close()
	var out []AccessKey
	for rows.Next() {
		var k AccessKey
		var created, used int64
		if err := rows.Scan(&k.ID, &k.Role, &k.Description, &created, &used); err != nil {
			return nil, err
		}
		k.Created, k.LastUsed = fromMS(created), fromMS(used)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteAccessKey removes a key.
func (tx *Tx) DeleteAccessKey(ctx context.Context, id string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM access_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete access key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("access key %s: %w", id, ErrNotFound)
	}
	return nil
}

// TouchAccessKey records a key's use (at most once a minute, to spare the writer).
func (tx *Tx) TouchAccessKey(ctx context.Context, id string) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE access_keys SET last_used_at = ? WHERE id = ? AND last_used_at < ?`,
		ms(tx.now), id, ms(tx.now.Add(-time.Minute)))
	return err
}
