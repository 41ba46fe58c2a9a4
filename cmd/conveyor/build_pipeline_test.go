package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// s3BuildPipeline is Source (S3, bucket/key, polling as given) → Build (CodeBuild project).
func s3BuildPipeline(name, project, key, poll string) *types.PipelineDeclaration {
	return &types.PipelineDeclaration{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::000000000000:role/conveyor"), Stages: []types.StageDeclaration{
		{Name: aws.String("Source"), Actions: []types.ActionDeclaration{{Name: aws.String("Source"),
			ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
			Configuration:   map[string]string{"S3Bucket": "sources", "S3ObjectKey": key, "PollForSourceChanges": poll},
			OutputArtifacts: []types.OutputArtifact{{Name: aws.String("Src")}}}}},
		{Name: aws.String("Build"), Actions: []types.ActionDeclaration{{Name: aws.String("Build"),
			ActionTypeId:   &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")},
			Configuration:  map[string]string{"ProjectName": project},
			InputArtifacts: []types.InputArtifact{{Name: aws.String("Src")}}}}},
	}}
}

func TestStoppingAPipelineStopsItsBuild(t *testing.T) {
	s := startServer(t)
	requireDocker(t, s)
	ctx := context.Background()
	cb, cp := codeBuildClient(s.URL), codePipelineClient(s.URL, "", "")
	if _, err := cb.CreateProject(ctx, &codebuild.CreateProjectInput{Name: aws.String("slow"),
		Source:      &cbtypes.ProjectSource{Type: cbtypes.SourceTypeCodepipeline, Buildspec: aws.String("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n")},
		Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeCodepipeline},
		Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeLinuxContainer, Image: aws.String("conveyor/busybox:latest"), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small},
		ServiceRole: aws.String("arn:aws:iam::000000000000:role/conveyor")}); err != nil {
		t.Fatal(err)
	}
	if code, body := restCall(t, s.URL, http.MethodPut, "/api/v1/buckets/sources/objects/slow.zip", testAdminKey, testAdminSecret, zipDir(t, t.TempDir())); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	if _, err := cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: s3BuildPipeline("stopme", "slow", "slow.zip", "true")}); err != nil {
		t.Fatal(err)
	}
	execID := latestExecutionID(t, cp, "stopme")
	var buildID string
	eventually(t, "the build to run its command", 60*time.Second, func() bool {
		a := actionState(t, cp, "stopme", "Build", "Build")
		if a == nil || a.ExternalExecutionId == nil {
			return false
		}
		buildID = *a.ExternalExecutionId
		out, err := cb.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{buildID}})
		return err == nil && len(out.Builds) == 1 && aws.ToString(out.Builds[0].CurrentPhase) == "BUILD"
	})
	if _, err := cp.StopPipelineExecution(ctx, &codepipeline.StopPipelineExecutionInput{PipelineName: aws.String("stopme"),
		PipelineExecutionId: aws.String(execID), Abandon: true, Reason: aws.String("wrong commit")}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, cp, "stopme", execID, types.PipelineExecutionStatusStopped)
	if b := awaitBuild(t, cb, buildID); b.BuildStatus != cbtypes.StatusTypeStopped {
		t.Errorf("abandoning the action must stop its build, which is %s", b.BuildStatus)
	}
}

func TestUploadIgnoredWhenPollingIsOff(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	cp := codePipelineClient(s.URL, "", "")
	if _, err := cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: s3BuildPipeline("manual-only", "any", "manual.zip", "false")}); err != nil {
		t.Fatal(err)
	}
	code, body := restCall(t, s.URL, http.MethodPut, "/api/v1/buckets/sources/objects/manual.zip", testAdminKey, testAdminSecret, zipDir(t, t.TempDir()))
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	var up struct {
		StartedExecutions map[string]string `json:"startedExecutions"`
	}
	_ = json.Unmarshal(body, &up)
	if len(up.StartedExecutions) != 0 {
		t.Fatalf("PollForSourceChanges false: the upload must start nothing, started %v", up.StartedExecutions)
	}
	out, err := cp.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String("manual-only")})
	if err != nil || len(out.PipelineExecutionSummaries) != 1 || !strings.EqualFold(string(out.PipelineExecutionSummaries[0].Trigger.TriggerType), "CreatePipeline") {
		t.Fatalf("only the CreatePipeline execution may exist: %v %+v", err, out)
	}
}
