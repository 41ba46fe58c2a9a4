package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"
)

// ExecSpec is one command run in a build container.
type ExecSpec struct {
	// Cmd is the argv, run as is (not through a shell: pass {"/bin/sh", "-c", script} for one).
	Cmd []string
	// Env (KEY=value) is added to the container's environment.
	Env []string
	// User is a user name or uid (optionally :group) known to the image; empty means the image's user.
	User string
	// WorkDir is the working directory; empty means Spec.WorkDir (or the image's).
	WorkDir string
	// Stdin, when set, is copied to the command's standard input, which is closed at its end.
	// Without it the command's standard input is empty.
	Stdin io.Reader
}

// State is how a command ended.
type State struct {
	// ExitCode is the command's exit status; 128+n when a signal n killed it (137: SIGKILL);
	// 127 when the command was not found; 126 when the engine could not start it (a missing
	// working directory, an unknown user: the engine's message is written to stdout, as the
	// docker CLI shows it); -1 when it is unknown (an error was returned).
	ExitCode int
	// OOMKilled is set when the container's memory cgroup killed a process while the command
	// ran: the command itself or any of its children (the command may still have exited 0).
	OOMKilled bool
}

// execWrapper runs every command: it records its PID in runDir so a cancelled Exec can kill the
// command's process group, runs the command as a child (same process group), and removes the
// file. The engine makes every exec'd process a session and process-group leader (runc calls
// setsid for it, with or without a TTY), so "kill -9 -PID" reaches the command and every child
// that did not move to a process group of its own.
const execWrapper = `f=$1; shift; echo $$ >"$f" 2>/dev/null; "$@"; rc=$?; rm -f "$f"; exit $rc`

// killScript kills the process group recorded in the PID file $1; exit 3 when there is none (the
// command has not started yet, or has already ended). "kill -9 -PGID" is the one spelling that
// busybox ash, dash and bash all accept.
const killScript = `p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] || exit 3; kill -9 -"$p" 2>/dev/null || kill -9 "$p"`

// outputGrace is how long Exec waits for the output streams to end after the command exited: a
// background process that kept stdout open would otherwise hold Exec forever.
const outputGrace = 2 * time.Second

// killTimeout bounds how long a cancelled Exec tries to kill its command before giving up.
const killTimeout = 10 * time.Second

// Exec runs a command in the build container and streams its output, demultiplexed (no TTY), to
// stdout and stderr (nil discards) as it is produced. A command that exits non-zero is not an
// error: see State.ExitCode. An error means the command could not be run or observed (the
// container or the engine went away).
//
// When ctx is cancelled, Exec kills the command's process group (SIGKILL, through a second exec
// that reads the PID the wrapper recorded) and returns ctx.Err() once the command is gone (or
// after 10 s of trying). The container stays usable.
//
// OOM kills are detected from the engine's event stream: an "oom" event of the container between
// this exec's exec_create and exec_die events. (On engine 20.10 with cgroup v1, the container's
// State.OOMKilled stays false while its init is alive, so inspecting the container does not work.)
func (bd *Build) Exec(ctx context.Context, e ExecSpec, stdout, stderr io.Writer) (State, error) {
	st := State{ExitCode: -1}
	if len(e.Cmd) == 0 {
		return st, errors.New("docker: Exec needs a command")
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	cli := bd.b.cli
	pidFile := runDir + "/" + randomHex(8) + ".pid"
	cmd := append([]string{"/bin/sh", "-c", execWrapper, "conveyor-exec", pidFile}, e.Cmd...)

	// Subscribe to the container's events before the exec exists. The subscription replays the
	// engine's buffered events (since=1), so nothing logged between the request and the
	// subscription is lost; events before our exec_create are ignored. It outlives ctx: after a
	// cancel we still wait for the exec to die.
	evCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEvents()
	evs, evErrs := cli.Events(evCtx, events.ListOptions{
		Since: "1",
		Filters: filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("container", bd.ID),
			filters.Arg("event", string(events.ActionExecCreate)),
			filters.Arg("event", string(events.ActionExecDie)),
			filters.Arg("event", string(events.ActionOOM)),
			filters.Arg("event", string(events.ActionDie)),
		),
	})

	ex, err := cli.ContainerExecCreate(ctx, bd.ID, container.ExecOptions{
		User:         e.User,
		Env:          e.Env,
		WorkingDir:   e.WorkDir,
		Cmd:          cmd,
		AttachStdin:  e.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		return st, fmt.Errorf("docker: create exec in %s: %w", bd.Name, err)
	}
	// Attaching starts the command. It is not interrupted by ctx: a start cancelled half way could
	// leave the command running unobserved. A cancel from here on goes through the kill below.
	attachCtx, cancelAttach := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelAttach()
	resp, err := cli.ContainerExecAttach(attachCtx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return st, fmt.Errorf("docker: start exec in %s: %w", bd.Name, err)
	}
	defer resp.Close()
	if e.Stdin != nil {
		go func() {
			_, _ = io.Copy(resp.Conn, e.Stdin)
			_ = resp.CloseWrite()
		}()
	}
	outDone := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, resp.Reader)
		outDone <- err
	}()

	var (
		created       bool  // our exec_create seen: oom events from here on count
		execDone      bool  // our exec_die seen
		dieCode       = -1  // exit code from the exec_die event
		outEnded      bool  // output streams closed
		outErr        error // error reading them
		closedByUs    bool  // we closed the stream (grace expired)
		containerDied bool
		eventsErr     error // event stream broken: fall back to polling, OOM unknown
		startFailed   bool  // the engine could not start the command (no exec_die follows)
		dieLate       bool  // output ended long ago and still no exec_die: stop waiting
		dieWait       <-chan time.Time
		grace         <-chan time.Time
		ctxDone       = ctx.Done()
		killStop      = make(chan struct{})
		killDeadline  <-chan time.Time
	)
	defer close(killStop)
	finished := func() bool {
		return outEnded && (execDone || containerDied || eventsErr != nil || startFailed || dieLate)
	}
	for !finished() {
		select {
		case outErr = <-outDone:
			outEnded = true
			if execDone || containerDied || eventsErr != nil {
				break
			}
			// The engine closes the output before it logs exec_die. A command it could not
			// start (missing working directory or user) ends its output with the engine's
			// error text and gets exit code 126, but no exec_die: it never ran (Pid 0).
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			info, err := cli.ContainerExecInspect(ictx, ex.ID)
			cancel()
			if err == nil && !info.Running && info.Pid == 0 {
				startFailed = true
			}
			dieWait = time.After(5 * time.Second)
		case <-dieWait:
			dieLate = true
			bd.b.log.Warn("docker: no exec_die event for a finished command; its OOM state is unknown",
				"build", bd.BuildID, "exec", ex.ID[:12])
		case ev := <-evs:
			switch {
			case strings.HasPrefix(string(ev.Action), string(events.ActionExecCreate)):
				if ev.Actor.Attributes["execID"] == ex.ID {
					created = true
				}
			case ev.Action == events.ActionOOM:
				if created {
					st.OOMKilled = true
				}
			case ev.Action == events.ActionExecDie:
				if ev.Actor.Attributes["execID"] == ex.ID {
					execDone = true
					if c, err := strconv.Atoi(ev.Actor.Attributes["exitCode"]); err == nil {
						dieCode = c
					}
				}
			case ev.Action == events.ActionDie:
				containerDied = containerDied || created // not a replayed earlier stop
			}
			if (execDone || containerDied) && !outEnded && grace == nil {
				grace = time.After(outputGrace)
			}
		case err := <-evErrs:
			if err == nil {
				err = errors.New("event stream ended")
			}
			eventsErr = err
			evs, evErrs = nil, nil
			bd.b.log.Warn("docker: lost the event stream; OOM kills of this command go unnoticed",
				"build", bd.BuildID, "err", err)
		case <-grace:
			grace = nil
			closedByUs = true
			resp.Close() // ends StdCopy
		case <-ctxDone:
			ctxDone = nil
			killDeadline = time.After(killTimeout)
			go bd.kill(context.WithoutCancel(ctx), pidFile, killStop)
		case <-killDeadline:
			bd.b.log.Error("docker: cancelled command did not die", "build", bd.BuildID, "exec", ex.ID[:12])
			closedByUs = true
			resp.Close()
			return st, ctx.Err()
		}
	}

	// SIGKILL (137): the oom event may trail exec_die by a hair when the OOM killer picked the
	// command itself, and when the container is being killed (Destroy, docker rm -f) the
	// container's die event follows exec_die. Wait briefly for either, then ask the engine.
	if dieCode == 137 && eventsErr == nil && !containerDied && ctx.Err() == nil {
		late := time.After(250 * time.Millisecond)
	wait:
		for {
			select {
			case ev := <-evs:
				switch ev.Action {
				case events.ActionOOM:
					st.OOMKilled = st.OOMKilled || created
				case events.ActionDie:
					containerDied = true
					break wait
				}
			case <-evErrs:
				break wait
			case <-late:
				break wait
			}
		}
		if !containerDied {
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			info, err := cli.ContainerInspect(ictx, bd.ID)
			cancel()
			if cerrdefs.IsNotFound(err) || (err == nil && info.State != nil && !info.State.Running) {
				containerDied = true
			}
		}
	}

	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if containerDied {
		msg := "the build container exited while the command ran"
		if info, err := cli.ContainerInspect(ictx, bd.ID); err == nil && info.State != nil {
			st.OOMKilled = st.OOMKilled || info.State.OOMKilled
			msg = fmt.Sprintf("%s (container exit code %d, OOM killed: %t)", msg, info.State.ExitCode, info.State.OOMKilled)
		}
		return st, errors.New("docker: " + msg)
	}
	code, err := bd.exitCode(ictx, ex.ID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			if _, cerr := cli.ContainerInspect(ictx, bd.ID); cerrdefs.IsNotFound(cerr) {
				return st, fmt.Errorf("docker: the build container %s was removed while the command ran", bd.Name)
			}
		}
		return st, err
	}
	st.ExitCode = code
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	if outErr != nil && !closedByUs {
		return st, fmt.Errorf("docker: read output: %w", outErr)
	}
	return st, nil
}

// kill kills the process group recorded in pidFile, retrying while the command has not recorded
// its PID yet, until it succeeds, stop is closed, or killTimeout passes.
func (bd *Build) kill(ctx context.Context, pidFile string, stop <-chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, killTimeout)
	defer cancel()
	for {
		code, out, err := bd.run(ctx, []string{"/bin/sh", "-c", killScript, "conveyor-kill", pidFile})
		if err == nil && code == 0 {
			return
		}
		if err != nil || code != 3 {
			bd.b.log.Warn("docker: kill cancelled command", "build", bd.BuildID, "code", code, "out", string(out), "err", err)
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
