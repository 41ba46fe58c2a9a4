package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/agent"
	"github.com/conveyorci/conveyor/agent/protocol"
)

// exitRefused is the agent's exit status when the server refuses its credential for good; the
// systemd unit does not restart on it (RestartPreventExitStatus=3).
const exitRefused = 3

// runAgent is `conveyor agent`: the deploy agent of one host. See docs/agent.md.
func runAgent(ctx context.Context, args []string, _, errOut io.Writer) error {
	fs := flag.NewFlagSet("conveyor agent", flag.ContinueOnError)
	server := stringSetting(fs, "server", "CONVEYOR_AGENT_SERVER", "", "the Conveyor server's URL, e.g. https://conveyor.example.com (required)")
	token := stringSetting(fs, "token", "CONVEYOR_AGENT_TOKEN", "", "single-use registration token (an admin creates one with: conveyor agents token create); needed only until the agent is registered")
	host, _ := os.Hostname()
	name := stringSetting(fs, "name", "CONVEYOR_AGENT_NAME", host, "instance name, unique on the server")
	tags := tagFlag{}
	if env := os.Getenv("CONVEYOR_AGENT_TAGS"); env != "" {
		for _, kv := range strings.Split(env, ",") {
			if err := tags.add(strings.TrimSpace(kv)); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("CONVEYOR_AGENT_TAGS: %w", err)}
			}
		}
	}
	fs.Var(&tags, "tag", "instance tag KEY=VALUE, repeatable; deployment groups select instances by tag (env CONVEYOR_AGENT_TAGS, comma-separated)")
	root := stringSetting(fs, "root", "CONVEYOR_AGENT_ROOT", agent.DefaultRoot, "deployment root: revisions, logs, instructions, the agent's credential")
	pollWait := stringSetting(fs, "poll-wait", "CONVEYOR_AGENT_POLL_WAIT", "60s", "how long one poll for work may wait on the server (1s to 60s); lower it behind proxies that cut idle requests")
	logLevel := stringSetting(fs, "log-level", "CONVEYOR_AGENT_LOG_LEVEL", "info", "debug, info, warn or error")
	logFormat := stringSetting(fs, "log-format", "CONVEYOR_AGENT_LOG_FORMAT", "text", "text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("conveyor agent takes no arguments, got %q (flags: conveyor agent -h)", fs.Arg(0))}
	}
	if *server == "" {
		return &exitError{code: 2, err: errors.New("conveyor agent: --server is required (or CONVEYOR_AGENT_SERVER)")}
	}
	wait, err := time.ParseDuration(*pollWait)
	if err != nil || wait < time.Second || wait > protocol.MaxWait {
		return &exitError{code: 2, err: fmt.Errorf("--poll-wait %q: want a duration from 1s to 60s", *pollWait)}
	}
	log, err := newLogger(*logLevel, *logFormat, os.Stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	a, err := agent.New(agent.Config{Server: *server, Token: *token, Name: *name, Tags: tags.m, Root: *root,
		PollWait: wait, Version: version, Logger: log})
	if err != nil {
		return err
	}
	err = a.Run(ctx)
	if errors.Is(err, agent.ErrRefused) {
		return &exitError{code: exitRefused, err: fmt.Errorf("conveyor agent: %w", err)}
	}
	return err
}

// tagFlag collects --tag KEY=VALUE; the first --tag replaces tags from the environment.
type tagFlag struct {
	m       map[string]string
	fromCLI bool
}

func (t *tagFlag) String() string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + t.m[k]
	}
	return strings.Join(parts, ",")
}

func (t *tagFlag) Set(s string) error {
	if !t.fromCLI {
		t.m, t.fromCLI = nil, true
	}
	return t.add(s)
}

func (t *tagFlag) add(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("tag %q: want KEY=VALUE", s)
	}
	if t.m == nil {
		t.m = map[string]string{}
	}
	t.m[k] = v
	return nil
}
