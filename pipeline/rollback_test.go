package pipeline_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/pipeline"
)

// rollbackDecl is Source → Build → Deploy with onFailure ROLLBACK on Deploy. Build publishes the
// RELEASE pipeline variable it was built with; Deploy waits to be released and says what it deploys.
func rollbackDecl(name string) pipeline.Declaration {
	build := fakeAction("Build", "Build", 1, map[string]string{"Variables": `{"Release":"#{variables.RELEASE}"}`})
	build.InputArtifacts = []pipeline.ArtifactName{{Name: "SourceOut"}}
	build.OutputArtifacts = []pipeline.OutputArtifact{{Name: "BuildOut"}}
	build.Namespace = "BuildVars"
	deploy := fakeAction("Deploy", "Deploy", 1, map[string]string{"Wait": "true", "Summary": "release #{BuildVars.Release}"})
	deploy.InputArtifacts = []pipeline.ArtifactName{{Name: "BuildOut"}}
	d := decl(name, "SUPERSEDED", stage("Source", source(nil)), stage("Build", build), stage("Deploy", deploy))
	d.Stages[2].OnFailure = &pipeline.FailureConditions{Result: "ROLLBACK"}
	d.Variables = []pipeline.VariableDeclaration{{Name: "RELEASE", DefaultValue: "v0"}}
	return d
}

func (h *harness) startRelease(name, release string) string {
	h.t.Helper()
	id, err := h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: name,
		Variables: []pipeline.PipelineVariable{{Name: "RELEASE", Value: release}}})
	if err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	return id
}

// deployJob runs an execution through Source and Build and returns its waiting Deploy job.
func (h *harness) deployJob(execID string) executor.Job {
	h.t.Helper()
	for {
		j := h.started()
		if j.PipelineExecutionID != execID {
			h.t.Fatalf("%s/%s of execution %s started, want execution %s", j.StageName, j.ActionName, j.PipelineExecutionID, execID)
		}
		if j.StageName == "Deploy" {
			return j
		}
	}
}

func (h *harness) executionIDs(name string) []string {
	h.t.Helper()
	list, _, err := h.eng.ListExecutions(h.ctx, name, "", "", 100)
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.PipelineExecutionID)
	}
	return ids
}

func TestFailedStageRollsBackToTheLastSuccessfulExecution(t *testing.T) {
	h := newHarness(t)
	good := h.create(rollbackDecl("rb"))
	h.release(h.deployJob(good), executor.Succeeded)
	h.waitStatus("rb", good, "Succeeded")
	goodBuild := h.action("rb", good, "Build", "Build").Output.OutputArtifacts[0]

	bad := h.startRelease("rb", "v1")
	h.release(h.deployJob(bad), executor.Failed)
	failed := h.waitStatus("rb", bad, "Failed")
	ids := h.executionIDs("rb")
	if len(ids) != 3 {
		t.Fatalf("executions = %v, want the good one, the failed one and a rollback", ids)
	}
	rb := ids[0] // newest first
	if want := "rolling stage Deploy back to execution " + good + " in execution " + rb; !strings.Contains(failed.StatusSummary, want) {
		t.Errorf("failed summary = %q, want it to contain %q", failed.StatusSummary, want)
	}

	// The rollback runs Deploy alone, with the good execution's artifact and variables.
	job := h.started()
	if job.PipelineExecutionID != rb || job.StageName != "Deploy" {
		t.Fatalf("started %s/%s of %s, want the rollback's Deploy in %s", job.StageName, job.ActionName, job.PipelineExecutionID, rb)
	}
	if got := job.Configuration["Summary"]; got != "release v0" {
		t.Errorf("rollback deploys %q, want the good execution's \"release v0\"", got)
	}
	if in := h.action("rb", rb, "Deploy", "Deploy").Input.InputArtifacts; len(in) != 1 || in[0].S3Location.Key != goodBuild.S3Location.Key {
		t.Errorf("rollback input = %+v, want the good build %+v", in, goodBuild)
	}
	if job.TriggerType != pipeline.TriggerAutomatedRollback || job.TriggerDetail != bad {
		t.Errorf("trigger = %s %s, want AutomatedRollback from %s", job.TriggerType, job.TriggerDetail, bad)
	}
	if st := h.state("rb").StageStates[2].LatestExecution; st == nil || st.Type != "ROLLBACK" || st.PipelineExecutionID != rb {
		t.Errorf("Deploy's latest execution = %+v, want the rollback %s of type ROLLBACK", st, rb)
	}
	h.release(job, executor.Succeeded)
	done := h.waitStatus("rb", rb, "Succeeded")
	if done.ExecutionType != "ROLLBACK" || done.RollbackMetadata == nil || done.RollbackMetadata.RollbackTargetPipelineExecutionID != good {
		t.Errorf("rollback execution = %s %+v, want ROLLBACK with target %s", done.ExecutionType, done.RollbackMetadata, good)
	}
	if len(done.Variables) != 1 || done.Variables[0].ResolvedValue != "v0" {
		t.Errorf("rollback variables = %+v, want the target's RELEASE=v0", done.Variables)
	}
	goodRevs := h.exec("rb", good).ArtifactRevisions
	if len(done.ArtifactRevisions) != 1 || done.ArtifactRevisions[0].RevisionID != goodRevs[0].RevisionID {
		t.Errorf("rollback revisions = %+v, want the target's %+v", done.ArtifactRevisions, goodRevs)
	}
	for _, a := range h.actions("rb", rb) {
		if a.StageName != "Deploy" {
			t.Errorf("the rollback ran %s/%s; it must run only the rolled-back stage", a.StageName, a.ActionName)
		}
	}

	// A failing rollback is not rolled back again; the next rollback still targets the good
	// STANDARD execution, never a rollback.
	worse := h.startRelease("rb", "v2")
	h.release(h.deployJob(worse), executor.Failed)
	h.waitStatus("rb", worse, "Failed")
	job = h.started()
	rb2 := h.executionIDs("rb")[0]
	if job.PipelineExecutionID != rb2 || job.Configuration["Summary"] != "release v0" {
		t.Fatalf("second rollback started %s with %q, want %s deploying release v0", job.PipelineExecutionID, job.Configuration["Summary"], rb2)
	}
	h.release(job, executor.Failed)
	h.waitStatus("rb", rb2, "Failed")
	h.noStart()
	if n := len(h.executionIDs("rb")); n != 5 {
		t.Errorf("%d executions, want 5: a failed rollback must not start another", n)
	}
}

func TestNoRollbackWithoutAnEarlierSuccess(t *testing.T) {
	h := newHarness(t)
	first := h.create(rollbackDecl("never"))
	h.release(h.deployJob(first), executor.Failed)
	got := h.waitStatus("never", first, "Failed")
	if !strings.Contains(got.StatusSummary, "stage Deploy was not rolled back: no earlier execution of this pipeline version succeeded in it") {
		t.Errorf("summary = %q, want it to say why nothing was rolled back", got.StatusSummary)
	}
	h.noStart()
	if n := len(h.executionIDs("never")); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}
}

func TestRollbackEntersBeforeTheWaitingExecutionWithoutSupersedingIt(t *testing.T) {
	h := newHarness(t)
	good := h.create(rollbackDecl("order"))
	h.release(h.deployJob(good), executor.Succeeded)
	h.waitStatus("order", good, "Succeeded")
	bad := h.startRelease("order", "v1")
	badDeploy := h.deployJob(bad)
	next := h.startRelease("order", "v2")
	h.started() // next's Source
	h.started() // next's Build
	h.waitFor("an inbound execution at Deploy", func() bool { return h.state("order").StageStates[2].InboundExecution != nil })

	h.release(badDeploy, executor.Failed)
	job := h.started()
	if job.PipelineExecutionID == next {
		t.Fatal("the waiting execution entered Deploy before the rollback")
	}
	if got := h.exec("order", job.PipelineExecutionID); got.ExecutionType != "ROLLBACK" {
		t.Fatalf("Deploy started for %s of type %s, want the rollback", job.PipelineExecutionID, got.ExecutionType)
	}
	if got := h.exec("order", next).Status; got != "InProgress" {
		t.Fatalf("the waiting execution is %s; a rollback must not supersede it", got)
	}
	h.release(job, executor.Succeeded)
	nextDeploy := h.started()
	if nextDeploy.PipelineExecutionID != next || nextDeploy.Configuration["Summary"] != "release v2" {
		t.Fatalf("after the rollback, %s started deploying %q; want %s deploying release v2",
			nextDeploy.PipelineExecutionID, nextDeploy.Configuration["Summary"], next)
	}
	h.release(nextDeploy, executor.Succeeded)
	h.waitStatus("order", next, "Succeeded")
}

func TestRollbackStageChecksItsTarget(t *testing.T) {
	h := newHarness(t)
	d := rollbackDecl("manual")
	d.Stages[2].OnFailure = nil
	good := h.create(d)
	h.release(h.deployJob(good), executor.Succeeded)
	h.waitStatus("manual", good, "Succeeded")
	bad := h.startRelease("manual", "v1")
	running := h.deployJob(bad)

	_, err := h.eng.RollbackStage(h.ctx, "manual", "Deploy", good, "tester")
	wantCode(t, err, pipeline.CodeUnableToRollbackStage) // Deploy is busy with bad
	h.release(running, executor.Failed)
	h.waitStatus("manual", bad, "Failed")
	h.noStart() // no onFailure ROLLBACK: nothing rolls back by itself

	_, err = h.eng.RollbackStage(h.ctx, "manual", "Source", good, "tester")
	wantCode(t, err, pipeline.CodeUnableToRollbackStage)
	_, err = h.eng.RollbackStage(h.ctx, "manual", "Nope", good, "tester")
	wantCode(t, err, pipeline.CodeStageNotFound)
	_, err = h.eng.RollbackStage(h.ctx, "manual", "Deploy", "00000000-0000-0000-0000-000000000000", "tester")
	wantCode(t, err, pipeline.CodeExecutionNotFound)
	_, err = h.eng.RollbackStage(h.ctx, "manual", "Deploy", bad, "tester")
	wantCode(t, err, pipeline.CodeUnableToRollbackStage) // Deploy failed in bad

	rb, err := h.eng.RollbackStage(h.ctx, "manual", "Deploy", good, "alice")
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	job := h.started()
	if job.PipelineExecutionID != rb || job.TriggerType != pipeline.TriggerManualRollback || job.TriggerDetail != "alice" {
		t.Fatalf("started %s (%s by %s), want rollback %s by alice", job.PipelineExecutionID, job.TriggerType, job.TriggerDetail, rb)
	}
	if job.Configuration["Summary"] != "release v0" {
		t.Errorf("manual rollback deploys %q, want release v0", job.Configuration["Summary"])
	}
	h.release(job, executor.Succeeded)
	h.waitStatus("manual", rb, "Succeeded")
	_, err = h.eng.RollbackStage(h.ctx, "manual", "Deploy", rb, "tester")
	wantCode(t, err, pipeline.CodeUnableToRollbackStage) // a rollback is never a target

	raw, _ := json.Marshal(d)
	if _, err := h.eng.UpdatePipeline(h.ctx, raw, "test"); err != nil {
		t.Fatal(err)
	}
	_, err = h.eng.RollbackStage(h.ctx, "manual", "Deploy", good, "tester")
	wantCode(t, err, pipeline.CodeExecutionOutdated)
}

func TestRollbackSurvivesARestart(t *testing.T) {
	h := newHarness(t)
	good := h.create(rollbackDecl("durable"))
	h.release(h.deployJob(good), executor.Succeeded)
	h.waitStatus("durable", good, "Succeeded")
	bad := h.startRelease("durable", "v1")
	h.release(h.deployJob(bad), executor.Failed)
	h.waitStatus("durable", bad, "Failed")
	rb := h.started().PipelineExecutionID

	h.restart()
	job := h.started() // re-attached after the restart
	if job.PipelineExecutionID != rb || !job.Resumed || job.Configuration["Summary"] != "release v0" {
		t.Fatalf("after restart: %s resumed=%v %q, want the rollback %s resumed deploying release v0",
			job.PipelineExecutionID, job.Resumed, job.Configuration["Summary"], rb)
	}
	h.release(job, executor.Succeeded)
	if got := h.waitStatus("durable", rb, "Succeeded"); got.RollbackMetadata == nil || got.RollbackMetadata.RollbackTargetPipelineExecutionID != good {
		t.Errorf("rollback metadata after restart = %+v, want target %s", got.RollbackMetadata, good)
	}
}
