package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sealer encrypts secrets at rest with AES-256-GCM under the server's secret key. Sealed values
// carry their random nonce; the associated data binds a value to its purpose and name, so a sealed
// value copied to another row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer builds a sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadOrCreateKey returns the secret key: from env (hex or base64 of 32 bytes) when set, else from
// the key file, which is created (mode 0600) with a random key on first use. created reports that.
func LoadOrCreateKey(env, path string) (key []byte, created bool, err error) {
	if env != "" {
		return decodeKey(env, "CONVEYOR_SECRET_KEY")
	}
	b, err := os.ReadFile(path)
	if err == nil {
		key, _, err := decodeKey(strings.TrimSpace(string(b)), path)
		return key, false, err
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read secret key %s: %w", path, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("create secret key %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		return nil, false, fmt.Errorf("write secret key %s: %w", path, err)
	}
	return key, true, f.Sync()
}

func decodeKey(s, where string) ([]byte, bool, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, false, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, false, nil
	}
	return nil, false, fmt.Errorf("%s: the secret key must be 32 bytes, hex (64 characters) or base64 encoded", where)
}

// Seal encrypts plaintext bound to context (e.g. "access-key:AKID").
func (s *Sealer) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open decrypts what Seal produced for the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed value (%s): wrong secret key or corrupted data", context)
	}
	return out, nil
}
