package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is a local user of the dashboard. PasswordHash is a bcrypt hash; the plaintext is never
// stored.
type User struct {
	Name         string
	PasswordHash string
	Role         string
	Created      time.Time
	Updated      time.Time
	LastLogin    time.Time
}

const userColumns = `name, password_hash, role, created_at, updated_at, last_login_at`

func scanUser(s scanner) (User, error) {
	var u User
	var created, updated, login int64
	err := s.Scan(&u.Name, &u.PasswordHash, &u.Role, &created, &updated, &login)
	u.Created, u.Updated, u.LastLogin = fromMS(created), fromMS(updated), fromMS(login)
	return u, err
}

// CreateUser stores a new user; ErrConflict if the name is taken.
func (tx *Tx) CreateUser(ctx context.Context, u User) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO users (name, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		u.Name, u.PasswordHash, u.Role, ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return fmt.Errorf("user %s: %w", u.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert user %s: %w", u.Name, err)
	}
	return nil
}

// GetUser reads a user.
func (tx *Tx) GetUser(ctx context.Context, name string) (User, error) {
	u, err := scanUser(tx.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", name, err)
	}
	return u, nil
}

// ListUsers lists users by name.
func (tx *Tx) ListUsers(ctx context.Context) ([]User, error) {
	out, err := queryAll(ctx, tx.q, scanUser, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// CountUsers counts users (and admins among them).
func (tx *Tx) CountUsers(ctx context.Context) (users, admins int, err error) {
	err = tx.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(role = 'admin'), 0) FROM users`).Scan(&users, &admins)
	if err != nil {
		return 0, 0, fmt.Errorf("count users: %w", err)
	}
	return users, admins, nil
}

// SetUserRole changes a user's role.
func (tx *Tx) SetUserRole(ctx context.Context, name, role string) error {
	return tx.updateUser(ctx, name, `role = ?`, role)
}

// SetUserPassword replaces a user's password hash and ends their sessions.
func (tx *Tx) SetUserPassword(ctx context.Context, name, hash string) error {
	if err := tx.updateUser(ctx, name, `password_hash = ?`, hash); err != nil {
		return err
	}
	_, err := tx.q.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ?`, name)
	return err
}

func (tx *Tx) updateUser(ctx context.Context, name, set string, value any) error {
	res, err := tx.q.ExecContext(ctx, `UPDATE users SET `+set+`, updated_at = ? WHERE name = ?`, value, ms(tx.now), name)
	if err != nil {
		return fmt.Errorf("update user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return nil
}

// RecordLogin notes a successful login.
func (tx *Tx) RecordLogin(ctx context.Context, name string) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE name = ?`, ms(tx.now), name)
	return err
}

// DeleteUser removes a user and (by cascade) their sessions.
func (tx *Tx) DeleteUser(ctx context.Context, name string) error {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return nil
}

// Session is a browser session. The cookie holds a random token; the database only its SHA-256.
type Session struct {
	IDHash     string
	User       string
	Role       string // the user's current role (joined), so a role change applies at once
	CSRFToken  string
	Created    time.Time
	LastSeen   time.Time
	Expires    time.Time
	RemoteAddr string
	UserAgent  string
}

// CreateSession stores a session.
func (tx *Tx) CreateSession(ctx context.Context, s Session) error {
	_, err := tx.q.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_name, csrf_token, created_at, last_seen_at,
		expires_at, remote_addr, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.IDHash, s.User, s.CSRFToken, ms(tx.now), ms(tx.now), ms(s.Expires), s.RemoteAddr, s.UserAgent)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// GetSession reads an unexpired session with its user's role.
func (tx *Tx) GetSession(ctx context.Context, idHash string) (Session, error) {
	var s Session
	var created, seen, expires int64
	err := tx.q.QueryRowContext(ctx, `SELECT s.id_hash, s.user_name, u.role, s.csrf_token, s.created_at, s.last_seen_at,
		s.expires_at, s.remote_addr, s.user_agent FROM sessions s JOIN users u ON u.name = s.user_name
		WHERE s.id_hash = ? AND s.expires_at > ?`, idHash, ms(tx.now)).
		Scan(&s.IDHash, &s.User, &s.Role, &s.CSRFToken, &created, &seen, &expires, &s.RemoteAddr, &s.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	s.Created, s.LastSeen, s.Expires = fromMS(created), fromMS(seen), fromMS(expires)
	return s, nil
}

// TouchSession records activity and slides the idle expiry, but never past the absolute limit.
func (tx *Tx) TouchSession(ctx context.Context, idHash string, expires time.Time) error {
	_, err := tx.q.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?`,
		ms(tx.now), ms(expires), idHash)
	return err
}

// DeleteSession ends a session.
func (tx *Tx) DeleteSession(ctx context.Context, idHash string) error {
	_, err := tx.q.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return err
}

// DeleteExpiredSessions removes sessions past their expiry and returns how many.
func (tx *Tx) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := tx.q.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ms(tx.now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
