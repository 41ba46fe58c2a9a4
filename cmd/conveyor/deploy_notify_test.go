package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/notify"
)

// A deployment announces that it started and how it ended; a failed one that was rolled back
// announces the failure, then the rollback — signed, to a local receiver.
func TestDeploymentNotificationsEndToEnd(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	recv, got := notificationReceiver(t, "deploy-key")
	cliAgainst(t, s)
	mustCLI(t, "secrets", "put", "deploy-key", "deploy-key")
	if _, err := s.app.web.notify.PutTarget(ctx, notify.Target{Name: "ops", Type: notify.TypeWebhook, URL: recv.URL,
		SigningSecret: "deploy-key", AllowPrivateAddresses: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.web.notify.PutRule(ctx, notify.Rule{Name: "deploys", Targets: []string{"ops"}, Events: []string{
		notify.DeploymentStarted, notify.DeploymentSucceeded, notify.DeploymentFailed, notify.DeploymentRolledBack}}); err != nil {
		t.Fatal(err)
	}
	c := codeDeployClient(s.URL)
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.OneAtATime", true)
	agent := registerAgent(t, s.URL, newToken(t, s.URL, nil), "web-1", map[string]string{"role": "web"})
	agentCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Revision v2 fails ValidateService (its rollback, to v1, succeeds).
	done := agent.serve(agentCtx, &commandLog{}, func(cmd *protocol.Command) string {
		if cmd.Revision.Key == "v2.zip" {
			return protocol.EventValidateService
		}
		return ""
	})
	defer func() { stop(); <-done }()

	// next collects messages for one deployment until the wanted events arrived, in order.
	next := func(deployment string, want ...string) {
		t.Helper()
		var seen []string
		deadline := time.After(30 * time.Second)
		for len(seen) < len(want) {
			select {
			case m := <-got:
				if m.Deployment == nil || m.Deployment.ID != deployment {
					continue
				}
				seen = append(seen, m.Event)
				if m.URL == "" {
					t.Errorf("message %s carries no link to the deployment page", m.Event)
				}
			case <-deadline:
				t.Fatalf("deployment %s: got %v, want %v", deployment, seen, want)
			}
		}
		for i := range want {
			if seen[i] != want[i] {
				t.Fatalf("deployment %s: got %v, want %v", deployment, seen, want)
			}
		}
	}

	good := createDeployment(t, c, "shop", "web", uploadRevision(t, s.URL, "revs", "v1.zip", revisionZip(t, "1")))
	awaitDeployment(t, c, good, types.DeploymentStatusSucceeded)
	next(good, notify.DeploymentStarted, notify.DeploymentSucceeded)

	failing := createDeployment(t, c, "shop", "web", uploadRevision(t, s.URL, "revs", "v2.zip", revisionZip(t, "2")))
	awaitDeployment(t, c, failing, types.DeploymentStatusFailed)
	next(failing, notify.DeploymentStarted, notify.DeploymentFailed, notify.DeploymentRolledBack)
}
