package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/conveyorci/conveyor/store"
)

// Keys issues, lists and revokes API access keys; secrets are sealed at rest.
type Keys struct {
	DB     *store.DB
	Sealer *store.Sealer
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// NewKeyPair returns a fresh access key id (AKIA + 16 characters, like AWS's) and secret.
func NewKeyPair() (id, secret string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	var sb strings.Builder
	sb.WriteString("AKIA")
	for _, c := range b {
		sb.WriteByte(keyAlphabet[int(c)%len(keyAlphabet)])
	}
	s := make([]byte, 30)
	_, _ = rand.Read(s)
	return sb.String(), base64.StdEncoding.EncodeToString(s)
}

// Create issues a key with a role.
func (k *Keys) Create(ctx context.Context, role Role, description string) (store.AccessKey, error) {
	if role == RoleNone {
		return store.AccessKey{}, errors.New("a key needs a role")
	}
	id, secret := NewKeyPair()
	key := store.AccessKey{ID: id, Secret: secret, Role: role.String(), Description: description}
	err := k.DB.Write(ctx, func(tx *store.Tx) error { return tx.CreateAccessKey(ctx, k.Sealer, key) })
	return key, err
}

// List lists keys (without secrets).
func (k *Keys) List(ctx context.Context) ([]store.AccessKey, error) {
	return k.DB.Read().ListAccessKeys(ctx)
}

// Delete revokes a key.
func (k *Keys) Delete(ctx context.Context, id string) error {
	return k.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteAccessKey(ctx, id) })
}

// Lookup implements KeyLookup.
func (k *Keys) Lookup(ctx context.Context, id string) (Key, bool, error) {
	rec, err := k.DB.Read().GetAccessKey(ctx, k.Sealer, id)
	if errors.Is(err, store.ErrNotFound) {
		return Key{}, false, nil
	}
	if err != nil {
		return Key{}, false, err
	}
	role, err := ParseRole(rec.Role)
	if err != nil {
		return Key{}, false, fmt.Errorf("access key %s: %w", id, err)
	}
	// Best effort: a failure to record last use must not fail the request.
	_ = k.DB.Write(ctx, func(tx *store.Tx) error { return tx.TouchAccessKey(ctx, id) })
	return Key{ID: rec.ID, Secret: rec.Secret, Role: role}, true, nil
}

// AdminCredentials is what EnsureAdmin produced.
type AdminCredentials struct {
	ID, Secret string
	File       string // where they were written, when generated
	Created    bool
}

// EnsureAdmin makes sure an admin key exists on first start: the given id and secret (from
// CONVEYOR_ADMIN_ACCESS_KEY_ID / CONVEYOR_ADMIN_SECRET_ACCESS_KEY) or, when none are given and the
// database has no key yet, a generated one written to file (mode 0600).
func (k *Keys) EnsureAdmin(ctx context.Context, id, secret, file string) (AdminCredentials, error) {
	if (id == "") != (secret == "") {
		return AdminCredentials{}, errors.New("CONVEYOR_ADMIN_ACCESS_KEY_ID and CONVEYOR_ADMIN_SECRET_ACCESS_KEY must be set together")
	}
	if id != "" {
		existing, err := k.DB.Read().GetAccessKey(ctx, k.Sealer, id)
		switch {
		case err == nil && existing.Secret == secret:
			return AdminCredentials{ID: id}, nil
		case err == nil:
			return AdminCredentials{}, fmt.Errorf("access key %s exists with a different secret; delete it or use another id", id)
		case !errors.Is(err, store.ErrNotFound):
			return AdminCredentials{}, err
		}
		err = k.DB.Write(ctx, func(tx *store.Tx) error {
			return tx.CreateAccessKey(ctx, k.Sealer, store.AccessKey{ID: id, Secret: secret, Role: RoleAdmin.String(), Description: "admin (from environment)"})
		})
		return AdminCredentials{ID: id, Created: true}, err
	}
	keys, err := k.List(ctx)
	if err != nil {
		return AdminCredentials{}, err
	}
	for _, key := range keys {
		if key.Role == RoleAdmin.String() {
			return AdminCredentials{ID: key.ID}, nil
		}
	}
	id, secret = NewKeyPair()
	err = k.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.CreateAccessKey(ctx, k.Sealer, store.AccessKey{ID: id, Secret: secret, Role: RoleAdmin.String(), Description: "admin (generated on first start)"})
	})
	if err != nil {
		return AdminCredentials{}, err
	}
	if err := WriteCredentialsFile(file, map[string]string{"aws_access_key_id": id, "aws_secret_access_key": secret}); err != nil {
		return AdminCredentials{}, err
	}
	return AdminCredentials{ID: id, Secret: secret, File: file, Created: true}, nil
}

// WriteCredentialsFile writes or updates key = value lines in an INI-like credentials file (mode
// 0600, shaped like ~/.aws/credentials under a [default] section), keeping other keys it holds.
func WriteCredentialsFile(path string, values map[string]string) error {
	existing := map[string]string{}
	order := []string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			existing[k] = strings.TrimSpace(v)
			order = append(order, k)
		}
	}
	for k, v := range values {
		if _, ok := existing[k]; !ok {
			order = append(order, k)
		}
		existing[k] = v
	}
	var b strings.Builder
	b.WriteString("[default]\n")
	for _, k := range order {
		fmt.Fprintf(&b, "%s = %s\n", k, existing[k])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadCredentialsFile reads key = value lines written by WriteCredentialsFile.
func ReadCredentialsFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out, nil
}
