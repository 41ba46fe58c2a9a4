package main

// `conveyor connections …`: connections to git repositories (what a CodeStarSourceConnection
// action's ConnectionArn names), through the REST extras (/api/v1/connections; admin to change,
// viewer to read). Secrets go in and are never shown again. Also the conveyor.yaml `connections:`
// section.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/executor/source/git"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/sourceapi"
)

func connectionsCommands() []subcommand {
	return []subcommand{
		{"create", "NAME --provider github|gitea|gitlab|git --url REPO_URL --webhook-secret SECRET [--token TOKEN] [--ssh-key-file F] [--allow-private-network] [--poll-interval 60s]",
			"create a connection to a git repository; prints its ARN (what ConnectionArn names)", connectionsCreate},
		{"list", "", "list connections (never their secrets)", connectionsList},
		{"get", "NAME", "show a connection and the webhook URL to give the forge", connectionsGet},
		{"delete", "NAME", "delete a connection, its delivery log and its git cache (refused while pipelines use it)", connectionsDelete},
	}
}

func runConnections(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "connections", connectionsCommands(), args, out, errOut)
}

func connectionPath(name string) string { return "/api/v1/connections/" + url.PathEscape(name) }

func connectionsCreate(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("connections create NAME --provider github|gitea|gitlab|git --url REPO_URL --webhook-secret SECRET [--token TOKEN] [--ssh-key-file F] [--allow-private-network] [--poll-interval 60s]")
	provider := c.String("provider", "", "the forge: github, gitea (also Forgejo), gitlab, or git (any git server; GitHub-style signed webhooks)")
	repoURL := c.String("url", "", "the repository's clone URL (https://, http://, ssh:// or user@host:path), or the forge's base URL when pipelines name repositories with FullRepositoryId")
	secret := c.String("webhook-secret", "", "the secret the forge signs webhooks with (without one, webhooks are refused)")
	token := c.String("token", "", "a token to clone with over https (or user:password)")
	keyFile := c.String("ssh-key-file", "", "a private key file to clone with over ssh")
	private := c.Bool("allow-private-network", false, "allow a host that resolves to loopback, private or link-local addresses")
	poll := c.Duration("poll-interval", 0, "poll the repository this often (e.g. 60s) for forges whose webhooks cannot reach Conveyor; 0: off")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *provider == "" || *repoURL == "" {
		return c.usageError("--provider and --url are required")
	}
	req := sourceapi.Request{ConnectionName: pos[0], ProviderType: *provider, URL: *repoURL, AllowPrivateNetwork: *private,
		PollIntervalSeconds: int(*poll / time.Second)}
	if *poll > 0 && *poll < time.Second {
		return c.usageError("--poll-interval %s: at least 1s", *poll)
	}
	if *secret != "" {
		req.WebhookSecret = secret
	}
	if *token != "" {
		req.Token = token
	}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return failed("--ssh-key-file: %v", err)
		}
		key := string(b)
		req.SSHKey = &key
	}
	var view sourceapi.Connection
	if err := c.cfg.restJSON(ctx, http.MethodPost, "/api/v1/connections", req, &view); err != nil {
		return err
	}
	if *secret == "" {
		fmt.Fprintf(errOut, "warning: connection %s has no webhook secret, so its webhooks are refused; poll with --poll-interval, or recreate it with --webhook-secret\n", view.ConnectionName)
	}
	if c.cfg.json() {
		return printJSON(out, view)
	}
	// The ARN alone on standard output: scripts capture it.
	fmt.Fprintln(out, view.ConnectionArn)
	return nil
}

func connectionsList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("connections list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var res struct {
		Connections []sourceapi.Connection `json:"connections"`
	}
	if err := c.cfg.rest(ctx, http.MethodGet, "/api/v1/connections", nil, &res); err != nil {
		return err
	}
	if res.Connections == nil {
		res.Connections = []sourceapi.Connection{}
	}
	if c.cfg.json() {
		return printJSON(out, res)
	}
	if len(res.Connections) == 0 {
		fmt.Fprintln(out, "no connections; create one with conveyor connections create NAME --provider … --url …")
		return nil
	}
	g := &grid{}
	g.row("NAME", "PROVIDER", "POLL", "WEBHOOKS", "URL")
	for _, v := range res.Connections {
		g.row(v.ConnectionName, v.ProviderType, pollText(v.PollIntervalSeconds), onOff(v.HasWebhookSecret, "signed", "refused (no secret)"), v.URL)
	}
	return g.write(out)
}

func pollText(seconds int) string {
	if seconds == 0 {
		return "off"
	}
	return (time.Duration(seconds) * time.Second).String()
}

func onOff(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func connectionsGet(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("connections get NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var v sourceapi.Connection
	if err := c.cfg.rest(ctx, http.MethodGet, connectionPath(pos[0]), nil, &v); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, v)
	}
	g := &grid{}
	g.row("name:", v.ConnectionName)
	g.row("arn:", v.ConnectionArn)
	g.row("provider:", v.ProviderType)
	g.row("url:", v.URL)
	g.row("webhook url:", strings.TrimRight(*c.cfg.endpoint, "/")+v.WebhookPath+"  (as the forge reaches this server)")
	g.row("webhook secret:", onOff(v.HasWebhookSecret, "set", "none: webhooks are refused"))
	g.row("clone with:", onOff(v.HasToken, "token", onOff(v.HasSSHKey, "SSH key", "no credentials")))
	g.row("private network:", onOff(v.AllowPrivateNetwork, "allowed", "refused"))
	g.row("polling:", pollText(v.PollIntervalSeconds))
	g.row("created:", clock(time.Unix(v.Created, 0)))
	return g.write(out)
}

var connectionsDelete = restDelete("connections delete NAME", "connection", connectionPath,
	func(name string) any { return map[string]any{"connectionName": name, "deleted": true} })

// --- the connections: section of a conveyor.yaml ---

// connectionDecl is one entry of `connections:`. Secrets may be written as ${ENV_VAR}, read from
// the environment of `conveyor apply` (a conveyor.yaml is usually committed; secrets should not be).
type connectionDecl struct {
	Name                string `json:"name"`
	Provider            string `json:"provider"`
	URL                 string `json:"url"`
	WebhookSecret       string `json:"webhookSecret,omitempty"`
	Token               string `json:"token,omitempty"`
	SSHKeyFile          string `json:"sshKeyFile,omitempty"`
	AllowPrivateNetwork bool   `json:"allowPrivateNetwork,omitempty"`
	PollInterval        string `json:"pollInterval,omitempty"`
	Poll                bool   `json:"poll,omitempty"`
}

var envReference = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} with the variable's value; a variable that is not set is an error.
func expandEnv(s string) (string, error) {
	var missing []string
	out := envReference.ReplaceAllStringFunc(s, func(ref string) string {
		name := envReference.FindStringSubmatch(ref)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

func loadConnections(cf *configFile, _, value *yaml.Node, _ pipeline.Providers) []*configResource {
	items, bad := sectionList(cf, "connections", value, "connection", "connections (- name: …, provider: …, url: …)")
	if bad != nil {
		return []*configResource{bad}
	}
	names := declaredNames{}
	var out []*configResource
	for i, item := range items {
		label := fmt.Sprintf("connections[%d]", i)
		r := &configResource{kind: "connection", name: label}
		out = append(out, r)
		pr := &projectReader{file: cf.name, prefix: label}
		var d connectionDecl
		if !pr.readDecl(item, &d, "a connection (name:, provider:, url:, webhookSecret: …)") {
			r.problems = pr.problems
			continue
		}
		if d.Name != "" {
			r.name = d.Name
		}
		req, ok := connectionRequest(cf, pr, item, d)
		if where := locateField(item, "name"); ok {
			if msg, dup := names.again("connection", d.Name, where.Line); dup {
				pr.at(where, "name", "%s", msg)
			}
		}
		if len(pr.problems) > 0 {
			r.problems = pr.problems
			continue
		}
		r.apply = func(ctx context.Context, env *applyEnv) (applyResult, error) { return applyConnection(ctx, env, req) }
	}
	return out
}

// connectionRequest checks a declared connection offline (the server checks again, DNS included)
// and turns it into the API's request.
func connectionRequest(cf *configFile, pr *projectReader, item *yaml.Node, d connectionDecl) (sourceapi.Request, bool) {
	before := len(pr.problems)
	at := func(field, format string, args ...any) { pr.at(locateField(item, field), field, format, args...) }
	if d.Name == "" {
		at("name", "name is required")
	} else if err := source.CheckConnectionName(d.Name); err != nil {
		at("name", "%v", err)
	}
	if err := source.CheckProvider(d.Provider); err != nil {
		at("provider", "%v", err)
	}
	if _, err := git.ParseURL(d.URL); err != nil {
		at("url", "%v", err)
	}
	req := sourceapi.Request{ConnectionName: d.Name, ProviderType: d.Provider, URL: d.URL, AllowPrivateNetwork: d.AllowPrivateNetwork}
	switch {
	case d.PollInterval != "":
		iv, err := time.ParseDuration(d.PollInterval)
		if err != nil || iv < time.Second {
			at("pollInterval", "%q: a duration of at least 1s, such as 60s or 5m", d.PollInterval)
		}
		req.PollIntervalSeconds = int(iv / time.Second)
	case d.Poll:
		req.PollIntervalSeconds = int(source.DefaultPollInterval / time.Second)
	}
	for _, s := range []struct {
		field string
		value string
		dst   **string
	}{{"webhookSecret", d.WebhookSecret, &req.WebhookSecret}, {"token", d.Token, &req.Token}} {
		if s.value == "" {
			continue
		}
		v, err := expandEnv(s.value)
		if err != nil {
			at(s.field, "%v", err)
			continue
		}
		*s.dst = &v
	}
	if d.SSHKeyFile != "" {
		p := d.SSHKeyFile
		if !filepath.IsAbs(p) && cf.name != "<stdin>" {
			p = filepath.Join(filepath.Dir(cf.name), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			at("sshKeyFile", "%v", err)
		} else {
			key := string(b)
			req.SSHKey = &key
		}
	}
	return req, len(pr.problems) == before
}

// applyConnection creates or changes the connection; the server compares (secrets included, by
// name only) and says what changed.
func applyConnection(ctx context.Context, env *applyEnv, req sourceapi.Request) (applyResult, error) {
	path := connectionPath(req.ConnectionName)
	if env.dryRun {
		path += "?dryRun=true"
	}
	var res struct {
		Created bool     `json:"created"`
		Changed []string `json:"changed"`
	}
	if err := env.cfg.restJSON(ctx, http.MethodPut, path, req, &res); err != nil {
		return applyResult{}, err
	}
	switch {
	case res.Created && env.dryRun:
		return applyResult{Status: "would create"}, nil
	case res.Created:
		return applyResult{Status: "created"}, nil
	case len(res.Changed) == 0:
		return applyResult{Status: "unchanged"}, nil
	case env.dryRun:
		return applyResult{Status: "would update", Changed: res.Changed}, nil
	}
	return applyResult{Status: "updated", Changed: res.Changed}, nil
}
