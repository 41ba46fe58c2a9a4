// Package agent is `conveyor agent`, the CodeDeploy-style host agent: it registers with the
// server once (a single-use token exchanged for a credential kept under the deployment root),
// then long-polls for host commands, runs each with the lifecycle executor, and reports events,
// script output, heartbeats and the completion over the protocol in agent/protocol.
//
// The agent connects out only. It reconnects with exponential backoff and jitter, sends a
// heartbeat well within the command's lease while it works, stops after the running event when
// the server says Continue=false, and on start reports whatever an earlier process of it left
// unfinished (FailedAfterRestart) before it asks for new work.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/conveyorci/conveyor/agent/hook"
	"github.com/conveyorci/conveyor/agent/lifecycle"
	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/internal/memtrim"
)

// ErrRefused means the server no longer accepts this agent's credential (revoked, or the agent
// was deregistered) and no new registration token was given. Retrying cannot help.
var ErrRefused = errors.New("the server refuses this agent's credential (revoked or deregistered)")

// Config is what `conveyor agent` runs with.
type Config struct {
	// Server is the server's base URL.
	Server string
	// Token is the single-use registration token; needed only until the agent has an identity.
	Token string
	// Name is the instance name (default: the host name); Tags its tags.
	Name string
	Tags map[string]string
	// Root is the deployment root (default /var/lib/conveyor-agent).
	Root    string
	Version string
	Logger  *slog.Logger
	// HTTPClient defaults to one without an overall timeout (every call has its own deadline).
	HTTPClient *http.Client
	// PollWait is how long one poll may wait on the server (default and maximum protocol.MaxWait).
	PollWait time.Duration
	// RetryBase and RetryMax bound the backoff between failed calls (default 500 ms and 30 s).
	RetryBase, RetryMax time.Duration
	// Runner runs hook scripts (tests shorten its grace periods).
	Runner *hook.Runner
}

// DefaultRoot is the deployment root when --root is not given.
const DefaultRoot = "/var/lib/conveyor-agent"

// Agent is a configured agent; Run runs it.
type Agent struct {
	cfg Config
	log *slog.Logger
	c   *client
	x   *lifecycle.Executor
	id  *identity
}

// New checks the configuration and prepares the deployment root.
func New(cfg Config) (*Agent, error) {
	if cfg.Root == "" {
		cfg.Root = DefaultRoot
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.Name == "" {
		return nil, errors.New("--name is required (the host name is unknown)")
	}
	if cfg.PollWait <= 0 || cfg.PollWait > protocol.MaxWait {
		cfg.PollWait = protocol.MaxWait
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := newClient(cfg.Server, cfg.HTTPClient, cfg.Version)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, c: c}
	a.x, err = lifecycle.New(lifecycle.Config{Root: cfg.Root, Fetcher: c, Runner: cfg.Runner, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Run serves until ctx ends (nil then) or the server refuses the agent for good.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.identify(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for the server
		}
		return err
	}
	a.log = a.log.With("agent", a.id.AgentID)
	a.log.Info("conveyor agent ready", "server", a.cfg.Server, "name", a.id.Name, "root", a.x.Root(), "version", a.cfg.Version)
	if err := a.recoverInterrupted(ctx); err != nil {
		return err
	}
	b := &backoff{Base: a.cfg.RetryBase, Max: a.cfg.RetryMax}
	a.trim()
	for ctx.Err() == nil {
		cmd, err := a.poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrRefused):
			return err
		case err != nil:
			a.log.Warn("cannot reach the server; retrying", "err", err)
			b.wait(ctx)
			continue
		}
		b.reset()
		if cmd == nil {
			continue
		}
		if mk, ok := a.x.Lookup(cmd.ID); ok {
			// The server hands a command out again until it hears of it; this agent ran it
			// already (its reports were lost). Report how it ended; never run it twice.
			a.log.Warn("the server sent a command this agent already ran; reporting its end instead of running it again", "command", cmd.ID)
			if err := a.settle(ctx, mk); err != nil {
				return err
			}
			continue
		}
		a.runCommand(ctx, *cmd)
		a.trim()
	}
	return nil
}

// trim gives memory back before the agent waits: the heap start-up or a command left behind, and
// the executable's pages that initialising the server's packages (linked into the same binary)
// touched. An idle agent then holds little more than its poll loop.
func (a *Agent) trim() {
	debug.FreeOSMemory()
	if n, err := memtrim.ReleaseExecutablePages(); err != nil {
		a.log.Debug("could not release the executable's pages", "err", err)
	} else {
		a.log.Debug("released the executable's start-up pages", "bytes", n)
	}
}

// identify loads the stored identity, or registers with the token.
func (a *Agent) identify(ctx context.Context) error {
	id, err := loadIdentity(a.cfg.Root)
	if err != nil {
		return err
	}
	if id != nil {
		if a.cfg.Token != "" && tokenHash(a.cfg.Token) == id.TokenSHA256 {
			a.log.Debug("already registered; the registration token is not needed any more", "agent", id.AgentID)
		}
		a.use(id)
		return nil
	}
	return a.register(ctx)
}

func (a *Agent) use(id *identity) {
	a.id = id
	a.c.auth = "Bearer " + id.AgentID + ":" + id.Credential
}

func (a *Agent) register(ctx context.Context) error {
	if a.cfg.Token == "" {
		return fmt.Errorf("this agent is not registered yet: give the registration token with --token (or CONVEYOR_AGENT_TOKEN); an admin creates one with `conveyor agents token create`")
	}
	host, _ := os.Hostname()
	req := protocol.RegisterRequest{Token: a.cfg.Token, Name: a.cfg.Name, Tags: a.cfg.Tags, Hostname: host,
		Version: a.cfg.Version, OS: runtime.GOOS, Arch: runtime.GOARCH}
	b := &backoff{Base: a.cfg.RetryBase, Max: a.cfg.RetryMax}
	a.c.auth = ""
	for {
		var resp protocol.RegisterResponse
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := a.c.do(rctx, http.MethodPost, protocol.PathPrefix+"/register", req, &resp)
		cancel()
		if err == nil {
			id := &identity{AgentID: resp.AgentID, Credential: resp.Credential, InstanceArn: resp.InstanceArn, Name: a.cfg.Name,
				Server: a.cfg.Server, Registered: time.Now().UTC(), TokenSHA256: tokenHash(a.cfg.Token)}
			if id.AgentID == "" || id.Credential == "" {
				return errors.New("register: the server's answer has no agent id or credential")
			}
			if err := saveIdentity(a.cfg.Root, id); err != nil {
				return fmt.Errorf("store the agent's credential: %w", err)
			}
			a.use(id)
			a.log.Info("registered", "agent", id.AgentID, "name", id.Name, "instance", id.InstanceArn)
			return nil
		}
		if final(err) {
			return fmt.Errorf("register as %q: %w", a.cfg.Name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn("cannot register yet; retrying", "err", err)
		b.wait(ctx)
	}
}

// refused handles a 401: a new registration token (one this identity was not made with) is used
// to register again; otherwise the agent cannot go on.
func (a *Agent) refused(ctx context.Context) error {
	if a.cfg.Token == "" || tokenHash(a.cfg.Token) == a.id.TokenSHA256 {
		return fmt.Errorf("%w; give a new registration token with --token", ErrRefused)
	}
	a.log.Warn("the server refuses the stored credential; registering again with the new token")
	return a.register(ctx)
}

// poll waits for the next command; nil when none came within the poll's wait.
func (a *Agent) poll(ctx context.Context) (*protocol.Command, error) {
	wait := int(a.cfg.PollWait / time.Second)
	if wait < 1 {
		wait = 1
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.PollWait+30*time.Second)
	defer cancel()
	var cmd protocol.Command
	status, err := a.c.do(pctx, http.MethodGet, protocol.PathPrefix+"/commands/next?wait="+strconv.Itoa(wait), nil, &cmd)
	if statusOf(err) == http.StatusUnauthorized {
		if rerr := a.refused(ctx); rerr != nil {
			return nil, rerr
		}
		return nil, nil
	}
	if err != nil || status == http.StatusNoContent {
		return nil, err
	}
	if cmd.ID == "" {
		return nil, errors.New("the server sent a command without an id")
	}
	return &cmd, nil
}

// recoverInterrupted reports the commands an earlier process of this agent left unfinished, and
// retries until the server has heard of each (or refuses to).
func (a *Agent) recoverInterrupted(ctx context.Context) error {
	mks, err := a.x.Interrupted()
	if err != nil {
		return fmt.Errorf("read the ongoing deployments: %w", err)
	}
	for _, mk := range mks {
		if err := a.settle(ctx, mk); err != nil {
			return err
		}
	}
	return nil
}

// settle reports how an interrupted (or already run) command ended, retrying until the server has
// it or refuses it, then forgets the command. It returns an error only when the agent cannot go on.
func (a *Agent) settle(ctx context.Context, mk *lifecycle.Marker) error {
	report, c := a.x.Recover(mk)
	b := &backoff{Base: a.cfg.RetryBase, Max: a.cfg.RetryMax}
	for {
		err := a.deliver(ctx, mk.CommandID, report, c)
		if err == nil || final(err) {
			if err != nil {
				a.log.Warn("the server refused the report of an interrupted command", "command", mk.CommandID, "err", err)
			}
			if err := a.x.Forget(mk.CommandID); err != nil {
				a.log.Error("removing a crash marker", "command", mk.CommandID, "err", err)
			}
			return nil
		}
		if statusOf(err) == http.StatusUnauthorized {
			if rerr := a.refused(ctx); rerr != nil {
				return rerr
			}
			continue
		}
		a.log.Warn("cannot report an interrupted command yet; retrying", "command", mk.CommandID, "err", err)
		if !b.wait(ctx) {
			return nil
		}
	}
}

// deliver sends an interrupted event's report (if any), then the completion.
func (a *Agent) deliver(ctx context.Context, commandID string, report *protocol.EventReport, c protocol.Completion) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if report != nil {
		var resp protocol.EventResponse
		if _, err := a.c.do(rctx, http.MethodPost, commandPath(commandID, "events"), report, &resp); err != nil {
			return err
		}
	}
	_, err := a.c.do(rctx, http.MethodPost, commandPath(commandID, "complete"), c, nil)
	return err
}
