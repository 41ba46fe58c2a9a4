package main

// `conveyor deploy …` and the applications:/deploymentConfigs: sections of `conveyor apply`.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"

	"github.com/conveyorci/conveyor/agent/protocol"
)

const deployConfigYAML = `deploymentConfigs:
  - deploymentConfigName: two-at-a-time
    minimumHealthyHosts: {type: HOST_COUNT, value: 1}
applications:
  - applicationName: shop
    deploymentGroups:
      - deploymentGroupName: web
        onPremisesInstanceTagFilters:
          - {Key: role, Value: web, Type: KEY_AND_VALUE}
        autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}
      - deploymentGroupName: canary
        deploymentConfigName: two-at-a-time
        onPremisesTagSet:
          onPremisesTagSetList:
            - [{Key: role, Value: web}]
            - [{Key: canary, Type: KEY_ONLY}]
`

func TestDeployCLI(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	dir := t.TempDir()
	file := writeFile(t, dir, "conveyor.yaml", deployConfigYAML)

	// apply creates the config, the application and its groups; a second apply changes nothing.
	out := mustCLI(t, "apply", "-f", file)
	for _, want := range []string{"deployment config two-at-a-time: created", "application shop: created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply:\n%s\nwant %q", out, want)
		}
	}
	out = mustCLI(t, "apply", "-f", file)
	if !strings.Contains(out, "deployment config two-at-a-time: unchanged") || !strings.Contains(out, "application shop: unchanged") {
		t.Errorf("second apply:\n%s", out)
	}
	c := codeDeployClient(s.URL)
	g, err := c.GetDeploymentGroup(context.Background(), &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("canary")})
	if err != nil || aws.ToString(g.DeploymentGroupInfo.DeploymentConfigName) != "two-at-a-time" || len(g.DeploymentGroupInfo.OnPremisesTagSet.OnPremisesTagSetList) != 2 {
		t.Fatalf("canary group: %v %+v", err, g)
	}
	// A changed group is updated: the removed rollback setting is cleared on the server.
	changed := strings.Replace(deployConfigYAML, "        autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}\n", "", 1)
	writeFile(t, dir, "conveyor.yaml", changed)
	out = mustCLI(t, "apply", "-f", file, "--dry-run")
	if !strings.Contains(out, "application shop: would update: group web would update (autoRollbackConfiguration)") {
		t.Errorf("dry run:\n%s", out)
	}
	out = mustCLI(t, "apply", "-f", file)
	if !strings.Contains(out, "application shop: updated: group web updated (autoRollbackConfiguration)") {
		t.Errorf("apply of a change:\n%s", out)
	}
	if out = mustCLI(t, "apply", "-f", file); !strings.Contains(out, "application shop: unchanged") {
		t.Errorf("apply after the change:\n%s", out)
	}
	writeFile(t, dir, "conveyor.yaml", deployConfigYAML)
	if out = mustCLI(t, "apply", "-f", file); !strings.Contains(out, "application shop: updated: group web updated (autoRollbackConfiguration)") {
		t.Errorf("apply restoring the rollback:\n%s", out)
	}

	// Mistakes are reported at their line, with nothing applied.
	bad := writeFile(t, dir, "bad.yaml", `deploymentConfigs:
  - deploymentConfigName: half
    minimumHealthyHosts: {type: FLEET_PERCENT, value: 150}
applications:
  - applicationName: shop
    deploymentGroups:
      - deploymentGroupName: web
        onPremisesInstanceTagFilters:
          - {key: role, Value: web}
  - applicationName: other
    deploymentGroups:
      - deploymentGroupName: "bad name"
`)
	errOut := failCLI(t, 1, "apply", "-f", bad)
	for _, want := range []string{
		"bad.yaml:3:", "a FLEET_PERCENT must be between 0 and 100",
		`bad.yaml:9:14: applications[0].deploymentGroups[0].onPremisesInstanceTagFilters[0].key: unknown key "key" (did you mean "Key"?)`,
		`bad.yaml:12:9: applications[1].deploymentGroups[0].deploymentGroupName: deployment group name "bad name"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("apply of a bad file:\n%s\nwant %q", errOut, want)
		}
	}
	if out, _, code := cli(t, "validate", bad); code != 1 || !strings.Contains(out, "bad.yaml:3:") || !strings.Contains(out, "bad.yaml:12:9:") {
		t.Errorf("validate of a bad file: exit %d\n%s", code, out)
	}

	// Hosts, then a deployment: create --wait, get, list, logs.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := &commandLog{}
	var done []<-chan struct{}
	for _, h := range hosts(t, s.URL, "web", "web", 2) {
		done = append(done, h.serve(ctx, seen, func(cmd *protocol.Command) string {
			if strings.Contains(cmd.Revision.Key, "broken") {
				return protocol.EventValidateService
			}
			return ""
		}))
	}
	defer func() {
		cancel()
		for _, d := range done {
			<-d
		}
	}()
	uploadRevision(t, s.URL, "releases", "shop/v1.zip", revisionZip(t, "v1"))
	uploadRevision(t, s.URL, "releases", "shop/broken.zip", revisionZip(t, "broken"))
	out = mustCLI(t, "deploy", "create", "shop", "web", "--bucket", "releases", "--key", "shop/v1.zip", "--wait")
	if !strings.Contains(out, "status:     Succeeded") || !strings.Contains(out, "hosts:      2 succeeded") ||
		!strings.Contains(out, "host web-1: Succeeded") || !strings.Contains(out, "ValidateService   Succeeded") {
		t.Errorf("deploy create --wait:\n%s", out)
	}
	id := strings.TrimSpace(mustCLI(t, "deploy", "create", "shop", "web", "--bucket", "releases", "--key", "shop/broken.zip"))
	if !strings.HasPrefix(id, "d-") || len(id) != 11 {
		t.Fatalf("deploy create printed %q", id)
	}
	awaitDeployment(t, c, id, "Failed")
	out = mustCLI(t, "deploy", "get", id)
	for _, want := range []string{"status:     Failed", "error:      HEALTH_CONSTRAINTS: Host web-1 failed ValidateService", "rollback:   d-",
		"host web-1: Failed", "ValidateService   Failed", "ScriptFailed: scripts/validate_service.sh exited 1",
		"| curl: (7) Failed to connect to localhost port 8080", "host web-2: Skipped", "revision:   s3://releases/shop/broken.zip version "} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy get:\n%s\nwant %q", out, want)
		}
	}
	var raw struct {
		DeploymentInfo struct {
			Status             string         `json:"status"`
			DeploymentOverview map[string]int `json:"deploymentOverview"`
		} `json:"deploymentInfo"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "deploy", "get", id, "--output", "json")), &raw); err != nil ||
		raw.DeploymentInfo.Status != "Failed" || raw.DeploymentInfo.DeploymentOverview["Skipped"] != 1 {
		t.Errorf("deploy get --output json: %v %+v", err, raw)
	}
	out = mustCLI(t, "deploy", "list", "--app", "shop", "--group", "web")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.Contains(lines[2], id) || !strings.Contains(lines[2], "Failed") ||
		!strings.Contains(lines[1], "codeDeployRollback") {
		t.Errorf("deploy list:\n%s", out)
	}
	out = mustCLI(t, "deploy", "logs", id)
	if !strings.Contains(out, "==> web-1 <==") || !strings.Contains(out, "[stdout]running ValidateService on web-1") ||
		!strings.Contains(out, "==> web-2 <==\n(no output)") {
		t.Errorf("deploy logs:\n%s", out)
	}
	if out = mustCLI(t, "deploy", "logs", id, "--host", "web-1", "--tail", "2"); strings.Count(out, "\n") != 2 {
		t.Errorf("deploy logs --host --tail 2:\n%s", out)
	}
	errOut = failCLI(t, 1, "deploy", "stop", id)
	if !strings.Contains(errOut, "DeploymentAlreadyCompletedException") {
		t.Errorf("stopping an ended deployment: %s", errOut)
	}
	if errOut = failCLI(t, 2, "deploy", "create", "shop", "web"); !strings.Contains(errOut, "give the revision") {
		t.Errorf("deploy create without a revision: %s", errOut)
	}
	if code, _ := restCall(t, s.URL, http.MethodGet, "/api/v1/deployments/d-NOTHERE00/logs", testAdminKey, testAdminSecret, nil); code != http.StatusNotFound {
		t.Errorf("logs of an unknown deployment: HTTP %d", code)
	}
}
