package pipeline_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin, whatever the host has installed

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/fake"
	"github.com/conveyorci/conveyor/pipeline"
)

// fakeClock is the store's and the engine's clock in condition tests: time moves only when the test
// moves it, and timers due by then fire (each in its own goroutine, as time.AfterFunc's do).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// set moves the clock to t and fires the timers due by then.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, tm := range c.timers {
		switch {
		case tm.stopped:
		case !tm.at.After(t):
			tm.stopped = true
			due = append(due, tm)
		default:
			keep = append(keep, tm)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, tm := range due {
		go tm.f()
	}
}

// Saturday 2036-11-22 10:00 UTC: outside business hours. In the future, because actions' contexts
// carry real deadlines computed from the store's clock.
var saturday = time.Date(2036, 11, 22, 10, 0, 0, 0, time.UTC)

func newClockHarness(t *testing.T, now time.Time) *harness {
	t.Helper()
	h := &harness{t: t, ctx: t.Context(), dbPath: filepath.Join(t.TempDir(), "conveyor.db"), fake: fake.New(1024),
		clock: &fakeClock{now: now}}
	h.open()
	return h
}

func variableRule(name, variable, op, value string) pipeline.RuleDeclaration {
	return pipeline.RuleDeclaration{Name: name, RuleTypeID: pipeline.RuleTypeID{Category: "Rule", Owner: "AWS", Provider: "VariableCheck", Version: "1"},
		Configuration: map[string]string{"Variable": variable, "Operator": op, "Value": value}}
}

func windowRule(name, expr string, timeout int) pipeline.RuleDeclaration {
	return pipeline.RuleDeclaration{Name: name, RuleTypeID: pipeline.RuleTypeID{Category: "Rule", Owner: "AWS", Provider: "DeploymentWindow", Version: "1"},
		Configuration: map[string]string{"Cron": expr, "TimeZone": "Europe/Berlin"}, TimeoutInMinutes: timeout}
}

// gatedDecl is Source → Deploy (waits to be released) → Notify, with ENV defaulting to dev.
func gatedDecl(name string) pipeline.Declaration {
	d := decl(name, "QUEUED", stage("Source", source(nil)), stage("Deploy", fakeAction("Deploy", "Deploy", 1, waitCfg())),
		stage("Notify", fakeAction("Notify", "Invoke", 1, nil)))
	d.Variables = []pipeline.VariableDeclaration{{Name: "ENV", DefaultValue: "dev"}}
	return d
}

func (h *harness) startEnv(name, env string) string {
	h.t.Helper()
	id, err := h.eng.StartExecution(h.ctx, pipeline.StartInput{Pipeline: name, Variables: []pipeline.PipelineVariable{{Name: "ENV", Value: env}}})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) stageState(name, stage string) pipeline.StageState {
	h.t.Helper()
	for _, s := range h.state(name).StageStates {
		if s.StageName == stage {
			return s
		}
	}
	h.t.Fatalf("no stage %s", stage)
	return pipeline.StageState{}
}

// conditionStatus is the status of a stage's condition of one type in GetPipelineState ("" when none ran).
func (h *harness) conditionStatus(name, stage, condType string) (string, string) {
	h.t.Helper()
	ss := h.stageState(name, stage)
	c := map[string]*pipeline.StageConditionState{pipeline.ConditionBeforeEntry: ss.BeforeEntryConditionState,
		pipeline.ConditionOnSuccess: ss.OnSuccessConditionState, pipeline.ConditionOnFailure: ss.OnFailureConditionState}[condType]
	if c == nil || c.LatestExecution == nil {
		return "", ""
	}
	return c.LatestExecution.Status, c.LatestExecution.Summary
}

func (h *harness) waitCondition(name, stage, condType, status string) string {
	h.t.Helper()
	var summary string
	h.waitFor(condType+" condition of "+stage+" to be "+status, func() bool {
		var got string
		got, summary = h.conditionStatus(name, stage, condType)
		return got == status
	})
	return summary
}

// windowGated creates gatedDecl with Deploy held to business hours in Berlin (timeout minutes, 0: none)
// on a Saturday, and returns the first execution once it waits at Deploy's entry condition.
func windowGated(t *testing.T, name string, timeout int) (*harness, string) {
	t.Helper()
	h := newClockHarness(t, saturday)
	d := gatedDecl(name)
	d.Stages[1].BeforeEntry = &pipeline.BeforeEntryConditions{Conditions: []pipeline.Condition{{Result: "FAIL",
		Rules: []pipeline.RuleDeclaration{windowRule("BusinessHours", "* * 9-17 ? * MON-FRI *", timeout)}}}}
	id := h.create(d)
	h.started() // Source
	h.waitCondition(name, "Deploy", pipeline.ConditionBeforeEntry, "InProgress")
	return h, id
}

func TestEntryConditionFailsOrAdmitsOnAVariable(t *testing.T) {
	h := newHarness(t)
	d := gatedDecl("gate")
	d.Stages[1].BeforeEntry = &pipeline.BeforeEntryConditions{Conditions: []pipeline.Condition{{Result: "FAIL",
		Rules: []pipeline.RuleDeclaration{variableRule("OnlyProd", "#{variables.ENV}", "EQ", "prod")}}}}
	first := h.create(d) // ENV=dev
	h.started()          // Source
	failed := h.waitStatus("gate", first, "Failed")
	if want := `Entry condition of stage Deploy failed: rule OnlyProd: "dev" is not EQ "prod"`; failed.StatusSummary != want {
		t.Fatalf("summary = %q, want %q", failed.StatusSummary, want)
	}
	h.noStart()
	if st := h.stageState("gate", "Deploy"); st.LatestExecution.Status != "Failed" || len(st.ActionStates) != 1 || st.ActionStates[0].LatestExecution != nil {
		t.Fatalf("Deploy stage = %+v, want Failed without running its action", st)
	}
	if got, _ := h.conditionStatus("gate", "Deploy", pipeline.ConditionBeforeEntry); got != "Failed" {
		t.Fatalf("entry condition = %s, want Failed", got)
	}

	prod := h.startEnv("gate", "prod")
	h.started() // Source
	if j := h.started(); j.StageName != "Deploy" || j.PipelineExecutionID != prod {
		t.Fatalf("started %s/%s of %s, want Deploy of %s", j.StageName, j.ActionName, j.PipelineExecutionID, prod)
	} else {
		h.release(j, executor.Succeeded)
	}
	h.waitStatus("gate", prod, "Succeeded")
	if got, _ := h.conditionStatus("gate", "Deploy", pipeline.ConditionBeforeEntry); got != "Succeeded" {
		t.Fatalf("entry condition = %s, want Succeeded", got)
	}
	rules, _, err := h.eng.ListRuleExecutions(h.ctx, "gate", prod, "", 10)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rule executions of %s = %+v, %v", prod, rules, err)
	}
	if r := rules[0]; r.RuleName != "OnlyProd" || r.Status != "Succeeded" || r.ConditionType != pipeline.ConditionBeforeEntry ||
		r.Input.ResolvedConfiguration["Variable"] != "prod" || r.Input.Configuration["Variable"] != "#{variables.ENV}" {
		t.Fatalf("rule execution = %+v", r)
	}
}

func TestEntryConditionSkipsTheStage(t *testing.T) {
	h := newHarness(t)
	d := gatedDecl("skip")
	d.Stages[1].BeforeEntry = &pipeline.BeforeEntryConditions{Conditions: []pipeline.Condition{{Result: "SKIP",
		Rules: []pipeline.RuleDeclaration{variableRule("Deployable", "#{variables.ENV}", "MATCHES", "prod|staging")}}}}
	id := h.create(d) // ENV=dev: Deploy is skipped, Notify still runs
	h.started()       // Source
	if j := h.started(); j.StageName != "Notify" {
		t.Fatalf("started %s/%s, want Notify after the skipped Deploy", j.StageName, j.ActionName)
	}
	h.waitStatus("skip", id, "Succeeded")
	if st := h.stageState("skip", "Deploy"); st.LatestExecution.Status != pipeline.StatusSkipped {
		t.Fatalf("Deploy = %+v, want Skipped", st.LatestExecution)
	}
	// A skipped stage has no success to roll back to.
	if _, err := h.eng.RollbackStage(h.ctx, "skip", "Deploy", id, "test"); err == nil {
		t.Fatal("rolling back to a skipped stage must fail")
	}
}

func TestDeploymentWindowHoldsTheStageUntilItOpens(t *testing.T) {
	h, first := windowGated(t, "window", 0)
	_, summary := h.conditionStatus("window", "Deploy", pipeline.ConditionBeforeEntry)
	if !strings.Contains(summary, "open at Mon 2036-11-24 09:00 CET") {
		t.Fatalf("waiting summary = %q, want the opening time in Berlin", summary)
	}
	// The stage is held: a second execution waits in front of it.
	second := h.start("window")
	h.started() // its Source
	h.waitFor("the second execution to wait for Deploy", func() bool {
		in := h.stageState("window", "Deploy").InboundExecutions
		return len(in) == 1 && in[0].PipelineExecutionID == second
	})
	h.noStart()
	if st := h.exec("window", first); st.Status != "InProgress" {
		t.Fatalf("first execution = %s, want InProgress while the window is closed", st.Status)
	}

	// Monday 08:59 Berlin is still closed; Monday 09:00 Berlin (08:00 UTC) opens it.
	h.clock.set(time.Date(2036, 11, 24, 7, 59, 0, 0, time.UTC))
	h.noStart()
	h.clock.set(time.Date(2036, 11, 24, 8, 0, 0, 0, time.UTC))
	j := h.started()
	if j.StageName != "Deploy" || j.PipelineExecutionID != first {
		t.Fatalf("started %s of %s, want Deploy of the first execution", j.StageName, j.PipelineExecutionID)
	}
	if got, _ := h.conditionStatus("window", "Deploy", pipeline.ConditionBeforeEntry); got != "Succeeded" {
		t.Fatalf("entry condition = %s, want Succeeded once the window opened", got)
	}
	h.release(j, executor.Succeeded)
	h.waitStatus("window", first, "Succeeded")
	// Inside the window the next execution enters at once (the first one's Notify may start before).
	for j = h.started(); j.StageName == "Notify" && j.PipelineExecutionID == first; j = h.started() {
	}
	if j.StageName != "Deploy" || j.PipelineExecutionID != second {
		t.Fatalf("started %s of %s, want Deploy of the second execution", j.StageName, j.PipelineExecutionID)
	}
	h.release(j, executor.Succeeded)
	h.waitStatus("window", second, "Succeeded")
}

func TestWaitingConditionSurvivesARestart(t *testing.T) {
	h, id := windowGated(t, "restart", 0)
	h.close()
	h.clock.set(time.Date(2036, 11, 24, 8, 30, 0, 0, time.UTC)) // opened while the server was down
	h.fake = fake.New(1024)
	h.open()
	if j := h.started(); j.StageName != "Deploy" || j.PipelineExecutionID != id {
		t.Fatalf("started %s of %s after the restart, want Deploy of %s", j.StageName, j.PipelineExecutionID, id)
	}
}

func TestWaitingRuleTimesOut(t *testing.T) {
	h, id := windowGated(t, "timeout", 30)
	h.clock.set(saturday.Add(30 * time.Minute))
	failed := h.waitStatus("timeout", id, "Failed")
	if !strings.Contains(failed.StatusSummary, "rule BusinessHours: Timed out after 30 minutes") {
		t.Fatalf("summary = %q", failed.StatusSummary)
	}
	h.noStart()
}

func TestOverrideLetsAWaitingExecutionIn(t *testing.T) {
	h, id := windowGated(t, "override", 0)
	wantCode(t, h.eng.OverrideStageCondition(h.ctx, "override", "Deploy", id, pipeline.ConditionOnSuccess, "ops"), pipeline.CodeConditionNotOverridable)
	wantCode(t, h.eng.OverrideStageCondition(h.ctx, "override", "Notify", id, pipeline.ConditionBeforeEntry, "ops"), pipeline.CodeConditionNotOverridable)
	wantCode(t, h.eng.OverrideStageCondition(h.ctx, "override", "Deploy", id, "ON_FAILURE", "ops"), pipeline.CodeValidation)
	if err := h.eng.OverrideStageCondition(h.ctx, "override", "Deploy", id, pipeline.ConditionBeforeEntry, "ops"); err != nil {
		t.Fatal(err)
	}
	j := h.started()
	if j.StageName != "Deploy" {
		t.Fatalf("started %s, want Deploy after the override", j.StageName)
	}
	status, summary := h.conditionStatus("override", "Deploy", pipeline.ConditionBeforeEntry)
	if status != pipeline.StatusOverridden || summary != "Overridden by ops" {
		t.Fatalf("entry condition = %s %q, want Overridden by ops", status, summary)
	}
	rules, _, _ := h.eng.ListRuleExecutions(h.ctx, "override", id, "", 10)
	if len(rules) != 1 || rules[0].Status != "Abandoned" || rules[0].UpdatedBy != "ops" {
		t.Fatalf("rule executions = %+v, want the waiting rule abandoned by ops", rules)
	}
	// Nothing waits any more: a second override is refused.
	wantCode(t, h.eng.OverrideStageCondition(h.ctx, "override", "Deploy", id, pipeline.ConditionBeforeEntry, "ops"), pipeline.CodeConditionNotOverridable)
	h.release(j, executor.Succeeded)
	h.waitStatus("override", id, "Succeeded")
}

func TestStoppingAWaitingExecutionAbandonsItsRules(t *testing.T) {
	h, id := windowGated(t, "stop", 0)
	if err := h.eng.StopExecution(h.ctx, "stop", id, false, "not today", "ops"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("stop", id, "Stopped")
	if got, _ := h.conditionStatus("stop", "Deploy", pipeline.ConditionBeforeEntry); got != "Abandoned" {
		t.Fatalf("entry condition = %s, want Abandoned", got)
	}
	h.clock.set(time.Date(2036, 11, 24, 8, 0, 0, 0, time.UTC))
	h.noStart()
}

func TestSuccessConditionRollsBackABadRelease(t *testing.T) {
	h := newHarness(t)
	d := rollbackDecl("verify")
	// Deploy publishes what it checked; the stage succeeds only when that is "healthy".
	d.Stages[2].Actions[0].Namespace = "DeployVars"
	d.Stages[2].Actions[0].Configuration = map[string]string{"Variables": `{"Health":"#{BuildVars.Release}"}`}
	d.Stages[2].OnSuccess = &pipeline.SuccessConditions{Conditions: []pipeline.Condition{{Result: "ROLLBACK",
		Rules: []pipeline.RuleDeclaration{variableRule("Healthy", "#{DeployVars.Health}", "CONTAINS", "good")}}}}
	d.Variables[0].DefaultValue = "v1-good"
	good := h.create(d)
	h.waitStatus("verify", good, "Succeeded")
	bad := h.startRelease("verify", "v2-broken")
	failed := h.waitStatus("verify", bad, "Failed")
	if !strings.Contains(failed.StatusSummary, `Success condition of stage Deploy failed: rule Healthy: "v2-broken" is not CONTAINS "good"`) ||
		!strings.Contains(failed.StatusSummary, "rolling stage Deploy back to execution "+good) {
		t.Fatalf("summary = %q, want the failed rule and the rollback to %s", failed.StatusSummary, good)
	}
	// The rollback re-runs Deploy with the good release and does not check the condition again.
	rb := h.executionIDs("verify")[0]
	h.waitStatus("verify", rb, "Succeeded")
	if got := h.action("verify", rb, "Deploy", "Deploy").Input.ResolvedConfiguration["Variables"]; got != `{"Health":"v1-good"}` {
		t.Fatalf("rollback deployed %s, want v1-good", got)
	}
	if got, _ := h.conditionStatus("verify", "Deploy", pipeline.ConditionOnSuccess); got != "" {
		t.Fatalf("the rollback's Deploy shows an onSuccess condition %s", got)
	}
}

func TestFailureConditionDecidesTheRollback(t *testing.T) {
	h := newHarness(t)
	d := rollbackDecl("onfail")
	// Roll back only when the failed release is not a canary (the result engages when the condition fails).
	d.Stages[2].OnFailure.Conditions = []pipeline.Condition{{Result: "ROLLBACK",
		Rules: []pipeline.RuleDeclaration{variableRule("IsCanary", "#{variables.RELEASE}", "CONTAINS", "canary")}}}
	first := h.create(d)
	h.release(h.deployJob(first), executor.Succeeded)
	h.waitStatus("onfail", first, "Succeeded")

	canary := h.startRelease("onfail", "v1-canary")
	h.release(h.deployJob(canary), executor.Failed)
	failed := h.waitStatus("onfail", canary, "Failed")
	if !strings.Contains(failed.StatusSummary, "Failure condition met: no rollback") || len(h.executionIDs("onfail")) != 2 {
		t.Fatalf("summary = %q, executions = %v: a met condition must not roll back", failed.StatusSummary, h.executionIDs("onfail"))
	}
	bad := h.startRelease("onfail", "v2")
	h.release(h.deployJob(bad), executor.Failed)
	failed = h.waitStatus("onfail", bad, "Failed")
	if !strings.Contains(failed.StatusSummary, `Failure condition not met (rule IsCanary: "v2" is not CONTAINS "canary")`) ||
		!strings.Contains(failed.StatusSummary, "rolling stage Deploy back to execution "+first) {
		t.Fatalf("summary = %q, want a rollback to %s", failed.StatusSummary, first)
	}
	if got, _ := h.conditionStatus("onfail", "Deploy", pipeline.ConditionOnFailure); got != "" {
		// The rollback execution is now the latest in Deploy; it evaluates no conditions.
		t.Fatalf("the rollback's Deploy shows an onFailure condition %s", got)
	}
}
