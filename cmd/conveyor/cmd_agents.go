package main

// `conveyor agents …`: registration tokens for deploy hosts, and the hosts' agents: list, revoke,
// tag. Tokens and the list go through the REST extras (CodeDeploy has no operation for them); tags
// through the CodeDeploy API (AddTagsToOnPremisesInstances, RemoveTagsFromOnPremisesInstances).

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/server/agentapi"
)

func agentsCommands() []subcommand {
	return []subcommand{
		{"token", "create [--expires 1h] [--tag K=V]...", "create a single-use registration token; prints just the token", agentsToken},
		{"list", "", "list the hosts: tags, agent version, last heartbeat, current work", agentsList},
		{"revoke", "NAME", "refuse a host's agent from now on (register it again with a new token)", agentsRevoke},
		{"tag", "NAME K=V... [--remove K]...", "add or change tags of a host, or remove them", agentsTag},
	}
}

func runAgents(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "agents", agentsCommands(), args, out, errOut)
}

// codeDeploy returns a CodeDeploy SDK client pointed at the server.
func (c *clientConfig) codeDeploy() (*codedeploy.Client, error) {
	cfg, err := c.awsConfig()
	if err != nil {
		return nil, err
	}
	return codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(strings.TrimRight(*c.endpoint, "/")) }), nil
}

func agentsToken(ctx context.Context, args []string, out, _ io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return (&cmdFlags{name: "agents token", synopsis: "agents token create [--expires 1h] [--tag K=V]..."}).usageError("the only subcommand is create")
	}
	c := newCmd("agents token create [--expires 1h] [--tag K=V]...")
	expires := c.Duration("expires", time.Hour, "how long the token may be used (it is used up by one registration)")
	tags := &keyValues{what: "tag"}
	c.Var(tags, "tag", "a tag K=V given to the host that registers with the token (repeatable; wins over the agent's own --tag)")
	if _, err := c.parse(args[1:], 0, 0); err != nil {
		return err
	}
	if *expires < time.Second {
		return c.usageError("--expires must be at least 1s")
	}
	req := agentapi.TokenRequest{ExpiresInSeconds: int(expires.Seconds()), Tags: map[string]string{}}
	for _, p := range tags.pairs {
		req.Tags[p[0]] = p[1]
	}
	var resp agentapi.TokenResponse
	if err := c.cfg.restJSON(ctx, "POST", "/api/v1/agents/tokens", req, &resp); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, resp)
	}
	// Just the token, so a script can capture it: TOKEN=$(conveyor agents token create).
	_, err := fmt.Fprintln(out, resp.Token)
	return err
}

func agentsList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("agents list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var resp struct {
		Agents []deploy.Agent `json:"agents"`
	}
	if err := c.cfg.rest(ctx, "GET", "/api/v1/agents", nil, &resp); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, resp)
	}
	if len(resp.Agents) == 0 {
		fmt.Fprintln(out, "no hosts; create a token with conveyor agents token create and start conveyor agent --token TOKEN on a host")
		return nil
	}
	now := time.Now()
	g := &grid{}
	g.row("NAME", "TAGS", "VERSION", "LAST HEARTBEAT", "WORK")
	for _, a := range resp.Agents {
		seen := "never"
		if a.LastHeartbeat != nil {
			seen = duration(now.Sub(*a.LastHeartbeat)) + " ago"
		}
		switch {
		case a.Deregistered:
			seen = "deregistered"
		case a.Revoked:
			seen = "revoked"
		case !a.HasAgent:
			seen = "no agent registered"
		}
		work := "idle"
		if len(a.Work) > 0 {
			var parts []string
			for _, w := range a.Work {
				s := w.DeploymentID
				if w.Event != "" {
					s += " (" + w.Event + ")"
				}
				parts = append(parts, s)
			}
			work = strings.Join(parts, ", ")
		}
		version := a.Version
		if version == "" {
			version = "-"
		}
		g.row(a.Name, formatTags(a.Tags), version, seen, work)
	}
	return g.write(out)
}

func formatTags(tags map[string]string) string {
	if len(tags) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

func agentsRevoke(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("agents revoke NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if err := c.cfg.rest(ctx, "POST", "/api/v1/agents/"+url.PathEscape(pos[0])+"/revoke", nil, nil); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"name": pos[0], "revoked": true})
	}
	fmt.Fprintf(out, "revoked the agent of %s: its calls are refused from now on, and commands it holds fail when their lease runs out\n", pos[0])
	return nil
}

func agentsTag(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("agents tag NAME K=V... [--remove K]...")
	var remove stringList
	c.Var(&remove, "remove", "a tag key to remove (repeatable)")
	pos, err := c.parse(args, 1, -1)
	if err != nil {
		return err
	}
	name := pos[0]
	var add []cdtypes.Tag
	for _, kv := range pos[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return c.usageError("tag %q: write KEY=VALUE", kv)
		}
		add = append(add, cdtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if len(add) == 0 && len(remove) == 0 {
		return c.usageError("give tags K=V to set, or --remove K")
	}
	cd, err := c.cfg.codeDeploy()
	if err != nil {
		return err
	}
	if len(add) > 0 {
		if _, err := cd.AddTagsToOnPremisesInstances(ctx, &codedeploy.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{name}, Tags: add}); err != nil {
			return apiError(err)
		}
	}
	if len(remove) > 0 {
		var tags []cdtypes.Tag
		for _, k := range remove {
			tags = append(tags, cdtypes.Tag{Key: aws.String(k)})
		}
		if _, err := cd.RemoveTagsFromOnPremisesInstances(ctx, &codedeploy.RemoveTagsFromOnPremisesInstancesInput{InstanceNames: []string{name}, Tags: tags}); err != nil {
			return apiError(err)
		}
	}
	got, err := cd.GetOnPremisesInstance(ctx, &codedeploy.GetOnPremisesInstanceInput{InstanceName: aws.String(name)})
	if err != nil {
		return apiError(err)
	}
	tags := map[string]string{}
	for _, t := range got.InstanceInfo.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"name": name, "tags": tags})
	}
	fmt.Fprintf(out, "%s: %s\n", name, formatTags(tags))
	return nil
}
