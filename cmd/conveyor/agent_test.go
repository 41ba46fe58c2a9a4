package main

// `conveyor agent` as a process on loopback against the real server: registration, the stored
// identity, a full deployment of the sample app, a restart that re-uses the identity, revocation.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/internal/sampleapp"
)

// The test binary doubles as `conveyor agent` for tests that need an agent process: with
// CONVEYOR_TEST_AGENT=1 it runs the agent command with its arguments and exits. (init, because
// TestMain belongs to the harness.)
func init() {
	if os.Getenv("CONVEYOR_TEST_AGENT") == "1" {
		os.Exit(run(append([]string{"agent"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
}

// agentProcess is `conveyor agent` in a child process.
type agentProcess struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	code   int
}

func startAgentProcess(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), "CONVEYOR_TEST_AGENT=1")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agent log:\n%s", p.stderr.String())
		}
	})
	return p
}

// stop ends the agent as systemd would (SIGTERM) and returns its exit status.
func (p *agentProcess) stop(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop within 30s of SIGTERM")
	}
	return p.code
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// sampleAppRevision is the revision a build of the sample app produces (bin/sample-app, the
// appspec and the scripts), with the host's paths moved below dest and the port made free, so
// that it can be deployed to an agent on this machine.
func sampleAppRevision(t *testing.T, version, dest, port string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, f := range sampleapp.Revision(t, version, sampleapp.Local(dest, port)) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(f.Mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.Body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func httpGet(url string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// killPidFile ends the process whose pid a hook wrote (the sample app the test deployed).
func killPidFile(file string) {
	if b, err := os.ReadFile(file); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// lifecycleEvents returns a host's lifecycle events as "Event=Status".
func lifecycleEvents(target *cdtypes.InstanceTarget) []string {
	var out []string
	for _, e := range target.LifecycleEvents {
		out = append(out, aws.ToString(e.LifecycleEventName)+"="+string(e.Status))
	}
	return out
}

func TestAgentProcessDeploysTheSampleApp(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	root, dest, port := t.TempDir(), t.TempDir(), freeTCPPort(t)
	t.Cleanup(func() { killPidFile(filepath.Join(dest, "sample-app.pid")) })
	app := "http://127.0.0.1:" + port + "/"
	agentArgs := []string{"--server", s.URL, "--name", "host-1", "--tag", "role=web", "--root", root, "--poll-wait", "2s", "--log-level", "debug"}

	// Registration: the token is exchanged for a credential stored under the root, owner-only.
	p := startAgentProcess(t, append(agentArgs, "--token", newToken(t, s.URL, nil))...)
	idFile := filepath.Join(root, "agent.json")
	eventually(t, "the agent to register", 20*time.Second, func() bool { _, err := os.Stat(idFile); return err == nil })
	fi, err := os.Stat(idFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", fi.Mode(), err)
	}
	var id struct{ AgentID, Credential, Name string }
	b, _ := os.ReadFile(idFile)
	if json.Unmarshal(b, &id); id.AgentID == "" || id.Credential == "" || id.Name != "host-1" {
		t.Fatalf("identity %s", b)
	}
	inst, err := c.GetOnPremisesInstance(context.Background(), &codedeploy.GetOnPremisesInstanceInput{InstanceName: aws.String("host-1")})
	if err != nil || len(inst.InstanceInfo.Tags) != 1 || aws.ToString(inst.InstanceInfo.Tags[0].Value) != "web" {
		t.Fatalf("instance: %+v %v", inst, err)
	}

	// A full deployment of the sample app to this one agent.
	deployFixture(t, c, "SampleApp", "web", "CodeDeployDefault.OneAtATime", false)
	d1 := createDeployment(t, c, "SampleApp", "web", uploadRevision(t, s.URL, "releases", "sample-app/v1.zip", sampleAppRevision(t, "v1", dest, port)))
	awaitDeployment(t, c, d1, cdtypes.DeploymentStatusSucceeded)
	if got := httpGet(app); !strings.HasPrefix(got, "sample-app version 1") {
		t.Fatalf("the deployed app answers %q", got)
	}
	target := deployTargets(t, c, d1)["host-1"]
	if target == nil {
		t.Fatal("no target host-1")
	}
	want := "Start=Succeeded ApplicationStop=Skipped DownloadBundle=Succeeded BeforeInstall=Succeeded Install=Succeeded AfterInstall=Succeeded ApplicationStart=Succeeded ValidateService=Succeeded End=Succeeded"
	if got := strings.Join(lifecycleEvents(target), " "); got != want {
		t.Errorf("lifecycle events\n got %s\nwant %s", got, want)
	}
	code, logs := restCall(t, s.URL, http.MethodGet, "/api/v1/deployments/"+d1+"/logs", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK || !strings.Contains(string(logs), "BeforeInstall for deployment "+d1+" (SampleApp/web)") ||
		!strings.Contains(string(logs), "ValidateService passed") {
		t.Errorf("deployment logs (%d): %s", code, logs)
	}
	// The host keeps the output too, under <root>/<group id>/<deployment id>/logs/scripts.log.
	matches, _ := filepath.Glob(filepath.Join(root, "*", d1, "logs", "scripts.log"))
	if len(matches) != 1 {
		t.Fatalf("scripts.log of %s: %v", d1, matches)
	}
	scripts, _ := os.ReadFile(matches[0])
	if !strings.Contains(string(scripts), "[stdout]ValidateService passed") {
		t.Errorf("scripts.log:\n%s", scripts)
	}

	// A restarted agent re-uses its identity: no token needed.
	if code := p.stop(t); code != 0 {
		t.Fatalf("the agent exited %d on SIGTERM", code)
	}
	p = startAgentProcess(t, agentArgs...)
	d2 := createDeployment(t, c, "SampleApp", "web", uploadRevision(t, s.URL, "releases", "sample-app/v3.zip", sampleAppRevision(t, "v3", dest, port)))
	awaitDeployment(t, c, d2, cdtypes.DeploymentStatusSucceeded)
	if got := httpGet(app); !strings.HasPrefix(got, "sample-app version 3") {
		t.Fatalf("after v3 the app answers %q", got)
	}
	if !strings.Contains(p.stderr.String(), "conveyor agent ready") || strings.Contains(p.stderr.String(), "registered") {
		t.Errorf("the restarted agent registered again:\n%s", p.stderr.String())
	}

	// Revoked: the agent's next call is refused, and it exits with status 3 (not restarted by systemd).
	if code, body := restCall(t, s.URL, http.MethodPost, "/api/v1/agents/host-1/revoke", testAdminKey, testAdminSecret, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the revoked agent is still running")
	}
	if p.code != exitRefused || !strings.Contains(p.stderr.String(), "refuses this agent's credential") {
		t.Errorf("revoked agent exited %d:\n%s", p.code, p.stderr.String())
	}
}

// StopDeployment reaches the agent through its event and heartbeat answers: it finishes the event
// that is running and runs nothing after it. SIGTERM to the agent kills the hook that is running,
// reports it, and the agent exits 0.
func TestAgentStopsAfterTheEventAndShutsDownCleanly(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	root, dest := t.TempDir(), t.TempDir()
	deployFixture(t, c, "Ops", "ops", "CodeDeployDefault.AllAtOnce", false)
	p := startAgentProcess(t, "--server", s.URL, "--token", newToken(t, s.URL, nil), "--name", "ops-1", "--tag", "role=ops",
		"--root", root, "--poll-wait", "2s", "--log-level", "debug")
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dest, name)); return err == nil }
	eventually(t, "the agent to register", 20*time.Second, func() bool { _, err := os.Stat(filepath.Join(root, "agent.json")); return err == nil })
	bundle := func(beforeInstall string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for name, body := range map[string]string{
			"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: before.sh\n  AfterInstall:\n    - location: after.sh\n",
			"before.sh":   "#!/bin/sh\n" + beforeInstall,
			"after.sh":    "#!/bin/sh\ntouch " + dest + "/after-ran\n",
		} {
			h := &zip.FileHeader{Name: name, Method: zip.Deflate}
			h.SetMode(0o755)
			w, _ := zw.CreateHeader(h)
			w.Write([]byte(body))
		}
		zw.Close()
		return buf.Bytes()
	}

	// StopDeployment while BeforeInstall runs: BeforeInstall completes, AfterInstall never runs.
	d := createDeployment(t, c, "Ops", "ops", uploadRevision(t, s.URL, "releases", "ops/stop.zip",
		bundle("touch "+dest+"/started\nsleep 2\ntouch "+dest+"/before-done\n")))
	eventually(t, "BeforeInstall to start", 20*time.Second, func() bool { return exists("started") })
	if _, err := c.StopDeployment(context.Background(), &codedeploy.StopDeploymentInput{DeploymentId: aws.String(d)}); err != nil {
		t.Fatal(err)
	}
	awaitDeployment(t, c, d, cdtypes.DeploymentStatusStopped)
	if !exists("before-done") || exists("after-ran") {
		t.Errorf("after the stop: BeforeInstall finished %v (want true), AfterInstall ran %v (want false)", exists("before-done"), exists("after-ran"))
	}

	// SIGTERM mid-hook: the hook is killed and reported, and the agent exits 0.
	pidFile := filepath.Join(dest, "hook.pid")
	d = createDeployment(t, c, "Ops", "ops", uploadRevision(t, s.URL, "releases", "ops/term.zip", bundle("echo $$ > "+pidFile+"\nexec sleep 300\n")))
	eventually(t, "the hook to start", 20*time.Second, func() bool { return exists("hook.pid") })
	b, _ := os.ReadFile(pidFile)
	hookPid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() { syscall.Kill(hookPid, syscall.SIGKILL) })
	if code := p.stop(t); code != 0 {
		t.Errorf("the agent exited %d on SIGTERM:\n%s", code, p.stderr.String())
	}
	if err := syscall.Kill(hookPid, 0); err == nil {
		t.Error("the hook still runs after the agent stopped")
	}
	awaitDeployment(t, c, d, cdtypes.DeploymentStatusFailed)
	target := deployTargets(t, c, d)["ops-1"]
	for _, e := range target.LifecycleEvents {
		if aws.ToString(e.LifecycleEventName) == "BeforeInstall" {
			if e.Status != cdtypes.LifecycleEventStatusFailed || e.Diagnostics == nil || !strings.Contains(aws.ToString(e.Diagnostics.Message), "the agent is shutting down") {
				t.Errorf("BeforeInstall: %s %+v", e.Status, e.Diagnostics)
			}
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(root, "ongoing-deployment", "*")); len(matches) != 0 {
		t.Errorf("crash markers left after a clean stop: %v", matches)
	}
}
