package main

// `conveyor users …`: the dashboard's local users through the REST extras (/api/v1/users, admin
// only). Users log in to the web UI; their roles are those of access keys.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/conveyorci/conveyor/server/auth"
)

func usersCommands() []subcommand {
	return []subcommand{
		{"create", "NAME --role viewer|operator|approver|admin [--password-stdin]", "add a user; without --password-stdin a password is generated and shown once", usersCreate},
		{"list", "", "list users and their roles", usersList},
		{"delete", "NAME", "remove a user (their sessions end)", usersDelete},
		{"set-role", "NAME viewer|operator|approver|admin", "change a user's role (effective on their next request)", usersSetRole},
		{"set-password", "NAME [--password-stdin]", "replace a user's password (their sessions end)", usersSetPassword},
	}
}

func runUsers(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "users", usersCommands(), args, out, errOut)
}

// userRecord is a user as /api/v1/users shows it.
type userRecord struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Created   int64  `json:"created"`
	LastLogin int64  `json:"lastLogin,omitempty"`
	Password  string `json:"password,omitempty"`
}

func userPath(name string) string { return "/api/v1/users/" + url.PathEscape(name) }

// readPassword reads a password from standard input (one trailing line break is not part of it).
func readPassword(errOut io.Writer) (string, error) {
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprintln(errOut, "reading the password from standard input (end with Ctrl-D)")
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<10))
	if err != nil {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(b) == 0 {
		return "", failed("the password on standard input is empty")
	}
	return string(b), nil
}

func usersCreate(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("users create NAME --role viewer|operator|approver|admin [--password-stdin]")
	role := c.String("role", "", "what the user may do: viewer (read), operator (+ start, stop, retry, transitions), approver (+ approve), admin (everything)")
	stdin := c.Bool("password-stdin", false, "read the password from standard input instead of generating one")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *role == "" {
		return c.usageError("--role is required")
	}
	if _, err := auth.ParseRole(*role); err != nil {
		return c.usageError("--role %q: use viewer, operator, approver or admin", *role)
	}
	body := map[string]string{"name": pos[0], "role": *role}
	if *stdin {
		if body["password"], err = readPassword(errOut); err != nil {
			return err
		}
	}
	var u userRecord
	if err := c.cfg.restJSON(ctx, http.MethodPost, "/api/v1/users", body, &u); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, u)
	}
	fmt.Fprintf(out, "created user %s (role %s)\n", u.Name, u.Role)
	if u.Password != "" {
		fmt.Fprintf(out, "password: %s\n", u.Password)
		fmt.Fprintln(out, "the password is shown only this once: hand it over now")
	}
	return nil
}

func usersList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("users list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.cfg.rest(ctx, http.MethodGet, "/api/v1/users", nil, &raw); err != nil {
		return err
	}
	if c.cfg.json() {
		return printRaw(out, raw)
	}
	var list struct {
		Users []userRecord `json:"users"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("read the users: %w", err)
	}
	g := &grid{}
	g.row("NAME", "ROLE", "CREATED", "LAST LOGIN")
	for _, u := range list.Users {
		last := "never"
		if u.LastLogin > 0 {
			last = clock(time.Unix(u.LastLogin, 0))
		}
		g.row(u.Name, u.Role, clock(time.Unix(u.Created, 0)), last)
	}
	return g.write(out)
}

var usersDelete = restDelete("users delete NAME", "user", userPath,
	func(name string) any { return map[string]string{"deleted": name} })

func usersSetRole(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("users set-role NAME viewer|operator|approver|admin")
	pos, err := c.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if _, err := auth.ParseRole(pos[1]); err != nil {
		return c.usageError("role %q: use viewer, operator, approver or admin", pos[1])
	}
	var u userRecord
	if err := c.cfg.restJSON(ctx, http.MethodPut, userPath(pos[0])+"/role", map[string]string{"role": pos[1]}, &u); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, u)
	}
	fmt.Fprintf(out, "user %s is now %s\n", u.Name, u.Role)
	return nil
}

func usersSetPassword(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("users set-password NAME [--password-stdin]")
	stdin := c.Bool("password-stdin", false, "read the password from standard input instead of generating one")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	body := map[string]string{}
	if *stdin {
		if body["password"], err = readPassword(errOut); err != nil {
			return err
		}
	}
	var res struct {
		Password string `json:"password"`
	}
	if err := c.cfg.restJSON(ctx, http.MethodPut, userPath(pos[0])+"/password", body, &res); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, map[string]string{"name": pos[0], "password": res.Password})
	}
	fmt.Fprintf(out, "changed the password of %s; their sessions ended\n", pos[0])
	if res.Password != "" {
		fmt.Fprintf(out, "password: %s\n", res.Password)
	}
	return nil
}
