package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/conveyorci/conveyor/internal/durable"
)

// identityFile holds the agent's identity under the deployment root, readable by root only.
const identityFile = "agent.json"

// identity is what registration gave this agent.
type identity struct {
	AgentID     string    `json:"agentId"`
	Credential  string    `json:"credential"`
	InstanceArn string    `json:"instanceArn,omitempty"`
	Name        string    `json:"name"`
	Server      string    `json:"server"`
	Registered  time.Time `json:"registered"`
	// TokenSHA256 identifies the registration token used (not the token itself), so a new token
	// given after a revocation is recognised as new.
	TokenSHA256 string `json:"tokenSha256,omitempty"`
}

func tokenHash(token string) string {
	if token == "" {
		return ""
	}
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func loadIdentity(root string) (*identity, error) {
	b, err := os.ReadFile(filepath.Join(root, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil || id.AgentID == "" || id.Credential == "" {
		return nil, fmt.Errorf("%s is damaged; delete it and register again with --token", filepath.Join(root, identityFile))
	}
	return &id, nil
}

// saveIdentity writes the identity with mode 0600, durably.
func saveIdentity(root string, id *identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(root, identityFile), append(b, '\n'), 0o600)
}

// Registered reports whether an agent identity is stored under root (the agent then needs no
// registration token to start).
func Registered(root string) bool {
	_, err := os.Stat(filepath.Join(root, identityFile))
	return err == nil
}
