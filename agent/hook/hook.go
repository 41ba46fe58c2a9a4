// Package hook runs one appspec hook script the way CodeDeploy's agent does: in a process group
// of its own, with the lifecycle variables in its environment, as another user when asked, and
// with a timeout that kills the whole group.
//
// One difference is deliberate. AWS's agent waits for the script's stdout and stderr to close, so
// a script that starts a background process without redirecting its output hangs the event until
// the timeout (OutputsLeftOpen). Here the event ends when the script exits: output that arrives
// within DrainWait after the exit still belongs to the event; after that the pipes are handed to
// Late (the deployment's scripts.log) and Result.OutputsLeftOpen is set. The script's exit status
// decides the event; OutputsLeftOpen is a warning. The background process keeps running and its
// output keeps being read, so it never blocks on a full pipe or dies of SIGPIPE.
package hook

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// Defaults for Runner.
const (
	DefaultKillGrace = 5 * time.Second
	DefaultDrainWait = 500 * time.Millisecond
)

// Script is one script to run.
type Script struct {
	// Event is the lifecycle event, for messages.
	Event string
	// Location is the script as the appspec names it (relative to the revision), for messages.
	Location string
	// Path is the script's absolute path on the host.
	Path string
	// Dir is the working directory.
	Dir string
	// Env is the complete environment (the agent's plus the lifecycle variables).
	Env     []string
	Timeout time.Duration
	// RunAs is the user to run as ("" for the agent's user); Sudo runs through sudo.
	RunAs string
	Sudo  bool
}

// Output receives the script's output, one line at a time (without its line break). Calls are
// serialised. stream is "stdout" or "stderr".
type Output func(stream, text string)

// Result is how a script ended. Failure is data: Code says which kind.
type Result struct {
	// Code is protocol.ErrSuccess, ErrScriptMissing, ErrScriptNotExecutable, ErrScriptTimedOut,
	// ErrScriptFailed or ErrUnknownError (could not start; interrupted by the agent stopping).
	Code string
	// Message is CodeDeploy's wording ("Script at specified location: … failed with exit code 1").
	Message  string
	ExitCode int
	// OutputsLeftOpen is set when a process the script started still held its stdout or stderr
	// DrainWait after the script exited.
	OutputsLeftOpen bool
	// MadeExecutable is set when the script lacked its execute bits and the runner added them.
	MadeExecutable bool
}

// Runner runs scripts. The zero value uses the defaults.
type Runner struct {
	// KillGrace is how long a timed-out group has between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// DrainWait is how long output may keep arriving after the script exits.
	DrainWait time.Duration
}

// Run runs s. Output lines go to out while the event runs and to late (which may be nil) after
// it. started, when not nil, is called with the process group id once the script runs, so the
// caller can record it. Cancelling ctx kills the group as a timeout does and ends with
// UnknownError.
func (r *Runner) Run(ctx context.Context, s Script, out, late Output, started func(pgid int)) Result {
	made, res, ok := check(s)
	if !ok {
		return res
	}
	res = r.run(ctx, s, out, late, started)
	res.MadeExecutable = made
	return res
}

// check finds the script and adds the execute bits it lacks, as AWS's agent does (chmod +x).
func check(s Script) (made bool, res Result, ok bool) {
	fi, err := os.Stat(s.Path)
	if err != nil || fi.IsDir() {
		return false, Result{Code: protocol.ErrScriptMissing, Message: "Script does not exist at specified location: " + s.Location}, false
	}
	if fi.Mode().Perm()&0o111 == 0o111 {
		return false, Result{}, true
	}
	if err := os.Chmod(s.Path, fi.Mode().Perm()|0o111); err != nil {
		return false, Result{Code: protocol.ErrScriptNotExecutable,
			Message: fmt.Sprintf("Unable to set script at specified location: %s as executable: %v", s.Location, errors.Unwrap(err))}, false
	}
	return true, Result{}, true
}

func (r *Runner) run(ctx context.Context, s Script, out, late Output, started func(int)) Result {
	argv, cred, env, err := command(s)
	if err != nil {
		return Result{Code: protocol.ErrScriptFailed, Message: fmt.Sprintf("Script at specified location: %s cannot run as user %s: %v", s.Location, s.RunAs, err)}
	}
	cmd, pipe, err := start(argv, cred, env, s.Dir, out, late)
	if errors.Is(err, syscall.ENOEXEC) && argv[0] == s.Path {
		// No "#!" line: run it with sh, as execvp (and so AWS's agent) does.
		cmd, pipe, err = start(append([]string{"/bin/sh"}, argv...), cred, env, s.Dir, out, late)
	}
	if err != nil {
		code := protocol.ErrScriptFailed
		if errors.Is(err, fs.ErrPermission) {
			code = protocol.ErrScriptNotExecutable
		}
		return Result{Code: code, Message: fmt.Sprintf("Script at specified location: %s could not be started: %v", s.Location, err)}
	}
	pipe.startReading()
	pgid := cmd.Process.Pid
	if started != nil {
		started(pgid)
	}

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var werr error
	var timedOut, cancelled bool
	select {
	case werr = <-waited:
	case <-timer.C:
		timedOut = true
		werr = r.killGroup(pgid, waited)
	case <-ctx.Done():
		cancelled = true
		werr = r.killGroup(pgid, waited)
	}
	res := Result{OutputsLeftOpen: !pipe.drain(r.drainWait())}
	switch {
	case timedOut:
		res.Code = protocol.ErrScriptTimedOut
		res.Message = fmt.Sprintf("Script at specified location: %s failed to complete in %d seconds", s.Location, int(timeout/time.Second))
		res.ExitCode = -1
	case cancelled:
		res.Code = protocol.ErrUnknownError
		res.Message = fmt.Sprintf("Script at specified location: %s was stopped: the agent is shutting down (%v)", s.Location, context.Cause(ctx))
		res.ExitCode = -1
	default:
		res.ExitCode = exitCode(werr)
		if res.ExitCode == 0 {
			res.Code = protocol.ErrSuccess
			break
		}
		res.Code = protocol.ErrScriptFailed
		how := fmt.Sprintf("failed with exit code %d", res.ExitCode)
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = fmt.Sprintf("was killed by signal %s", ws.Signal())
		}
		if s.RunAs != "" {
			res.Message = fmt.Sprintf("Script at specified location: %s run as user %s %s", s.Location, s.RunAs, how)
		} else {
			res.Message = fmt.Sprintf("Script at specified location: %s %s", s.Location, how)
		}
	}
	return res
}

// start starts a script in a process group of its own, its output on pipes of ours (not cmd's):
// Wait then returns when the script exits, not when every process holding the pipes has closed
// them.
func start(argv []string, cred *syscall.Credential, env []string, dir string, out, late Output) (*exec.Cmd, *pipes, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	p, err := newPipes(out, late)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = p.stdoutW, p.stderrW
	if err := cmd.Start(); err != nil {
		p.closeAll()
		return nil, nil, err
	}
	return cmd, p, nil
}

// killGroup ends a process group: SIGTERM, then SIGKILL after the grace period. It returns the
// script's wait error.
func (r *Runner) killGroup(pgid int, waited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := r.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-waited:
		// The script is gone; whatever else of its group ignored SIGTERM goes now.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return err
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-waited
	}
}

func (r *Runner) drainWait() time.Duration {
	if r.DrainWait > 0 {
		return r.DrainWait
	}
	return DefaultDrainWait
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if c := ee.ExitCode(); c >= 0 {
			return c
		}
		return 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
	}
	return -1
}

// pipes carries a script's stdout and stderr to Output, and to late once the event is over.
type pipes struct {
	stdoutR, stdoutW, stderrR, stderrW *os.File

	mu       sync.Mutex // serialises the calls to out and late; guards detached
	out      Output
	late     Output
	detached bool
	wg       sync.WaitGroup
	done     chan struct{}
}

func newPipes(out, late Output) (*pipes, error) {
	p := &pipes{out: out, late: late, done: make(chan struct{})}
	var err error
	if p.stdoutR, p.stdoutW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if p.stderrR, p.stderrW, err = os.Pipe(); err != nil {
		p.stdoutR.Close()
		p.stdoutW.Close()
		return nil, err
	}
	return p, nil
}

func (p *pipes) closeAll() {
	for _, f := range []*os.File{p.stdoutR, p.stdoutW, p.stderrR, p.stderrW} {
		f.Close()
	}
}

// startReading closes the parent's write ends (the child has its own) and reads both streams.
func (p *pipes) startReading() {
	p.stdoutW.Close()
	p.stderrW.Close()
	p.wg.Add(2)
	go p.read("stdout", p.stdoutR)
	go p.read("stderr", p.stderrR)
	go func() {
		p.wg.Wait()
		close(p.done)
	}()
}

func (p *pipes) read(stream string, f *os.File) {
	defer p.wg.Done()
	defer f.Close()
	readLines(f, func(line string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case !p.detached && p.out != nil:
			p.out(stream, line)
		case p.detached && p.late != nil:
			p.late(stream, line)
		}
	})
}

// drain waits up to wait for both streams to reach end of file. It reports whether they did;
// if not, later output goes to late.
func (p *pipes) drain(wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	}
	p.mu.Lock()
	p.detached = true
	p.mu.Unlock()
	return false
}
