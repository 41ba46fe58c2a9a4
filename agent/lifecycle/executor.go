// Package lifecycle runs one host's part of an in-place deployment (a protocol.Command) on a
// deployment root laid out like AWS's agent's: ApplicationStop from the last successful
// revision, DownloadBundle, BeforeInstall, Install, AfterInstall, ApplicationStart,
// ValidateService (and the traffic hooks, when the server sends them), reporting every event and
// every line of script output as it goes.
//
// Crash safety: before each event starts, and after it ends, the command's marker under
// ongoing-deployment/ is written durably. An agent that starts and finds a marker reports the
// event that was running as Failed with FailedAfterRestart ("agent restarted during
// BeforeInstall"), completes the command Failed and kills the hook's process group if it is still
// running. Nothing is ever run twice.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/conveyorci/conveyor/agent/appspec"
	"github.com/conveyorci/conveyor/agent/hook"
	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/internal/durable"
)

// Reporter is the executor's way to the server. Event reports a lifecycle event starting or
// ending and answers whether to go on (false once the server cancelled the command, by this
// answer or a heartbeat's); Line passes one line of output and must not block.
type Reporter interface {
	Event(ctx context.Context, r protocol.EventReport) bool
	Line(l protocol.LogLine)
}

// Config is what an Executor needs.
type Config struct {
	// Root is the deployment root (--root).
	Root    string
	Fetcher Fetcher
	// Runner runs hook scripts; nil uses hook.Runner's defaults.
	Runner *hook.Runner
	Logger *slog.Logger
	// Env is the environment hooks start from; nil means the agent's own. CONVEYOR_AGENT_*
	// settings are always left out (the registration token must not reach scripts).
	Env []string
	// MaxRevisions is how many deployment directories to keep per group (default 5).
	MaxRevisions int
}

// Executor runs commands, one at a time.
type Executor struct {
	cfg    Config
	l      layout
	m      markers
	runner *hook.Runner
	log    *slog.Logger
}

// New prepares the deployment root.
func New(cfg Config) (*Executor, error) {
	if cfg.Root == "" {
		return nil, errors.New("no deployment root")
	}
	abs, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = abs
	x := &Executor{cfg: cfg, l: layout{abs}, m: markers{filepath.Join(abs, ongoingDir)}, runner: cfg.Runner, log: cfg.Logger}
	if x.runner == nil {
		x.runner = &hook.Runner{}
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.cfg.MaxRevisions <= 0 {
		x.cfg.MaxRevisions = DefaultMaxRevisions
	}
	if x.cfg.Env == nil {
		x.cfg.Env = os.Environ()
	}
	// 0755: hooks that run as another user must reach their scripts below the root.
	for _, d := range []string{abs, x.l.instructions(), x.l.ongoing()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("deployment root: %w", err)
		}
	}
	if err := os.Chmod(x.l.ongoing(), 0o700); err != nil {
		return nil, fmt.Errorf("deployment root: %w", err)
	}
	return x, nil
}

// Root is the absolute deployment root.
func (x *Executor) Root() string { return x.cfg.Root }

// Run runs every event of cmd in order and returns the command's completion. A failed event
// ends the command; so does the server answering Continue=false (after the event that was
// running) and ctx ending (which kills a running hook).
func (x *Executor) Run(ctx context.Context, cmd protocol.Command, rep Reporter) protocol.Completion {
	fail := func(msg string) protocol.Completion {
		return protocol.Completion{Status: protocol.StatusFailed, Diagnostics: &protocol.Diagnostics{ErrorCode: protocol.ErrUnknownError, Message: msg}}
	}
	for _, c := range []struct{ what, v string }{{"command id", cmd.ID}, {"deployment group id", cmd.DeploymentGroupID}, {"deployment id", cmd.DeploymentID}} {
		if err := safeName(c.what, c.v); err != nil {
			return fail(err.Error())
		}
	}
	if err := checkAppSpecName(cmd.AppSpecFilename); err != nil {
		return fail(err.Error())
	}
	dir := x.l.deployDir(cmd.DeploymentGroupID, cmd.DeploymentID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Sprintf("deployment directory: %v", err))
	}
	if _, err := os.Stat(filepath.Join(dir, metaFile)); errors.Is(err, fs.ErrNotExist) {
		m := meta{CommandID: cmd.ID, DeploymentID: cmd.DeploymentID, ApplicationName: cmd.ApplicationName,
			DeploymentGroupName: cmd.DeploymentGroupName, DeploymentGroupID: cmd.DeploymentGroupID, Creator: cmd.Creator,
			Revision: cmd.Revision, Created: time.Now().UTC()}
		b, _ := json.MarshalIndent(m, "", "  ")
		if err := durable.WriteFile(filepath.Join(dir, metaFile), append(b, '\n'), 0o644); err != nil {
			return fail(fmt.Sprintf("deployment directory: %v", err))
		}
	}
	mk := &Marker{CommandID: cmd.ID, DeploymentID: cmd.DeploymentID, DeploymentGroupID: cmd.DeploymentGroupID, DeployDir: dir, Received: time.Now().UTC()}
	if err := x.m.save(mk); err != nil {
		return fail(err.Error())
	}
	sl, err := openScriptLog(dir)
	if err != nil {
		return x.finish(mk, fail(fmt.Sprintf("scripts log: %v", err)))
	}
	defer sl.close()
	d := &deployment{x: x, cmd: cmd, rep: rep, mk: mk, dir: dir, slog: sl, specs: map[string]*appspec.AppSpec{},
		log: x.log.With("command", cmd.ID, "deployment", cmd.DeploymentID)}

	completion := protocol.Completion{Status: protocol.StatusSucceeded}
	for _, ev := range cmd.Events {
		start := time.Now().UTC()
		mk.Event, mk.EventStart, mk.PGID, mk.PGIDStart = ev, start, 0, 0
		if err := x.m.save(mk); err != nil {
			completion = fail(err.Error())
			break
		}
		cont := rep.Event(ctx, protocol.EventReport{Event: ev, Status: protocol.StatusInProgress, StartTime: start})
		d.log.Info("lifecycle event started", "event", ev)
		status, diag := d.event(ctx, ev)
		end := time.Now().UTC()
		mk.Event, mk.PGID, mk.PGIDStart = "", 0, 0
		mk.Done = append(mk.Done, ev)
		if err := x.m.save(mk); err != nil {
			d.log.Error("recording the end of an event", "event", ev, "err", err)
		}
		d.log.Info("lifecycle event ended", "event", ev, "status", status, "code", diag.ErrorCode, "took", end.Sub(start).Round(time.Millisecond))
		cont = rep.Event(ctx, protocol.EventReport{Event: ev, Status: status, StartTime: start, EndTime: &end, Diagnostics: diag}) && cont
		if status == protocol.StatusFailed {
			completion = protocol.Completion{Status: protocol.StatusFailed, Diagnostics: diag}
			break
		}
		if ctx.Err() != nil {
			completion = fail(fmt.Sprintf("the agent stopped after %s", ev))
			break
		}
		if !cont {
			completion = fail(fmt.Sprintf("the server stopped the deployment after %s", ev))
			d.note(ev, "the server stopped the deployment; no further events run")
			break
		}
	}
	return x.finish(mk, completion)
}

// finish records the completion in the marker, so an agent that dies before the server has it
// sends it again instead of reporting a crash.
func (x *Executor) finish(mk *Marker, c protocol.Completion) protocol.Completion {
	mk.Completion = &c
	if err := x.m.save(mk); err != nil {
		x.log.Error("recording a command's completion", "command", mk.CommandID, "err", err)
	}
	return c
}

// Forget removes a command's marker once the server has its completion (or refuses it).
func (x *Executor) Forget(commandID string) error { return x.m.remove(commandID) }

// Lookup returns the marker of a command this agent has run or is running, if it still has one.
func (x *Executor) Lookup(commandID string) (*Marker, bool) {
	if safeName("command id", commandID) != nil {
		return nil, false
	}
	mk, err := x.m.read(commandID)
	return mk, err == nil
}

// Interrupted lists the commands an earlier agent process did not finish reporting, oldest
// first. Markers older than a day are dropped: the server failed those hosts long ago.
func (x *Executor) Interrupted() ([]*Marker, error) {
	found, dropped, err := x.m.list(time.Now())
	for _, id := range dropped {
		x.log.Warn("dropped a stale or unreadable crash marker", "command", id)
	}
	return found, err
}

// Recover decides what to tell the server about an interrupted command: the event that was
// running fails with FailedAfterRestart, and the command fails. A hook the dead agent left
// running is killed first. The decision is saved in the marker, so it is made once.
func (x *Executor) Recover(mk *Marker) (*protocol.EventReport, protocol.Completion) {
	if mk.Completion != nil {
		return mk.Pending, *mk.Completion
	}
	now := time.Now().UTC()
	var report *protocol.EventReport
	diag := &protocol.Diagnostics{ErrorCode: protocol.ErrFailedAfterRestart}
	if mk.Event != "" {
		diag.Message = "agent restarted during " + mk.Event
		if killOrphan(mk) {
			diag.Message += "; the hook it left running was killed"
		}
		report = &protocol.EventReport{Event: mk.Event, Status: protocol.StatusFailed, StartTime: mk.EventStart, EndTime: &now, Diagnostics: diag}
	} else if len(mk.Done) > 0 {
		diag.Message = "agent restarted after " + mk.Done[len(mk.Done)-1] + "; the remaining events were not run"
	} else {
		diag.Message = "agent restarted before the deployment's first event"
	}
	if l, err := openScriptLog(mk.DeployDir); err == nil {
		l.line(now, "agent", diag.Message+" (FailedAfterRestart); nothing is run again")
		diag.LogTail = l.takeTail()
		l.close()
	}
	x.log.Warn("reporting a command interrupted by an agent restart", "command", mk.CommandID, "deployment", mk.DeploymentID, "event", mk.Event)
	c := protocol.Completion{Status: protocol.StatusFailed, Diagnostics: diag}
	mk.Event, mk.PGID, mk.PGIDStart = "", 0, 0
	mk.Completion = &c
	if report != nil {
		mk.Pending = report
	}
	if err := x.m.save(mk); err != nil {
		x.log.Error("recording a recovered command", "command", mk.CommandID, "err", err)
	}
	return report, c
}
