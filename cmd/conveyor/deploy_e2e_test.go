package main

// The deploy scenario end to end, on real agents: each host is a container of
// conveyor/agent-host:bookworm on a private Docker network, running `conveyor agent` (a static
// build of this tree, copied in) under a loop that restarts it like systemd. The server runs in
// this process and is reached from the network's gateway address. The sample app goes through a
// pipeline (S3 source → CodeBuild → CodeDeploy) to three hosts with OneAtATime; hook behaviour,
// crash and kill cases run against hosts of their own.

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

const agentHostImage = "conveyor/agent-host:bookworm"

// requireAgentHosts fails the test when the docker CLI, the engine or the images are missing in
// CI, and skips it elsewhere.
func requireAgentHosts(t *testing.T) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("required in CI: "+format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		missing("the docker CLI is not installed")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		missing("the Docker engine is not reachable: %s", out)
	}
	for _, img := range []string{agentHostImage, "conveyor/build-debian:bookworm"} {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			missing("image %s is missing (make images)", img)
		}
	}
}

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// staticConveyor builds this tree's conveyor binary without cgo, so it runs in any Linux
// container whatever the host's C library.
func staticConveyor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "conveyor")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=e2e", "-o", bin, ".")
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// dockerNetwork is a private bridge network; the server listens on its gateway address.
type dockerNetwork struct {
	name, gateway string
}

func newDockerNetwork(t *testing.T) *dockerNetwork {
	t.Helper()
	n := &dockerNetwork{name: fmt.Sprintf("conveyor-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)}
	dockerCLI(t, "network", "create", "--label", "conveyor.test=e2e", n.name)
	t.Cleanup(func() { exec.Command("docker", "network", "rm", n.name).Run() })
	n.gateway = dockerCLI(t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", n.name)
	if net.ParseIP(n.gateway) == nil {
		t.Fatalf("network %s has no gateway address (%q)", n.name, n.gateway)
	}
	return n
}

// serveOn answers the test server's requests on addr too (for the containers).
func serveOn(t *testing.T, s *testServer, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.app.handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// agentHost is one deploy host: a container running `conveyor agent`.
type agentHost struct {
	t         *testing.T
	name      string
	container string
}

func startAgentHost(t *testing.T, n *dockerNetwork, bin, serverURL, token, name, role string) *agentHost {
	t.Helper()
	h := &agentHost{t: t, name: name, container: n.name + "-" + name}
	dockerCLI(t, "create", "--init", "--network", n.name, "--name", h.container, "--hostname", name, "--label", "conveyor.test=e2e",
		agentHostImage, "--server", serverURL, "--token", token, "--name", name, "--tag", "role="+role, "--poll-wait", "5s", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "80", h.container).CombinedOutput()
			t.Logf("agent %s:\n%s", name, out)
		}
		exec.Command("docker", "rm", "-f", h.container).Run()
	})
	dockerCLI(t, "cp", bin, h.container+":/usr/local/bin/conveyor")
	dockerCLI(t, "start", h.container)
	return h
}

// sh runs a shell command in the host; it returns the output and whether it exited 0.
func (h *agentHost) sh(script string) (string, bool) {
	out, err := exec.Command("docker", "exec", h.container, "sh", "-c", script).CombinedOutput()
	return strings.TrimSpace(string(out)), err == nil
}

func (h *agentHost) mustSh(script string) string {
	h.t.Helper()
	out, ok := h.sh(script)
	if !ok {
		h.t.Fatalf("%s: %s: %s", h.name, script, out)
	}
	return out
}

// zipHostFiles zips files (name → content; scripts executable).
func zipHostFiles(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			h.SetMode(0o755)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// awaitExecution waits for a pipeline execution to end and returns how it ended.
func awaitExecution(t *testing.T, c *codepipeline.Client, name, id string, timeout time.Duration) cptypes.PipelineExecutionStatus {
	t.Helper()
	var st cptypes.PipelineExecutionStatus
	eventually(t, name+" execution "+id+" to end", timeout, func() bool {
		st = executionStatus(t, c, name, id)
		switch st {
		case cptypes.PipelineExecutionStatusSucceeded, cptypes.PipelineExecutionStatusFailed, cptypes.PipelineExecutionStatusStopped,
			cptypes.PipelineExecutionStatusSuperseded:
			return true
		}
		return false
	})
	return st
}

// newExecution waits for an execution other than the ones in seen to appear, and returns it.
func newExecution(t *testing.T, c *codepipeline.Client, name string, seen ...string) string {
	t.Helper()
	var id string
	eventually(t, "a new execution of "+name, 30*time.Second, func() bool {
		id = latestExecutionID(t, c, name)
		for _, s := range seen {
			if s == id {
				return false
			}
		}
		return true
	})
	return id
}

func eventDiagnostics(target *cdtypes.InstanceTarget, event string) (cdtypes.LifecycleEventStatus, *cdtypes.Diagnostics) {
	for _, e := range target.LifecycleEvents {
		if aws.ToString(e.LifecycleEventName) == event {
			return e.Status, e.Diagnostics
		}
	}
	return "", nil
}

func TestDeployEndToEndOnAgentHosts(t *testing.T) {
	requireAgentHosts(t)
	const lease = 6 * time.Second
	s := startServer(t, func(c *serverConfig) { c.AgentLease = lease })
	requireDocker(t, s)
	ctx := context.Background()
	cd, cp, cb := codeDeployClient(s.URL), codePipelineClient(s.URL, "", ""), codeBuildClient(s.URL)

	n := newDockerNetwork(t)
	agentURL := serveOn(t, s, n.gateway)
	bin := staticConveyor(t)
	hostsOf := map[string][]*agentHost{}
	for _, h := range []struct{ name, role string }{
		{"web-1", "web"}, {"web-2", "web"}, {"web-3", "web"}, {"misc-1", "misc"}, {"kill-1", "kill"}, {"kill-2", "kill"},
	} {
		hostsOf[h.role] = append(hostsOf[h.role], startAgentHost(t, n, bin, agentURL, newToken(t, s.URL, nil), h.name, h.role))
	}
	eventually(t, "six agents to register", 60*time.Second, func() bool {
		out, err := cd.ListOnPremisesInstances(ctx, &codedeploy.ListOnPremisesInstancesInput{})
		return err == nil && len(out.InstanceNames) == 6
	})
	web := hostsOf["web"]

	t.Run("sample app through a pipeline, OneAtATime, rollback", func(t *testing.T) {
		deployFixture(t, cd, "SampleApp", "web", "CodeDeployDefault.OneAtATime", true)
		if _, err := cb.CreateProject(ctx, &codebuild.CreateProjectInput{Name: aws.String("sample-app"),
			Source:      &cbtypes.ProjectSource{Type: cbtypes.SourceTypeCodepipeline},
			Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeCodepipeline},
			Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeLinuxContainer, Image: aws.String("conveyor/build-debian:bookworm"), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small},
			ServiceRole: aws.String("arn:aws:iam::000000000000:role/conveyor")}); err != nil {
			t.Fatal(err)
		}
		upload := func(version string) {
			t.Helper()
			body := zipDir(t, fixtures.Dir(t, "sample-app/"+version))
			if code, resp := restCall(t, s.URL, http.MethodPut, "/api/v1/buckets/sources/objects/sample-app.zip", testAdminKey, testAdminSecret, body); code != http.StatusOK {
				t.Fatalf("upload %s: %d %s", version, code, resp)
			}
		}
		serves := func(h *agentHost, version string) {
			t.Helper()
			if got := h.mustSh("curl -fsS http://127.0.0.1:8080/"); got != "sample-app version "+version+" on "+h.name {
				t.Errorf("%s serves %q, want version %s", h.name, got, version)
			}
		}
		decl := s3BuildPipeline("sample-app", "sample-app", "sample-app.zip", "true")
		decl.Stages[1].Actions[0].OutputArtifacts = []cptypes.OutputArtifact{{Name: aws.String("Revision")}}
		decl.Stages = append(decl.Stages, cptypes.StageDeclaration{Name: aws.String("Deploy"), Actions: []cptypes.ActionDeclaration{{Name: aws.String("Deploy"),
			ActionTypeId:   &cptypes.ActionTypeId{Category: cptypes.ActionCategoryDeploy, Owner: cptypes.ActionOwnerAws, Provider: aws.String("CodeDeploy"), Version: aws.String("1")},
			Configuration:  map[string]string{"ApplicationName": "SampleApp", "DeploymentGroupName": "web"},
			InputArtifacts: []cptypes.InputArtifact{{Name: aws.String("Revision")}}}}})

		// v1: built, then deployed one host at a time; every host serves version 1.
		upload("v1")
		if _, err := cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: decl}); err != nil {
			t.Fatal(err)
		}
		e1 := latestExecutionID(t, cp, "sample-app")
		if st := awaitExecution(t, cp, "sample-app", e1, 5*time.Minute); st != cptypes.PipelineExecutionStatusSucceeded {
			t.Fatalf("v1 execution %s; deploy action: %+v", st, actionState(t, cp, "sample-app", "Deploy", "Deploy"))
		}
		d1 := aws.ToString(actionState(t, cp, "sample-app", "Deploy", "Deploy").ExternalExecutionId)
		for _, h := range web {
			serves(h, "1")
		}

		// v2-broken-port: web-1 fails ValidateService, the others never get v2, the rollback puts
		// v1 back on web-1, and the pipeline's action fails naming the hook.
		upload("v2-broken-port")
		e2 := newExecution(t, cp, "sample-app", e1)
		if st := awaitExecution(t, cp, "sample-app", e2, 5*time.Minute); st != cptypes.PipelineExecutionStatusFailed {
			t.Fatalf("v2 execution %s, want Failed", st)
		}
		act := actionState(t, cp, "sample-app", "Deploy", "Deploy")
		if act.ErrorDetails == nil || !strings.Contains(aws.ToString(act.ErrorDetails.Message), "web-1") ||
			!strings.Contains(aws.ToString(act.ErrorDetails.Message), "ValidateService") {
			t.Errorf("the deploy action's error must name the host and the hook: %+v", act.ErrorDetails)
		}
		d2 := aws.ToString(act.ExternalExecutionId)
		failed := getDeployment(t, cd, d2)
		if failed.RollbackInfo == nil || failed.RollbackInfo.RollbackDeploymentId == nil {
			t.Fatalf("no rollback of %s: %+v", d2, failed)
		}
		rb := aws.ToString(failed.RollbackInfo.RollbackDeploymentId)
		if r := awaitDeployment(t, cd, rb, cdtypes.DeploymentStatusSucceeded); r.Creator != cdtypes.DeploymentCreatorCodeDeployRollback {
			t.Errorf("rollback creator %s", r.Creator)
		}
		targets := deployTargets(t, cd, d2)
		if targets["web-1"].Status != cdtypes.TargetStatusFailed || targets["web-2"].Status != cdtypes.TargetStatusSkipped || targets["web-3"].Status != cdtypes.TargetStatusSkipped {
			t.Errorf("v2 targets: web-1 %s, web-2 %s, web-3 %s", targets["web-1"].Status, targets["web-2"].Status, targets["web-3"].Status)
		}
		if st, diag := eventDiagnostics(targets["web-1"], "ValidateService"); st != cdtypes.LifecycleEventStatusFailed || diag == nil ||
			diag.ErrorCode != cdtypes.LifecycleErrorCodeScriptFailed || aws.ToString(diag.ScriptName) != "scripts/validate_service.sh" ||
			!strings.Contains(aws.ToString(diag.LogTail), "ValidateService failed: nothing healthy on 127.0.0.1:8080") {
			t.Errorf("web-1 ValidateService: %s %+v", st, diag)
		}
		for _, h := range web {
			serves(h, "1")
		}
		for _, h := range web[1:] {
			if out, _ := h.sh("ls -d /var/lib/conveyor-agent/*/" + d2); !strings.Contains(out, "No such file") {
				t.Errorf("%s received v2: %s", h.name, out)
			}
		}

		// v3: every host serves version 3; ApplicationStop ran v1's stop script (the rollback's
		// copy of v1 on web-1, the first deployment's elsewhere).
		upload("v3")
		e3 := newExecution(t, cp, "sample-app", e1, e2)
		if st := awaitExecution(t, cp, "sample-app", e3, 5*time.Minute); st != cptypes.PipelineExecutionStatusSucceeded {
			t.Fatalf("v3 execution %s; deploy action: %+v", st, actionState(t, cp, "sample-app", "Deploy", "Deploy"))
		}
		d3 := aws.ToString(actionState(t, cp, "sample-app", "Deploy", "Deploy").ExternalExecutionId)
		for _, h := range web {
			serves(h, "3")
			from := d1
			if h.name == "web-1" {
				from = rb
			}
			log := h.mustSh("cat /var/lib/conveyor-agent/*/" + d3 + "/logs/scripts.log")
			if !strings.Contains(log, "running ApplicationStop from the last successful revision ("+from+")") {
				t.Errorf("%s: v3's ApplicationStop did not run from %s:\n%s", h.name, from, log)
			}
		}
	})

	misc := hostsOf["misc"][0]
	deployFixture(t, cd, "Misc", "misc", "CodeDeployDefault.AllAtOnce", false)
	deployMisc := func(t *testing.T, key string, files map[string]string, behavior cdtypes.FileExistsBehavior) string {
		t.Helper()
		in := &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("Misc"), DeploymentGroupName: aws.String("misc"),
			Revision: uploadRevision(t, s.URL, "releases", "misc/"+key, zipHostFiles(t, files)), FileExistsBehavior: behavior}
		out, err := cd.CreateDeployment(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.DeploymentId)
	}
	hookAppspec := func(hooks string) string {
		return "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/misc\nhooks:\n" + hooks
	}

	t.Run("hook timeout kills the script's process group", func(t *testing.T) {
		d := deployMisc(t, "timeout.zip", map[string]string{
			"appspec.yml": hookAppspec("  BeforeInstall:\n    - location: slow.sh\n      timeout: 3\n"),
			"slow.sh":     "#!/bin/sh\nsleep 301 &\nsleep 302\n",
		}, "")
		awaitDeployment(t, cd, d, cdtypes.DeploymentStatusFailed)
		st, diag := eventDiagnostics(deployTargets(t, cd, d)["misc-1"], "BeforeInstall")
		if st != cdtypes.LifecycleEventStatusFailed || diag == nil || diag.ErrorCode != cdtypes.LifecycleErrorCodeScriptTimedOut ||
			aws.ToString(diag.Message) != "Script at specified location: slow.sh failed to complete in 3 seconds" {
			t.Errorf("BeforeInstall: %s %+v", st, diag)
		}
		if out, ok := misc.sh("pgrep -f '^sleep 30[12]'"); ok {
			t.Errorf("the timed-out hook's processes still run: %s", out)
		}
	})

	t.Run("a hook that backgrounds a process with its stdout attached", func(t *testing.T) {
		start := time.Now()
		d := deployMisc(t, "background.zip", map[string]string{
			"appspec.yml": hookAppspec("  ApplicationStart:\n    - location: start.sh\n      timeout: 600\n"),
			"start.sh":    "#!/bin/sh\nsleep 303 &\necho started in the background\n",
		}, cdtypes.FileExistsBehaviorOverwrite)
		awaitDeployment(t, cd, d, cdtypes.DeploymentStatusSucceeded)
		if took := time.Since(start); took > time.Minute {
			t.Errorf("the deployment took %v: the event must end when the script exits", took)
		}
		st, diag := eventDiagnostics(deployTargets(t, cd, d)["misc-1"], "ApplicationStart")
		if st != cdtypes.LifecycleEventStatusSucceeded || diag == nil || !strings.Contains(aws.ToString(diag.Message), "still holds its stdout or stderr") {
			t.Errorf("ApplicationStart: %s %+v", st, diag)
		}
		misc.sh("pkill -f '^sleep 303'")
	})

	t.Run("file_exists_behavior, permissions and runas", func(t *testing.T) {
		misc.mustSh("mkdir -p /srv/app && echo old > /srv/app/config.txt")
		files := map[string]string{
			"appspec.yml": "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/app\npermissions:\n" +
				"  - object: /srv/app\n    pattern: \"*.txt\"\n    owner: builder\n    group: builder\n    mode: 640\n    type: [file]\n" +
				"hooks:\n  AfterInstall:\n    - location: whoami.sh\n      runas: builder\n",
			"config.txt": "new\n",
			"notes.txt":  "notes\n",
			"whoami.sh":  "#!/bin/sh\necho \"hook ran as $(id -un) with HOME=$HOME\"\n",
		}
		d := deployMisc(t, "files.zip", files, "")
		awaitDeployment(t, cd, d, cdtypes.DeploymentStatusFailed)
		st, diag := eventDiagnostics(deployTargets(t, cd, d)["misc-1"], "Install")
		if st != cdtypes.LifecycleEventStatusFailed || diag == nil || !strings.Contains(aws.ToString(diag.Message), "/srv/app/config.txt already exists") {
			t.Errorf("DISALLOW: Install %s %+v", st, diag)
		}
		if got := misc.mustSh("cat /srv/app/config.txt"); got != "old" {
			t.Errorf("DISALLOW changed the file: %q", got)
		}

		d = deployMisc(t, "files.zip", files, cdtypes.FileExistsBehaviorOverwrite)
		awaitDeployment(t, cd, d, cdtypes.DeploymentStatusSucceeded)
		if got := misc.mustSh("cat /srv/app/config.txt; stat -c '%U:%G %a' /srv/app/config.txt /srv/app/notes.txt /srv/app/whoami.sh"); got !=
			"new\nbuilder:builder 640\nbuilder:builder 640\nroot:root 755" {
			t.Errorf("OVERWRITE and permissions:\n%s", got)
		}
		code, logs := restCall(t, s.URL, http.MethodGet, "/api/v1/deployments/"+d+"/logs", testAdminKey, testAdminSecret, nil)
		if code != http.StatusOK || !strings.Contains(string(logs), "hook ran as builder with HOME=/home/builder") {
			t.Errorf("runas: deployment logs (%d): %s", code, logs)
		}
	})

	t.Run("agent process restarted mid-hook", func(t *testing.T) {
		d := deployMisc(t, "restart.zip", map[string]string{
			"appspec.yml": hookAppspec("  BeforeInstall:\n    - location: long.sh\n      timeout: 600\n"),
			"long.sh":     "#!/bin/sh\necho waiting\nsleep 304\n",
		}, cdtypes.FileExistsBehaviorOverwrite)
		eventually(t, "the hook to run", 60*time.Second, func() bool { _, ok := misc.sh("pgrep -f '^sleep 304'"); return ok })
		misc.mustSh("pkill -KILL -f '^/usr/local/bin/conveyor agent'") // the host's supervisor starts it again
		awaitDeployment(t, cd, d, cdtypes.DeploymentStatusFailed)
		st, diag := eventDiagnostics(deployTargets(t, cd, d)["misc-1"], "BeforeInstall")
		if st != cdtypes.LifecycleEventStatusFailed || diag == nil ||
			!strings.HasPrefix(aws.ToString(diag.Message), "agent restarted during BeforeInstall") {
			t.Errorf("BeforeInstall after the restart: %s %+v", st, diag)
		}
		if out, ok := misc.sh("pgrep -f '^sleep 304'"); ok {
			t.Errorf("the interrupted hook still runs: %s", out)
		}
		// The restarted agent takes the next deployment as usual.
		d = deployMisc(t, "after-restart.zip", map[string]string{"appspec.yml": hookAppspec("")}, cdtypes.FileExistsBehaviorOverwrite)
		awaitDeployment(t, cd, d, cdtypes.DeploymentStatusSucceeded)
	})

	t.Run("agent container killed mid-hook", func(t *testing.T) {
		kill := hostsOf["kill"]
		deployFixture(t, cd, "Killed", "kill", "CodeDeployDefault.OneAtATime", false)
		out, err := cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("Killed"), DeploymentGroupName: aws.String("kill"),
			Revision: uploadRevision(t, s.URL, "releases", "kill.zip", zipHostFiles(t, map[string]string{
				"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: long.sh\n      timeout: 600\n",
				"long.sh":     "#!/bin/sh\nsleep 305\n",
			}))})
		if err != nil {
			t.Fatal(err)
		}
		d := aws.ToString(out.DeploymentId)
		eventually(t, "kill-1's hook to run", 60*time.Second, func() bool { _, ok := kill[0].sh("pgrep -f '^sleep 305'"); return ok })
		killed := time.Now()
		dockerCLI(t, "kill", kill[0].container)
		dep := awaitDeployment(t, cd, d, cdtypes.DeploymentStatusFailed)
		if took := time.Since(killed); took > lease+20*time.Second {
			t.Errorf("the host was failed %v after it died; the lease is %v", took, lease)
		}
		targets := deployTargets(t, cd, d)
		if targets["kill-1"].Status != cdtypes.TargetStatusFailed || targets["kill-2"].Status != cdtypes.TargetStatusSkipped {
			t.Errorf("targets: kill-1 %s, kill-2 %s", targets["kill-1"].Status, targets["kill-2"].Status)
		}
		if dep.ErrorInformation == nil || !strings.Contains(string(dep.ErrorInformation.Code)+aws.ToString(dep.ErrorInformation.Message), "AGENT_ISSUE") {
			t.Errorf("errorInformation %+v", dep.ErrorInformation)
		}
		if out, _ := kill[1].sh("ls /var/lib/conveyor-agent/*/" + d); !strings.Contains(out, "No such file") {
			t.Errorf("kill-2 received the command: %s", out)
		}
	})
}
