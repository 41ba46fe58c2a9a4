package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

// requireDocker fails the test when the server has no Docker (in CI) and skips it elsewhere.
func requireDocker(t *testing.T, s *testServer) {
	t.Helper()
	if s.app.builds == nil {
		t.Fatal("no build service")
	}
	if err := s.app.dockerErr; err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker is required in CI: %v", err)
		}
		t.Skipf("Docker is not available: %v", err)
	}
}

func codeBuildClient(url string) *codebuild.Client {
	return codebuild.New(codebuild.Options{Region: "local", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(testAdminKey, testAdminSecret, ""), Retryer: closedConnRetryer()})
}

func awaitBuild(t *testing.T, c *codebuild.Client, id string) cbtypes.Build {
	t.Helper()
	var b cbtypes.Build
	eventually(t, "build "+id+" to complete", 120*time.Second, func() bool {
		out, err := c.BatchGetBuilds(context.Background(), &codebuild.BatchGetBuildsInput{Ids: []string{id}})
		if err != nil || len(out.Builds) != 1 {
			t.Fatalf("BatchGetBuilds: %v", err)
		}
		b = out.Builds[0]
		return b.BuildComplete
	})
	return b
}

func noSourceProject(name, image, buildspec string) *codebuild.CreateProjectInput {
	return &codebuild.CreateProjectInput{
		Name:        aws.String(name),
		Source:      &cbtypes.ProjectSource{Type: cbtypes.SourceTypeNoSource, Buildspec: aws.String(buildspec)},
		Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeNoArtifacts},
		Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeLinuxContainer, Image: aws.String(image), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small},
		ServiceRole: aws.String("arn:aws:iam::000000000000:role/conveyor"),
	}
}

func TestCodeBuildAPIThroughTheSDK(t *testing.T) {
	s := startServer(t)
	requireDocker(t, s)
	c := codeBuildClient(s.URL)
	ctx := context.Background()

	// A secret the build reads through parameter-store; its value must never reach the log.
	if code, body := restCall(t, s.URL, http.MethodPut, "/api/v1/secrets/prod/token", testAdminKey, testAdminSecret,
		[]byte(`{"value":"tok-9f8e7d6c","description":"deploy token"}`)); code != http.StatusOK {
		t.Fatalf("put secret: %d %s", code, body)
	}
	spec := `version: 0.2
env:
  variables:
    GREETING: from-buildspec
  parameter-store:
    TOKEN: prod/token
  exported-variables:
    - RESULT
phases:
  build:
    commands:
      - echo "greeting=$GREETING stage=$STAGE token=$TOKEN"
      - mkdir -p out && echo built > out/app.txt
      - RESULT="done-$STAGE"
artifacts:
  files:
    - out/**/*
reports:
  unit:
    files:
      - report.xml
`
	in := noSourceProject("sdk-build", "conveyor/busybox:latest", strings.Replace(spec,
		"      - RESULT=", "      - printf '<testsuite><testcase name=\"ok\"/><testcase name=\"bad\"><failure message=\"nope\"/></testcase></testsuite>' > report.xml\n      - RESULT=", 1))
	in.Artifacts = &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeS3, Location: aws.String("build-output"), Name: aws.String("app"),
		NamespaceType: cbtypes.ArtifactNamespaceBuildId}
	in.Environment.EnvironmentVariables = []cbtypes.EnvironmentVariable{{Name: aws.String("STAGE"), Value: aws.String("project")}}
	created, err := c.CreateProject(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.Project.Arn) != "arn:aws:codebuild:local:000000000000:project/sdk-build" {
		t.Errorf("arn = %s", aws.ToString(created.Project.Arn))
	}
	_, err = c.CreateProject(ctx, in)
	wantAPIError(t, err, "ResourceAlreadyExistsException")
	bad := noSourceProject("x", "", "")
	_, err = c.CreateProject(ctx, bad)
	wantAPIError(t, err, "InvalidInputException")

	// UpdateProject changes only what it names.
	if _, err := c.UpdateProject(ctx, &codebuild.UpdateProjectInput{Name: aws.String("sdk-build"), Description: aws.String("updated")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.BatchGetProjects(ctx, &codebuild.BatchGetProjectsInput{Names: []string{"sdk-build", "nope"}})
	if err != nil || len(got.Projects) != 1 || aws.ToString(got.Projects[0].Description) != "updated" ||
		aws.ToString(got.Projects[0].Environment.Image) != "conveyor/busybox:latest" || len(got.ProjectsNotFound) != 1 {
		t.Fatalf("BatchGetProjects: %v %+v", err, got)
	}

	// StartBuild with an override (wins over the project's variable) and an idempotency token.
	start := &codebuild.StartBuildInput{ProjectName: aws.String("sdk-build"), IdempotencyToken: aws.String("once"),
		EnvironmentVariablesOverride: []cbtypes.EnvironmentVariable{{Name: aws.String("STAGE"), Value: aws.String("override")}}}
	first, err := c.StartBuild(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.StartBuild(ctx, start)
	if err != nil || aws.ToString(again.Build.Id) != aws.ToString(first.Build.Id) {
		t.Fatalf("a repeated idempotency token must return the same build: %v", err)
	}
	b := awaitBuild(t, c, aws.ToString(first.Build.Id))
	if b.BuildStatus != cbtypes.StatusTypeSucceeded {
		t.Fatalf("build %s: %+v", b.BuildStatus, b.Phases)
	}
	var phases []string
	for _, p := range b.Phases {
		phases = append(phases, string(p.PhaseType))
	}
	if strings.Join(phases, ",") != "SUBMITTED,QUEUED,PROVISIONING,DOWNLOAD_SOURCE,BUILD,UPLOAD_ARTIFACTS,FINALIZING,COMPLETED" {
		t.Errorf("phases = %v", phases)
	}
	if len(b.ExportedEnvironmentVariables) != 1 || aws.ToString(b.ExportedEnvironmentVariables[0].Value) != "done-override" {
		t.Errorf("exported = %+v", b.ExportedEnvironmentVariables)
	}
	_, buildUUID, _ := strings.Cut(aws.ToString(b.Id), ":")
	if b.Artifacts == nil || aws.ToString(b.Artifacts.Location) != "arn:aws:s3:::build-output/"+buildUUID+"/app.zip" || len(aws.ToString(b.Artifacts.Sha256sum)) != 64 {
		t.Errorf("artifacts = %+v (location %s, want the build uuid %s)", b.Artifacts, aws.ToString(b.Artifacts.Location), buildUUID)
	}
	if aws.ToInt64(b.BuildNumber) != 1 || aws.ToString(b.Initiator) != "key/"+testAdminKey {
		t.Errorf("number %d initiator %s", aws.ToInt64(b.BuildNumber), aws.ToString(b.Initiator))
	}
	// The log: the override won, the secret is masked.
	code, body := restCall(t, s.URL, http.MethodGet, "/api/v1/builds/"+aws.ToString(b.Id)+"/logs?tail=200", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK || !strings.Contains(string(body), "greeting=from-buildspec stage=override token=***") || strings.Contains(string(body), "tok-9f8e7d6c") {
		t.Errorf("log: %d %s", code, body)
	}
	// The artifact was stored as an object at the project's location.
	code, body = restCall(t, s.URL, http.MethodGet, "/api/v1/buckets/build-output/versions/"+buildUUID+"/app.zip", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK || !strings.Contains(string(body), aws.ToString(b.Artifacts.Sha256sum)) {
		t.Errorf("artifact object: %d %s", code, body)
	}

	// Reports: the JUnit file was parsed; failures come first.
	if len(b.ReportArns) != 1 {
		t.Fatalf("reportArns = %v", b.ReportArns)
	}
	reps, err := c.BatchGetReports(ctx, &codebuild.BatchGetReportsInput{ReportArns: b.ReportArns})
	if err != nil || len(reps.Reports) != 1 || reps.Reports[0].Status != cbtypes.ReportStatusTypeFailed ||
		aws.ToInt32(reps.Reports[0].TestSummary.Total) != 2 {
		t.Fatalf("reports: %v %+v", err, reps)
	}
	cases, err := c.DescribeTestCases(ctx, &codebuild.DescribeTestCasesInput{ReportArn: aws.String(b.ReportArns[0])})
	if err != nil || len(cases.TestCases) != 2 || aws.ToString(cases.TestCases[0].Name) != "bad" || aws.ToString(cases.TestCases[0].Status) != "FAILED" {
		t.Fatalf("test cases: %v %+v", err, cases)
	}

	// StopBuild stops a long build promptly.
	long := noSourceProject("sdk-long", "conveyor/busybox:latest", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n")
	if _, err := c.CreateProject(ctx, long); err != nil {
		t.Fatal(err)
	}
	started, err := c.StartBuild(ctx, &codebuild.StartBuildInput{ProjectName: aws.String("sdk-long")})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the long build to reach BUILD", 60*time.Second, func() bool {
		out, _ := c.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{aws.ToString(started.Build.Id)}})
		return len(out.Builds) == 1 && out.Builds[0].CurrentPhase != nil && *out.Builds[0].CurrentPhase == "BUILD"
	})
	if _, err := c.StopBuild(ctx, &codebuild.StopBuildInput{Id: started.Build.Id}); err != nil {
		t.Fatal(err)
	}
	if st := awaitBuild(t, c, aws.ToString(started.Build.Id)); st.BuildStatus != cbtypes.StatusTypeStopped {
		t.Errorf("stopped build is %s", st.BuildStatus)
	}

	// RetryBuild starts a new build of the same request; listing shows the newest first.
	retried, err := c.RetryBuild(ctx, &codebuild.RetryBuildInput{Id: b.Id})
	if err != nil || aws.ToString(retried.Build.Id) == aws.ToString(b.Id) {
		t.Fatalf("retry: %v", err)
	}
	if rb := awaitBuild(t, c, aws.ToString(retried.Build.Id)); rb.BuildStatus != cbtypes.StatusTypeSucceeded || aws.ToInt64(rb.BuildNumber) != 2 {
		t.Errorf("retried build: %s #%d", rb.BuildStatus, aws.ToInt64(rb.BuildNumber))
	}
	ids, err := c.ListBuildsForProject(ctx, &codebuild.ListBuildsForProjectInput{ProjectName: aws.String("sdk-build")})
	if err != nil || len(ids.Ids) != 2 || ids.Ids[0] != aws.ToString(retried.Build.Id) {
		t.Errorf("ListBuildsForProject: %v %v", err, ids)
	}
	all, err := c.ListBuilds(ctx, &codebuild.ListBuildsInput{SortOrder: cbtypes.SortOrderTypeAscending})
	if err != nil || len(all.Ids) != 3 || all.Ids[0] != aws.ToString(b.Id) {
		t.Errorf("ListBuilds: %v %v", err, all)
	}
	names, err := c.ListProjects(ctx, &codebuild.ListProjectsInput{})
	if err != nil || strings.Join(names.Projects, ",") != "sdk-build,sdk-long" {
		t.Errorf("ListProjects: %v %v", err, names)
	}

	// DeleteProject keeps the builds.
	if _, err := c.DeleteProject(ctx, &codebuild.DeleteProjectInput{Name: aws.String("sdk-long")}); err != nil {
		t.Fatal(err)
	}
	kept, err := c.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{aws.ToString(started.Build.Id), "nope:1"}})
	if err != nil || len(kept.Builds) != 1 || len(kept.BuildsNotFound) != 1 {
		t.Errorf("builds of a deleted project must be kept: %v %+v", err, kept)
	}
	_, err = c.StartBuild(ctx, &codebuild.StartBuildInput{ProjectName: aws.String("sdk-long")})
	wantAPIError(t, err, "ResourceNotFoundException")
}

// zipDir zips a directory tree (modes kept) for an upload.
func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		h := &zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate}
		h.SetMode(info.Mode().Perm() | 0o600)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPipelineBuildsTheSampleApp(t *testing.T) {
	s := startServer(t)
	requireDocker(t, s)
	ctx := context.Background()
	cb := codeBuildClient(s.URL)
	cp := codePipelineClient(s.URL, "", "")
	if _, err := cb.CreateProject(ctx, &codebuild.CreateProjectInput{
		Name:        aws.String("sample-app"),
		Source:      &cbtypes.ProjectSource{Type: cbtypes.SourceTypeCodepipeline},
		Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeCodepipeline},
		Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeLinuxContainer, Image: aws.String("conveyor/build-debian:bookworm"), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small},
		ServiceRole: aws.String("arn:aws:iam::000000000000:role/conveyor"),
	}); err != nil {
		t.Fatal(err)
	}
	decl := &types.PipelineDeclaration{Name: aws.String("sample"), RoleArn: aws.String("arn:aws:iam::000000000000:role/conveyor"), Stages: []types.StageDeclaration{
		{Name: aws.String("Source"), Actions: []types.ActionDeclaration{{Name: aws.String("Source"),
			ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategorySource, Owner: types.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
			Configuration:   map[string]string{"S3Bucket": "sources", "S3ObjectKey": "sample-app.zip"},
			OutputArtifacts: []types.OutputArtifact{{Name: aws.String("SourceArtifact")}}, Namespace: aws.String("SourceVariables")}}},
		{Name: aws.String("Build"), Actions: []types.ActionDeclaration{{Name: aws.String("Build"),
			ActionTypeId:    &types.ActionTypeId{Category: types.ActionCategoryBuild, Owner: types.ActionOwnerAws, Provider: aws.String("CodeBuild"), Version: aws.String("1")},
			Configuration:   map[string]string{"ProjectName": "sample-app"},
			InputArtifacts:  []types.InputArtifact{{Name: aws.String("SourceArtifact")}},
			OutputArtifacts: []types.OutputArtifact{{Name: aws.String("BuildArtifact")}}, Namespace: aws.String("BuildVariables")}}},
		{Name: aws.String("Deploy"), Actions: []types.ActionDeclaration{{Name: aws.String("Deploy"),
			ActionTypeId:   &types.ActionTypeId{Category: types.ActionCategoryDeploy, Owner: types.ActionOwnerCustom, Provider: aws.String("Fake"), Version: aws.String("1")},
			Configuration:  map[string]string{"Summary": "deploying #{BuildVariables.APP_VERSION}"},
			InputArtifacts: []types.InputArtifact{{Name: aws.String("BuildArtifact")}}}}},
	}}
	code, body := restCall(t, s.URL, http.MethodPut, "/api/v1/buckets/sources/objects/sample-app.zip", testAdminKey, testAdminSecret,
		zipDir(t, fixtures.Dir(t, "sample-app/v1")))
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	var up struct{ VersionID string }
	_ = json.Unmarshal(body, &up)
	if _, err := cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	execID := latestExecutionID(t, cp, "sample")
	eventually(t, "the pipeline to finish", 180*time.Second, func() bool {
		st := executionStatus(t, cp, "sample", execID)
		if st == types.PipelineExecutionStatusFailed {
			a := actionState(t, cp, "sample", "Build", "Build")
			t.Fatalf("pipeline failed: %+v", a)
		}
		return st == types.PipelineExecutionStatusSucceeded
	})
	// The build is the action's external execution; its exported variable is an output variable
	// that resolved into the next action's configuration.
	a := actionState(t, cp, "sample", "Build", "Build")
	buildID := aws.ToString(a.ExternalExecutionId)
	if !strings.HasPrefix(buildID, "sample-app:") {
		t.Fatalf("externalExecutionId = %q", buildID)
	}
	acts, err := cp.ListActionExecutions(ctx, &codepipeline.ListActionExecutionsInput{PipelineName: aws.String("sample"),
		Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String(execID)}})
	if err != nil {
		t.Fatal(err)
	}
	var buildOut, deployIn *types.ActionExecutionDetail
	for i := range acts.ActionExecutionDetails {
		switch aws.ToString(acts.ActionExecutionDetails[i].ActionName) {
		case "Build":
			buildOut = &acts.ActionExecutionDetails[i]
		case "Deploy":
			deployIn = &acts.ActionExecutionDetails[i]
		}
	}
	version := buildOut.Output.OutputVariables["APP_VERSION"]
	if !strings.HasPrefix(version, "1-") || deployIn.Input.ResolvedConfiguration["Summary"] != "deploying "+version {
		t.Fatalf("APP_VERSION %q, deploy summary %q", version, deployIn.Input.ResolvedConfiguration["Summary"])
	}
	// The build saw the S3 version as its resolved source version.
	b := awaitBuild(t, cb, buildID)
	if aws.ToString(b.ResolvedSourceVersion) != up.VersionID || aws.ToString(b.Initiator) != "codepipeline/sample" {
		t.Errorf("resolved source version %q (want %q), initiator %q", aws.ToString(b.ResolvedSourceVersion), up.VersionID, aws.ToString(b.Initiator))
	}
	// The build artifact handed to Deploy holds exactly the sample app's files.
	key := aws.ToString(deployIn.Input.InputArtifacts[0].S3location.Key)
	code, zipped := restCall(t, s.URL, http.MethodGet, "/api/v1/artifacts/"+key, testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK {
		t.Fatalf("artifact download: %d", code)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "appspec.yml,bin/sample-app,scripts/before_install.sh,scripts/start_server.sh,scripts/stop_server.sh,scripts/validate_service.sh" {
		t.Errorf("artifact files = %v", names)
	}
}
