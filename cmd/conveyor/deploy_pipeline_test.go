package main

// The CodeDeploy pipeline action: Source (S3) → Deploy (CodeDeploy) over scripted hosts.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// s3DeployPipeline is Source (S3 sources/<key>) → Deploy (CodeDeploy app/group).
func s3DeployPipeline(name, key, app, group string) *types.PipelineDeclaration {
	return &types.PipelineDeclaration{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::000000000000:role/conveyor"), Stages: []types.StageDeclaration{
		{Name: aws.String("Source"), Actions: []types.ActionDeclaration{{Name: aws.String("Source"),
			ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
			Configuration:   map[string]string{"S3Bucket": "sources", "S3ObjectKey": key},
			OutputArtifacts: []types.OutputArtifact{{Name: aws.String("Bundle")}}}}},
		{Name: aws.String("Deploy"), Actions: []types.ActionDeclaration{{Name: aws.String("Deploy"),
			ActionTypeId:   &types.ActionTypeId{Category: types.ActionCategoryDeploy, Owner: types.ActionOwnerAws, Provider: aws.String("CodeDeploy"), Version: aws.String("1")},
			Configuration:  map[string]string{"ApplicationName": app, "DeploymentGroupName": group},
			InputArtifacts: []types.InputArtifact{{Name: aws.String("Bundle")}}}}},
	}}
}

func TestCodeDeployPipelineAction(t *testing.T) {
	s := startServer(t)
	c, cp := codeDeployClient(s.URL), codePipelineClient(s.URL, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.OneAtATime", true)
	web := hosts(t, s.URL, "web", "web", 2)
	// The broken revision fails ValidateService on every host; the pipeline's revisions are
	// artifacts (no bucket or key), so the hosts know it by its sha256.
	var brokenSHA atomic.Value
	brokenSHA.Store("")
	seen := &commandLog{}
	var done []<-chan struct{}
	for _, h := range web {
		done = append(done, h.serve(ctx, seen, func(cmd *protocol.Command) string {
			if cmd.Revision.SHA256 == brokenSHA.Load().(string) {
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

	upload := func(body []byte) {
		t.Helper()
		if code, resp := restCall(t, s.URL, http.MethodPut, "/api/v1/buckets/sources/objects/shop.zip", testAdminKey, testAdminSecret, body); code != http.StatusOK {
			t.Fatalf("upload: %d %s", code, resp)
		}
	}
	upload(revisionZip(t, "v1"))
	if _, err := cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: s3DeployPipeline("release", "shop.zip", "shop", "web")}); err != nil {
		t.Fatal(err)
	}
	first := latestExecutionID(t, cp, "release")
	awaitStatus(t, cp, "release", first, types.PipelineExecutionStatusSucceeded)
	a := actionState(t, cp, "release", "Deploy", "Deploy")
	depID := aws.ToString(a.ExternalExecutionId)
	if !strings.HasPrefix(depID, "d-") || !strings.Contains(aws.ToString(a.Summary), "succeeded on 2 hosts") {
		t.Fatalf("deploy action = %+v", a)
	}
	d := getDeployment(t, c, depID)
	if aws.ToString(d.ExternalId) == "" || aws.ToString(d.Revision.S3Location.Bucket) != "conveyor:artifacts" {
		t.Errorf("pipeline deployment = externalId %q revision %+v", aws.ToString(d.ExternalId), d.Revision.S3Location)
	}

	// A broken revision: the action fails naming the host and the hook; the rollback restores v1.
	broken := revisionZip(t, "broken")
	sum := sha256.Sum256(broken)
	brokenSHA.Store(hex.EncodeToString(sum[:]))
	upload(broken)
	var second string
	eventually(t, "the second execution", 20*time.Second, func() bool {
		second = latestExecutionID(t, cp, "release")
		return second != first
	})
	awaitStatus(t, cp, "release", second, types.PipelineExecutionStatusFailed)
	a = actionState(t, cp, "release", "Deploy", "Deploy")
	summary := aws.ToString(a.ErrorDetails.Message)
	failedID := aws.ToString(a.ExternalExecutionId)
	want := "Deployment " + failedID + " failed: host web-1 failed ValidateService (ScriptFailed: scripts/validate_service.sh exited 1); rolled back by d-"
	if !strings.HasPrefix(summary, want) {
		t.Errorf("action error = %q, want it to start with %q", summary, want)
	}
	rb := getDeployment(t, c, failedID).RollbackInfo
	awaitDeployment(t, c, aws.ToString(rb.RollbackDeploymentId), "Succeeded")
	got := seen.list()
	if strings.Count(strings.Join(got, "\n"), failedID) != 1 {
		t.Errorf("commands = %v: only one host may get the broken revision", got)
	}
}
