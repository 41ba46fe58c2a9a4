package main

// End-to-end tests of the client commands: each drives `run` (what main calls) against a real
// server running in this process, and checks what a person or a script would see.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/examples"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
)

// cliAgainst points the client commands at s with the admin key, through the environment as a
// user would set it.
func cliAgainst(t *testing.T, s *testServer) {
	t.Helper()
	t.Setenv("CONVEYOR_ENDPOINT", s.URL)
	t.Setenv("CONVEYOR_DATA", t.TempDir()) // no admin-credentials there: the environment's key is used
	t.Setenv("CONVEYOR_OUTPUT", "")
	t.Setenv("AWS_ACCESS_KEY_ID", testAdminKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testAdminSecret)
}

// cli runs `conveyor args…` and returns its standard output, standard error and exit status.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustCLI runs a command that must succeed and returns its standard output.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("conveyor %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// failCLI runs a command that must fail with the given status and returns its standard error.
func failCLI(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != want {
		t.Fatalf("conveyor %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return errOut
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// position returns the 1-based line and column (in characters) where needle first occurs in text.
func position(t *testing.T, text, needle string) string {
	t.Helper()
	i := strings.Index(text, needle)
	if i < 0 {
		t.Fatalf("%q not in the text", needle)
	}
	before := text[:i]
	line := strings.Count(before, "\n") + 1
	col := len([]rune(before[strings.LastIndexByte(before, '\n')+1:])) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

// lastPosition is position for the last occurrence of needle.
func lastPosition(text, needle string) string {
	i := strings.LastIndex(text, needle)
	before := text[:i]
	return fmt.Sprintf("%d:%d", strings.Count(before, "\n")+1, len([]rune(before[strings.LastIndexByte(before, '\n')+1:]))+1)
}

var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// fakeYAML declares, in YAML, a V2 pipeline Source (fake) → Work (one fake Build action with the
// given configuration lines, indented under configuration:).
func fakeYAML(name, mode, config string) string {
	return `name: ` + name + `
pipelineType: V2
executionMode: ` + mode + `
variables:
  - name: TARGET
    defaultValue: staging
stages:
  - name: Source
    actions:
      - name: Src
        actionTypeId: {category: Source, owner: Custom, provider: Fake, version: "1"}
        outputArtifacts: [{name: Out}]
  - name: Work
    actions:
      - name: Job
        actionTypeId: {category: Build, owner: Custom, provider: Fake, version: "1"}
        configuration:
` + config
}

func TestCLICreateGetUpdateListDelete(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()
	dir := t.TempDir()

	// From YAML: the first execution's id is printed.
	yml := writeFile(t, dir, "yamlpipe.yaml", fakeYAML("yamlpipe", "QUEUED", "          Summary: built for #{variables.TARGET}\n"))
	out := mustCLI(t, "pipeline", "create", "-f", yml)
	if !strings.Contains(out, "created pipeline yamlpipe (version 1)") {
		t.Fatalf("create output:\n%s", out)
	}
	if first := latestExecutionID(t, c, "yamlpipe"); !strings.Contains(out, "first execution: "+first) {
		t.Fatalf("create should print the first execution %s:\n%s", first, out)
	}

	// From JSON as get-pipeline prints it, with tags; flags after -f.
	jsn := writeFile(t, dir, "jsonpipe.json", string(fakePipeline("jsonpipe", "SUPERSEDED", "Build", "Custom", "Fake", map[string]string{"Summary": "ok"})))
	out = mustCLI(t, "pipeline", "create", "-f", jsn, "--tag", "team=web", "--tag", "tier=1", "--output", "json")
	var created struct {
		Pipeline            pipeline.Declaration `json:"pipeline"`
		Tags                []map[string]string  `json:"tags"`
		PipelineExecutionID string               `json:"pipelineExecutionId"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --output json: %v\n%s", err, out)
	}
	if created.Pipeline.Name != "jsonpipe" || created.Pipeline.Version != 1 || len(created.Tags) != 2 || created.PipelineExecutionID == "" {
		t.Fatalf("create --output json = %+v", created)
	}
	meta, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("jsonpipe")})
	if err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &codepipeline.ListTagsForResourceInput{ResourceArn: meta.Metadata.PipelineArn})
	if err != nil || len(tags.Tags) != 2 {
		t.Fatalf("tags = %+v, %v", tags, err)
	}

	// A structural mistake is reported with the file's position before anything is sent.
	bad := fakeYAML("badpipe", "QUEUED", "          Summary: x\n") + "stagess: []\n"
	badFile := writeFile(t, dir, "bad.yaml", bad)
	errOut := failCLI(t, 1, "pipeline", "create", "-f", badFile)
	if want := badFile + ":" + position(t, bad, "stagess") + `: stagess: unknown field "stagess" (did you mean "stages"?)`; !strings.Contains(errOut, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, errOut)
	}
	// A mistake only the server can see (its providers' configuration keys) is mapped back to the file.
	bogus := fakeYAML("bogus", "QUEUED", "          Summary: x\n          Bogus: y\n")
	bogusFile := writeFile(t, dir, "bogus.yaml", bogus)
	errOut = failCLI(t, 1, "pipeline", "create", "-f", bogusFile)
	if want := bogusFile + ":" + position(t, bogus, "Bogus") + ": stages[1].actions[0].configuration.Bogus: unknown configuration key"; !strings.Contains(errOut, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, errOut)
	}
	if _, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("bogus")}); err == nil {
		t.Fatal("a rejected pipeline was created")
	}

	// list
	out = mustCLI(t, "pipeline", "list")
	for _, want := range []string{"NAME", "VERSION", "jsonpipe", "yamlpipe", "QUEUED"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	// get --output json is the get-pipeline shape; fed to update it makes version 2.
	out = mustCLI(t, "pipeline", "get", "yamlpipe", "--output", "json")
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["pipeline"] == nil || got["metadata"] == nil {
		t.Fatalf("get --output json: %v\n%s", err, out)
	}
	if !strings.Contains(string(got["metadata"]), "arn:aws:codepipeline:local:") {
		t.Errorf("metadata = %s", got["metadata"])
	}
	roundTrip := writeFile(t, dir, "roundtrip.json", out)
	if out := mustCLI(t, "pipeline", "update", "-f", roundTrip); !strings.Contains(out, "updated pipeline yamlpipe (version 2)") {
		t.Fatalf("update output:\n%s", out)
	}
	// The YAML `get` prints by default works too, and the declaration survives both round trips.
	out = mustCLI(t, "pipeline", "get", "yamlpipe")
	if !strings.HasPrefix(out, "# pipeline yamlpipe, version 2") {
		t.Errorf("get output:\n%s", out)
	}
	yamlRoundTrip := writeFile(t, dir, "roundtrip.yaml", out)
	if out := mustCLI(t, "pipeline", "update", "-f", yamlRoundTrip); !strings.Contains(out, "(version 3)") {
		t.Fatalf("update output:\n%s", out)
	}
	orig, _, err := pipeline.Parse("x", []byte(fakeYAML("yamlpipe", "QUEUED", "          Summary: built for #{variables.TARGET}\n")))
	if err != nil {
		t.Fatal(err)
	}
	v3, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("yamlpipe")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := declarationDiff(orig, fromSDKDeclaration(v3.Pipeline)); len(diff) > 0 {
		t.Errorf("after two round trips the declaration differs at %v", diff)
	}
	out = mustCLI(t, "pipeline", "get", "yamlpipe", "--version", "1", "--output", "json")
	if !strings.Contains(out, `"version": 1`) {
		t.Errorf("get --version 1:\n%s", out)
	}
	errOut = failCLI(t, 1, "pipeline", "get", "nosuch")
	if !strings.Contains(errOut, "PipelineNotFoundException: Pipeline nosuch does not exist") {
		t.Errorf("get of a missing pipeline: %s", errOut)
	}

	// delete asks no question.
	if out := mustCLI(t, "pipeline", "delete", "jsonpipe"); !strings.Contains(out, "deleted pipeline jsonpipe") {
		t.Errorf("delete output: %s", out)
	}
	if out := mustCLI(t, "pipeline", "list"); strings.Contains(out, "jsonpipe") {
		t.Errorf("list after delete:\n%s", out)
	}

	// Usage errors exit with 2.
	failCLI(t, 2, "pipeline", "create")
	failCLI(t, 2, "pipeline", "get")
	failCLI(t, 2, "pipeline", "get", "a", "b")
	failCLI(t, 2, "pipeline", "nosuchcommand")
	failCLI(t, 2, "pipeline", "list", "--output", "xml")
}

func TestCLIStartStopRetryExecutions(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()
	dir := t.TempDir()

	// A pipeline whose Work action waits until it is stopped, several executions at once.
	mustCLI(t, "pipeline", "create", "-f", writeFile(t, dir, "waits.yaml", fakeYAML("waits", "PARALLEL", "          Wait: \"true\"\n")))
	// Flags after the name, as people type them; the id alone on stdout.
	out := mustCLI(t, "pipeline", "start", "waits", "--variable", "TARGET=prod", "--token", "release-42")
	id := strings.TrimSpace(out)
	if !uuidRe.MatchString(id) || id != uuidRe.FindString(out) {
		t.Fatalf("start should print the execution id alone, got %q", out)
	}
	if again := strings.TrimSpace(mustCLI(t, "pipeline", "start", "--token", "release-42", "waits")); again != id {
		t.Fatalf("the same token started another execution: %s, then %s", id, again)
	}
	ex, err := c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("waits"), PipelineExecutionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.PipelineExecution.Variables) != 1 || aws.ToString(ex.PipelineExecution.Variables[0].ResolvedValue) != "prod" {
		t.Fatalf("variables = %+v", ex.PipelineExecution.Variables)
	}
	var startJSON struct {
		PipelineExecutionID string `json:"pipelineExecutionId"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "pipeline", "start", "waits", "--output", "json")), &startJSON); err != nil || !uuidRe.MatchString(startJSON.PipelineExecutionID) {
		t.Fatalf("start --output json: %+v, %v", startJSON, err)
	}
	eventually(t, "the execution to reach Work", 20*time.Second, func() bool {
		a := actionState(t, c, "waits", "Work", "Job")
		return a != nil && a.Status == types.ActionExecutionStatusInProgress
	})
	out = mustCLI(t, "pipeline", "stop", "waits", id, "--abandon", "--reason", "not needed")
	if !strings.Contains(out, "stopping execution "+id) {
		t.Errorf("stop output: %s", out)
	}
	awaitStatus(t, c, "waits", id, types.PipelineExecutionStatusStopped)
	errOut := failCLI(t, 1, "pipeline", "stop", "waits", id)
	if !strings.Contains(errOut, "PipelineExecutionNotStoppableException") && !strings.Contains(errOut, "DuplicatedStopRequestException") {
		t.Errorf("stopping a stopped execution: %s", errOut)
	}

	out = mustCLI(t, "pipeline", "executions", "waits")
	for _, want := range []string{"EXECUTION ID", "STATUS", "TRIGGER", "STARTED", "SOURCE REVISION", "SUMMARY", id, "Stopped", "StartPipelineExecution", "CreatePipeline", "not needed"} {
		if !strings.Contains(out, want) {
			t.Errorf("executions lacks %q:\n%s", want, out)
		}
	}
	if rows := strings.Count(mustCLI(t, "pipeline", "executions", "waits", "--max", "1"), "\n"); rows != 2 {
		t.Errorf("executions --max 1 printed %d lines, want a header and one row", rows)
	}
	var page struct {
		Summaries []map[string]any `json:"pipelineExecutionSummaries"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "pipeline", "executions", "waits", "--output", "json")), &page); err != nil || len(page.Summaries) != 3 {
		t.Fatalf("executions --output json: %d summaries, %v", len(page.Summaries), err)
	}

	// retry: a Work action that fails once; retrying the stage (latest execution by default) succeeds.
	mustCLI(t, "pipeline", "create", "-f", writeFile(t, dir, "flaky.yaml", fakeYAML("flaky", "SUPERSEDED", "          FailTimes: \"1\"\n")))
	first := latestExecutionID(t, c, "flaky")
	awaitStatus(t, c, "flaky", first, types.PipelineExecutionStatusFailed)
	out = mustCLI(t, "pipeline", "state", "flaky")
	for _, want := range []string{"Source", "Src", "Work", "Job", "Failed", "scripted failure 1 of 1", shortID(first)} {
		if !strings.Contains(out, want) {
			t.Errorf("state lacks %q:\n%s", want, out)
		}
	}
	out = mustCLI(t, "pipeline", "retry", "flaky", "Work")
	if !strings.Contains(out, "retrying stage Work of execution "+first+" (failed actions)") {
		t.Errorf("retry output: %s", out)
	}
	awaitStatus(t, c, "flaky", first, types.PipelineExecutionStatusSucceeded)
	errOut = failCLI(t, 1, "pipeline", "retry", "flaky", "Nope")
	if !strings.Contains(errOut, `pipeline flaky has no stage "Nope"; its stages: Source, Work`) {
		t.Errorf("retry of a missing stage: %s", errOut)
	}
	errOut = failCLI(t, 1, "pipeline", "retry", "flaky", "Work", first, "--all-actions")
	if !strings.Contains(errOut, "StageNotRetryableException") {
		t.Errorf("retry of a succeeded stage: %s", errOut)
	}

	// Transitions: disabled with a reason, shown in the state, enabled again.
	mustCLI(t, "pipeline", "transition", "flaky", "Work", "--disable", "--reason", "freeze until Monday")
	out = mustCLI(t, "pipeline", "state", "flaky")
	if !strings.Contains(out, `inbound transition disabled: "freeze until Monday"`) {
		t.Errorf("state does not show the disabled transition:\n%s", out)
	}
	second := strings.TrimSpace(mustCLI(t, "pipeline", "start", "flaky"))
	eventually(t, "the execution to wait for the transition", 20*time.Second, func() bool {
		return strings.Contains(mustCLI(t, "pipeline", "state", "flaky"), "waiting to enter: "+second)
	})
	mustCLI(t, "pipeline", "transition", "flaky", "Work", "--enable")
	// It enters Work, where the scripted first failure of each execution ends it.
	awaitStatus(t, c, "flaky", second, types.PipelineExecutionStatusFailed)
	failCLI(t, 2, "pipeline", "transition", "flaky", "Work", "--disable")
	failCLI(t, 2, "pipeline", "transition", "flaky", "Work")

	// rollback: Work runs again with the artifacts of the last execution that succeeded in it
	// (first); its scripted first failure fails the rollback, which a retry then finishes.
	out, errOut, code := cli(t, "pipeline", "rollback", "flaky", "Work")
	rb := strings.TrimSpace(out)
	if code != 0 || !strings.Contains(errOut, "rolling stage Work of flaky back to execution "+first) || rb == first || rb == second {
		t.Fatalf("rollback: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	awaitStatus(t, c, "flaky", rb, types.PipelineExecutionStatusFailed)
	mustCLI(t, "pipeline", "retry", "flaky", "Work")
	awaitStatus(t, c, "flaky", rb, types.PipelineExecutionStatusSucceeded)
	if out := mustCLI(t, "pipeline", "state", "flaky"); !strings.Contains(out, "rollback") || !strings.Contains(out, shortID(rb)) {
		t.Errorf("state does not show Work's rollback %s:\n%s", rb, out)
	}
	if out := mustCLI(t, "pipeline", "executions", "flaky", "--max", "1"); !strings.Contains(out, "ManualRollback") {
		t.Errorf("executions do not show the rollback's trigger:\n%s", out)
	}
	errOut = failCLI(t, 1, "pipeline", "rollback", "flaky", "Work", rb)
	if !strings.Contains(errOut, "UnableToRollbackStageException") || !strings.Contains(errOut, "is itself a rollback") {
		t.Errorf("rollback to a rollback: %s", errOut)
	}
	errOut = failCLI(t, 1, "pipeline", "rollback", "waits", "Work")
	if !strings.Contains(errOut, "no execution of pipeline waits succeeded in stage Work") {
		t.Errorf("rollback without a target: %s", errOut)
	}
}

func TestCLIApproveAndReject(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	c := codePipelineClient(s.URL, "", "")
	dir := t.TempDir()
	mustCLI(t, "pipeline", "create", "-f", writeFile(t, dir, "gate.json",
		string(fakePipeline("gate", "SUPERSEDED", "Approval", "AWS", "Manual", map[string]string{"CustomData": "ship it?"}))))
	first := latestExecutionID(t, c, "gate")
	awaitApproval := func() {
		t.Helper()
		eventually(t, "the approval to wait", 20*time.Second, func() bool {
			a := actionState(t, c, "gate", "Work", "Job")
			return a != nil && a.Status == types.ActionExecutionStatusInProgress && aws.ToString(a.Token) != ""
		})
	}
	awaitApproval()
	out := mustCLI(t, "pipeline", "state", "gate")
	for _, want := range []string{"STAGE / ACTION", "Source", "  Src", "Work", "  Job", "InProgress", "ship it?", "approval waiting, token ",
		"approve: conveyor pipeline approve gate --stage Work --action Job", "reject:  conveyor pipeline reject gate --stage Work --action Job --summary TEXT"} {
		if !strings.Contains(out, want) {
			t.Errorf("state lacks %q:\n%s", want, out)
		}
	}
	// Columns are aligned: every action's status starts in the same column as its stage's.
	statusCol := -1
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "InProgress"); i >= 0 && !strings.HasPrefix(strings.TrimSpace(line), "approve") {
			if statusCol >= 0 && i != statusCol {
				t.Errorf("status column not aligned:\n%s", out)
			}
			statusCol = i
		}
	}

	out = mustCLI(t, "pipeline", "approve", "gate", "--stage", "Work", "--action", "Job", "--summary", "looks good")
	if !strings.Contains(out, "approved Work/Job of pipeline gate (execution "+first+")") {
		t.Errorf("approve output: %s", out)
	}
	awaitStatus(t, c, "gate", first, types.PipelineExecutionStatusSucceeded)
	errOut := failCLI(t, 1, "pipeline", "approve", "gate", "--stage", "Work", "--action", "Job")
	if !strings.Contains(errOut, "no approval is waiting at Work/Job of pipeline gate: its latest execution is Succeeded") {
		t.Errorf("approve with nothing waiting: %s", errOut)
	}
	errOut = failCLI(t, 1, "pipeline", "approve", "gate", "--stage", "Work", "--action", "Nope")
	if !strings.Contains(errOut, `stage Work of pipeline gate has no action "Nope"; its actions: Job`) {
		t.Errorf("approve of a missing action: %s", errOut)
	}

	second := strings.TrimSpace(mustCLI(t, "pipeline", "start", "gate"))
	awaitApproval()
	failCLI(t, 2, "pipeline", "reject", "gate", "--stage", "Work", "--action", "Job") // a rejection says why
	failCLI(t, 2, "pipeline", "approve", "gate", "--stage", "Work")
	out = mustCLI(t, "pipeline", "reject", "gate", "--stage", "Work", "--action", "Job", "--summary", "not today")
	if !strings.Contains(out, "rejected Work/Job of pipeline gate (execution "+second+")") {
		t.Errorf("reject output: %s", out)
	}
	awaitStatus(t, c, "gate", second, types.PipelineExecutionStatusFailed)
}

func TestCLIKeys(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	dir := t.TempDir()

	var viewer accessKey
	out, errOut, code := cli(t, "keys", "create", "--role", "viewer", "--description", "dashboards", "--output", "json")
	if code != 0 {
		t.Fatalf("keys create: %d %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &viewer); err != nil || viewer.AccessKeyID == "" || viewer.SecretAccessKey == "" || viewer.Role != "viewer" {
		t.Fatalf("keys create --output json: %v\n%s", err, out)
	}
	if want := "export AWS_ACCESS_KEY_ID=" + viewer.AccessKeyID + " AWS_SECRET_ACCESS_KEY=" + viewer.SecretAccessKey; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks the export hint:\n%s", errOut)
	}
	out = mustCLI(t, "keys", "create", "--role", "operator")
	if !strings.Contains(out, "secret access key: ") || !strings.Contains(out, "(role operator)") {
		t.Errorf("keys create output:\n%s", out)
	}
	failCLI(t, 2, "keys", "create", "--role", "wizard")
	failCLI(t, 2, "keys", "create")

	out = mustCLI(t, "keys", "list")
	for _, want := range []string{"ACCESS KEY ID", viewer.AccessKeyID, "viewer", "dashboards", testAdminKey, "operator", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, viewer.SecretAccessKey) {
		t.Error("keys list shows a secret")
	}

	// The viewer key reads but cannot start a pipeline.
	mustCLI(t, "pipeline", "create", "-f", writeFile(t, dir, "p.json", string(fakePipeline("p", "SUPERSEDED", "Build", "Custom", "Fake", nil))))
	t.Setenv("AWS_ACCESS_KEY_ID", viewer.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", viewer.SecretAccessKey)
	if out := mustCLI(t, "pipeline", "list"); !strings.Contains(out, "p ") {
		t.Errorf("a viewer's list:\n%s", out)
	}
	errOut = failCLI(t, 1, "pipeline", "start", "p")
	if !strings.Contains(errOut, "AccessDeniedException") {
		t.Errorf("a viewer starting a pipeline: %s", errOut)
	}
	errOut = failCLI(t, 1, "keys", "list")
	if !strings.Contains(errOut, "AccessDeniedException") {
		t.Errorf("a viewer listing keys: %s", errOut)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", testAdminKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testAdminSecret)
	if out := mustCLI(t, "keys", "delete", viewer.AccessKeyID); !strings.Contains(out, "deleted access key "+viewer.AccessKeyID) {
		t.Errorf("keys delete output: %s", out)
	}
	if out := mustCLI(t, "keys", "list"); strings.Contains(out, viewer.AccessKeyID) {
		t.Errorf("the deleted key is still listed:\n%s", out)
	}
	failCLI(t, 1, "keys", "delete", testAdminKey) // a key cannot delete itself

	// Without AWS_* variables the admin key is read from the data directory's admin-credentials.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	data := t.TempDir()
	if err := auth.WriteCredentialsFile(filepath.Join(data, "admin-credentials"),
		map[string]string{"aws_access_key_id": testAdminKey, "aws_secret_access_key": testAdminSecret}); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "pipeline", "list", "--data", data)
	errOut = failCLI(t, 1, "pipeline", "list")
	if !strings.Contains(errOut, "no credentials") {
		t.Errorf("without credentials: %s", errOut)
	}
}

func TestCLIUploadStartsTheWatchingPipeline(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	c := codePipelineClient(s.URL, "", "")
	dir := t.TempDir()
	raw, err := examples.QuickstartPipeline()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := examples.QuickstartBundle()
	if err != nil {
		t.Fatal(err)
	}
	project, err := examples.QuickstartProject()
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "projects", "create", "-f", writeFile(t, dir, "project.json", string(project)))
	mustCLI(t, "pipeline", "create", "-f", writeFile(t, dir, "quickstart.json", string(raw)))
	awaitStatus(t, c, "quickstart", latestExecutionID(t, c, "quickstart"), types.PipelineExecutionStatusFailed)
	zip := writeFile(t, dir, "app.zip", string(bundle))

	out := mustCLI(t, "upload", examples.QuickstartBucket+"/"+examples.QuickstartKey, zip)
	m := regexp.MustCompile(`version (` + uuidRe.String() + `)`).FindStringSubmatch(out)
	e := regexp.MustCompile(`quickstart\s+(` + uuidRe.String() + `)`).FindStringSubmatch(out)
	if m == nil || e == nil {
		t.Fatalf("upload output:\n%s", out)
	}
	versionID, execID := m[1], e[1]
	eventually(t, "the approval after the upload (the build runs first)", 120*time.Second, func() bool {
		a := actionState(t, c, "quickstart", "Approve", "Release")
		return a != nil && a.Status == types.ActionExecutionStatusInProgress
	})
	ex, err := c.GetPipelineExecution(context.Background(), &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("quickstart"), PipelineExecutionId: aws.String(execID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.PipelineExecution.ArtifactRevisions) != 1 || aws.ToString(ex.PipelineExecution.ArtifactRevisions[0].RevisionId) != versionID {
		t.Fatalf("the started execution did not use version %s: %+v", versionID, ex.PipelineExecution.ArtifactRevisions)
	}
	// JSON: the server's answer.
	var res struct {
		VersionID         string            `json:"versionId"`
		StartedExecutions map[string]string `json:"startedExecutions"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "upload", "other-bucket/x.zip", zip, "--output", "json")), &res); err != nil || res.VersionID == "" || len(res.StartedExecutions) != 0 {
		t.Fatalf("upload --output json: %+v, %v", res, err)
	}
	if out := mustCLI(t, "upload", "other-bucket/x.zip", zip); !strings.Contains(out, "no pipeline watches other-bucket/x.zip") {
		t.Errorf("upload output: %s", out)
	}
	failCLI(t, 2, "upload", "no-key", zip)
	failCLI(t, 1, "upload", "b/k.zip", filepath.Join(dir, "missing.zip"))
}

// conveyorYAML declares two S3 → approval pipelines; the first one's object key is given.
func conveyorYAML(webKey string) string {
	return `# The team's pipelines.
pipelines:
  - name: web
    stages:
      - name: Source
        actions:
          - name: Fetch
            actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
            configuration: {S3Bucket: team-bundles, S3ObjectKey: ` + webKey + `}
            outputArtifacts: [{name: Src}]
      - name: Release
        actions:
          - name: Approve
            actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}

  # wrapped, as get-pipeline prints it
  - pipeline:
      name: api
      pipelineType: V2
      stages:
        - name: Source
          actions:
            - name: Fetch
              actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
              runOrder: 1
              configuration: {S3Bucket: team-bundles, S3ObjectKey: api.zip}
              outputArtifacts: [{name: Src}]
        - name: Release
          actions:
            - name: Approve
              actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
`
}

func TestCLIApply(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()
	dir := t.TempDir()
	file := writeFile(t, dir, "conveyor.yaml", conveyorYAML("web.zip"))

	out := mustCLI(t, "apply", "-f", file)
	if out != "pipeline web: created (version 1)\npipeline api: created (version 1)\n" {
		t.Fatalf("first apply:\n%s", out)
	}
	if out := mustCLI(t, "apply", "-f", file); out != "pipeline web: unchanged\npipeline api: unchanged\n" {
		t.Fatalf("second apply:\n%s", out)
	}

	// An edit: --dry-run says what would change and changes nothing; apply updates that pipeline only.
	writeFile(t, dir, "conveyor.yaml", conveyorYAML("web-v2.zip"))
	out = mustCLI(t, "apply", "-f", file, "--dry-run")
	if out != "pipeline web: would update (version 1 → 2): stages[0].actions[0].configuration.S3ObjectKey\npipeline api: unchanged\n" {
		t.Fatalf("apply --dry-run:\n%s", out)
	}
	if got, _ := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("web")}); aws.ToInt32(got.Pipeline.Version) != 1 {
		t.Fatal("--dry-run changed the pipeline")
	}
	if out := mustCLI(t, "apply", "-f", file); out != "pipeline web: updated (version 2)\npipeline api: unchanged\n" {
		t.Fatalf("apply after an edit:\n%s", out)
	}
	got, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("web")})
	if err != nil || got.Pipeline.Stages[0].Actions[0].Configuration["S3ObjectKey"] != "web-v2.zip" {
		t.Fatalf("web after the update: %+v, %v", got, err)
	}

	// An invalid pipeline is reported at its place in conveyor.yaml; the valid ones are still applied.
	withBad := conveyorYAML("web-v3.zip") + `  - name: broken
    stages:
      - name: Source
        actions:
          - name: Fetch
            actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
            configuration: {S3Bucket: team-bundles, S3ObjectKey: b.zip, PollForSourceChange: "false"}
            outputArtifacts: [{name: Src}]
      - name: Release
        actions:
          - name: Approve
            actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
            inputArtifacts: [{name: Nothing}]
`
	writeFile(t, dir, "conveyor.yaml", withBad)
	out, errOut, code := cli(t, "apply", "-f", file)
	if code != 1 {
		t.Fatalf("apply with an invalid pipeline: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "pipeline web: updated (version 3)\npipeline api: unchanged\npipeline broken: invalid (3 errors), not applied\n") {
		t.Errorf("apply output:\n%s", out)
	}
	for _, want := range []string{
		file + ":" + position(t, withBad, "PollForSourceChange:") + `: pipelines[2].stages[0].actions[0].configuration.PollForSourceChange: unknown configuration key "PollForSourceChange"`,
		file + ":" + position(t, withBad, "Nothing") + ": pipelines[2].stages[1].actions[0].inputArtifacts[0].name: ",
		"1 of 3 resources failed",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("broken")}); err == nil {
		t.Error("the invalid pipeline was created")
	}

	// JSON output for scripts.
	var res struct {
		Resources []applyResult `json:"resources"`
	}
	out, _, _ = cli(t, "apply", "-f", file, "--output", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Resources) != 3 || res.Resources[0].Status != "unchanged" ||
		res.Resources[2].Status != "invalid" || len(res.Resources[2].Errors) != 3 || res.Resources[2].Errors[0].Line == 0 {
		t.Fatalf("apply --output json: %v\n%s", err, out)
	}

	// A section Conveyor does not know is an error that lists the supported ones; nothing is applied.
	unknown := conveyorYAML("web-v4.zip") + "dashboards:\n  - name: build\n"
	writeFile(t, dir, "conveyor.yaml", unknown)
	errOut = failCLI(t, 1, "apply", "-f", file)
	if want := file + ":" + position(t, unknown, "dashboards:") + `: unknown section "dashboards"; supported sections: ` + strings.Join(configSectionNames(), ", "); !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	if got, _ := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("web")}); aws.ToInt32(got.Pipeline.Version) != 3 {
		t.Error("a file with an unknown section was partly applied")
	}

	// Two pipelines with one name.
	dup := conveyorYAML("web.zip") + strings.Replace(strings.SplitN(conveyorYAML("x"), "pipelines:\n", 2)[1], "name: web", "name: api", 1)
	writeFile(t, dir, "conveyor.yaml", dup)
	errOut = failCLI(t, 1, "apply", "-f", file, "--dry-run")
	firstLine, _, _ := strings.Cut(position(t, dup, "name: api"), ":")
	if !strings.Contains(errOut, `pipelines[2].name: pipeline "api" is declared twice (first at line `+firstLine+`)`) {
		t.Errorf("duplicate names: %s", errOut)
	}
}

func TestCLIValidate(t *testing.T) {
	// Offline: no server, no credentials.
	t.Setenv("CONVEYOR_OUTPUT", "")
	dir := t.TempDir()
	good := writeFile(t, dir, "release.yaml", `name: release
stages:
  - name: Source
    actions:
      - name: Fetch
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: my-bucket, S3ObjectKey: app/source.zip, PollForSourceChanges: "false"}
        outputArtifacts: [{name: SourceArtifact}]
        namespace: SourceVariables
  - name: Approve
    actions:
      - name: Review
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        configuration:
          CustomData: "Approve object version #{SourceVariables.VersionId}"
`)
	if out := mustCLI(t, "validate", good); out != good+": ok\n" {
		t.Fatalf("validate of a good file: %q", out)
	}

	badText := `name: release
stages:
  - name: Source
    actions:
      - name: Fetch
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: my-bucket, S3ObjectKey: app/source.zip, PollForSourceChange: "false"}
        outputArtifacts: [{name: SourceArtifact}]
  - name: Approve
    actions:
      - name: Review
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        inputArtifacts: [{name: BuildOutput}]
`
	bad := writeFile(t, dir, "bad.yaml", badText)
	out, _, code := cli(t, "validate", good, bad)
	if code != 1 {
		t.Fatalf("validate with errors: exit %d", code)
	}
	wantLines := []string{
		good + ": ok",
		bad + ":" + position(t, badText, "PollForSourceChange:") + `: stages[0].actions[0].configuration.PollForSourceChange: unknown configuration key "PollForSourceChange" for Source/AWS/S3 (did you mean "PollForSourceChanges"?)`,
		bad + ":" + position(t, badText, "[{name: BuildOutput}]") + `: stages[1].actions[0].inputArtifacts: Approval/AWS/Manual takes no input artifacts`,
		bad + ":" + position(t, badText, "BuildOutput") + `: stages[1].actions[0].inputArtifacts[0].name: input artifact "BuildOutput" is not produced by any action`,
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(wantLines) {
		t.Fatalf("validate printed:\n%s", out)
	}
	for i, want := range wantLines {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want)
		}
	}
	syntax := writeFile(t, dir, "syntax.json", "{\n  \"name\": \"x\",\n  \"stages\": [\n}\n")
	out, _, code = cli(t, "validate", syntax)
	if code != 1 || !strings.HasPrefix(out, syntax+":4:1: invalid JSON") {
		t.Errorf("syntax error: exit %d, %q", code, out)
	}

	// A conveyor.yaml: every pipeline in it, with the conveyor.yaml's own positions, whatever the style.
	block := conveyorYAML("web.zip") + `  - name: flow-style
    stages: [{name: S, actions: [{name: F, actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}, configuration: {S3Bucket: "b, {", S3ObjectKey: k}, outputArtifacts: [{name: O}]}]},
      {name: A, actions: [{name: Ok, actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "2"}}]}]
  -
    name: dash-alone
    stages: [ ]
  - {name: all-flow, stages: [{name: S, actions: [{name: F, actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}, configuration: {S3Bucket: 'it''s', S3ObjectKey: k}, outputArtifacts: [{name: O}]}]}, {name: A, actions: [{name: Ok, actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}, configuration: {Custom: ü}}]}]}
`
	cfg := writeFile(t, dir, "conveyor.yaml", block)
	out, _, code = cli(t, "validate", cfg)
	if code != 1 {
		t.Fatalf("validate conveyor.yaml: exit %d\n%s", code, out)
	}
	wantLines = []string{
		cfg + ":" + position(t, block, `"b, {"`) + ": pipelines[2].stages[0].actions[0].configuration.S3Bucket: ",
		cfg + ":" + position(t, block, `"2"}`) + ": pipelines[2].stages[1].actions[0].actionTypeId.version: ",
		cfg + ":" + position(t, block, `[ ]`) + ": pipelines[3].stages: ",
		cfg + ":" + position(t, block, `'it''s'`) + ": pipelines[4].stages[0].actions[0].configuration.S3Bucket: ",
		cfg + ":" + position(t, block, `Custom: ü`) + ": pipelines[4].stages[1].actions[0].configuration.Custom: ",
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(wantLines) {
		t.Fatalf("validate printed:\n%s", out)
	}
	for i, want := range wantLines {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want)
		}
	}
	// The same file with CRLF line ends gives the same positions.
	crlf := writeFile(t, dir, "crlf/conveyor.yaml", strings.ReplaceAll(block, "\n", "\r\n"))
	out, _, _ = cli(t, "validate", crlf)
	if got := strings.ReplaceAll(out, crlf, cfg); strings.Join(strings.Split(strings.TrimSpace(got), "\n"), "\n") != strings.Join(lines, "\n") {
		t.Errorf("CRLF positions differ:\n%s", out)
	}

	// A conveyor.json indented with tabs, named anything: recognised by its pipelines: section.
	jsonText := "{\n\t\"pipelines\": [\n\t\t{\n\t\t\t\"name\": \"j\",\n\t\t\t\"stages\": [\n" +
		"\t\t\t\t{\"name\": \"S\", \"actions\": [{\"name\": \"F\", \"actionTypeId\": {\"category\": \"Source\", \"owner\": \"AWS\", \"provider\": \"S3\", \"version\": \"1\"}, \"configuration\": {\"S3Bucket\": \"bb\", \"S3ObjectKey\": \"k\"}, \"outputArtifacts\": [{\"name\": \"O\"}]}]},\n" +
		"\t\t\t\t{\"name\": \"A\", \"actions\": [{\"name\": \"Ok\", \"actionTypeId\": {\"category\": \"Approval\", \"owner\": \"AWS\", \"provider\": \"Manual\", \"version\": \"1\"}}]}\n" +
		"\t\t\t]\n\t\t},\n\t\t{\"name\": \"k\", \"stagez\": []}\n\t]\n}\n"
	js := writeFile(t, dir, "team.json", jsonText)
	out, _, code = cli(t, "validate", js)
	wantLines = []string{
		js + ":" + position(t, jsonText, `"bb"`) + ": pipelines[0].stages[0].actions[0].configuration.S3Bucket: ",
		js + ":" + position(t, jsonText, `{"name": "k"`) + ": pipelines[1].stages: ",
		js + ":" + position(t, jsonText, `"stagez"`) + `: pipelines[1].stagez: unknown field "stagez"`,
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != len(wantLines) {
		t.Fatalf("validate team.json: exit %d\n%s", code, out)
	}
	for i, want := range wantLines {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want)
		}
	}

	// Anchors and aliases work within one pipeline; an alias to another pipeline's anchor is
	// reported where it is.
	anchors := `pipelines:
  - name: shared
    stages:
      - name: Source
        actions:
          - name: Fetch
            actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
            configuration: &cfg {S3Bucket: team-bundles, S3ObjectKey: web.zip}
            outputArtifacts: [{name: Src}]
          - name: Fetch2
            actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
            configuration: *cfg
            outputArtifacts: [{name: Src2}]
      - name: Release
        actions:
          - name: Approve
            actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
  - name: borrower
    stages:
      - name: Source
        actions:
          - name: Fetch
            actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
            configuration: *cfg
`
	anchorFile := writeFile(t, dir, "anchors/conveyor.yaml", anchors)
	out, _, code = cli(t, "validate", anchorFile)
	if want := fmt.Sprintf("%s:%s: pipelines[1]: YAML alias *cfg refers to an anchor outside this pipeline", anchorFile, lastPosition(anchors, "*cfg")); code != 1 || strings.TrimSpace(out) != want+"; anchors and aliases work only within one pipeline" {
		t.Errorf("validate of aliases: exit %d\n%s\nwant %s", code, out, want)
	}

	// A valid conveyor.yaml, and the JSON report.
	okCfg := writeFile(t, dir, "ok/conveyor.yaml", conveyorYAML("web.zip"))
	if out := mustCLI(t, "validate", okCfg); out != okCfg+": ok\n" {
		t.Errorf("validate of a good conveyor.yaml: %q", out)
	}
	var reports []validateReport
	out, _, _ = cli(t, "validate", okCfg, bad, "--output", "json")
	if err := json.Unmarshal([]byte(out), &reports); err != nil || len(reports) != 2 || !reports[0].OK ||
		!reflect.DeepEqual(reports[0].Pipelines, []string{"web", "api"}) || reports[1].OK || len(reports[1].Errors) != 3 {
		t.Fatalf("validate --output json: %v\n%s", err, out)
	}
	failCLI(t, 2, "validate")
	failCLI(t, 1, "validate", filepath.Join(dir, "missing.yaml"))
}

func TestItemSourceEndsWhereTheNextSectionStarts(t *testing.T) {
	// Only pipelines: exists today; the cut must still stop at the next section for the ones to come.
	src := "pipelines:\n  - name: a\n    stages: []\n  # trailing comment\nprojects:\n  - name: b\n"
	cf := &configFile{name: "c.yaml", src: []byte(src), lines: []int{0}}
	for i, b := range cf.src {
		if b == '\n' {
			cf.lines = append(cf.lines, i+1)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(cf.src, &doc); err != nil {
		t.Fatal(err)
	}
	cf.root = doc.Content[0]
	seq := cf.root.Content[1]
	got := string(cf.itemSource(seq.Content[0], nil, cf.nextKeyStart(cf.root.Content[0])))
	if want := "\n    name: a\n    stages: []\n  # trailing comment"; got != want {
		t.Errorf("item source = %q, want %q", got, want)
	}
}

func TestParseArgsTakesFlagsAnywhere(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v := fs.String("v", "", "")
	b := fs.Bool("b", false, "")
	pos, err := parseArgs(fs, []string{"one", "-v", "x", "two", "-b", "--", "-three", "--v"})
	if err != nil {
		t.Fatal(err)
	}
	if *v != "x" || !*b || !reflect.DeepEqual(pos, []string{"one", "two", "-three", "--v"}) {
		t.Fatalf("v=%q b=%v pos=%q", *v, *b, pos)
	}
}

// fillEveryField sets every field of v, recursively, to a distinct non-zero value (two items in
// every list and map), so that a converter that forgets a field cannot go unnoticed.
func fillEveryField(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", *n))
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillEveryField(t, v.Field(i), n)
			}
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillEveryField(t, p.Elem(), n)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillEveryField(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillEveryField(t, k, n)
			fillEveryField(t, e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		t.Fatalf("fillEveryField: no rule for %s", v.Type())
	}
}

func TestDeclarationConversionCoversEveryField(t *testing.T) {
	d := &pipeline.Declaration{}
	n := 0
	fillEveryField(t, reflect.ValueOf(d).Elem(), &n)
	if back := fromSDKDeclaration(toSDKDeclaration(d)); !reflect.DeepEqual(d, back) {
		a, _ := json.Marshal(d)
		b, _ := json.Marshal(back)
		t.Fatalf("the round trip through the SDK's types lost something:\n%s\n%s", a, b)
	}
	// And through the SDK's serializer and deserializer: an endpoint that echoes the pipeline back.
	var sent []byte
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		var in struct {
			Pipeline json.RawMessage `json:"pipeline"`
		}
		_ = json.Unmarshal(sent, &in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"pipeline": in.Pipeline})
	}))
	defer echo.Close()
	res, err := codePipelineClient(echo.URL, "", "").CreatePipeline(context.Background(),
		&codepipeline.CreatePipelineInput{Pipeline: toSDKDeclaration(d)}, noInputValidation)
	if err != nil {
		t.Fatal(err)
	}
	if back := fromSDKDeclaration(res.Pipeline); !reflect.DeepEqual(d, back) {
		t.Fatalf("the SDK's wire format lost something; sent:\n%s", sent)
	}
	// What the SDK sends is what the server's parser reads: the same declaration.
	var in struct {
		Pipeline json.RawMessage `json:"pipeline"`
	}
	_ = json.Unmarshal(sent, &in)
	parsed, _, err := pipeline.Parse("sent", in.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, parsed) {
		t.Fatalf("the server would read another declaration from:\n%s", in.Pipeline)
	}
}
