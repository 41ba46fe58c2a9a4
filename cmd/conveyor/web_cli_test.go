package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

func TestUsersCommands(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	out := mustCLI(t, "users", "create", "alice", "--role", "approver")
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if !strings.Contains(out, "created user alice (role approver)") || m == nil {
		t.Fatalf("users create:\n%s", out)
	}
	newWebClient(t, s.URL).login("alice", m[1]) // the printed password works
	withStdin(t, "chosen-password-1\n")
	mustCLI(t, "users", "create", "bob", "--role", "viewer", "--password-stdin")
	newWebClient(t, s.URL).login("bob", "chosen-password-1")

	list := mustCLI(t, "users", "list")
	mustContain(t, "users list", list, "admin", "alice", "approver", "bob", "viewer")
	if got := mustCLI(t, "users", "set-role", "alice", "operator"); got != "user alice is now operator\n" {
		t.Fatalf("set-role: %q", got)
	}
	rec, _ := s.app.web.users.Get(context.Background(), "alice")
	if rec.Role != "operator" {
		t.Fatalf("alice is %s", rec.Role)
	}
	withStdin(t, "another-password\n")
	mustCLI(t, "users", "set-password", "bob", "--password-stdin")
	newWebClient(t, s.URL).login("bob", "another-password")
	mustCLI(t, "users", "delete", "bob")
	if c := newWebClient(t, s.URL); c.tryLogin("bob", "another-password") != http.StatusUnauthorized {
		t.Fatal("a deleted user must not log in")
	}

	failCLI(t, 2, "users", "create", "carol", "--role", "boss")
	errOut := failCLI(t, 1, "users", "create", "alice", "--role", "viewer")
	mustContain(t, "duplicate", errOut, "user alice already exists")
	errOut = failCLI(t, 1, "users", "delete", "admin")
	mustContain(t, "last admin", errOut, "admin is the last admin")
	raw := mustCLI(t, "users", "list", "--output", "json")
	var wrapped struct {
		Users []map[string]any `json:"users"`
	}
	if err := json.Unmarshal([]byte(raw), &wrapped); err != nil || len(wrapped.Users) != 2 {
		t.Fatalf("users list --output json: %v\n%s", err, raw)
	}

	// A key below admin cannot manage users.
	k, err := s.app.keys.Create(context.Background(), auth.RoleApprover, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", k.ID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", k.Secret)
	errOut = failCLI(t, 1, "users", "list")
	mustContain(t, "approver key", errOut, "AccessDeniedException")

	// Every change is in the audit log, under the key that made it.
	entries, _ := s.app.web.audit.List(context.Background(), store.AuditFilter{Action: "user."})
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target+" "+e.Source+" "+strings.SplitN(e.Outcome, ":", 2)[0])
	}
	want := "user.delete admin rest failed,user.create alice rest failed,user.delete bob rest ok,user.set-password bob rest ok," +
		"user.set-role alice rest ok,user.create bob rest ok,user.create alice rest ok"
	if strings.Join(got, ",") != want {
		t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, ","), want)
	}
}

func TestApplyNotifications(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	dir := t.TempDir()
	bad := `notifications:
  targets:
    - name: team
      type: webhok
      url: http://127.0.0.1:9/hook
      signingSecret: hook-key
    - name: chat
      type: slack
      urll: https://hooks.example.com/x
  rules:
    - name: failures
      events: [execution.faild]
      targets: [team]
`
	file := writeFile(t, dir, "conveyor.yaml", bad)
	vout, _, code := cli(t, "validate", file)
	if code != 1 {
		t.Fatalf("validate: exit %d\n%s", code, vout)
	}
	mustContain(t, "validate", vout,
		file+":"+position(t, bad, "type: webhok")+`: notifications.targets[0].type: "webhok" is not a target type: use webhook or slack (did you mean "webhook"?)`,
		file+":"+position(t, bad, "url: http://127.0.0.1")+": notifications.targets[0].url: 127.0.0.1 is not a public address",
		file+":"+position(t, bad, "urll:")+`: notifications.targets[1].urll: unknown key "urll"`)
	mustContain(t, "validate event", vout, `notifications.rules[0].events[0]: "execution.faild" is not an event (did you mean "execution.failed"?)`)

	mustCLI(t, "secrets", "put", "hook-key", "signing-value")
	good := `notifications:
  targets:
    - name: team
      type: webhook
      url: http://127.0.0.1:9/hook
      allowPrivateAddresses: true
      signingSecret: hook-key
  rules:
    - name: failures
      events: [execution.failed, approval.needed]
      pipelines: [web]
      targets: [team]
`
	writeFile(t, dir, "conveyor.yaml", good)
	if out := mustCLI(t, "apply", "-f", file); out != "notification target team: created\nnotification rule failures: created\n" {
		t.Fatalf("apply:\n%s", out)
	}
	mustContain(t, "second apply", mustCLI(t, "apply", "-f", file), "notification target team: unchanged", "notification rule failures: unchanged")
	changed := strings.Replace(good, "pipelines: [web]", "pipelines: [web, api]", 1)
	writeFile(t, dir, "conveyor.yaml", changed)
	mustContain(t, "third apply", mustCLI(t, "apply", "-f", file), "notification rule failures: updated: pipelines")
	rules, err := s.app.web.notify.Rules(context.Background())
	if err != nil || len(rules) != 1 || strings.Join(rules[0].Pipelines, ",") != "web,api" {
		t.Fatalf("rules = %+v, %v", rules, err)
	}
	// A rule naming a target that exists nowhere is refused by the server, with the field.
	writeFile(t, dir, "conveyor.yaml", strings.Replace(changed, "targets: [team]", "targets: [team, nobody]", 1))
	out, errOut, code := cli(t, "apply", "-f", file)
	if code != 1 {
		t.Fatalf("apply with an unknown target: exit %d", code)
	}
	mustContain(t, "unknown target", out+errOut, `targets[1]: target "nobody" does not exist`)
}

// FuzzNotificationsSection feeds the conveyor.yaml reader arbitrary notifications: sections: it
// must never panic, and every problem it reports must name the file.
func FuzzNotificationsSection(f *testing.F) {
	for _, seed := range []string{
		"notifications:\n  targets:\n    - {name: a, type: slack, url: https://x.example}\n  rules:\n    - {name: r, events: [execution.failed], targets: [a]}\n",
		"notifications:\n  targets: &t\n    - name: a\n      type: webhook\n  rules: *t\n",
		"notifications: [1, 2]\n",
		"notifications:\n  rules:\n    - name: r\n      events: {a: b}\n      targets: [\"\"]\n      pipelines: [~]\n",
		"notifications:\n  targets:\n    - name: a\n      <<: {type: slack, url: 'http://[::1]/'}\n",
	} {
		f.Add(seed)
	}
	providers := registerProviders(providerDeps{})
	f.Fuzz(func(t *testing.T, doc string) {
		resources, fileProblems := loadConfig("conveyor.yaml", []byte(doc), providers)
		for _, p := range fileProblems {
			if p.File != "conveyor.yaml" || p.Message == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
		}
		for _, r := range resources {
			for _, p := range r.problems {
				if p.File != "conveyor.yaml" || p.Message == "" {
					t.Fatalf("problem without file or message: %+v", p)
				}
			}
			if len(r.problems) == 0 && r.apply == nil {
				t.Fatalf("a valid resource without an apply: %+v", r)
			}
		}
	})
}
