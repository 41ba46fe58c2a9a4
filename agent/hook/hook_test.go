package hook

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// collected gathers a script's output.
type collected struct {
	mu    sync.Mutex
	lines []string
	late  chan string
}

func newCollected() *collected { return &collected{late: make(chan string, 16)} }

func (c *collected) out(stream, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, stream+":"+text)
}

func (c *collected) lateOut(stream, text string) { c.late <- stream + ":" + text }

func (c *collected) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func script(path string) Script {
	return Script{Event: "BeforeInstall", Location: "scripts/" + filepath.Base(path), Path: path, Dir: filepath.Dir(path),
		Env: append(os.Environ(), "LIFECYCLE_EVENT=BeforeInstall"), Timeout: 30 * time.Second}
}

// gone waits until no process of group pgid is left (or only zombies): across a process
// boundary, so polled with a deadline.
func gone(t *testing.T, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := 0
		for _, pid := range pids {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil {
				continue
			}
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] != "Z" {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d processes still running", what, alive)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n)
	}
	return pids
}

func TestSuccessOutputAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "ok.sh", "echo \"event=$LIFECYCLE_EVENT\"\necho \"cwd=$(pwd)\"\necho oops >&2\nprintf 'no newline'\n", 0o755)
	c := newCollected()
	var pgid int
	res := (&Runner{}).Run(context.Background(), script(p), c.out, nil, func(g int) { pgid = g })
	if res.Code != protocol.ErrSuccess || res.ExitCode != 0 || res.OutputsLeftOpen || res.MadeExecutable || pgid == 0 {
		t.Fatalf("%+v pgid %d", res, pgid)
	}
	got := strings.Join(c.all(), "|")
	for _, want := range []string{"stdout:event=BeforeInstall", "stdout:cwd=" + dir, "stderr:oops", "stdout:no newline"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
}

func TestFailureMissingAndNotExecutable(t *testing.T) {
	dir := t.TempDir()
	fail := writeScript(t, dir, "fail.sh", "echo failing\nexit 3\n", 0o755)
	res := (&Runner{}).Run(context.Background(), script(fail), nil, nil, nil)
	if res.Code != protocol.ErrScriptFailed || res.ExitCode != 3 || res.Message != "Script at specified location: scripts/fail.sh failed with exit code 3" {
		t.Errorf("failing script: %+v", res)
	}

	res = (&Runner{}).Run(context.Background(), script(filepath.Join(dir, "nope.sh")), nil, nil, nil)
	if res.Code != protocol.ErrScriptMissing || res.Message != "Script does not exist at specified location: scripts/nope.sh" {
		t.Errorf("missing script: %+v", res)
	}

	noexec := writeScript(t, dir, "noexec.sh", "exit 0\n", 0o644)
	res = (&Runner{}).Run(context.Background(), script(noexec), nil, nil, nil)
	if fi, _ := os.Stat(noexec); res.Code != protocol.ErrSuccess || !res.MadeExecutable || fi.Mode().Perm() != 0o755 {
		t.Errorf("non-executable script: %+v, mode %v", res, fi.Mode())
	}
}

// A script whose execute bits cannot be added (an immutable file) fails with ScriptNotExecutable.
func TestScriptNotExecutable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chattr +i)")
	}
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr is not installed")
	}
	dir := t.TempDir()
	p := writeScript(t, dir, "locked.sh", "exit 0\n", 0o644)
	if out, err := exec.Command("chattr", "+i", p).CombinedOutput(); err != nil {
		t.Skipf("this file system has no immutable flag: %s", out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", p).Run() })
	res := (&Runner{}).Run(context.Background(), script(p), nil, nil, nil)
	if res.Code != protocol.ErrScriptNotExecutable || !strings.HasPrefix(res.Message, "Unable to set script at specified location: scripts/locked.sh as executable") {
		t.Errorf("%+v", res)
	}
}

// The timeout kills the whole process group: the script and what it started in the background.
func TestTimeoutKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	p := writeScript(t, dir, "slow.sh", "sleep 300 >/dev/null 2>&1 &\necho $! $$ > "+pids+"\necho started\nsleep 300\n", 0o755)
	s := script(p)
	s.Timeout = time.Second
	start := time.Now()
	res := (&Runner{}).Run(context.Background(), s, nil, nil, nil)
	if res.Code != protocol.ErrScriptTimedOut || res.Message != "Script at specified location: scripts/slow.sh failed to complete in 1 seconds" {
		t.Fatalf("%+v", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v for a 1 s timeout", d)
	}
	gone(t, "after the timeout", readPids(t, pids)...)
}

// A script that ignores SIGTERM is killed after the grace period.
func TestTimeoutIgnoringSIGTERM(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.1; done\n", 0o755)
	s := script(p)
	s.Timeout = 300 * time.Millisecond
	start := time.Now()
	res := (&Runner{KillGrace: 300 * time.Millisecond}).Run(context.Background(), s, nil, nil, nil)
	if res.Code != protocol.ErrScriptTimedOut {
		t.Fatalf("%+v", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// A hook that leaves a background process holding its stdout ends when the script exits: the
// event does not wait for the timeout, the output left open is reported, and what the background
// process prints later is still read (to the late output), so it never blocks or dies of SIGPIPE.
func TestBackgroundProcessHoldingStdout(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	p := writeScript(t, dir, "bg.sh", "(sleep 1; echo late; sleep 300) &\necho $! > "+pids+"\necho started\nexit 0\n", 0o755)
	s := script(p)
	s.Timeout = time.Minute
	c := newCollected()
	var pgid int
	start := time.Now()
	res := (&Runner{}).Run(context.Background(), s, c.out, c.lateOut, func(g int) { pgid = g })
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	if res.Code != protocol.ErrSuccess || !res.OutputsLeftOpen {
		t.Fatalf("%+v", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the event took %v: it must end when the script exits", d)
	}
	if got := c.all(); len(got) != 1 || got[0] != "stdout:started" {
		t.Errorf("event output %q", got)
	}
	select {
	case l := <-c.late:
		if l != "stdout:late" {
			t.Errorf("late output %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the background process's later output was not read")
	}
}

// Cancelling the context (the agent stopping) kills the group and ends with UnknownError.
func TestCancelKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "wait.sh", "echo waiting\nsleep 300\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan int, 1)
	done := make(chan Result, 1)
	go func() {
		done <- (&Runner{}).Run(ctx, script(p), func(string, string) {}, nil, func(g int) { started <- g })
	}()
	pgid := <-started
	cancel()
	res := <-done
	if res.Code != protocol.ErrUnknownError || !strings.Contains(res.Message, "the agent is shutting down") {
		t.Fatalf("%+v", res)
	}
	gone(t, "after cancel", pgid)
}

func TestRunAs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runas without root goes through su, which needs a password")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // nobody must reach the script
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := writeScript(t, dir, "who.sh", "echo \"$(id -u) $HOME $USER\"\n", 0o755)
	s := script(p)
	s.RunAs = "nobody"
	c := newCollected()
	res := (&Runner{}).Run(context.Background(), s, c.out, nil, nil)
	if res.Code != protocol.ErrSuccess {
		t.Fatalf("%+v", res)
	}
	if got := c.all(); len(got) != 1 || !strings.HasPrefix(got[0], "stdout:65534 ") || !strings.HasSuffix(got[0], " nobody") {
		t.Errorf("output %q", got)
	}
	s.RunAs = "no-such-user-here"
	res = (&Runner{}).Run(context.Background(), s, nil, nil, nil)
	if res.Code != protocol.ErrScriptFailed || !strings.Contains(res.Message, `no such user "no-such-user-here"`) {
		t.Errorf("%+v", res)
	}
}

// A script without a "#!" line runs with sh, as AWS's agent (execvp) runs it.
func TestScriptWithoutInterpreterLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "plain.sh")
	if err := os.WriteFile(p, []byte("echo \"no shebang, pid $$\"\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCollected()
	res := (&Runner{}).Run(context.Background(), script(p), c.out, nil, nil)
	if res.Code != protocol.ErrScriptFailed || res.ExitCode != 4 {
		t.Fatalf("%+v", res)
	}
	if got := c.all(); len(got) != 1 || !strings.HasPrefix(got[0], "stdout:no shebang, pid ") {
		t.Errorf("output %q", got)
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "long.sh", "head -c 40000 /dev/zero | tr '\\0' a; echo\n", 0o755)
	c := newCollected()
	if res := (&Runner{}).Run(context.Background(), script(p), c.out, nil, nil); res.Code != protocol.ErrSuccess {
		t.Fatal(res)
	}
	total := 0
	for _, l := range c.all() {
		if len(l) > len("stdout:")+MaxLine {
			t.Errorf("line of %d bytes", len(l))
		}
		total += len(l) - len("stdout:")
	}
	if total != 40000 {
		t.Errorf("%d bytes of output, want 40000", total)
	}
}
