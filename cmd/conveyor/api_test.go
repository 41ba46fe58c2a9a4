package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"

	"github.com/conveyorci/conveyor/examples"
	"github.com/conveyorci/conveyor/executor/build"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func TestCodePipelineAPIThroughTheSDK(t *testing.T) {
	s := startServer(t)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()

	// CreatePipeline with tags; a V2 pipeline with a variable, a source, a gated build and an approval.
	decl := sdkDeclaration(t, fakePipeline("api", "QUEUED", "Build", "Custom", "Fake",
		map[string]string{"Summary": "for #{variables.TARGET} from #{codepipeline.PipelineExecutionId}", "Variables": `{"Image":"app:1"}`}))
	decl.Variables = []types.PipelineVariableDeclaration{{Name: aws.String("TARGET"), DefaultValue: aws.String("staging")}}
	decl.Stages[1].Actions[0].Namespace = aws.String("BuildVars")
	decl.Stages = append(decl.Stages, types.StageDeclaration{Name: aws.String("Approve"), Actions: []types.ActionDeclaration{{
		Name:          aws.String("Gate"),
		ActionTypeId:  &types.ActionTypeId{Category: types.ActionCategoryApproval, Owner: types.ActionOwnerAws, Provider: aws.String("Manual"), Version: aws.String("1")},
		Configuration: map[string]string{"CustomData": "release #{BuildVars.Image}?"},
	}}})
	created, err := c.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: decl,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(created.Pipeline.Version) != 1 || len(created.Tags) != 1 {
		t.Fatalf("created = version %d, tags %v", aws.ToInt32(created.Pipeline.Version), created.Tags)
	}
	_, err = c.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: decl})
	wantAPIError(t, err, "PipelineNameInUseException")

	// A bad declaration names the path of every error.
	bad := sdkDeclaration(t, fakePipeline("bad", "SUPERSEDED", "Build", "Custom", "Fake", nil))
	bad.Stages[1].Actions[0].InputArtifacts = []types.InputArtifact{{Name: aws.String("Nowhere")}}
	bad.Stages[1].Actions[0].RunOrder = aws.Int32(1000)
	_, err = c.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: bad})
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), "stages[1].actions[0].inputArtifacts[0].name") ||
		!strings.Contains(ae.ErrorMessage(), "stages[1].actions[0].runOrder") {
		t.Fatalf("invalid declaration error = %v", err)
	}

	// GetPipeline with metadata; ListPipelines paginates.
	got, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("api")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Metadata.PipelineArn) != "arn:aws:codepipeline:local:000000000000:api" || got.Metadata.Created == nil {
		t.Errorf("metadata = %+v", got.Metadata)
	}
	createRaw(t, c, fakePipeline("api-2", "SUPERSEDED", "Build", "Custom", "Fake", nil))
	page1, err := c.ListPipelines(ctx, &codepipeline.ListPipelinesInput{MaxResults: aws.Int32(1)})
	if err != nil || len(page1.Pipelines) != 1 || page1.NextToken == nil {
		t.Fatalf("page 1: %v %+v", err, page1)
	}
	page2, err := c.ListPipelines(ctx, &codepipeline.ListPipelinesInput{MaxResults: aws.Int32(1), NextToken: page1.NextToken})
	if err != nil || len(page2.Pipelines) != 1 || aws.ToString(page2.Pipelines[0].Name) == aws.ToString(page1.Pipelines[0].Name) {
		t.Fatalf("page 2: %v %+v", err, page2)
	}

	// The CreatePipeline execution reaches the approval; its token is in GetPipelineState.
	first := latestExecutionID(t, c, "api")
	var token string
	eventually(t, "the approval to wait", 20*time.Second, func() bool {
		a := actionState(t, c, "api", "Approve", "Gate")
		if a != nil {
			token = aws.ToString(a.Token)
		}
		return token != ""
	})
	if a := actionState(t, c, "api", "Approve", "Gate"); aws.ToString(a.Summary) != "release app:1?" {
		t.Errorf("approval summary = %q, want the resolved CustomData", aws.ToString(a.Summary))
	}

	// StartPipelineExecution with variables and an idempotency token: queued behind the approval.
	start := &codepipeline.StartPipelineExecutionInput{Name: aws.String("api"), ClientRequestToken: aws.String("release-7"),
		Variables: []types.PipelineVariable{{Name: aws.String("TARGET"), Value: aws.String("production")}}}
	second, err := c.StartPipelineExecution(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.StartPipelineExecution(ctx, start)
	if err != nil || aws.ToString(again.PipelineExecutionId) != aws.ToString(second.PipelineExecutionId) {
		t.Fatalf("a repeated clientRequestToken must return the same execution: %v %v", err, again)
	}
	secondID := aws.ToString(second.PipelineExecutionId)
	eventually(t, "the second execution to queue in front of Approve", 20*time.Second, func() bool {
		st, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("api")})
		return err == nil && len(st.StageStates[2].InboundExecutions) == 1 && aws.ToString(st.StageStates[2].InboundExecutions[0].PipelineExecutionId) == secondID
	})

	// PutApprovalResult: approve the first; a repeat is refused.
	approved, err := c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String("api"), StageName: aws.String("Approve"),
		ActionName: aws.String("Gate"), Token: aws.String(token), Result: &types.ApprovalResult{Status: types.ApprovalStatusApproved, Summary: aws.String("ok")}})
	if err != nil || approved.ApprovedAt == nil {
		t.Fatalf("approve: %v", err)
	}
	_, err = c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String("api"), StageName: aws.String("Approve"),
		ActionName: aws.String("Gate"), Token: aws.String(token), Result: &types.ApprovalResult{Status: types.ApprovalStatusRejected, Summary: aws.String("no")}})
	wantAPIError(t, err, "ApprovalAlreadyCompletedException")
	awaitStatus(t, c, "api", first, types.PipelineExecutionStatusSucceeded)

	// GetPipelineExecution shows the resolved variables and trigger of the second execution.
	ex, err := c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("api"), PipelineExecutionId: aws.String(secondID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.PipelineExecution.Variables) != 1 || aws.ToString(ex.PipelineExecution.Variables[0].ResolvedValue) != "production" ||
		ex.PipelineExecution.Trigger.TriggerType != types.TriggerTypeStartPipelineExecution || ex.PipelineExecution.ExecutionMode != types.ExecutionModeQueued {
		t.Errorf("execution = %+v", ex.PipelineExecution)
	}

	// StopPipelineExecution (abandon) on the second, waiting at the approval.
	eventually(t, "the second approval to wait", 20*time.Second, func() bool {
		a := actionState(t, c, "api", "Approve", "Gate")
		return a != nil && a.Status == types.ActionExecutionStatusInProgress && aws.ToString(a.Token) != token
	})
	if _, err := c.StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{PipelineName: aws.String("api"),
		PipelineExecutionId: aws.String(secondID), Abandon: true, Reason: aws.String("not today")}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "api", secondID, types.PipelineExecutionStatusStopped)
	_, err = c.StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{PipelineName: aws.String("api"), PipelineExecutionId: aws.String(secondID)})
	wantAPIError(t, err, "PipelineExecutionNotStoppableException")

	// ListActionExecutions: resolved configuration and output variables of the second execution's build.
	acts, err := c.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("api"),
		Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String(secondID)}})
	if err != nil {
		t.Fatal(err)
	}
	var build *types.ActionExecutionDetail
	for i := range acts.ActionExecutionDetails {
		if aws.ToString(acts.ActionExecutionDetails[i].StageName) == "Work" {
			build = &acts.ActionExecutionDetails[i]
		}
	}
	if build == nil || build.Input.ResolvedConfiguration["Summary"] != "for production from "+secondID || build.Output.OutputVariables["Image"] != "app:1" {
		t.Fatalf("build action execution = %+v", build)
	}

	// RetryStageExecution on the stopped stage: the approval waits again and can be rejected.
	if _, err := c.RetryStageExecution(ctx, &codepipeline.RetryStageExecutionInput{PipelineName: aws.String("api"), StageName: aws.String("Approve"),
		PipelineExecutionId: aws.String(secondID), RetryMode: types.StageRetryModeFailedActions}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "api", secondID, types.PipelineExecutionStatusInProgress)
	var token2 string
	eventually(t, "the retried approval", 20*time.Second, func() bool {
		a := actionState(t, c, "api", "Approve", "Gate")
		token2 = aws.ToString(a.Token)
		return token2 != "" && token2 != token
	})
	if _, err := c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String("api"), StageName: aws.String("Approve"),
		ActionName: aws.String("Gate"), Token: aws.String(token2), Result: &types.ApprovalResult{Status: types.ApprovalStatusRejected, Summary: aws.String("changed my mind")}}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "api", secondID, types.PipelineExecutionStatusFailed)
	_, err = c.RetryStageExecution(ctx, &codepipeline.RetryStageExecutionInput{PipelineName: aws.String("api"), StageName: aws.String("Work"),
		PipelineExecutionId: aws.String(secondID), RetryMode: types.StageRetryModeFailedActions})
	wantAPIError(t, err, "StageNotRetryableException")

	// Disable/EnableStageTransition: a third execution waits in front of Work until enabled.
	if _, err := c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String("api"), StageName: aws.String("Work"),
		TransitionType: types.StageTransitionTypeInbound, Reason: aws.String("code freeze")}); err != nil {
		t.Fatal(err)
	}
	third, err := c.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: aws.String("api")})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third execution to wait at the disabled transition", 20*time.Second, func() bool {
		st, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("api")})
		if err != nil {
			t.Fatal(err)
		}
		w := st.StageStates[1]
		return !w.InboundTransitionState.Enabled && aws.ToString(w.InboundTransitionState.DisabledReason) == "code freeze" &&
			w.InboundExecution != nil && aws.ToString(w.InboundExecution.PipelineExecutionId) == aws.ToString(third.PipelineExecutionId)
	})
	if _, err := c.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{PipelineName: aws.String("api"), StageName: aws.String("Work"),
		TransitionType: types.StageTransitionTypeInbound}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third execution to reach the approval", 20*time.Second, func() bool {
		a := actionState(t, c, "api", "Approve", "Gate")
		return a != nil && a.Status == types.ActionExecutionStatusInProgress && aws.ToString(a.Token) != token2
	})

	// ListPipelineExecutions: newest first, paginated.
	execs, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("api"), MaxResults: aws.Int32(2)})
	if err != nil || len(execs.PipelineExecutionSummaries) != 2 || execs.NextToken == nil ||
		aws.ToString(execs.PipelineExecutionSummaries[0].PipelineExecutionId) != aws.ToString(third.PipelineExecutionId) {
		t.Fatalf("executions page 1: %v %+v", err, execs)
	}
	rest, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("api"), NextToken: execs.NextToken})
	if err != nil || len(rest.PipelineExecutionSummaries) != 1 || aws.ToString(rest.PipelineExecutionSummaries[0].PipelineExecutionId) != first {
		t.Fatalf("executions page 2: %v %+v", err, rest)
	}
	succeeded, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("api"),
		Filter: &types.PipelineExecutionFilter{SucceededInStage: &types.SucceededInStageFilter{StageName: aws.String("Approve")}}})
	if err != nil || len(succeeded.PipelineExecutionSummaries) != 1 {
		t.Fatalf("succeededInStage filter: %v %+v", err, succeeded)
	}

	// UpdatePipeline bumps the version; GetPipeline reads old versions.
	decl.Stages[1].Actions[0].Configuration["Summary"] = "v2"
	updated, err := c.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl})
	if err != nil || aws.ToInt32(updated.Pipeline.Version) != 2 {
		t.Fatalf("update: %v", err)
	}
	v1, err := c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("api"), Version: aws.Int32(1)})
	if err != nil || v1.Pipeline.Stages[1].Actions[0].Configuration["Summary"] == "v2" {
		t.Fatalf("version 1 should be kept: %v", err)
	}
	_, err = c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("api"), Version: aws.Int32(9)})
	wantAPIError(t, err, "PipelineVersionNotFoundException")

	// Tags.
	arn := aws.String("arn:aws:codepipeline:local:000000000000:api")
	if _, err := c.TagResource(ctx, &codepipeline.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &codepipeline.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &codepipeline.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "tier" {
		t.Fatalf("tags: %v %+v", err, tags)
	}
	_, err = c.ListTagsForResource(ctx, &codepipeline.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:codepipeline:local:000000000000:nope")})
	wantAPIError(t, err, "ResourceNotFoundException")

	// DeletePipeline.
	if _, err := c.DeletePipeline(ctx, &codepipeline.DeletePipelineInput{Name: aws.String("api-2")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("api-2")})
	wantAPIError(t, err, "PipelineNotFoundException")

	// An operation Conveyor does not implement says so.
	_, err = c.PollForJobs(ctx, &codepipeline.PollForJobsInput{ActionTypeId: &types.ActionTypeId{Category: types.ActionCategoryBuild,
		Owner: types.ActionOwnerCustom, Provider: aws.String("X"), Version: aws.String("1")}})
	wantAPIError(t, err, "UnsupportedOperationException")
}

func TestAuthenticationFailuresAnswerLikeAWS(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	list := func(c *codepipeline.Client) error {
		_, err := c.ListPipelines(ctx, &codepipeline.ListPipelinesInput{})
		return err
	}
	if err := list(codePipelineClient(s.URL, "", "")); err != nil {
		t.Fatalf("admin key: %v", err)
	}
	wantAPIError(t, list(codePipelineClient(s.URL, testAdminKey, "wrong-secret")), "InvalidSignatureException")
	wantAPIError(t, list(codePipelineClient(s.URL, "AKIAUNKNOWNKEY000000", "whatever")), "UnrecognizedClientException")

	post := func(r *http.Request) (int, string) {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType")
	}
	newReq := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", "CodePipeline_20150709.ListPipelines")
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		return r
	}
	if code, typ := post(newReq()); typ != "MissingAuthenticationTokenException" || code != http.StatusForbidden {
		t.Errorf("unsigned request: %d %s", code, typ)
	}
	// A signature made 20 minutes ago is refused as expired.
	r := newReq()
	sum := sha256.Sum256([]byte("{}"))
	creds := aws.Credentials{AccessKeyID: testAdminKey, SecretAccessKey: testAdminSecret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), "codepipeline", "local", time.Now().Add(-20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if code, typ := post(r); typ != "InvalidSignatureException" || code != http.StatusBadRequest {
		t.Errorf("skewed request: %d %s", code, typ)
	}
	// /healthz needs no credentials; /metrics does.
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = http.Get(s.URL + "/metrics")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous /metrics: %v %v", err, resp.StatusCode)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/metrics", nil)
	req.SetBasicAuth(testAdminKey, testAdminSecret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with a key: %v %v", err, resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"conveyor_sqlite_busy_total", "conveyor_http_request_duration_seconds", "conveyor_sqlite_write_transactions_total"} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// restCall signs a REST request with the given key.
func restCall(t *testing.T, url, method, path, key, secret string, body []byte) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest(method, url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, r,
		hex.EncodeToString(sum[:]), "conveyor", "local", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestRolesOfAccessKeys(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	keys := map[string][2]string{}
	for _, role := range []string{"viewer", "operator", "approver"} {
		code, body := restCall(t, s.URL, http.MethodPost, "/api/v1/keys", testAdminKey, testAdminSecret, []byte(`{"role":"`+role+`"}`))
		if code != http.StatusCreated {
			t.Fatalf("create %s key: %d %s", role, code, body)
		}
		var k struct{ AccessKeyID, SecretAccessKey string }
		_ = json.Unmarshal(body, &k)
		keys[role] = [2]string{k.AccessKeyID, k.SecretAccessKey}
	}
	admin := codePipelineClient(s.URL, "", "")
	createRaw(t, admin, fakePipeline("roles", "SUPERSEDED", "Approval", "AWS", "Manual", nil))
	client := func(role string) *codepipeline.Client { return codePipelineClient(s.URL, keys[role][0], keys[role][1]) }

	if _, err := client("viewer").GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("roles")}); err != nil {
		t.Fatalf("a viewer may read: %v", err)
	}
	_, err := client("viewer").StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: aws.String("roles")})
	wantAPIError(t, err, "AccessDeniedException")
	if _, err := client("operator").StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: aws.String("roles")}); err != nil {
		t.Fatalf("an operator may start: %v", err)
	}
	var token string
	eventually(t, "an approval", 20*time.Second, func() bool {
		a := actionState(t, admin, "roles", "Work", "Job")
		if a != nil {
			token = aws.ToString(a.Token)
		}
		return token != ""
	})
	approve := func(role string) error {
		_, err := client(role).PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String("roles"), StageName: aws.String("Work"),
			ActionName: aws.String("Job"), Token: aws.String(token), Result: &types.ApprovalResult{Status: types.ApprovalStatusApproved, Summary: aws.String("ok")}})
		return err
	}
	wantAPIError(t, approve("operator"), "AccessDeniedException")
	if err := approve("approver"); err != nil {
		t.Fatalf("an approver may approve: %v", err)
	}
	_, err = client("approver").DeletePipeline(ctx, &codepipeline.DeletePipelineInput{Name: aws.String("roles")})
	wantAPIError(t, err, "AccessDeniedException")
	if code, _ := restCall(t, s.URL, http.MethodGet, "/api/v1/keys", keys["approver"][0], keys["approver"][1], nil); code != http.StatusForbidden {
		t.Errorf("a non-admin listing keys got %d, want 403", code)
	}
	// A deleted key stops working at once.
	if code, body := restCall(t, s.URL, http.MethodDelete, "/api/v1/keys/"+keys["viewer"][0], testAdminKey, testAdminSecret, nil); code != http.StatusNoContent {
		t.Fatalf("delete key: %d %s", code, body)
	}
	_, err = client("viewer").ListPipelines(ctx, &codepipeline.ListPipelinesInput{})
	wantAPIError(t, err, "UnrecognizedClientException")
}

func TestUploadStartsTheWatchingPipelineAtThatVersion(t *testing.T) {
	s := startServer(t)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()
	raw, err := examples.QuickstartPipeline()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := examples.QuickstartBundle()
	if err != nil {
		t.Fatal(err)
	}
	projectJSON, err := examples.QuickstartProject()
	if err != nil {
		t.Fatal(err)
	}
	var project build.Project
	if err := json.Unmarshal(projectJSON, &project); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.builds.CreateProject(ctx, project); err != nil {
		t.Fatal(err)
	}
	// Created before any upload: its first execution fails in Source and says how to fix it.
	if _, err := s.app.engine.CreatePipeline(ctx, raw, nil, "test"); err != nil {
		t.Fatal(err)
	}
	firstID := latestExecutionID(t, c, "quickstart")
	awaitStatus(t, c, "quickstart", firstID, types.PipelineExecutionStatusFailed)
	if a := actionState(t, c, "quickstart", "Source", "Source"); !strings.Contains(aws.ToString(a.Summary), "conveyor upload conveyor-examples/quickstart/app.zip") {
		t.Errorf("missing-object summary = %q", aws.ToString(a.Summary))
	}

	code, body := restCall(t, s.URL, http.MethodPut, "/api/v1/buckets/conveyor-examples/objects/quickstart/app.zip", testAdminKey, testAdminSecret, bundle)
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	var up struct {
		VersionID         string            `json:"versionId"`
		SHA256            string            `json:"sha256"`
		StartedExecutions map[string]string `json:"startedExecutions"`
	}
	_ = json.Unmarshal(body, &up)
	execID := up.StartedExecutions["quickstart"]
	if execID == "" {
		t.Fatalf("the upload started nothing: %s", body)
	}
	eventually(t, "the approval after the upload (the build runs first)", 120*time.Second, func() bool {
		a := actionState(t, c, "quickstart", "Approve", "Release")
		return a != nil && a.Status == types.ActionExecutionStatusInProgress
	})
	ex, err := c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("quickstart"), PipelineExecutionId: aws.String(execID)})
	if err != nil {
		t.Fatal(err)
	}
	if ex.PipelineExecution.Trigger.TriggerType != types.TriggerTypePollForSourceChanges ||
		len(ex.PipelineExecution.ArtifactRevisions) != 1 || aws.ToString(ex.PipelineExecution.ArtifactRevisions[0].RevisionId) != up.VersionID {
		t.Fatalf("execution = %+v", ex.PipelineExecution)
	}
	if a := actionState(t, c, "quickstart", "Approve", "Release"); !strings.Contains(aws.ToString(a.Summary), up.VersionID) {
		t.Errorf("CustomData should name the version: %q", aws.ToString(a.Summary))
	}
	// The artifact can be downloaded and is byte-identical to what was uploaded.
	code, got := restCall(t, s.URL, http.MethodGet, "/api/v1/artifacts/"+up.SHA256, testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK || !bytes.Equal(got, bundle) {
		t.Fatalf("artifact download: %d, %d bytes (want %d)", code, len(got), len(bundle))
	}
	// A body that does not match its signed hash is refused and stores nothing.
	r, _ := http.NewRequest(http.MethodPut, s.URL+"/api/v1/buckets/conveyor-examples/objects/quickstart/app.zip", bytes.NewReader([]byte("tampered")))
	sum := sha256.Sum256(bundle)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	_ = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: testAdminKey, SecretAccessKey: testAdminSecret}, r, hex.EncodeToString(sum[:]), "conveyor", "local", time.Now())
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tampered upload got %d, want 400", resp.StatusCode)
	}
	code, body = restCall(t, s.URL, http.MethodGet, "/api/v1/buckets/conveyor-examples/versions/quickstart/app.zip", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK || strings.Count(string(body), "versionId") != 1 {
		t.Errorf("versions after a tampered upload: %d %s", code, body)
	}
}

func TestStageRollbackThroughTheSDK(t *testing.T) {
	s := startServer(t)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()

	// Work's outcome follows the OUTCOME variable, so a release can be made to fail on purpose.
	decl := sdkDeclaration(t, fakePipeline("rb", "SUPERSEDED", "Deploy", "Custom", "Fake", map[string]string{"Result": "#{variables.OUTCOME}"}))
	decl.Variables = []types.PipelineVariableDeclaration{{Name: aws.String("OUTCOME"), DefaultValue: aws.String("Succeeded")}}
	decl.Stages[1].OnFailure = &types.FailureConditions{Result: types.ResultRollback}
	if _, err := c.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	good := latestExecutionID(t, c, "rb")
	awaitStatus(t, c, "rb", good, types.PipelineExecutionStatusSucceeded)
	bad, err := c.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: aws.String("rb"),
		Variables: []types.PipelineVariable{{Name: aws.String("OUTCOME"), Value: aws.String("Failed")}}})
	if err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "rb", aws.ToString(bad.PipelineExecutionId), types.PipelineExecutionStatusFailed)

	// onFailure ROLLBACK started a ROLLBACK execution with the good execution's variables: it succeeds.
	auto := latestExecutionID(t, c, "rb")
	awaitStatus(t, c, "rb", auto, types.PipelineExecutionStatusSucceeded)
	list, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("rb"), MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	sum := list.PipelineExecutionSummaries[0]
	if sum.ExecutionType != types.ExecutionTypeRollback || sum.RollbackMetadata == nil ||
		aws.ToString(sum.RollbackMetadata.RollbackTargetPipelineExecutionId) != good ||
		sum.Trigger.TriggerType != types.TriggerTypeAutomatedRollback || aws.ToString(sum.Trigger.TriggerDetail) != aws.ToString(bad.PipelineExecutionId) {
		t.Errorf("automatic rollback summary = %+v (trigger %+v, metadata %+v)", sum, sum.Trigger, sum.RollbackMetadata)
	}
	st, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("rb")})
	if err != nil {
		t.Fatal(err)
	}
	if le := st.StageStates[1].LatestExecution; le == nil || le.Type != types.ExecutionTypeRollback || aws.ToString(le.PipelineExecutionId) != auto {
		t.Errorf("Work's latest execution = %+v, want the rollback %s", le, auto)
	}

	// RollbackStage by hand to the same target; a source stage and a rollback target are refused.
	manual, err := c.RollbackStage(ctx, &codepipeline.RollbackStageInput{PipelineName: aws.String("rb"), StageName: aws.String("Work"),
		TargetPipelineExecutionId: aws.String(good)})
	if err != nil {
		t.Fatal(err)
	}
	manualID := aws.ToString(manual.PipelineExecutionId)
	awaitStatus(t, c, "rb", manualID, types.PipelineExecutionStatusSucceeded)
	ex, err := c.GetPipelineExecution(ctx, &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String("rb"), PipelineExecutionId: aws.String(manualID)})
	if err != nil {
		t.Fatal(err)
	}
	if pe := ex.PipelineExecution; pe.ExecutionType != types.ExecutionTypeRollback || pe.Trigger.TriggerType != types.TriggerTypeManualRollback ||
		pe.RollbackMetadata == nil || aws.ToString(pe.RollbackMetadata.RollbackTargetPipelineExecutionId) != good {
		t.Errorf("manual rollback = %+v (trigger %+v)", pe, pe.Trigger)
	}
	_, err = c.RollbackStage(ctx, &codepipeline.RollbackStageInput{PipelineName: aws.String("rb"), StageName: aws.String("Source"),
		TargetPipelineExecutionId: aws.String(good)})
	wantAPIError(t, err, "UnableToRollbackStageException")
	_, err = c.RollbackStage(ctx, &codepipeline.RollbackStageInput{PipelineName: aws.String("rb"), StageName: aws.String("Work"),
		TargetPipelineExecutionId: aws.String(auto)})
	wantAPIError(t, err, "UnableToRollbackStageException")
}
