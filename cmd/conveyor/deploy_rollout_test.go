package main

// Deployments over scripted hosts: the configurations' scheduling, failure, automatic rollback,
// the group's queue, stop, and leases. The hosts are scripted protocol clients; the server is real.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// hosts registers n scripted hosts named <prefix>-1… tagged role=<role>.
func hosts(t *testing.T, url, prefix, role string, n int) []*scriptedAgent {
	t.Helper()
	var out []*scriptedAgent
	for i := 1; i <= n; i++ {
		out = append(out, registerAgent(t, url, newToken(t, url, nil), fmt.Sprintf("%s-%d", prefix, i), map[string]string{"role": role}))
	}
	return out
}

func TestOneAtATimeFailureRollsBack(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	ctx := context.Background()
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.OneAtATime", true)
	web := hosts(t, s.URL, "web", "web", 3)
	v1 := revisionZip(t, "v1")
	rev1 := uploadRevision(t, s.URL, "releases", "shop/v1.zip", v1)

	// v1: one host at a time, in name order; every host gets the command after the previous ended.
	d1 := createDeployment(t, c, "shop", "web", rev1)
	if got := deployOverview(getDeployment(t, c, d1)); got != [5]int64{2, 1, 0, 0, 0} {
		t.Fatalf("after CreateDeployment, overview (pending, in progress, succeeded, failed, skipped) = %v, want one host in flight", got)
	}
	for i, h := range web {
		for _, other := range web[i+1:] {
			if cmd := other.poll(0); cmd != nil {
				t.Fatalf("%s got a command while %s had not finished", other.name, h.name)
			}
		}
		cmd := h.mustPoll()
		if cmd.DeploymentID != d1 || cmd.Creator != "user" || len(cmd.Events) != 7 || cmd.Events[0] != protocol.EventApplicationStop {
			t.Fatalf("command = %+v", cmd)
		}
		sum := sha256.Sum256(v1)
		if cmd.Revision.SHA256 != hex.EncodeToString(sum[:]) || cmd.Revision.Bucket != "releases" || cmd.Revision.Key != "shop/v1.zip" || cmd.Revision.BundleType != "zip" {
			t.Fatalf("revision = %+v", cmd.Revision)
		}
		if body, code := h.bundle(cmd.ID); code != http.StatusOK || !bytesEqual(body, v1) {
			t.Fatalf("bundle: HTTP %d, %d bytes", code, len(body))
		}
		h.run(cmd, "")
	}
	awaitDeployment(t, c, d1, cdtypes.DeploymentStatusSucceeded)

	// v2 fails ValidateService on the first host: the others never get it, the deployment fails,
	// and a rollback of v1 goes to the first host only.
	rev2 := uploadRevision(t, s.URL, "releases", "shop/v2.zip", revisionZip(t, "v2"))
	d2 := createDeployment(t, c, "shop", "web", rev2)
	cmd := web[0].mustPoll()
	web[0].run(cmd, protocol.EventValidateService)
	failed := awaitDeployment(t, c, d2, cdtypes.DeploymentStatusFailed)
	if got := deployOverview(failed); got != [5]int64{0, 0, 0, 1, 2} {
		t.Errorf("failed deployment overview = %v, want 1 failed and 2 skipped", got)
	}
	if e := failed.ErrorInformation; e == nil || e.Code != cdtypes.ErrorCodeHealthConstraints ||
		!strings.Contains(aws.ToString(e.Message), "web-1 failed ValidateService (ScriptFailed: scripts/validate_service.sh exited 1)") {
		t.Errorf("errorInformation = %+v", e)
	}
	rb := failed.RollbackInfo
	if rb == nil || aws.ToString(rb.RollbackDeploymentId) == "" {
		t.Fatalf("rollbackInfo = %+v", rb)
	}
	rollbackID := aws.ToString(rb.RollbackDeploymentId)
	events := deployTargets(t, c, d2)["web-1"].LifecycleEvents
	var validate cdtypes.LifecycleEvent
	for _, e := range events {
		if aws.ToString(e.LifecycleEventName) == "ValidateService" {
			validate = e
		}
	}
	if validate.Status != cdtypes.LifecycleEventStatusFailed || validate.Diagnostics == nil || validate.Diagnostics.ErrorCode != cdtypes.LifecycleErrorCodeScriptFailed ||
		!strings.Contains(aws.ToString(validate.Diagnostics.LogTail), "Failed to connect") {
		t.Errorf("ValidateService = %+v", validate)
	}
	for _, h := range web[1:] {
		if cmd := h.poll(0); cmd != nil {
			t.Errorf("%s got a command of %s: the rollout must stop at the first failure", h.name, cmd.DeploymentID)
		}
	}
	rcmd := web[0].mustPoll()
	if rcmd.DeploymentID != rollbackID || rcmd.Creator != "codeDeployRollback" || rcmd.Revision.Key != "shop/v1.zip" {
		t.Fatalf("rollback command = %+v", rcmd)
	}
	web[0].run(rcmd, "")
	rolled := awaitDeployment(t, c, rollbackID, cdtypes.DeploymentStatusSucceeded)
	if rolled.Creator != cdtypes.DeploymentCreatorCodeDeployRollback || rolled.RollbackInfo == nil ||
		aws.ToString(rolled.RollbackInfo.RollbackTriggeringDeploymentId) != d2 || deployOverview(rolled) != [5]int64{0, 0, 1, 0, 0} {
		t.Errorf("rollback = %+v overview %v", rolled, deployOverview(rolled))
	}
	if ids := deployTargets(t, c, rollbackID); len(ids) != 1 || ids["web-1"] == nil {
		t.Errorf("rollback targets = %v, want web-1 only", ids)
	}
	group, err := c.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(group.DeploymentGroupInfo.LastSuccessfulDeployment.DeploymentId) != rollbackID {
		t.Errorf("last successful deployment = %+v", group.DeploymentGroupInfo.LastSuccessfulDeployment)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func TestConfigsScheduleHosts(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	ctx := context.Background()
	if _, err := c.CreateDeploymentConfig(ctx, &codedeploy.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("three-of-four"),
		MinimumHealthyHosts: &cdtypes.MinimumHealthyHosts{Type: cdtypes.MinimumHealthyHostsTypeHostCount, Value: 3}}); err != nil {
		t.Fatal(err)
	}
	fleet := hosts(t, s.URL, "api", "api", 4)
	rev := uploadRevision(t, s.URL, "releases", "api.zip", revisionZip(t, "v1"))
	cases := []struct {
		config   string
		inFlight int64
	}{
		{"CodeDeployDefault.AllAtOnce", 4},
		{"CodeDeployDefault.HalfAtATime", 2},
		{"CodeDeployDefault.OneAtATime", 1},
		{"three-of-four", 1},
	}
	for i, tc := range cases {
		group := fmt.Sprintf("api-%d", i)
		deployFixture(t, c, "api", group, tc.config, false)
		// The group selects the same four hosts (role=api).
		if _, err := c.UpdateDeploymentGroup(ctx, &codedeploy.UpdateDeploymentGroupInput{ApplicationName: aws.String("api"),
			CurrentDeploymentGroupName:   aws.String(group),
			OnPremisesInstanceTagFilters: []cdtypes.TagFilter{{Key: aws.String("role"), Value: aws.String("api"), Type: cdtypes.TagFilterTypeKeyAndValue}}}); err != nil {
			t.Fatal(err)
		}
		id := createDeployment(t, c, "api", group, rev)
		d := getDeployment(t, c, id)
		if got := deployOverview(d); got[1] != tc.inFlight || got[0] != 4-tc.inFlight {
			t.Errorf("%s: overview after create = %v, want %d hosts in flight", tc.config, got, tc.inFlight)
		}
		// Play it out: each host runs what it is given until the deployment ends.
		for !finished(getDeployment(t, c, id).Status) {
			for _, h := range fleet {
				if cmd := h.poll(0); cmd != nil {
					h.run(cmd, "")
				}
			}
		}
		awaitDeployment(t, c, id, cdtypes.DeploymentStatusSucceeded)
	}
	// HalfAtATime on one host cannot keep half healthy: it fails at once.
	one := hosts(t, s.URL, "solo", "solo", 1)
	_ = one
	deployFixture(t, c, "api", "solo", "CodeDeployDefault.HalfAtATime", false)
	d := awaitDeployment(t, c, createDeployment(t, c, "api", "solo", rev), cdtypes.DeploymentStatusFailed)
	if d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeHealthConstraintsInvalid {
		t.Errorf("HalfAtATime on one host: %+v", d.ErrorInformation)
	}
	// A group nobody matches fails with NO_INSTANCES.
	deployFixture(t, c, "api", "nobody", "CodeDeployDefault.AllAtOnce", false)
	d = awaitDeployment(t, c, createDeployment(t, c, "api", "nobody", rev), cdtypes.DeploymentStatusFailed)
	if d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeNoInstances {
		t.Errorf("no hosts: %+v", d.ErrorInformation)
	}
}

func finished(s cdtypes.DeploymentStatus) bool {
	return s == cdtypes.DeploymentStatusSucceeded || s == cdtypes.DeploymentStatusFailed || s == cdtypes.DeploymentStatusStopped
}

func TestLeaseExpiryFailsTheHost(t *testing.T) {
	s := startServer(t, func(c *serverConfig) { c.AgentLease = time.Second })
	c := codeDeployClient(s.URL)
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.OneAtATime", false)
	web := hosts(t, s.URL, "web", "web", 2)
	rev := uploadRevision(t, s.URL, "releases", "v1.zip", revisionZip(t, "v1"))

	// web-1 heartbeats through a hook longer than the lease and succeeds.
	id := createDeployment(t, c, "shop", "web", rev)
	cmd := web[0].mustPoll()
	if cmd.LeaseSeconds != 1 {
		t.Errorf("leaseSeconds = %d", cmd.LeaseSeconds)
	}
	web[0].event(cmd.ID, protocol.EventApplicationStop, protocol.StatusInProgress, nil)
	for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); {
		if hb, code := web[0].heartbeat(cmd.ID); code != http.StatusOK || !hb.Continue {
			t.Fatalf("heartbeat: %d %+v", code, hb)
		}
		time.Sleep(300 * time.Millisecond) // the agent's heartbeat interval, well inside the lease
	}
	web[0].run(cmd, "")

	// web-2 starts BeforeInstall and goes silent: it is failed with AGENT_ISSUE after its lease,
	// and OneAtATime's last host may fail: the deployment still succeeds.
	cmd2 := web[1].mustPoll()
	web[1].event(cmd2.ID, protocol.EventApplicationStop, protocol.StatusSucceeded, nil)
	web[1].event(cmd2.ID, protocol.EventDownloadBundle, protocol.StatusSucceeded, nil)
	web[1].event(cmd2.ID, protocol.EventBeforeInstall, protocol.StatusInProgress, nil)
	d := awaitDeployment(t, c, id, cdtypes.DeploymentStatusSucceeded)
	if deployOverview(d) != [5]int64{0, 0, 1, 1, 0} {
		t.Errorf("overview = %v", deployOverview(d))
	}
	tg := deployTargets(t, c, id)["web-2"]
	var before cdtypes.LifecycleEvent
	for _, e := range tg.LifecycleEvents {
		if aws.ToString(e.LifecycleEventName) == "BeforeInstall" {
			before = e
		}
	}
	if tg.Status != cdtypes.TargetStatusFailed || before.Status != cdtypes.LifecycleEventStatusFailed || before.Diagnostics == nil ||
		!strings.Contains(aws.ToString(before.Diagnostics.Message), "AGENT_ISSUE") || !strings.Contains(aws.ToString(before.Diagnostics.Message), "during BeforeInstall") {
		t.Errorf("web-2 = %s, BeforeInstall = %+v %+v", tg.Status, before, before.Diagnostics)
	}
	// The silent agent comes back: its lease is gone.
	if _, code := web[1].event(cmd2.ID, protocol.EventBeforeInstall, protocol.StatusSucceeded, nil); code != http.StatusConflict {
		t.Errorf("a report after the lease expired: HTTP %d, want 409", code)
	}
	if _, code := web[1].heartbeat(cmd2.ID); code != http.StatusConflict {
		t.Errorf("a heartbeat after the lease expired: HTTP %d, want 409", code)
	}

	// The first host going silent stops the rollout: the second never gets the command.
	id = createDeployment(t, c, "shop", "web", rev)
	first := web[1].mustPoll() // web-2 failed last time: unhealthy hosts go first
	_ = first
	d = awaitDeployment(t, c, id, cdtypes.DeploymentStatusFailed)
	if d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeAgentIssue {
		t.Errorf("errorInformation = %+v", d.ErrorInformation)
	}
	if cmd := web[0].poll(0); cmd != nil {
		t.Errorf("web-1 got %s after the first host failed", cmd.DeploymentID)
	}
}
