package main

// The agent protocol's checks: registration tokens (single use, printed alone by the CLI),
// revocation, and every call about a command checked against the agent it was leased to.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/agent/protocol"
)

func TestAgentRegistrationAndRevocation(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)

	// The CLI prints just the token, so a script can capture it.
	out := mustCLI(t, "agents", "token", "create", "--expires", "10m", "--tag", "env=prod")
	token := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(token, "cvt_") || strings.ContainsAny(token, " \t") {
		t.Fatalf("agents token create printed %q", out)
	}
	web1 := registerAgent(t, s.URL, token, "web-1", map[string]string{"role": "web"})

	// Single use: the same token again is 410; an unknown one 401.
	probe := &scriptedAgent{t: t, url: s.URL, http: http.DefaultClient}
	if code := probe.call(http.MethodPost, "/register", protocol.RegisterRequest{Token: token, Name: "web-2"}, nil); code != http.StatusGone {
		t.Errorf("reusing a token: HTTP %d, want 410", code)
	}
	if code := probe.call(http.MethodPost, "/register", protocol.RegisterRequest{Token: "cvt_forged", Name: "web-2"}, nil); code != http.StatusUnauthorized {
		t.Errorf("an unknown token: HTTP %d, want 401", code)
	}
	// A name an active agent holds is refused.
	if code := probe.call(http.MethodPost, "/register", protocol.RegisterRequest{Token: newToken(t, s.URL, nil), Name: "web-1"}, nil); code != http.StatusConflict {
		t.Errorf("a taken name: HTTP %d, want 409", code)
	}
	// No or wrong credentials: 401.
	if cmd := web1.poll(0); cmd != nil {
		t.Fatalf("an idle agent got %+v", cmd)
	}
	forged := *web1
	forged.secret = "wrong"
	if code := forged.call(http.MethodGet, "/commands/next?wait=0", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a wrong credential: HTTP %d, want 401", code)
	}

	// agents list shows the host, its tags (the token's env=prod with its own role=web), version and heartbeat.
	out = mustCLI(t, "agents", "list")
	if !strings.Contains(out, "web-1") || !strings.Contains(out, "env=prod,role=web") || !strings.Contains(out, "test") ||
		!strings.Contains(out, "ago") || !strings.Contains(out, "idle") {
		t.Errorf("agents list:\n%s", out)
	}
	// agents tag changes the tags deployments select by.
	out = mustCLI(t, "agents", "tag", "web-1", "zone=a", "--remove", "env")
	if strings.TrimSpace(out) != "web-1: role=web,zone=a" {
		t.Errorf("agents tag: %q", out)
	}
	errOut := failCLI(t, 1, "agents", "tag", "ghost", "zone=a")
	if !strings.Contains(errOut, "InstanceNotRegisteredException") {
		t.Errorf("tagging an unknown host: %s", errOut)
	}

	// Revoked: every call is refused; the name may register again with a new token.
	mustCLI(t, "agents", "revoke", "web-1")
	if code := web1.call(http.MethodGet, "/commands/next?wait=0", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a revoked agent: HTTP %d, want 401", code)
	}
	out = mustCLI(t, "agents", "list")
	if !strings.Contains(out, "revoked") {
		t.Errorf("agents list after revoke:\n%s", out)
	}
	again := registerAgent(t, s.URL, strings.TrimSpace(mustCLI(t, "agents", "token", "create")), "web-1", map[string]string{"role": "web"})
	if cmd := again.poll(0); cmd != nil {
		t.Errorf("re-registered agent got %+v", cmd)
	}
	var listed struct {
		Agents []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Revoked bool              `json:"revoked"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "agents", "list", "--output", "json")), &listed); err != nil || len(listed.Agents) != 1 ||
		listed.Agents[0].Revoked || listed.Agents[0].Tags["role"] != "web" || listed.Agents[0].Tags["zone"] != "" {
		t.Errorf("agents list --output json: %v %+v", err, listed)
	}
}

func TestAgentCallsAreCheckedAgainstTheLease(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.AllAtOnce", false)
	deployFixture(t, c, "shop", "db", "CodeDeployDefault.AllAtOnce", false)
	web := registerAgent(t, s.URL, newToken(t, s.URL, nil), "web-1", map[string]string{"role": "web"})
	db := registerAgent(t, s.URL, newToken(t, s.URL, nil), "db-1", map[string]string{"role": "db"})
	webZip, dbZip := revisionZip(t, "web"), revisionZip(t, "db")
	webID := createDeployment(t, c, "shop", "web", uploadRevision(t, s.URL, "releases", "web.zip", webZip))
	createDeployment(t, c, "shop", "db", uploadRevision(t, s.URL, "releases", "db.zip", dbZip))
	wcmd, dcmd := web.mustPoll(), db.mustPoll()

	// Each downloads its own bundle, matching the command's sha256; not the other's.
	body, code := web.bundle(wcmd.ID)
	sum := sha256.Sum256(body)
	if code != http.StatusOK || hex.EncodeToString(sum[:]) != wcmd.Revision.SHA256 || int64(len(body)) != wcmd.Revision.Size {
		t.Fatalf("web bundle: HTTP %d, sha256 %x, command %+v", code, sum, wcmd.Revision)
	}
	if _, code := db.bundle(wcmd.ID); code != http.StatusForbidden {
		t.Errorf("db-1 fetching web-1's bundle: HTTP %d, want 403", code)
	}
	if _, code := web.bundle("no-such-command"); code != http.StatusNotFound {
		t.Errorf("an unknown command's bundle: HTTP %d, want 404", code)
	}
	// Reports on a command the agent was not given: 403.
	if _, code := db.event(wcmd.ID, protocol.EventApplicationStop, protocol.StatusInProgress, nil); code != http.StatusForbidden {
		t.Errorf("db-1 reporting on web-1's command: HTTP %d, want 403", code)
	}
	if code := db.complete(wcmd.ID, protocol.StatusSucceeded); code != http.StatusForbidden {
		t.Errorf("db-1 completing web-1's command: HTTP %d, want 403", code)
	}
	if _, code := db.heartbeat(wcmd.ID); code != http.StatusForbidden {
		t.Errorf("db-1 heartbeating web-1's command: HTTP %d, want 403", code)
	}
	if code := db.logs(wcmd.ID, protocol.EventBeforeInstall, "forged"); code != http.StatusForbidden {
		t.Errorf("db-1 logging on web-1's command: HTTP %d, want 403", code)
	}
	// Malformed reports: 400.
	if _, code := web.event(wcmd.ID, "Start", protocol.StatusInProgress, nil); code != http.StatusBadRequest {
		t.Errorf("reporting the server's own Start event: HTTP %d, want 400", code)
	}
	if _, code := web.event(wcmd.ID, protocol.EventInstall, "Sort of", nil); code != http.StatusBadRequest {
		t.Errorf("a bad status: HTTP %d, want 400", code)
	}

	// Until the agent reports, a poll hands the command out again (its answer may have been lost).
	if again := web.poll(0); again == nil || again.ID != wcmd.ID {
		t.Errorf("a re-poll before any report: %+v", again)
	}
	// Duplicate reports are safe; a contradiction is refused.
	if r, code := web.event(wcmd.ID, protocol.EventApplicationStop, protocol.StatusSucceeded, nil); code != http.StatusOK || !r.Continue {
		t.Fatalf("report: %d %+v", code, r)
	}
	if r, code := web.event(wcmd.ID, protocol.EventApplicationStop, protocol.StatusSucceeded, nil); code != http.StatusOK || !r.Continue {
		t.Errorf("a duplicate report: %d %+v", code, r)
	}
	if _, code := web.event(wcmd.ID, protocol.EventApplicationStop, protocol.StatusInProgress, nil); code != http.StatusOK {
		t.Errorf("a late InProgress: HTTP %d, want 200 (ignored)", code)
	}
	if _, code := web.event(wcmd.ID, protocol.EventApplicationStop, protocol.StatusFailed, nil); code != http.StatusConflict {
		t.Errorf("contradicting a recorded outcome: HTTP %d, want 409", code)
	}
	if again := web.poll(0); again != nil {
		t.Errorf("a command the agent reported on was handed out again: %+v", again)
	}
	// Script output goes to the deployment's log for the host.
	if code := web.logs(wcmd.ID, protocol.EventBeforeInstall, "installing dependencies", "done"); code != http.StatusNoContent {
		t.Errorf("logs: HTTP %d", code)
	}
	web.run(wcmd, "")
	if code := web.complete(wcmd.ID, protocol.StatusSucceeded); code != http.StatusNoContent {
		t.Errorf("a repeated completion: HTTP %d, want 204", code)
	}
	if code := web.complete(wcmd.ID, protocol.StatusFailed); code != http.StatusConflict {
		t.Errorf("a contradicting completion: HTTP %d, want 409", code)
	}
	awaitDeployment(t, c, webID, cdtypes.DeploymentStatusSucceeded)
	// After the command ended its bundle is no longer served.
	if _, code := web.bundle(wcmd.ID); code != http.StatusConflict {
		t.Errorf("the bundle of an ended command: HTTP %d, want 409", code)
	}
	db.run(dcmd, "")

	code, logBody := restCall(t, s.URL, http.MethodGet, "/api/v1/deployments/"+webID+"/logs?host=web-1", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK || !strings.Contains(string(logBody), "LifecycleEvent - BeforeInstall") ||
		!strings.Contains(string(logBody), "[stdout]installing dependencies") || !strings.Contains(string(logBody), "Script - scripts/beforeinstall.sh") {
		t.Errorf("deployment log: %d %s", code, logBody)
	}
}

func TestQueueStopAndRollbackOnStop(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	ctx := context.Background()
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.AllAtOnce", true)
	web := hosts(t, s.URL, "web", "web", 2)
	rev1 := uploadRevision(t, s.URL, "releases", "v1.zip", revisionZip(t, "v1"))
	first := createDeployment(t, c, "shop", "web", rev1)
	// One active deployment per group: the next one queues.
	second := createDeployment(t, c, "shop", "web", uploadRevision(t, s.URL, "releases", "v2.zip", revisionZip(t, "v2")))
	if d := getDeployment(t, c, second); d.Status != cdtypes.DeploymentStatusQueued || deployOverview(d) != [5]int64{} {
		t.Fatalf("second deployment = %s %v, want Queued without hosts", d.Status, deployOverview(d))
	}
	for _, h := range web {
		h.run(h.mustPoll(), "")
	}
	awaitDeployment(t, c, first, cdtypes.DeploymentStatusSucceeded)

	// The queued one started when the first ended. Stop it with web-1 in the middle of a hook and
	// web-2 not yet started: web-2 stops at once, web-1 after its event; then a rollback.
	c1 := web[0].mustPoll()
	if c1.DeploymentID != second {
		t.Fatalf("web-1 got %s, want the queued %s", c1.DeploymentID, second)
	}
	web[0].event(c1.ID, protocol.EventApplicationStop, protocol.StatusSucceeded, nil)
	web[0].event(c1.ID, protocol.EventDownloadBundle, protocol.StatusInProgress, nil)
	c2 := web[1].mustPoll()
	web[1].event(c2.ID, protocol.EventApplicationStop, protocol.StatusInProgress, nil)
	stop, err := c.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(second), AutoRollbackEnabled: aws.Bool(true)})
	if err != nil || stop.Status != cdtypes.StopStatusPending {
		t.Fatalf("StopDeployment: %v %+v", err, stop)
	}
	_, err = c.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(first)})
	wantAPIError(t, err, "DeploymentAlreadyCompletedException")
	for i, cmd := range []*protocol.Command{c1, c2} {
		hb, code := web[i].heartbeat(cmd.ID)
		if code != http.StatusOK || hb.Continue {
			t.Fatalf("heartbeat after stop: %d %+v, want continue=false", code, hb)
		}
		ev := protocol.EventDownloadBundle
		if i == 1 {
			ev = protocol.EventApplicationStop
		}
		if r, _ := web[i].event(cmd.ID, ev, protocol.StatusSucceeded, nil); r.Continue {
			t.Errorf("%s: an event report after stop says go on", web[i].name)
		}
		web[i].complete(cmd.ID, protocol.StatusFailed)
	}
	stopped := awaitDeployment(t, c, second, cdtypes.DeploymentStatusStopped)
	if stopped.ErrorInformation == nil || stopped.ErrorInformation.Code != cdtypes.ErrorCodeManualStop || stopped.RollbackInfo == nil {
		t.Fatalf("stopped deployment: %+v %+v", stopped.ErrorInformation, stopped.RollbackInfo)
	}
	rollback := aws.ToString(stopped.RollbackInfo.RollbackDeploymentId)
	for _, h := range web {
		cmd := h.mustPoll()
		if cmd.DeploymentID != rollback || cmd.Revision.Key != "v1.zip" {
			t.Fatalf("%s: %+v, want the rollback of v1", h.name, cmd)
		}
		h.run(cmd, "")
	}
	awaitDeployment(t, c, rollback, cdtypes.DeploymentStatusSucceeded)

	// A queued deployment stopped before it starts ends at once, without hosts.
	blocker := createDeployment(t, c, "shop", "web", rev1)
	queued := createDeployment(t, c, "shop", "web", rev1)
	stop, err = c.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(queued), AutoRollbackEnabled: aws.Bool(false)})
	if err != nil || stop.Status != cdtypes.StopStatusSucceeded {
		t.Fatalf("stopping a queued deployment: %v %+v", err, stop)
	}
	for _, h := range web {
		h.run(h.mustPoll(), "")
	}
	awaitDeployment(t, c, blocker, cdtypes.DeploymentStatusSucceeded)
	listed, err := c.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web"),
		IncludeOnlyStatuses: []cdtypes.DeploymentStatus{cdtypes.DeploymentStatusStopped}})
	if err != nil || strings.Join(listed.Deployments, ",") != queued+","+second {
		t.Errorf("stopped deployments: %v %v, want %s,%s", err, listed.Deployments, queued, second)
	}
}
