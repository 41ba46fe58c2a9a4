package main

// `conveyor keys …`: access keys through the REST extras (/api/v1/keys, admin only).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/conveyorci/conveyor/server/auth"
)

func keysCommands() []subcommand {
	return []subcommand{
		{"create", "--role viewer|operator|approver|admin [--description D]", "issue an access key; its secret is shown once", keysCreate},
		{"list", "", "list access keys (never their secrets)", keysList},
		{"delete", "ID", "revoke an access key", keysDelete},
	}
}

func runKeys(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "keys", keysCommands(), args, out, errOut)
}

// accessKey is a key as /api/v1/keys shows it.
type accessKey struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	Role            string `json:"role"`
	Description     string `json:"description,omitempty"`
	Created         int64  `json:"created"`
	LastUsed        int64  `json:"lastUsed,omitempty"`
}

func keysCreate(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("keys create --role viewer|operator|approver|admin [--description D]")
	role := c.String("role", "", "what the key may do: viewer (read), operator (+ start, stop, retry, upload), approver (+ approve), admin (everything)")
	desc := c.String("description", "", "what the key is for (shown by keys list)")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *role == "" {
		return c.usageError("--role is required")
	}
	if _, err := auth.ParseRole(*role); err != nil {
		return c.usageError("--role %q: use viewer, operator, approver or admin", *role)
	}
	var raw json.RawMessage
	if err := c.cfg.restJSON(ctx, http.MethodPost, "/api/v1/keys", map[string]string{"role": *role, "description": *desc}, &raw); err != nil {
		return err
	}
	var k accessKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return fmt.Errorf("read the new key: %w", err)
	}
	if c.cfg.json() {
		if err := printRaw(out, raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "created access key %s (role %s)\n", k.AccessKeyID, k.Role)
		fmt.Fprintf(out, "access key id:     %s\n", k.AccessKeyID)
		fmt.Fprintf(out, "secret access key: %s\n", k.SecretAccessKey)
		fmt.Fprintln(out, "the secret is shown only this once: store it now")
	}
	fmt.Fprintf(errOut, "to use the key:\n  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n", k.AccessKeyID, k.SecretAccessKey)
	return nil
}

func keysList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("keys list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.cfg.rest(ctx, http.MethodGet, "/api/v1/keys", nil, &raw); err != nil {
		return err
	}
	if c.cfg.json() {
		return printRaw(out, raw)
	}
	var list struct {
		Keys []accessKey `json:"keys"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("read the keys: %w", err)
	}
	g := &grid{}
	g.row("ACCESS KEY ID", "ROLE", "CREATED", "LAST USED", "DESCRIPTION")
	for _, k := range list.Keys {
		lastUsed := "never"
		if k.LastUsed > 0 {
			lastUsed = clock(time.Unix(k.LastUsed, 0))
		}
		g.row(k.AccessKeyID, k.Role, clock(time.Unix(k.Created, 0)), lastUsed, k.Description)
	}
	return g.write(out)
}

var keysDelete = restDelete("keys delete ID", "access key",
	func(id string) string { return "/api/v1/keys/" + url.PathEscape(id) },
	func(id string) any { return map[string]string{"deleted": id} })
