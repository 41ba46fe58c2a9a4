package main

// `conveyor secrets …`: the secret store behind env.parameter-store and env.secrets-manager,
// through the REST extras (/api/v1/secrets, admin only). Values go in and are never shown again.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func secretsCommands() []subcommand {
	return []subcommand{
		{"put", "NAME [VALUE] [--description D]", "store a secret (the value from standard input when VALUE is left out); a new version when it exists", secretsPut},
		{"get-metadata", "NAME", "show a secret's description, version and dates (never its value)", secretsGetMetadata},
		{"list", "", "list secrets (never their values)", secretsList},
		{"delete", "NAME", "delete a secret", secretsDelete},
	}
}

func runSecrets(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "secrets", secretsCommands(), args, out, errOut)
}

// secretMeta is a secret as /api/v1/secrets shows it.
type secretMeta struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Version     int    `json:"version"`
	Created     int64  `json:"created"`
	Updated     int64  `json:"updated"`
}

// secretPath is the REST path of a secret; names may hold slashes (/prod/db/password).
func secretPath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/api/v1/secrets/" + strings.Join(parts, "/")
}

// maxSecretInput bounds what is read from standard input (the server takes 64 KiB).
const maxSecretInput = 1 << 20

func secretsPut(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("secrets put NAME [VALUE] [--description D]")
	desc := c.String("description", "", "what the secret is (shown by secrets list)")
	pos, err := c.parse(args, 1, 2)
	if err != nil {
		return err
	}
	var value string
	if len(pos) == 2 {
		value = pos[1]
	} else {
		if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(errOut, "reading the value of %s from standard input (end with Ctrl-D)\n", pos[0])
		}
		b, err := io.ReadAll(io.LimitReader(os.Stdin, maxSecretInput+1))
		if err != nil {
			return fmt.Errorf("read the value from standard input: %w", err)
		}
		if len(b) > maxSecretInput {
			return failed("the value on standard input is larger than %d bytes", maxSecretInput)
		}
		// One trailing line break is the end of the input, not part of the value (echo, heredocs).
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		value = string(b)
	}
	if value == "" {
		return failed("the value of %s is empty; give it as an argument or on standard input", pos[0])
	}
	var meta secretMeta
	body := map[string]string{"value": value, "description": *desc}
	if err := c.cfg.restJSON(ctx, http.MethodPut, secretPath(pos[0]), body, &meta); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, meta)
	}
	verb := "stored"
	if meta.Version > 1 {
		verb = "updated"
	}
	fmt.Fprintf(out, "%s secret %s (version %d)\n", verb, meta.Name, meta.Version)
	return nil
}

func secretsGetMetadata(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("secrets get-metadata NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var meta secretMeta
	if err := c.cfg.rest(ctx, http.MethodGet, secretPath(pos[0]), nil, &meta); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, meta)
	}
	g := &grid{}
	g.row("name:", meta.Name)
	g.row("description:", meta.Description)
	g.row("version:", fmt.Sprint(meta.Version))
	g.row("created:", clock(time.Unix(meta.Created, 0)))
	g.row("updated:", clock(time.Unix(meta.Updated, 0)))
	return g.write(out)
}

func secretsList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("secrets list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var res struct {
		Secrets []secretMeta `json:"secrets"`
	}
	if err := c.cfg.rest(ctx, http.MethodGet, "/api/v1/secrets", nil, &res); err != nil {
		return err
	}
	if res.Secrets == nil {
		res.Secrets = []secretMeta{}
	}
	if c.cfg.json() {
		return printJSON(out, res)
	}
	if len(res.Secrets) == 0 {
		fmt.Fprintln(out, "no secrets; store one with conveyor secrets put NAME")
		return nil
	}
	g := &grid{}
	g.row("NAME", "VERSION", "UPDATED", "DESCRIPTION")
	for _, s := range res.Secrets {
		g.row(s.Name, fmt.Sprint(s.Version), clock(time.Unix(s.Updated, 0)), oneLine(s.Description, 80))
	}
	return g.write(out)
}

var secretsDelete = restDelete("secrets delete NAME", "secret", secretPath,
	func(name string) any { return map[string]any{"name": name, "deleted": true} })
