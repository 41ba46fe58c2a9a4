package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
)

func sdkRule(name, provider string, cfg map[string]string) types.RuleDeclaration {
	return types.RuleDeclaration{Name: aws.String(name), Configuration: cfg, RuleTypeId: &types.RuleTypeId{
		Category: types.RuleCategoryRule, Owner: types.RuleOwnerAws, Provider: aws.String(provider), Version: aws.String("1")}}
}

func TestStageConditionsThroughTheSDK(t *testing.T) {
	s := startServer(t)
	c := codePipelineClient(s.URL, "", "")
	ctx := context.Background()

	// Work waits for a window that opens in 2199 (so it waits here) and succeeds only while OUTCOME is ok.
	decl := sdkDeclaration(t, fakePipeline("gated", "QUEUED", "Deploy", "Custom", "Fake", map[string]string{}))
	decl.Variables = []types.PipelineVariableDeclaration{{Name: aws.String("OUTCOME"), DefaultValue: aws.String("ok")}}
	decl.Stages[1].BeforeEntry = &types.BeforeEntryConditions{Conditions: []types.Condition{{Result: types.ResultFail,
		Rules: []types.RuleDeclaration{sdkRule("Window", "DeploymentWindow", map[string]string{"Cron": "* * * * * ? 2199"})}}}}
	decl.Stages[1].OnSuccess = &types.SuccessConditions{Conditions: []types.Condition{{Result: types.ResultFail,
		Rules: []types.RuleDeclaration{sdkRule("OutcomeOK", "VariableCheck", map[string]string{
			"Variable": "#{variables.OUTCOME}", "Operator": "EQ", "Value": "ok"})}}}}
	if _, err := c.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	id := latestExecutionID(t, c, "gated")
	stage := func() types.StageState {
		st, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("gated")})
		if err != nil {
			t.Fatal(err)
		}
		return st.StageStates[1]
	}
	eventually(t, "the entry condition to wait", 15*time.Second, func() bool {
		be := stage().BeforeEntryConditionState
		return be != nil && be.LatestExecution != nil && be.LatestExecution.Status == types.ConditionExecutionStatusInProgress
	})
	be := stage().BeforeEntryConditionState
	if len(be.ConditionStates) != 1 || len(be.ConditionStates[0].RuleStates) != 1 ||
		aws.ToString(be.ConditionStates[0].RuleStates[0].RuleName) != "Window" ||
		!strings.Contains(aws.ToString(be.ConditionStates[0].RuleStates[0].LatestExecution.Summary), "to open at Tue 2199-01-01 00:00 UTC") {
		t.Fatalf("entry condition state = %+v: %s", be.ConditionStates, aws.ToString(be.ConditionStates[0].RuleStates[0].LatestExecution.Summary))
	}
	// ON_SUCCESS is not being evaluated: not overridable.
	_, err := c.OverrideStageCondition(ctx, &codepipeline.OverrideStageConditionInput{PipelineName: aws.String("gated"),
		StageName: aws.String("Work"), PipelineExecutionId: aws.String(id), ConditionType: types.ConditionTypeOnSuccess})
	wantAPIError(t, err, "ConditionNotOverridableException")
	if _, err := c.OverrideStageCondition(ctx, &codepipeline.OverrideStageConditionInput{PipelineName: aws.String("gated"),
		StageName: aws.String("Work"), PipelineExecutionId: aws.String(id), ConditionType: types.ConditionTypeBeforeEntry}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "gated", id, types.PipelineExecutionStatusSucceeded)
	st := stage()
	if st.BeforeEntryConditionState.LatestExecution.Status != types.ConditionExecutionStatusOverridden ||
		st.OnSuccessConditionState == nil || st.OnSuccessConditionState.LatestExecution.Status != types.ConditionExecutionStatusSucceeded {
		t.Fatalf("conditions = entry %+v, success %+v", st.BeforeEntryConditionState.LatestExecution, st.OnSuccessConditionState)
	}
	rules, err := c.ListRuleExecutions(ctx, &codepipeline.ListRuleExecutionsInput{PipelineName: aws.String("gated"),
		Filter: &types.RuleExecutionFilter{PipelineExecutionId: aws.String(id)}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]types.RuleExecutionDetail{}
	for _, r := range rules.RuleExecutionDetails {
		byName[aws.ToString(r.RuleName)] = r
	}
	if w := byName["Window"]; w.Status != types.RuleExecutionStatusAbandoned || aws.ToString(w.UpdatedBy) == "" {
		t.Errorf("Window rule execution = %+v (by %q), want Abandoned by the caller", w, aws.ToString(w.UpdatedBy))
	}
	if o := byName["OutcomeOK"]; o.Status != types.RuleExecutionStatusSucceeded || o.Input == nil ||
		o.Input.ResolvedConfiguration["Variable"] != "ok" || aws.ToString(o.Input.RuleTypeId.Provider) != "VariableCheck" {
		t.Errorf("OutcomeOK rule execution = %+v", o)
	}
	types_, err := c.ListRuleTypes(ctx, &codepipeline.ListRuleTypesInput{})
	if err != nil || len(types_.RuleTypes) != 2 {
		t.Fatalf("ListRuleTypes = %+v, %v", types_, err)
	}

	// A rule Conveyor cannot evaluate is refused when the pipeline is saved, naming the field.
	bad := sdkDeclaration(t, fakePipeline("alarmed", "QUEUED", "Deploy", "Custom", "Fake", map[string]string{}))
	bad.Stages[1].BeforeEntry = &types.BeforeEntryConditions{Conditions: []types.Condition{{Result: types.ResultFail,
		Rules: []types.RuleDeclaration{sdkRule("Alarm", "CloudWatchAlarm", map[string]string{"AlarmName": "high-latency"})}}}}
	_, err = c.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: bad})
	wantAPIError(t, err, "InvalidStageDeclarationException")
	if !strings.Contains(err.Error(), `stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.provider: rule provider "CloudWatchAlarm" is not supported by Conveyor`) {
		t.Errorf("error = %v", err)
	}
}

func TestCLIShowsAndOverridesAWaitingCondition(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	c := codePipelineClient(s.URL, "", "")
	file := writeFile(t, t.TempDir(), "gated.yaml", `
name: gated
pipelineType: V2
stages:
  - name: Source
    actions:
      - {name: Src, actionTypeId: {category: Source, owner: Custom, provider: Fake, version: "1"}, outputArtifacts: [{name: Out}]}
  - name: Work
    beforeEntry:
      conditions:
        - result: FAIL
          rules:
            - name: Window
              ruleTypeId: {category: Rule, owner: AWS, provider: DeploymentWindow, version: "1"}
              configuration: {Cron: "* * * * * ? 2199", TimeZone: "UTC+02:00"}
    actions:
      - {name: Job, actionTypeId: {category: Deploy, owner: Custom, provider: Fake, version: "1"}}
`)
	mustCLI(t, "pipeline", "create", "-f", file)
	id := latestExecutionID(t, c, "gated")
	eventually(t, "the state to show the waiting condition", 20*time.Second, func() bool {
		return strings.Contains(mustCLI(t, "pipeline", "state", "gated"),
			"entry condition inprogress: rule Window: Waiting for the deployment window * * * * * ? 2199 to open at Tue 2199-01-01 00:00 UTC+02:00")
	})
	out, errOut, code := cli(t, "pipeline", "override", "gated", "Work")
	if code != 0 || !strings.Contains(errOut, "overriding the BEFORE_ENTRY condition of stage Work for execution "+id) {
		t.Fatalf("override: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	awaitStatus(t, c, "gated", id, types.PipelineExecutionStatusSucceeded)
	if out := mustCLI(t, "pipeline", "state", "gated"); !strings.Contains(out, "entry condition overridden: Overridden by") {
		t.Errorf("state after the override:\n%s", out)
	}
	errOut = failCLI(t, 1, "pipeline", "override", "gated", "Work")
	if !strings.Contains(errOut, "no execution is in stage Work") {
		t.Errorf("override with nothing waiting: %s", errOut)
	}
}

func TestDashboardShowsAndOverridesAWaitingCondition(t *testing.T) {
	s := startServer(t)
	c := codePipelineClient(s.URL, "", "")
	decl := sdkDeclaration(t, fakePipeline("gateweb", "QUEUED", "Deploy", "Custom", "Fake", map[string]string{}))
	decl.Stages[1].BeforeEntry = &types.BeforeEntryConditions{Conditions: []types.Condition{{Result: types.ResultFail,
		Rules: []types.RuleDeclaration{sdkRule("Window", "DeploymentWindow", map[string]string{"Cron": "* * * * * ? 2199"})}}}}
	if _, err := c.CreatePipeline(context.Background(), &codepipeline.CreatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	id := latestExecutionID(t, c, "gateweb")
	op := addUser(t, s, "otto", auth.RoleOperator)
	viewer := addUser(t, s, "vera", auth.RoleViewer)
	var page string
	eventually(t, "the page to show the waiting entry condition", 15*time.Second, func() bool {
		_, page = op.get("/pipelines/gateweb")
		return strings.Contains(page, `data-condition="BEFORE_ENTRY" data-status="InProgress"`)
	})
	if !strings.Contains(page, "Waiting for the deployment window * * * * * ? 2199 to open") || !strings.Contains(page, ">Override</button>") {
		t.Fatalf("the operator's page should explain the wait and offer Override")
	}
	if _, vpage := viewer.get("/pipelines/gateweb"); !strings.Contains(vpage, "Entry condition") || strings.Contains(vpage, ">Override</button>") {
		t.Error("a viewer sees the condition but is not offered Override")
	}
	form := func() url.Values { return url.Values{"execution": {id}, "condition": {pipeline.ConditionBeforeEntry}} }
	if st, _, _ := viewer.post("/pipelines/gateweb/stages/Work/override", form()); st != http.StatusForbidden {
		t.Fatalf("viewer override: %d, want 403", st)
	}
	if st, body, _ := op.post("/pipelines/gateweb/stages/Work/override", form()); st != http.StatusSeeOther {
		t.Fatalf("override: %d %s", st, body)
	}
	awaitStatus(t, c, "gateweb", id, types.PipelineExecutionStatusSucceeded)
	if _, page := op.get("/pipelines/gateweb"); !strings.Contains(page, `data-condition="BEFORE_ENTRY" data-status="Overridden"`) ||
		!strings.Contains(page, "Overridden by user/otto") || strings.Contains(page, ">Override</button>") {
		i := strings.Index(page, `data-condition="BEFORE_ENTRY"`)
		t.Errorf("after the override the page should say who overrode the condition, without the button: %s", page[max(i, 0):min(max(i, 0)+600, len(page))])
	}
	st, body, _ := op.do(http.MethodPost, "/pipelines/gateweb/stages/Work/override",
		url.Values{"execution": {id}, "condition": {pipeline.ConditionBeforeEntry}, "csrf_token": {op.csrf}}, map[string]string{"X-Requested-With": "conveyor"})
	if st != http.StatusBadRequest || !strings.Contains(body, "is not in stage Work") {
		t.Fatalf("a second override: %d %s", st, body)
	}
}
