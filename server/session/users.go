// Package session holds the dashboard's local users and their browser sessions: bcrypt password
// hashes, session cookies (HttpOnly, SameSite=Lax, Secure behind TLS) whose tokens are stored only
// as hashes, a CSRF token per session, and a rate limit on login attempts. Users carry the same
// roles as access keys (server/auth).
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// AdminUser is the user created on first start.
const AdminUser = "admin"

// Password limits: bcrypt reads at most 72 bytes.
const (
	MinPassword = 8
	MaxPassword = 72
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// ValidateName checks a user name: 1-64 lower-case letters, digits and . _ @ -, starting with a
// letter or digit.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("user name %q: use 1-64 lower-case letters, digits and . _ @ -, starting with a letter or digit", name)
	}
	return nil
}

// ValidatePassword checks a password's length.
func ValidatePassword(pw string) error {
	if len(pw) < MinPassword || len(pw) > MaxPassword {
		return fmt.Errorf("a password has %d to %d bytes", MinPassword, MaxPassword)
	}
	return nil
}

// ErrBadCredentials is the one answer to a wrong user name or a wrong password.
var ErrBadCredentials = errors.New("wrong user name or password")

// Users manages local users.
type Users struct {
	DB *store.DB
	// Cost is the bcrypt cost (default bcrypt.DefaultCost; tests lower it).
	Cost int
	// dummy is a hash compared against when the user does not exist, so a wrong name costs as long
	// as a wrong password.
	dummyOnce sync.Once
	dummy     []byte
}

func (u *Users) cost() int {
	if u.Cost == 0 {
		return bcrypt.DefaultCost
	}
	return u.Cost
}

// Hash returns the bcrypt hash of a password.
func (u *Users) Hash(password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), u.cost())
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Create adds a user.
func (u *Users) Create(ctx context.Context, name, password string, role auth.Role) (store.User, error) {
	if err := ValidateName(name); err != nil {
		return store.User{}, &InputError{Msg: err.Error()}
	}
	if role == auth.RoleNone {
		return store.User{}, &InputError{Msg: "a user needs a role: viewer, operator, approver or admin"}
	}
	hash, err := u.Hash(password)
	if err != nil {
		return store.User{}, &InputError{Msg: err.Error()}
	}
	rec := store.User{Name: name, PasswordHash: hash, Role: role.String()}
	err = u.DB.Write(ctx, func(tx *store.Tx) error { return tx.CreateUser(ctx, rec) })
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, &InputError{Msg: fmt.Sprintf("user %s already exists", name), Conflict: true}
	}
	if err != nil {
		return store.User{}, err
	}
	return u.DB.Read().GetUser(ctx, name)
}

// InputError is a request a caller can correct (400), or a conflict (409).
type InputError struct {
	Msg      string
	Conflict bool
}

func (e *InputError) Error() string { return e.Msg }

// List lists users.
func (u *Users) List(ctx context.Context) ([]store.User, error) { return u.DB.Read().ListUsers(ctx) }

// Get reads a user.
func (u *Users) Get(ctx context.Context, name string) (store.User, error) {
	return u.DB.Read().GetUser(ctx, name)
}

// Delete removes a user and ends their sessions; the last admin cannot be removed.
func (u *Users) Delete(ctx context.Context, name string) error {
	return u.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetUser(ctx, name)
		if err != nil {
			return err
		}
		if cur.Role == auth.RoleAdmin.String() {
			if _, admins, err := tx.CountUsers(ctx); err != nil {
				return err
			} else if admins <= 1 {
				return &InputError{Msg: fmt.Sprintf("%s is the last admin; make another user admin first", name), Conflict: true}
			}
		}
		return tx.DeleteUser(ctx, name)
	})
}

// SetRole changes a user's role (effective on their next request); the last admin keeps theirs.
func (u *Users) SetRole(ctx context.Context, name string, role auth.Role) error {
	if role == auth.RoleNone {
		return &InputError{Msg: "role must be viewer, operator, approver or admin"}
	}
	return u.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetUser(ctx, name)
		if err != nil {
			return err
		}
		if cur.Role == auth.RoleAdmin.String() && role != auth.RoleAdmin {
			if _, admins, err := tx.CountUsers(ctx); err != nil {
				return err
			} else if admins <= 1 {
				return &InputError{Msg: fmt.Sprintf("%s is the last admin; make another user admin first", name), Conflict: true}
			}
		}
		return tx.SetUserRole(ctx, name, role.String())
	})
}

// SetPassword replaces a user's password and ends their sessions.
func (u *Users) SetPassword(ctx context.Context, name, password string) error {
	hash, err := u.Hash(password)
	if err != nil {
		return &InputError{Msg: err.Error()}
	}
	return u.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetUserPassword(ctx, name, hash) })
}

// Authenticate checks a user name and password; the error for a wrong name or password is
// ErrBadCredentials either way.
func (u *Users) Authenticate(ctx context.Context, name, password string) (store.User, error) {
	rec, err := u.DB.Read().GetUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		u.dummyOnce.Do(func() { u.dummy, _ = bcrypt.GenerateFromPassword([]byte(RandomPassword()), u.cost()) })
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(password))
		return store.User{}, ErrBadCredentials
	}
	if err != nil {
		return store.User{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(rec.PasswordHash), []byte(password)) != nil {
		return store.User{}, ErrBadCredentials
	}
	_ = u.DB.Write(ctx, func(tx *store.Tx) error { return tx.RecordLogin(ctx, name) })
	return rec, nil
}

// AdminResult says what EnsureAdmin did.
type AdminResult struct {
	Created  bool
	Password string // generated, when it was
	File     string // where the generated password was written
}

// EnsureAdmin creates the user `admin` when there are no users yet: with password (from
// CONVEYOR_ADMIN_PASSWORD) or, when empty, a generated one written to file as
// `admin_password = …` next to the admin access key.
func (u *Users) EnsureAdmin(ctx context.Context, password, file string) (AdminResult, error) {
	n, _, err := u.DB.Read().CountUsers(ctx)
	if err != nil || n > 0 {
		return AdminResult{}, err
	}
	res := AdminResult{Created: true}
	if password == "" {
		password = RandomPassword()
		res.Password, res.File = password, file
	} else if err := ValidatePassword(password); err != nil {
		return AdminResult{}, fmt.Errorf("CONVEYOR_ADMIN_PASSWORD: %w", err)
	}
	if _, err := u.Create(ctx, AdminUser, password, auth.RoleAdmin); err != nil {
		return AdminResult{}, fmt.Errorf("create the admin user: %w", err)
	}
	if res.File != "" {
		if err := auth.WriteCredentialsFile(file, map[string]string{"admin_password": password}); err != nil {
			return AdminResult{}, err
		}
	}
	return res, nil
}

// RandomPassword returns 20 random characters (120 bits).
func RandomPassword() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
