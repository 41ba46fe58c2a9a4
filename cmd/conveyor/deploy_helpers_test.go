package main

// A scripted host agent: the real server under test is driven over the agent protocol exactly as
// `conveyor agent` drives it, with each host's behaviour chosen by the test. It stands in for hosts
// where a test is about the server's rules, not about running scripts.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/agent/protocol"
)

func codeDeployClient(url string) *codedeploy.Client {
	return codedeploy.New(codedeploy.Options{Region: "local", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(testAdminKey, testAdminSecret, ""), Retryer: closedConnRetryer()})
}

// newToken creates a registration token through the REST extra.
func newToken(t *testing.T, url string, tags map[string]string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"expiresInSeconds": 600, "tags": tags})
	code, resp := restCall(t, url, http.MethodPost, "/api/v1/agents/tokens", testAdminKey, testAdminSecret, body)
	if code != http.StatusOK {
		t.Fatalf("create token: %d %s", code, resp)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(resp, &out); err != nil || out.Token == "" {
		t.Fatalf("token response %s: %v", resp, err)
	}
	return out.Token
}

// scriptedAgent is one host speaking the agent protocol.
type scriptedAgent struct {
	t          testing.TB
	url        string
	name       string
	id, secret string
	http       *http.Client
}

// call sends a protocol request; out (when not nil) receives a 200 body.
func (a *scriptedAgent) call(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+protocol.PathPrefix+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.id != "" {
		req.Header.Set("Authorization", "Bearer "+a.id+":"+a.secret)
	}
	req.Header.Set(protocol.AgentHeader, "test")
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Errorf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Errorf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// registerAgent registers a host with a token; it fails the test unless registration succeeds.
func registerAgent(t testing.TB, url, token, name string, tags map[string]string) *scriptedAgent {
	t.Helper()
	a := &scriptedAgent{t: t, url: url, name: name, http: &http.Client{Timeout: 2 * protocol.MaxWait}}
	var resp protocol.RegisterResponse
	if code := a.call(http.MethodPost, "/register", protocol.RegisterRequest{Token: token, Name: name, Tags: tags, Version: "test", OS: "linux", Arch: "amd64"}, &resp); code != http.StatusOK {
		t.Fatalf("register %s: HTTP %d", name, code)
	}
	a.id, a.secret = resp.AgentID, resp.Credential
	return a
}

// poll asks for a command, waiting up to wait; nil when there is none.
func (a *scriptedAgent) poll(wait time.Duration) *protocol.Command {
	a.t.Helper()
	var cmd protocol.Command
	code := a.call(http.MethodGet, "/commands/next?wait="+strings.TrimSuffix(wait.String(), "s"), nil, &cmd)
	switch code {
	case http.StatusOK:
		return &cmd
	case http.StatusNoContent:
		return nil
	}
	a.t.Errorf("%s: poll: HTTP %d", a.name, code)
	return nil
}

// mustPoll waits for a command.
func (a *scriptedAgent) mustPoll() *protocol.Command {
	a.t.Helper()
	cmd := a.poll(20 * time.Second)
	if cmd == nil {
		a.t.Fatalf("%s: no command within 20s", a.name)
	}
	return cmd
}

func (a *scriptedAgent) event(cmd, event, status string, diag *protocol.Diagnostics) (protocol.EventResponse, int) {
	a.t.Helper()
	now := time.Now()
	rep := protocol.EventReport{Event: event, Status: status, StartTime: now, Diagnostics: diag}
	if status != protocol.StatusInProgress {
		rep.EndTime = &now
	}
	var resp protocol.EventResponse
	code := a.call(http.MethodPost, "/commands/"+cmd+"/events", rep, &resp)
	return resp, code
}

func (a *scriptedAgent) complete(cmd, status string) int {
	a.t.Helper()
	return a.call(http.MethodPost, "/commands/"+cmd+"/complete", protocol.Completion{Status: status}, nil)
}

func (a *scriptedAgent) heartbeat(cmd string) (protocol.HeartbeatResponse, int) {
	a.t.Helper()
	var resp protocol.HeartbeatResponse
	code := a.call(http.MethodPost, "/commands/"+cmd+"/heartbeat", nil, &resp)
	return resp, code
}

func (a *scriptedAgent) logs(cmd, event string, lines ...string) int {
	a.t.Helper()
	var batch protocol.LogBatch
	for _, l := range lines {
		batch.Lines = append(batch.Lines, protocol.LogLine{Time: time.Now(), Event: event, Script: "scripts/" + strings.ToLower(event) + ".sh", Stream: "stdout", Text: l})
	}
	return a.call(http.MethodPost, "/commands/"+cmd+"/logs", batch, nil)
}

func (a *scriptedAgent) bundle(cmd string) ([]byte, int) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+protocol.PathPrefix+"/bundles/"+cmd, nil)
	req.Header.Set("Authorization", "Bearer "+a.id+":"+a.secret)
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode
}

// run plays a command: every event InProgress then Succeeded, except failAt, which fails with a
// ScriptFailed diagnostic; then the completion. It returns whether the server said to go on at
// the end.
func (a *scriptedAgent) run(cmd *protocol.Command, failAt string) {
	a.t.Helper()
	for _, ev := range cmd.Events {
		if resp, code := a.event(cmd.ID, ev, protocol.StatusInProgress, nil); code != http.StatusOK {
			a.t.Errorf("%s: %s InProgress: HTTP %d", a.name, ev, code)
			return
		} else if !resp.Continue {
			a.complete(cmd.ID, protocol.StatusFailed)
			return
		}
		a.logs(cmd.ID, ev, "running "+ev+" on "+a.name)
		if ev == failAt {
			diag := &protocol.Diagnostics{ErrorCode: protocol.ErrScriptFailed, ScriptName: "scripts/validate_service.sh",
				Message: "scripts/validate_service.sh exited 1", LogTail: "curl: (7) Failed to connect to localhost port 8080"}
			if _, code := a.event(cmd.ID, ev, protocol.StatusFailed, diag); code != http.StatusOK {
				a.t.Errorf("%s: %s Failed: HTTP %d", a.name, ev, code)
			}
			a.complete(cmd.ID, protocol.StatusFailed)
			return
		}
		resp, code := a.event(cmd.ID, ev, protocol.StatusSucceeded, nil)
		if code != http.StatusOK {
			a.t.Errorf("%s: %s Succeeded: HTTP %d", a.name, ev, code)
			return
		}
		if !resp.Continue {
			a.complete(cmd.ID, protocol.StatusFailed)
			return
		}
	}
	if code := a.complete(cmd.ID, protocol.StatusSucceeded); code != http.StatusNoContent {
		a.t.Errorf("%s: complete: HTTP %d", a.name, code)
	}
}

// serve runs the agent in the background until ctx ends: every command is played by run, failing
// at the event failAt(cmd) names ("" for none). Commands are recorded in order.
type commandLog struct {
	mu   sync.Mutex
	seen []string // "<instance> <deployment id>"
}

func (h *commandLog) add(s string) {
	h.mu.Lock()
	h.seen = append(h.seen, s)
	h.mu.Unlock()
}

func (h *commandLog) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, h.seen...)
}

func (a *scriptedAgent) serve(ctx context.Context, log *commandLog, failAt func(*protocol.Command) string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cmd := a.pollCtx(ctx)
			if cmd == nil {
				continue
			}
			log.add(a.name + " " + cmd.DeploymentID)
			a.run(cmd, failAt(cmd))
		}
	}()
	return done
}

// pollCtx is poll that gives up when ctx ends (the background agents of a test).
func (a *scriptedAgent) pollCtx(ctx context.Context) *protocol.Command {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url+protocol.PathPrefix+"/commands/next?wait=5", nil)
	req.Header.Set("Authorization", "Bearer "+a.id+":"+a.secret)
	resp, err := a.http.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var cmd protocol.Command
	if json.NewDecoder(resp.Body).Decode(&cmd) != nil {
		return nil
	}
	return &cmd
}

// revisionZip is a small bundle with an appspec.
func revisionZip(t testing.TB, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{
		"appspec.yml":                 "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /opt/app\n",
		"version.txt":                 version + "\n",
		"scripts/validate_service.sh": "#!/bin/sh\ncurl -fsS localhost:8080/health\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadRevision stores a bundle as bucket/key and returns the S3 revision location.
func uploadRevision(t *testing.T, url, bucket, key string, body []byte) *cdtypes.RevisionLocation {
	t.Helper()
	if code, resp := restCall(t, url, http.MethodPut, "/api/v1/buckets/"+bucket+"/objects/"+key, testAdminKey, testAdminSecret, body); code != http.StatusOK {
		t.Fatalf("upload %s/%s: %d %s", bucket, key, code, resp)
	}
	return &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeS3,
		S3Location: &cdtypes.S3Location{Bucket: aws.String(bucket), Key: aws.String(key), BundleType: cdtypes.BundleTypeZip}}
}

// deployFixture creates an application and a group selecting hosts tagged role=<group>.
func deployFixture(t *testing.T, c *codedeploy.Client, app, group, config string, rollback bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String(app)}); err != nil {
		if _, err := c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(app)}); err != nil {
			t.Fatal(err)
		}
	}
	in := &codedeploy.CreateDeploymentGroupInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group),
		ServiceRoleArn: aws.String("arn:aws:iam::123456789012:role/unused"), DeploymentConfigName: aws.String(config),
		OnPremisesInstanceTagFilters: []cdtypes.TagFilter{{Key: aws.String("role"), Value: aws.String(group), Type: cdtypes.TagFilterTypeKeyAndValue}}}
	if rollback {
		in.AutoRollbackConfiguration = &cdtypes.AutoRollbackConfiguration{Enabled: true,
			Events: []cdtypes.AutoRollbackEvent{cdtypes.AutoRollbackEventDeploymentFailure, cdtypes.AutoRollbackEventDeploymentStopOnRequest}}
	}
	if _, err := c.CreateDeploymentGroup(ctx, in); err != nil {
		t.Fatal(err)
	}
}

func createDeployment(t *testing.T, c *codedeploy.Client, app, group string, rev *cdtypes.RevisionLocation) string {
	t.Helper()
	out, err := c.CreateDeployment(context.Background(), &codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app),
		DeploymentGroupName: aws.String(group), Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.DeploymentId)
}

func getDeployment(t *testing.T, c *codedeploy.Client, id string) *cdtypes.DeploymentInfo {
	t.Helper()
	out, err := c.GetDeployment(context.Background(), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out.DeploymentInfo
}

// awaitDeployment polls until a deployment ends (across the API there is no event to wait on).
func awaitDeployment(t *testing.T, c *codedeploy.Client, id string, want cdtypes.DeploymentStatus) *cdtypes.DeploymentInfo {
	t.Helper()
	var d *cdtypes.DeploymentInfo
	eventually(t, "deployment "+id+" to end", 30*time.Second, func() bool {
		d = getDeployment(t, c, id)
		return d.Status == cdtypes.DeploymentStatusSucceeded || d.Status == cdtypes.DeploymentStatusFailed || d.Status == cdtypes.DeploymentStatusStopped
	})
	if d.Status != want {
		msg := ""
		if d.ErrorInformation != nil {
			msg = aws.ToString(d.ErrorInformation.Message)
		}
		t.Fatalf("deployment %s ended %s (%s), want %s", id, d.Status, msg, want)
	}
	return d
}

// deployTargets reads every target of a deployment, by instance name.
func deployTargets(t *testing.T, c *codedeploy.Client, id string) map[string]*cdtypes.InstanceTarget {
	t.Helper()
	ctx := context.Background()
	list, err := c.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*cdtypes.InstanceTarget{}
	if len(list.TargetIds) == 0 {
		return out
	}
	got, err := c.BatchGetDeploymentTargets(ctx, &codedeploy.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(id), TargetIds: list.TargetIds})
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range got.DeploymentTargets {
		out[aws.ToString(dt.InstanceTarget.TargetId)] = dt.InstanceTarget
	}
	return out
}

func deployOverview(d *cdtypes.DeploymentInfo) [5]int64 {
	o := d.DeploymentOverview
	return [5]int64{o.Pending, o.InProgress, o.Succeeded, o.Failed, o.Skipped}
}
