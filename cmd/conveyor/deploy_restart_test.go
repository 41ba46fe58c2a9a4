package main

// A deployment survives a server crash: the host in the middle of its command goes on reporting
// to the restarted server, the rollout continues, and the group's queue moves on.

import (
	"testing"

	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/agent/protocol"
)

func TestDeploymentSurvivesAServerCrash(t *testing.T) {
	data := t.TempDir()
	p := startServerProcess(t, data)
	c := codeDeployClient(p.URL)
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.OneAtATime", false)
	web := hosts(t, p.URL, "web", "web", 2)
	rev := uploadRevision(t, p.URL, "releases", "v1.zip", revisionZip(t, "v1"))
	id := createDeployment(t, c, "shop", "web", rev)
	queued := createDeployment(t, c, "shop", "web", rev)
	cmd := web[0].mustPoll()
	web[0].event(cmd.ID, protocol.EventApplicationStop, protocol.StatusSucceeded, nil)
	web[0].event(cmd.ID, protocol.EventDownloadBundle, protocol.StatusInProgress, nil)

	p.kill(t)
	p = startServerProcess(t, data)
	c = codeDeployClient(p.URL)
	for _, h := range web {
		h.url = p.URL
	}
	// The command web-1 holds is still its own and still leased.
	if hb, code := web[0].heartbeat(cmd.ID); code != 200 || !hb.Continue {
		t.Fatalf("heartbeat after the restart: %d %+v\n%s", code, hb, p.log())
	}
	if d := getDeployment(t, c, id); d.Status != cdtypes.DeploymentStatusInProgress || deployOverview(d) != [5]int64{1, 1, 0, 0, 0} {
		t.Fatalf("after the restart: %s %v", d.Status, deployOverview(d))
	}
	if body, code := web[0].bundle(cmd.ID); code != 200 || len(body) == 0 {
		t.Fatalf("bundle after the restart: HTTP %d", code)
	}
	// Finish the rest of the events and the other host; the queued deployment follows.
	for _, ev := range cmd.Events[1:] {
		if ev != protocol.EventDownloadBundle {
			web[0].event(cmd.ID, ev, protocol.StatusInProgress, nil)
		}
		web[0].event(cmd.ID, ev, protocol.StatusSucceeded, nil)
	}
	web[0].complete(cmd.ID, protocol.StatusSucceeded)
	web[1].run(web[1].mustPoll(), "")
	awaitDeployment(t, c, id, cdtypes.DeploymentStatusSucceeded)
	for _, h := range web {
		next := h.mustPoll()
		if next.DeploymentID != queued {
			t.Fatalf("%s got %s, want the queued %s", h.name, next.DeploymentID, queued)
		}
		h.run(next, "")
	}
	awaitDeployment(t, c, queued, cdtypes.DeploymentStatusSucceeded)
}
