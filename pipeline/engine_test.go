package pipeline_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/approval"
	"github.com/conveyorci/conveyor/executor/fake"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// harness is an engine over real SQLite in a temp dir, with the scriptable fake and the real
// approval provider. Tests await engine notifications instead of sleeping.
type harness struct {
	t       *testing.T
	ctx     context.Context
	dbPath  string
	db      *store.DB
	eng     *pipeline.Engine
	fake    *fake.Executor
	changed chan struct{}
	clock   *fakeClock // when set, the store's and the engine's clock
}

// Short-timeout provider types for timeout tests: CodePipeline's minimum action timeout is five
// minutes, so these stand in with a provider default of a fraction of a second.
var (
	quickFake     = executor.ActionType{Category: "Build", Owner: "Custom", Provider: "QuickTimeout"}
	quickApproval = executor.ActionType{Category: "Approval", Owner: "Custom", Provider: "QuickManual"}
)

type notifier struct {
	ch       chan struct{}
	started  atomic.Int64
	finished sync.Map // status → *atomic.Int64
}

func (n *notifier) ExecutionStarted(string) { n.started.Add(1) }
func (n *notifier) ExecutionFinished(_, status string) {
	v, _ := n.finished.LoadOrStore(status, &atomic.Int64{})
	v.(*atomic.Int64).Add(1)
}
func (n *notifier) StageEntered(string, string)                               {}
func (n *notifier) ActionFinished(executor.ActionType, string, time.Duration) {}
func (n *notifier) Changed(string) {
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), dbPath: filepath.Join(t.TempDir(), "conveyor.db"), fake: fake.New(1024)}
	h.open()
	return h
}

func (h *harness) open() {
	h.t.Helper()
	var opts store.Options
	cfg := pipeline.Config{}
	if h.clock != nil {
		opts.Now, cfg.AfterFunc = h.clock.Now, h.clock.AfterFunc
	}
	db, err := store.Open(h.ctx, h.dbPath, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	reg := executor.NewRegistry()
	fake.Register(reg, h.fake)
	reg.Register(approval.Spec(), &approval.Executor{})
	reg.Register(executor.Spec{Type: quickFake, OptionalConfig: []string{"Wait", "Sleep"}, MaxInputs: 5, MaxOutputs: 5,
		DefaultTimeout: 300 * time.Millisecond}, h.fake)
	reg.Register(executor.Spec{Type: quickApproval, OptionalConfig: []string{"CustomData"},
		DefaultTimeout: 300 * time.Millisecond}, &approval.Executor{})
	h.changed = make(chan struct{}, 1)
	h.db = db
	cfg.DB, cfg.Providers, cfg.Observer = db, reg, &notifier{ch: h.changed}
	h.eng = pipeline.New(cfg)
	if err := h.eng.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.close)
}

// close stops the engine as a shutdown would (running actions stay InProgress in the database).
func (h *harness) close() {
	if h.eng == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.eng.Close(ctx); err != nil {
		h.t.Errorf("engine close: %v", err)
	}
	h.db.Close()
	h.eng = nil
}

// restart simulates a server restart over the same database and a fresh fake provider.
func (h *harness) restart() {
	h.close()
	h.fake = fake.New(1024)
	h.open()
}

// waitFor blocks until cond holds, re-checking on every engine notification.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-h.changed:
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// started returns the next job the fake started.
func (h *harness) started() executor.Job {
	h.t.Helper()
	select {
	case j := <-h.fake.Started:
		return j
	case <-time.After(15 * time.Second):
		h.t.Fatal("timed out waiting for an action to start")
		return executor.Job{}
	}
}

func (h *harness) noStart() {
	h.t.Helper()
	select {
	case j := <-h.fake.Started:
		h.t.Fatalf("unexpected start of %s/%s in execution %s", j.StageName, j.ActionName, j.PipelineExecutionID)
	default:
	}
}

func (h *harness) create(d pipeline.Declaration) string {
	h.t.Helper()
	raw, err := json.Marshal(d)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.eng.CreatePipeline(h.ctx, raw, nil, "test"); err != nil {
		h.t.Fatalf("create pipeline: %v", err)
	}
	// CreatePipeline starts a first execution; tests that count executions start from here.
	list, _, err := h.eng.ListExecutions(h.ctx, d.Name, "", "", 10)
	if err != nil || len(list) != 1 {
		h.t.Fatalf("create should start one execution: %v %v", list, err)
	}
	return list[0].PipelineExecutionID
}

func (h *harness) start(name string) string {
	h.t.Helper()
	id, err := h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: name})
	if err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	return id
}

func (h *harness) exec(name, id string) pipeline.ExecutionDetail {
	h.t.Helper()
	d, err := h.eng.GetExecution(h.ctx, name, id)
	if err != nil {
		h.t.Fatalf("get execution: %v", err)
	}
	return d
}

func (h *harness) waitStatus(name, id, status string) pipeline.ExecutionDetail {
	h.t.Helper()
	var d pipeline.ExecutionDetail
	h.waitFor("execution "+id+" to be "+status, func() bool {
		d = h.exec(name, id)
		if isTerminal(d.Status) && d.Status != status {
			h.t.Fatalf("execution %s ended %s (%s), want %s", id, d.Status, d.StatusSummary, status)
		}
		return d.Status == status
	})
	return d
}

func isTerminal(s string) bool {
	switch s {
	case "Succeeded", "Failed", "Stopped", "Superseded", "Cancelled":
		return true
	}
	return false
}

func (h *harness) state(name string) pipeline.PipelineState {
	h.t.Helper()
	s, err := h.eng.State(h.ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) actions(name, execID string) []pipeline.ActionExecutionDetail {
	h.t.Helper()
	list, _, err := h.eng.ListActionExecutions(h.ctx, name, execID, "", 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func (h *harness) action(name, execID, stage, action string) pipeline.ActionExecutionDetail {
	h.t.Helper()
	for _, a := range h.actions(name, execID) { // newest first
		if a.StageName == stage && a.ActionName == action {
			return a
		}
	}
	h.t.Fatalf("no execution of %s/%s in %s", stage, action, execID)
	return pipeline.ActionExecutionDetail{}
}

// actionStatus is the status of the newest execution of an action, or "" when it has not run.
func (h *harness) actionStatus(name, execID, stage, action string) string {
	for _, a := range h.actions(name, execID) {
		if a.StageName == stage && a.ActionName == action {
			return a.Status
		}
	}
	return ""
}

func (h *harness) release(job executor.Job, status executor.Status) {
	h.t.Helper()
	if !h.fake.Release(job.ActionExecutionID, executor.Result{Status: status, Summary: "released " + string(status)}) {
		h.t.Fatalf("action %s/%s is not waiting", job.StageName, job.ActionName)
	}
}

func wantCode(t *testing.T, err error, code pipeline.ErrorCode) {
	t.Helper()
	got, ok := pipeline.CodeOf(err)
	if !ok || got != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// Declaration builders.

func fakeAction(name, category string, runOrder int, cfg map[string]string) pipeline.Action {
	return pipeline.Action{Name: name, RunOrder: runOrder, Configuration: cfg,
		ActionTypeID: pipeline.ActionTypeID{Category: category, Owner: "Custom", Provider: "Fake", Version: "1"}}
}

func source(cfg map[string]string) pipeline.Action {
	a := fakeAction("Src", "Source", 1, cfg)
	a.OutputArtifacts = []pipeline.OutputArtifact{{Name: "SourceOut"}}
	a.Namespace = "SourceVars"
	return a
}

func stage(name string, actions ...pipeline.Action) pipeline.Stage {
	return pipeline.Stage{Name: name, Actions: actions}
}

func decl(name, mode string, stages ...pipeline.Stage) pipeline.Declaration {
	d := pipeline.Declaration{Name: name, Stages: stages}
	if mode != "" {
		d.PipelineType, d.ExecutionMode = "V2", mode
	}
	return d
}

func waitCfg() map[string]string { return map[string]string{"Wait": "true"} }

func TestStagesRunInOrderAndPassArtifactsAndVariables(t *testing.T) {
	h := newHarness(t)
	build := fakeAction("Build", "Build", 1, map[string]string{
		"Summary": "built #{SourceVars.CommitId} in #{codepipeline.PipelineExecutionId} for #{variables.ENV}",
	})
	build.InputArtifacts = []pipeline.ArtifactName{{Name: "SourceOut"}}
	build.OutputArtifacts = []pipeline.OutputArtifact{{Name: "BuildOut"}}
	deploy := fakeAction("Deploy", "Deploy", 1, nil)
	deploy.InputArtifacts = []pipeline.ArtifactName{{Name: "BuildOut"}}
	d := decl("flow", "SUPERSEDED",
		stage("Source", source(map[string]string{"Variables": `{"CommitId":"abc123"}`})),
		stage("Build", build), stage("Deploy", deploy))
	d.Variables = []pipeline.VariableDeclaration{{Name: "ENV", DefaultValue: "dev"}}
	id := h.create(d)
	got := h.waitStatus("flow", id, "Succeeded")
	if len(got.ArtifactRevisions) != 1 || got.ArtifactRevisions[0].Name != "SourceOut" {
		t.Errorf("artifact revisions = %+v, want the source artifact", got.ArtifactRevisions)
	}
	if len(got.Variables) != 1 || got.Variables[0].ResolvedValue != "dev" {
		t.Errorf("variables = %+v, want ENV=dev", got.Variables)
	}
	b := h.action("flow", id, "Build", "Build")
	if want := "built abc123 in " + id + " for dev"; b.Input.ResolvedConfiguration["Summary"] != want {
		t.Errorf("resolved Summary = %q, want %q", b.Input.ResolvedConfiguration["Summary"], want)
	}
	if len(b.Input.InputArtifacts) != 1 || b.Input.InputArtifacts[0].Name != "SourceOut" {
		t.Errorf("build input artifacts = %+v", b.Input.InputArtifacts)
	}
	dep := h.action("flow", id, "Deploy", "Deploy")
	if len(dep.Input.InputArtifacts) != 1 || dep.Input.InputArtifacts[0].S3Location.Key != b.Output.OutputArtifacts[0].S3Location.Key {
		t.Errorf("deploy got %+v, want build's output %+v", dep.Input.InputArtifacts, b.Output.OutputArtifacts)
	}
	src := h.action("flow", id, "Source", "Src")
	if src.Output.OutputVariables["CommitId"] != "abc123" {
		t.Errorf("source output variables = %v", src.Output.OutputVariables)
	}
}

func TestRunOrderGroupsRunInParallelThenInSequence(t *testing.T) {
	h := newHarness(t)
	d := decl("groups", "",
		stage("Source", source(nil)),
		stage("Test", fakeAction("A", "Test", 1, waitCfg()), fakeAction("B", "Test", 1, waitCfg()), fakeAction("C", "Test", 2, nil)))
	id := h.create(d)
	h.started() // source
	first, second := h.started(), h.started()
	if first.ActionName == second.ActionName || first.ActionName == "C" || second.ActionName == "C" {
		t.Fatalf("the same action started twice")
	}
	h.noStart() // C waits for A and B
	h.release(first, executor.Succeeded)
	h.waitFor("first parallel action to finish", func() bool {
		return h.actionStatus("groups", id, "Test", first.ActionName) == "Succeeded"
	})
	h.noStart()
	h.release(second, executor.Succeeded)
	if c := h.started(); c.ActionName != "C" {
		t.Fatalf("started %s, want C", c.ActionName)
	}
	h.waitStatus("groups", id, "Succeeded")
}

func TestParallelFailureWaitsForSiblingsThenFailsStage(t *testing.T) {
	h := newHarness(t)
	d := decl("pfail", "",
		stage("Source", source(nil)),
		stage("Test", fakeAction("Fails", "Test", 1, map[string]string{"Result": "Failed", "Summary": "unit tests failed"}),
			fakeAction("Slow", "Test", 1, waitCfg()), fakeAction("Later", "Test", 2, nil)))
	id := h.create(d)
	h.started()
	var slow executor.Job
	for i := 0; i < 2; i++ {
		if j := h.started(); j.ActionName == "Slow" {
			slow = j
		}
	}
	h.waitFor("the failing action to be recorded", func() bool {
		return h.actionStatus("pfail", id, "Test", "Fails") == "Failed"
	})
	if s := h.exec("pfail", id).Status; s != "InProgress" {
		t.Fatalf("execution is %s while a sibling still runs, want InProgress", s)
	}
	h.release(slow, executor.Succeeded)
	got := h.waitStatus("pfail", id, "Failed")
	if want := "Action Fails in stage Test failed: unit tests failed"; got.StatusSummary != want {
		t.Errorf("summary = %q, want %q", got.StatusSummary, want)
	}
	h.noStart() // runOrder 2 never started
}

func TestUnresolvableVariableFailsTheActionNamingIt(t *testing.T) {
	h := newHarness(t)
	d := decl("unresolved", "",
		stage("Source", source(nil)),
		stage("Build", fakeAction("Build", "Build", 1, map[string]string{"Summary": "#{SourceVars.Missing}"})))
	id := h.create(d)
	got := h.waitStatus("unresolved", id, "Failed")
	a := h.action("unresolved", id, "Build", "Build")
	if a.Status != "Failed" || a.Output.ExecutionResult == nil ||
		a.Output.ExecutionResult.ExternalExecutionSummary != "Unresolved variable in configuration Summary: #{SourceVars.Missing}: namespace SourceVars has no variable Missing" {
		t.Fatalf("action = %+v", a.Output.ExecutionResult)
	}
	if got.StatusSummary == "" {
		t.Error("execution summary should say why it failed")
	}
}

func TestSupersededModeReplacesTheWaitingExecution(t *testing.T) {
	h := newHarness(t)
	d := decl("sup", "", stage("Source", source(nil)), stage("Deploy", fakeAction("Deploy", "Deploy", 1, waitCfg())))
	first := h.create(d)
	h.started()
	holdDeploy := h.started() // first execution holds Deploy
	second := h.start("sup")
	h.started()
	h.waitFor("second to wait at Deploy", func() bool {
		st := h.state("sup")
		return st.StageStates[1].InboundExecution != nil && st.StageStates[1].InboundExecution.PipelineExecutionID == second
	})
	third := h.start("sup")
	h.started()
	sup := h.waitStatus("sup", second, "Superseded")
	if sup.StatusSummary != "Superseded by execution "+third {
		t.Errorf("summary = %q", sup.StatusSummary)
	}
	if s := h.exec("sup", first).Status; s != "InProgress" {
		t.Fatalf("the execution inside the stage must not be superseded, it is %s", s)
	}
	h.release(holdDeploy, executor.Succeeded)
	h.waitStatus("sup", first, "Succeeded")
	next := h.started()
	if next.PipelineExecutionID != third {
		t.Fatalf("deploy started for %s, want the newest execution %s", next.PipelineExecutionID, third)
	}
	h.release(next, executor.Succeeded)
	h.waitStatus("sup", third, "Succeeded")
}

func TestQueuedModeRunsExecutionsInArrivalOrder(t *testing.T) {
	h := newHarness(t)
	d := decl("queued", "QUEUED", stage("Source", source(nil)), stage("Deploy", fakeAction("Deploy", "Deploy", 1, waitCfg())))
	ids := []string{h.create(d)}
	h.started()
	hold := h.started()
	for i := 0; i < 3; i++ {
		ids = append(ids, h.start("queued"))
		h.started()
	}
	h.waitFor("three inbound executions in order", func() bool {
		in := h.state("queued").StageStates[1].InboundExecutions
		return len(in) == 3 && in[0].PipelineExecutionID == ids[1] && in[2].PipelineExecutionID == ids[3]
	})
	for i := 1; i < len(ids); i++ {
		h.release(hold, executor.Succeeded)
		hold = h.started()
		if hold.PipelineExecutionID != ids[i] {
			t.Fatalf("deploy %d ran %s, want %s", i, hold.PipelineExecutionID, ids[i])
		}
	}
	h.release(hold, executor.Succeeded)
	for _, id := range ids {
		h.waitStatus("queued", id, "Succeeded")
	}
}

func TestParallelModeRunsExecutionsIndependently(t *testing.T) {
	h := newHarness(t)
	d := decl("parallel", "PARALLEL", stage("Source", source(nil)), stage("Deploy", fakeAction("Deploy", "Deploy", 1, waitCfg())))
	first := h.create(d)
	h.started()
	a := h.started()
	second := h.start("parallel")
	h.started()
	b := h.started()
	if a.PipelineExecutionID != first || b.PipelineExecutionID != second {
		t.Fatalf("both executions should be in Deploy at once")
	}
	h.release(b, executor.Succeeded)
	h.waitStatus("parallel", second, "Succeeded")
	h.release(a, executor.Succeeded)
	h.waitStatus("parallel", first, "Succeeded")
}

func TestStopAndWaitLetsRunningActionsFinish(t *testing.T) {
	h := newHarness(t)
	d := decl("stopwait", "", stage("Source", source(nil)),
		stage("Build", fakeAction("Build", "Build", 1, waitCfg()), fakeAction("After", "Build", 2, nil)))
	id := h.create(d)
	h.started()
	build := h.started()
	if err := h.eng.StopExecution(h.ctx, "stopwait", id, false, "enough", "test"); err != nil {
		t.Fatal(err)
	}
	if s := h.exec("stopwait", id).Status; s != "Stopping" {
		t.Fatalf("status = %s, want Stopping", s)
	}
	wantCode(t, h.eng.StopExecution(h.ctx, "stopwait", id, false, "", "test"), pipeline.CodeDuplicatedStop)
	h.release(build, executor.Succeeded)
	got := h.waitStatus("stopwait", id, "Stopped")
	if got.StatusSummary != "Stopped: enough" {
		t.Errorf("summary = %q", got.StatusSummary)
	}
	if a := h.action("stopwait", id, "Build", "Build"); a.Status != "Succeeded" {
		t.Errorf("the running action should finish, it is %s", a.Status)
	}
	h.noStart()
	wantCode(t, h.eng.StopExecution(h.ctx, "stopwait", id, true, "", "test"), pipeline.CodeNotStoppable)
}

func TestStopAndAbandonAbandonsRunningActions(t *testing.T) {
	h := newHarness(t)
	d := decl("abandon", "", stage("Source", source(nil)), stage("Build", fakeAction("Build", "Build", 1, waitCfg())))
	id := h.create(d)
	h.started()
	h.started()
	if err := h.eng.StopExecution(h.ctx, "abandon", id, true, "wrong commit", "test"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("abandon", id, "Stopped")
	a := h.action("abandon", id, "Build", "Build")
	if a.Status != "Abandoned" || a.Reason != "abandoned" {
		t.Fatalf("action = %s (%s), want Abandoned (abandoned)", a.Status, a.Reason)
	}
}

func TestRetryFailedActionsRerunsOnlyFailedOnes(t *testing.T) {
	h := newHarness(t)
	d := decl("retry", "", stage("Source", source(nil)),
		stage("Test", fakeAction("Flaky", "Test", 1, map[string]string{"FailTimes": "1"}), fakeAction("Stable", "Test", 1, nil)))
	id := h.create(d)
	h.waitStatus("retry", id, "Failed")
	for i := 0; i < 3; i++ {
		h.started()
	}
	wantCode(t, h.eng.RetryStage(h.ctx, "retry", "Source", id, "FAILED_ACTIONS", "test"), pipeline.CodeStageNotRetryable)
	if err := h.eng.RetryStage(h.ctx, "retry", "Test", id, "FAILED_ACTIONS", "test"); err != nil {
		t.Fatal(err)
	}
	if j := h.started(); j.ActionName != "Flaky" {
		t.Fatalf("retry started %s, want only Flaky", j.ActionName)
	}
	h.waitStatus("retry", id, "Succeeded")
	h.noStart()
	st := h.state("retry").StageStates[1]
	if st.RetryStageMetadata == nil || st.RetryStageMetadata.ManualStageRetryAttempt != 1 || st.RetryStageMetadata.LatestRetryTrigger != "ManualStageRetry" {
		t.Errorf("retry metadata = %+v", st.RetryStageMetadata)
	}
}

func TestRetryAllActionsRerunsTheWholeStage(t *testing.T) {
	h := newHarness(t)
	d := decl("retryall", "", stage("Source", source(nil)),
		stage("Test", fakeAction("First", "Test", 1, nil), fakeAction("Flaky", "Test", 2, map[string]string{"FailTimes": "1"})))
	id := h.create(d)
	h.waitStatus("retryall", id, "Failed")
	for i := 0; i < 3; i++ {
		h.started()
	}
	if err := h.eng.RetryStage(h.ctx, "retryall", "Test", id, "ALL_ACTIONS", "test"); err != nil {
		t.Fatal(err)
	}
	if j := h.started(); j.ActionName != "First" {
		t.Fatalf("ALL_ACTIONS must restart from runOrder 1, started %s", j.ActionName)
	}
	h.waitStatus("retryall", id, "Succeeded")
}

func TestRetryOnlyTheLatestExecutionOfAStage(t *testing.T) {
	h := newHarness(t)
	d := decl("latest", "", stage("Source", source(nil)),
		stage("Test", fakeAction("T", "Test", 1, map[string]string{"Result": "Failed"})))
	first := h.create(d)
	h.waitStatus("latest", first, "Failed")
	second := h.start("latest")
	h.waitStatus("latest", second, "Failed")
	wantCode(t, h.eng.RetryStage(h.ctx, "latest", "Test", first, "FAILED_ACTIONS", "test"), pipeline.CodeNotLatestExecution)
	wantCode(t, h.eng.RetryStage(h.ctx, "latest", "Nope", second, "FAILED_ACTIONS", "test"), pipeline.CodeStageNotFound)
}

func TestAutomaticStageRetryHappensOnce(t *testing.T) {
	h := newHarness(t)
	retrying := stage("Test", fakeAction("Flaky", "Test", 1, map[string]string{"FailTimes": "1"}))
	retrying.OnFailure = &pipeline.FailureConditions{Result: "RETRY", RetryConfiguration: &pipeline.RetryConfiguration{RetryMode: "FAILED_ACTIONS"}}
	id := h.create(decl("autoretry", "SUPERSEDED", stage("Source", source(nil)), retrying))
	h.waitStatus("autoretry", id, "Succeeded")
	md := h.state("autoretry").StageStates[1].RetryStageMetadata
	if md == nil || md.AutoStageRetryAttempt != 1 || md.LatestRetryTrigger != "AutomatedStageRetry" {
		t.Fatalf("retry metadata = %+v", md)
	}

	hopeless := stage("Test", fakeAction("Broken", "Test", 1, map[string]string{"FailTimes": "5"}))
	hopeless.OnFailure = &pipeline.FailureConditions{Result: "RETRY"}
	id = h.create(decl("autoretry2", "SUPERSEDED", stage("Source", source(nil)), hopeless))
	h.waitStatus("autoretry2", id, "Failed")
	runs := 0
	for _, a := range h.actions("autoretry2", id) {
		if a.ActionName == "Broken" {
			runs++
		}
	}
	if runs != 2 {
		t.Errorf("Broken ran %d times, want 2 (one automatic retry)", runs)
	}
}

func TestDisabledTransitionHoldsExecutionsUntilEnabled(t *testing.T) {
	h := newHarness(t)
	d := decl("gate", "", stage("Source", source(nil)), stage("Deploy", fakeAction("Deploy", "Deploy", 1, nil)))
	if err := func() error { // disable before the first execution reaches Deploy
		raw, _ := json.Marshal(d)
		_, err := h.eng.CreatePipeline(h.ctx, raw, nil, "test")
		return err
	}(); err != nil {
		t.Fatal(err)
	}
	list, _, _ := h.eng.ListExecutions(h.ctx, "gate", "", "", 1)
	h.waitStatus("gate", list[0].PipelineExecutionID, "Succeeded")
	h.started()
	h.started()
	wantCode(t, h.eng.SetTransition(h.ctx, "gate", "Deploy", "Inbound", false, "", "test"), pipeline.CodeValidation)
	if err := h.eng.SetTransition(h.ctx, "gate", "Deploy", "Inbound", false, "change freeze", "alice"); err != nil {
		t.Fatal(err)
	}
	id := h.start("gate")
	h.started()
	h.waitFor("the execution to wait in front of Deploy", func() bool {
		in := h.state("gate").StageStates[1].InboundExecution
		return in != nil && in.PipelineExecutionID == id
	})
	ts := h.state("gate").StageStates[1].InboundTransitionState
	if ts.Enabled || ts.DisabledReason != "change freeze" || ts.LastChangedBy != "alice" {
		t.Errorf("transition state = %+v", ts)
	}
	h.noStart()
	if err := h.eng.SetTransition(h.ctx, "gate", "Deploy", "Inbound", true, "", "alice"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("gate", id, "Succeeded")
}

func TestApprovalApproveRejectAndTokens(t *testing.T) {
	h := newHarness(t)
	d := decl("approve", "", stage("Source", source(nil)), stage("Approve", pipeline.Action{Name: "Gate",
		ActionTypeID:  pipeline.ActionTypeID{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"},
		Configuration: map[string]string{"CustomData": "ship #{SourceVars.CommitId}?", "ExternalEntityLink": "https://example.com/diff"}}))
	d.Stages[0].Actions[0].Configuration = map[string]string{"Variables": `{"CommitId":"c0ffee"}`}
	id := h.create(d)
	token := h.approvalToken("approve")
	// The approval publishes its resolved CustomData as it starts waiting.
	h.waitFor("the approval to show its CustomData", func() bool {
		return h.state("approve").StageStates[1].ActionStates[0].LatestExecution.Summary == "ship c0ffee?"
	})
	if as := h.state("approve").StageStates[1].ActionStates[0]; as.EntityURL != "https://example.com/diff" {
		t.Errorf("waiting approval links to %q", as.EntityURL)
	}
	_, err := h.eng.PutApprovalResult(h.ctx, "approve", "Approve", "Gate", "00000000-0000-0000-0000-000000000000", pipeline.ApprovalResult{Status: "Approved"}, "bob")
	wantCode(t, err, pipeline.CodeInvalidApprovalToken)
	if _, err := h.eng.PutApprovalResult(h.ctx, "approve", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Approved", Summary: "looks good"}, "bob"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("approve", id, "Succeeded")
	_, err = h.eng.PutApprovalResult(h.ctx, "approve", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Rejected"}, "carol")
	wantCode(t, err, pipeline.CodeApprovalAlreadyCompleted)
	a := h.action("approve", id, "Approve", "Gate")
	if a.UpdatedBy != "bob" || a.Output.ExecutionResult.ExternalExecutionSummary != "looks good" {
		t.Errorf("approval recorded as by %q with %q", a.UpdatedBy, a.Output.ExecutionResult.ExternalExecutionSummary)
	}

	id = h.start("approve")
	token = h.approvalToken("approve")
	if _, err := h.eng.PutApprovalResult(h.ctx, "approve", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Rejected", Summary: "not today"}, "carol"); err != nil {
		t.Fatal(err)
	}
	got := h.waitStatus("approve", id, "Failed")
	if a := h.action("approve", id, "Approve", "Gate"); a.Reason != "rejected" {
		t.Errorf("reason = %q, want rejected", a.Reason)
	}
	if got.StatusSummary != "Action Gate in stage Approve failed: not today" {
		t.Errorf("summary = %q", got.StatusSummary)
	}
}

// approvalToken waits for a waiting approval and returns its token.
func (h *harness) approvalToken(name string) string {
	h.t.Helper()
	var token string
	h.waitFor("an approval token", func() bool {
		for _, st := range h.state(name).StageStates {
			for _, a := range st.ActionStates {
				if a.LatestExecution != nil && a.LatestExecution.Token != "" {
					token = a.LatestExecution.Token
					return true
				}
			}
		}
		return false
	})
	return token
}

func TestApprovalTimesOut(t *testing.T) {
	h := newHarness(t)
	d := decl("approvaltimeout", "", stage("Source", source(nil)), stage("Approve", pipeline.Action{Name: "Gate",
		ActionTypeID: pipeline.ActionTypeID{Category: "Approval", Owner: "Custom", Provider: "QuickManual", Version: "1"}}))
	id := h.create(d)
	token := h.approvalToken("approvaltimeout")
	h.waitStatus("approvaltimeout", id, "Failed")
	a := h.action("approvaltimeout", id, "Approve", "Gate")
	if a.Reason != "timeout" {
		t.Errorf("reason = %q, want timeout", a.Reason)
	}
	_, err := h.eng.PutApprovalResult(h.ctx, "approvaltimeout", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Approved"}, "late")
	wantCode(t, err, pipeline.CodeInvalidApprovalToken)
}

func TestApproveRejectAndStopRaceExactlyOneWins(t *testing.T) {
	h := newHarness(t)
	d := decl("race", "", stage("Source", source(nil)), stage("Approve", pipeline.Action{Name: "Gate",
		ActionTypeID: pipeline.ActionTypeID{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"}}))
	id := h.create(d)
	for round := 0; round < 20; round++ {
		if round > 0 {
			id = h.start("race")
		}
		token := h.approvalToken("race")
		var wg sync.WaitGroup
		var wins atomic.Int64
		attempt := func(fn func() error) {
			defer wg.Done()
			if err := fn(); err == nil {
				wins.Add(1)
			}
		}
		wg.Add(3)
		go attempt(func() error {
			_, err := h.eng.PutApprovalResult(h.ctx, "race", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Approved"}, "a")
			return err
		})
		go attempt(func() error {
			_, err := h.eng.PutApprovalResult(h.ctx, "race", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Rejected"}, "r")
			return err
		})
		go attempt(func() error { return h.eng.StopExecution(h.ctx, "race", id, true, "race", "s") })
		wg.Wait()
		ex := h.exec("race", id)
		h.waitFor("the race to settle", func() bool { ex = h.exec("race", id); return isTerminal(ex.Status) })
		// The stop request may also succeed after an approval decided (it then stops an already
		// finished stage or is refused): what matters is that the approval itself ended once.
		a := h.action("race", id, "Approve", "Gate")
		decided := 0
		if a.Status == "Succeeded" {
			decided++
		}
		if a.Reason == "rejected" {
			decided++
		}
		if a.Status == "Abandoned" {
			decided++
		}
		if decided != 1 {
			t.Fatalf("round %d: approval ended %s/%s", round, a.Status, a.Reason)
		}
		if wins.Load() < 1 || wins.Load() > 2 {
			t.Fatalf("round %d: %d of approve/reject/stop succeeded", round, wins.Load())
		}
	}
}

func TestActionTimeoutAndInfrastructureFailures(t *testing.T) {
	h := newHarness(t)
	slow := pipeline.Action{Name: "Slow", ActionTypeID: pipeline.ActionTypeID{Category: "Build", Owner: "Custom", Provider: "QuickTimeout", Version: "1"},
		Configuration: waitCfg()}
	id := h.create(decl("timeout", "", stage("Source", source(nil)), stage("Build", slow)))
	h.waitStatus("timeout", id, "Failed")
	if a := h.action("timeout", id, "Build", "Slow"); a.Reason != "timeout" {
		t.Errorf("reason = %q, want timeout", a.Reason)
	}
	id = h.create(decl("infra", "", stage("Source", source(nil)), stage("Build", fakeAction("B", "Build", 1, map[string]string{"Result": "Error"}))))
	h.waitStatus("infra", id, "Failed")
	if a := h.action("infra", id, "Build", "B"); a.Reason != "infrastructure" {
		t.Errorf("reason = %q, want infrastructure", a.Reason)
	}
	id = h.create(decl("panics", "", stage("Source", source(nil)), stage("Build", fakeAction("B", "Build", 1, map[string]string{"Result": "Panic"}))))
	h.waitStatus("panics", id, "Failed")
	if a := h.action("panics", id, "Build", "B"); a.Reason != "infrastructure" {
		t.Errorf("a panicking provider must fail its action as infrastructure, got %q", a.Reason)
	}
}

func TestRestartResumesOrFailsActionsAndKeepsApprovalTokens(t *testing.T) {
	h := newHarness(t)
	approvalDecl := decl("waits", "", stage("Source", source(nil)), stage("Approve", pipeline.Action{Name: "Gate",
		ActionTypeID: pipeline.ActionTypeID{Category: "Approval", Owner: "AWS", Provider: "Manual", Version: "1"}}))
	approvalID := h.create(approvalDecl)
	token := h.approvalToken("waits")
	brittle := h.create(decl("brittle", "", stage("Source", source(nil)),
		stage("Build", fakeAction("B", "Build", 1, map[string]string{"Wait": "true", "Resumable": "false"}))))
	resumable := h.create(decl("resumable", "", stage("Source", source(nil)),
		stage("Build", fakeAction("B", "Build", 1, map[string]string{"Wait": "true"}))))
	h.waitFor("both builds to be running", func() bool {
		return h.actionStatus("brittle", brittle, "Build", "B") == "InProgress" && h.actionStatus("resumable", resumable, "Build", "B") == "InProgress"
	})

	h.restart()

	h.waitStatus("brittle", brittle, "Failed")
	if a := h.action("brittle", brittle, "Build", "B"); a.Reason != "server restart" {
		t.Errorf("reason = %q, want server restart", a.Reason)
	}
	resumed := h.started()
	if resumed.PipelineExecutionID != resumable || !resumed.Resumed {
		t.Fatalf("want execution %s resumed, got %+v", resumable, resumed)
	}
	h.release(resumed, executor.Succeeded)
	h.waitStatus("resumable", resumable, "Succeeded")
	if got := h.approvalToken("waits"); got != token {
		t.Fatalf("approval token changed across restart: %s → %s", token, got)
	}
	if _, err := h.eng.PutApprovalResult(h.ctx, "waits", "Approve", "Gate", token, pipeline.ApprovalResult{Status: "Approved"}, "bob"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("waits", approvalID, "Succeeded")
}

func TestClientRequestTokenStartsOneExecution(t *testing.T) {
	h := newHarness(t)
	h.create(decl("idem", "", stage("Source", source(nil)), stage("Build", fakeAction("B", "Build", 1, nil))))
	var ids sync.Map
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: "idem", ClientRequestToken: "deploy-42"})
			if err != nil {
				t.Error(err)
				return
			}
			ids.Store(id, true)
		}()
	}
	wg.Wait()
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("%d distinct executions for one client request token", n)
	}
	list, _, _ := h.eng.ListExecutions(h.ctx, "idem", "", "", 100)
	if len(list) != 2 { // the CreatePipeline execution and ours
		t.Fatalf("%d executions, want 2", len(list))
	}
}

func TestUpdatePipelineCancelsWaitingExecutions(t *testing.T) {
	h := newHarness(t)
	d := decl("update", "", stage("Source", source(nil)), stage("Deploy", fakeAction("Deploy", "Deploy", 1, waitCfg())))
	first := h.create(d)
	h.started()
	hold := h.started()
	waiting := h.start("update")
	h.started()
	h.waitFor("an inbound execution", func() bool { return h.state("update").StageStates[1].InboundExecution != nil })
	d.Stages[1].Actions[0].Configuration = nil
	raw, _ := json.Marshal(d)
	info, err := h.eng.UpdatePipeline(h.ctx, raw, "test")
	if err != nil || info.Declaration.Version != 2 {
		t.Fatalf("update: %v (version %v)", err, info.Declaration)
	}
	got := h.waitStatus("update", waiting, "Cancelled")
	if got.PipelineVersion != 1 {
		t.Errorf("cancelled execution ran version %d", got.PipelineVersion)
	}
	h.release(hold, executor.Succeeded)
	h.waitStatus("update", first, "Succeeded")
	next := h.start("update")
	h.waitStatus("update", next, "Succeeded")
	if v := h.exec("update", next).PipelineVersion; v != 2 {
		t.Errorf("new execution ran version %d, want 2", v)
	}
}

func TestPipelineVariablesNeedV2AndDeclaredNames(t *testing.T) {
	h := newHarness(t)
	h.create(decl("v1", "", stage("Source", source(nil)), stage("B", fakeAction("B", "Build", 1, nil))))
	_, err := h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: "v1", Variables: []pipeline.PipelineVariable{{Name: "X", Value: "1"}}})
	wantCode(t, err, pipeline.CodeValidation)
	d := decl("v2", "QUEUED", stage("Source", source(nil)), stage("B", fakeAction("B", "Build", 1, map[string]string{"Summary": "#{variables.X}"})))
	d.Variables = []pipeline.VariableDeclaration{{Name: "X", DefaultValue: "default"}}
	h.create(d)
	_, err = h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: "v2", Variables: []pipeline.PipelineVariable{{Name: "Y", Value: "1"}}})
	wantCode(t, err, pipeline.CodeValidation)
	id, err := h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: "v2", Variables: []pipeline.PipelineVariable{{Name: "X", Value: "given"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitStatus("v2", id, "Succeeded")
	if got := h.action("v2", id, "B", "B").Input.ResolvedConfiguration["Summary"]; got != "given" {
		t.Errorf("#{variables.X} = %q, want given", got)
	}
	_, err = h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: "missing"})
	wantCode(t, err, pipeline.CodePipelineNotFound)
}

func TestDeletePipelineCancelsRunningActions(t *testing.T) {
	h := newHarness(t)
	h.create(decl("doomed", "", stage("Source", source(nil)), stage("Build", fakeAction("B", "Build", 1, waitCfg()))))
	h.started()
	h.started()
	if err := h.eng.DeletePipeline(h.ctx, "doomed", "test"); err != nil {
		t.Fatal(err)
	}
	_, err := h.eng.State(h.ctx, "doomed")
	wantCode(t, err, pipeline.CodePipelineNotFound)
	// Re-creating the name starts from version 1 with the new declaration.
	id := h.create(decl("doomed", "", stage("Source", source(nil)), stage("Build", fakeAction("B2", "Build", 1, nil))))
	h.waitStatus("doomed", id, "Succeeded")
	h.action("doomed", id, "Build", "B2")
}
