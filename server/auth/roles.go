// Package auth authenticates callers of Conveyor's API and UI and says what they may do: AWS
// Signature Version 4 against issued access keys (the machine API), HTTP Basic with the same keys
// (REST extras and /metrics), and roles that order who may read, operate, approve and administer.
package auth

import (
	"context"
	"fmt"
	"strings"
)

// Role orders permissions: each role may do everything the ones below it may.
type Role int

// Roles, weakest first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleApprover
	RoleAdmin
)

var roleNames = map[Role]string{RoleViewer: "viewer", RoleOperator: "operator", RoleApprover: "approver", RoleAdmin: "admin"}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return "none"
}

// Allows says whether a caller with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r >= need && r != RoleNone }

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if strings.EqualFold(s, n) {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q: use viewer, operator, approver or admin", s)
}

// Identity is an authenticated caller.
type Identity struct {
	// Name identifies the caller in logs and records: "user/alice", "key/AKIA…".
	Name string
	Role Role
}

type identityKey struct{}

// WithIdentity stores the caller in a context.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the caller stored by the authentication middleware.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
