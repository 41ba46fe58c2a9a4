package pipeline

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/conveyorci/conveyor/store"
)

// StageConditionState is one condition type's state in GetPipelineState.
type StageConditionState struct {
	LatestExecution *StageConditionsExecution `json:"latestExecution,omitempty"`
	ConditionStates []ConditionState          `json:"conditionStates,omitempty"`
}

// StageConditionsExecution is where a stage's condition of one type stands.
type StageConditionsExecution struct {
	Status  string `json:"status"`
	Summary string `json:"summary,omitempty"`
}

// ConditionState is one condition and its rules.
type ConditionState struct {
	LatestExecution *ConditionExecution `json:"latestExecution,omitempty"`
	RuleStates      []RuleState         `json:"ruleStates,omitempty"`
}

// ConditionExecution is one evaluation of a condition.
type ConditionExecution struct {
	Status           string     `json:"status"`
	Summary          string     `json:"summary,omitempty"`
	LastStatusChange *Timestamp `json:"lastStatusChange,omitempty"`
}

// RuleState is a rule's latest execution.
type RuleState struct {
	RuleName        string              `json:"ruleName"`
	LatestExecution *RuleExecutionState `json:"latestExecution,omitempty"`
}

// RuleExecutionState is the latest execution of a rule.
type RuleExecutionState struct {
	RuleExecutionID  string        `json:"ruleExecutionId"`
	Status           string        `json:"status"`
	Summary          string        `json:"summary,omitempty"`
	LastStatusChange Timestamp     `json:"lastStatusChange"`
	LastUpdatedBy    string        `json:"lastUpdatedBy,omitempty"`
	ErrorDetails     *ErrorDetails `json:"errorDetails,omitempty"`
}

// TypedConditionState is one of a stage's condition states with its type.
type TypedConditionState struct {
	Type  string // BEFORE_ENTRY, ON_SUCCESS or ON_FAILURE
	State *StageConditionState
}

// Conditions lists the stage's conditions evaluated for its latest execution, in the order they are
// checked (entry, success, failure).
func (s StageState) Conditions() []TypedConditionState {
	var out []TypedConditionState
	for _, c := range []TypedConditionState{{ConditionBeforeEntry, s.BeforeEntryConditionState},
		{ConditionOnSuccess, s.OnSuccessConditionState}, {ConditionOnFailure, s.OnFailureConditionState}} {
		if c.State != nil && c.State.LatestExecution != nil {
			out = append(out, c)
		}
	}
	return out
}

// conditionStates fills a stage's condition states from the rule executions of its latest run.
func conditionStates(ctx context.Context, tx *store.Tx, ss *StageState, se store.StageExecution) error {
	rules, err := tx.StageRuleExecutions(ctx, se.ExecutionID, se.StageName)
	if err != nil {
		return err
	}
	ss.BeforeEntryConditionState = conditionState(rules, se, ConditionBeforeEntry)
	ss.OnSuccessConditionState = conditionState(rules, se, ConditionOnSuccess)
	ss.OnFailureConditionState = conditionState(rules, se, ConditionOnFailure)
	return nil
}

// conditionState summarises the newest evaluation of one condition type: its latest attempt's
// rules, the latest execution of each.
func conditionState(rules []store.RuleExecution, se store.StageExecution, condType string) *StageConditionState {
	attempt := 0
	for _, r := range rules {
		if r.ConditionType == condType {
			attempt = max(attempt, r.StageAttempt)
		}
	}
	if attempt == 0 {
		return nil
	}
	var order []string
	latest := map[string]store.RuleExecution{}
	for _, r := range rules {
		if r.ConditionType != condType || r.StageAttempt != attempt {
			continue
		}
		if _, ok := latest[r.RuleName]; !ok {
			order = append(order, r.RuleName)
		}
		latest[r.RuleName] = r
	}
	cond := ConditionExecution{Status: StatusSucceeded}
	var changed store.RuleExecution
	var states []RuleState
	for _, name := range order {
		r := latest[name]
		if r.Updated.After(changed.Updated) {
			changed = r
		}
		switch {
		case r.Status == StatusFailed:
			if cond.Status != StatusFailed {
				cond.Status, cond.Summary = StatusFailed, "rule "+r.RuleName+": "+r.Summary
			}
		case r.Status == StatusInProgress && cond.Status != StatusFailed:
			cond.Status, cond.Summary = StatusInProgress, "rule "+r.RuleName+": "+r.Summary
		case r.Status == StatusAbandoned && cond.Status == StatusSucceeded:
			cond.Status, cond.Summary = StatusAbandoned, "rule "+r.RuleName+": "+r.Summary
		}
		states = append(states, RuleState{RuleName: r.RuleName, LatestExecution: ruleExecutionState(r)})
	}
	if se.Overridden(condType) {
		cond.Status = StatusOverridden
		if changed.UpdatedBy != "" {
			cond.Summary = "Overridden by " + changed.UpdatedBy
		}
	}
	cond.LastStatusChange = tsPtr(changed.Updated)
	return &StageConditionState{
		LatestExecution: &StageConditionsExecution{Status: cond.Status, Summary: cond.Summary},
		ConditionStates: []ConditionState{{LatestExecution: &cond, RuleStates: states}},
	}
}

func ruleExecutionState(r store.RuleExecution) *RuleExecutionState {
	s := &RuleExecutionState{RuleExecutionID: r.ID, Status: r.Status, Summary: r.Summary,
		LastStatusChange: Timestamp(r.Updated), LastUpdatedBy: r.UpdatedBy}
	if r.Status == StatusFailed {
		s.ErrorDetails = &ErrorDetails{Code: "RuleFailed", Message: r.Summary}
	}
	return s
}

// RuleExecutionDetail is one entry of ListRuleExecutions.
type RuleExecutionDetail struct {
	PipelineExecutionID string               `json:"pipelineExecutionId"`
	RuleExecutionID     string               `json:"ruleExecutionId"`
	PipelineVersion     int                  `json:"pipelineVersion"`
	StageName           string               `json:"stageName"`
	RuleName            string               `json:"ruleName"`
	StartTime           Timestamp            `json:"startTime"`
	LastUpdateTime      Timestamp            `json:"lastUpdateTime"`
	UpdatedBy           string               `json:"updatedBy,omitempty"`
	Status              string               `json:"status"`
	Input               RuleExecutionInput   `json:"input"`
	Output              *RuleExecutionOutput `json:"output,omitempty"`
	// Conveyor addition: which condition the rule belongs to.
	ConditionType string `json:"conveyorConditionType"`
}

// RuleExecutionInput is what a rule was checked with.
type RuleExecutionInput struct {
	RuleTypeID            RuleTypeID        `json:"ruleTypeId"`
	Configuration         map[string]string `json:"configuration"`
	ResolvedConfiguration map[string]string `json:"resolvedConfiguration,omitempty"`
	Region                string            `json:"region,omitempty"`
	RoleArn               string            `json:"roleArn,omitempty"`
}

// RuleExecutionOutput is a finished rule's verdict.
type RuleExecutionOutput struct {
	ExecutionResult RuleExecutionResult `json:"executionResult"`
}

// RuleExecutionResult says why a rule ended as it did.
type RuleExecutionResult struct {
	ExternalExecutionSummary string        `json:"externalExecutionSummary,omitempty"`
	ErrorDetails             *ErrorDetails `json:"errorDetails,omitempty"`
}

// ListRuleExecutions lists a pipeline's rule executions, newest first.
func (e *Engine) ListRuleExecutions(ctx context.Context, pipeline, executionID, nextToken string, maxResults int) ([]RuleExecutionDetail, string, error) {
	tx, q, err := e.executionPage(ctx, pipeline, executionID, nextToken, maxResults)
	if err != nil {
		return nil, "", err
	}
	list, err := tx.ListRuleExecutions(ctx, pipeline, store.RuleFilter{ExecutionID: executionID, Before: q.before, Limit: q.limit + 1})
	if err != nil {
		return nil, "", err
	}
	list, next := lastPage(list, q.limit, func(r store.RuleExecution) string { return r.ID })
	out := make([]RuleExecutionDetail, 0, len(list))
	for _, r := range list {
		var in ruleInput
		_ = json.Unmarshal(r.Input, &in)
		d := RuleExecutionDetail{PipelineExecutionID: r.ExecutionID, RuleExecutionID: r.ID, PipelineVersion: r.PipelineVersion,
			StageName: r.StageName, RuleName: r.RuleName, StartTime: Timestamp(r.Started), LastUpdateTime: Timestamp(r.Updated),
			UpdatedBy: r.UpdatedBy, Status: r.Status, ConditionType: r.ConditionType,
			Input: RuleExecutionInput{RuleTypeID: in.RuleTypeID, Configuration: in.Configuration,
				ResolvedConfiguration: in.ResolvedConfiguration, Region: in.Region, RoleArn: in.RoleArn}}
		if d.Input.Configuration == nil {
			d.Input.Configuration = map[string]string{}
		}
		if r.Status != StatusInProgress {
			d.Output = &RuleExecutionOutput{ExecutionResult: RuleExecutionResult{ExternalExecutionSummary: r.Summary}}
			if r.Status == StatusFailed {
				d.Output.ExecutionResult.ErrorDetails = &ErrorDetails{Code: "RuleFailed", Message: r.Summary}
			}
		}
		out = append(out, d)
	}
	return out, next, nil
}

// OverrideStageCondition lets an execution past a condition that is still being evaluated (a
// deployment window that has not opened): the waiting rules are abandoned and the condition counts
// as met. A condition whose result is SKIP cannot be overridden, as in CodePipeline.
func (e *Engine) OverrideStageCondition(ctx context.Context, pipeline, stage, executionID, condType, identity string) error {
	if condType != ConditionBeforeEntry && condType != ConditionOnSuccess {
		return errorf(CodeValidation, "conditionType must be BEFORE_ENTRY or ON_SUCCESS, not %q", condType)
	}
	return e.mutate(ctx, pipeline, func(tx *store.Tx, fx *effects) error {
		ex, err := e.execution(ctx, tx, pipeline, executionID)
		if err != nil {
			return err
		}
		d, err := e.declaration(ctx, tx, pipeline, ex.PipelineVersion)
		if err != nil {
			return err
		}
		idx := d.StageIndex(stage)
		if idx < 0 {
			return errorf(CodeStageNotFound, "Pipeline %s has no stage %s", pipeline, stage)
		}
		if _, ok := stageConditionOf(d.Stages[idx], condType); !ok {
			return errorf(CodeConditionNotOverridable, "Stage %s has no %s condition", stage, condType)
		}
		if !Overridable(d.Stages[idx], condType) {
			return errorf(CodeConditionNotOverridable, "The entry condition of stage %s skips the stage when it fails; a SKIP condition cannot be overridden", stage)
		}
		s := &execState{ex: ex, dbStatus: ex.Status, decl: d}
		if ex.Waiting || ex.StageIndex != idx || ex.Status != StatusInProgress {
			return errorf(CodeConditionNotOverridable, "Execution %s is not in stage %s", executionID, stage)
		}
		if err := e.loadStage(ctx, tx, s); err != nil {
			return err
		}
		waiting := slices.ContainsFunc(s.rules, func(r store.RuleExecution) bool {
			return r.ConditionType == condType && r.StageAttempt == s.stage.Attempt && r.Status == StatusInProgress
		})
		if !waiting {
			return errorf(CodeConditionNotOverridable, "The %s condition of stage %s is not being evaluated for execution %s", condType, stage, executionID)
		}
		if err := abandonRules(ctx, tx, s, condType, "Overridden by "+identity, identity); err != nil {
			return err
		}
		s.stage.Overrides = append(s.stage.Overrides, condType)
		e.log.Info("stage condition overridden", "pipeline", pipeline, "execution_id", executionID, "stage", stage,
			"condition", condType, "by", identity)
		return tx.PutStageExecution(ctx, s.stage)
	})
}

// RuleType is one entry of ListRuleTypes.
type RuleType struct {
	ID                          RuleTypeID                  `json:"id"`
	RuleConfigurationProperties []RuleConfigurationProperty `json:"ruleConfigurationProperties"`
	InputArtifactDetails        ArtifactCount               `json:"inputArtifactDetails"`
}

// RuleConfigurationProperty describes one configuration key of a rule type.
type RuleConfigurationProperty struct {
	Name        string `json:"name"`
	Required    bool   `json:"required"`
	Key         bool   `json:"key"`
	Secret      bool   `json:"secret"`
	Queryable   bool   `json:"queryable"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type"`
}

// ArtifactCount bounds a rule type's input artifacts.
type ArtifactCount struct {
	MinimumCount int `json:"minimumCount"`
	MaximumCount int `json:"maximumCount"`
}

// ruleDescriptions documents each rule parameter in ListRuleTypes.
var ruleDescriptions = map[string]string{
	"Variable": "The variable to check, such as #{SourceVariables.BranchName}",
	"Value":    "The value to compare it with (a regular expression for MATCHES)",
	"Operator": "EQ, NE, CONTAINS or MATCHES",
	"Cron":     "Quartz cron expression of the minutes deployments are allowed, such as * * 9-17 ? * MON-FRI *",
	"TimeZone": "Region/City time zone, UTC or UTC+hh:mm (default UTC)",
}

// RuleTypes lists the rule types Conveyor evaluates (ListRuleTypes).
func RuleTypes() []RuleType {
	var out []RuleType
	for _, provider := range SupportedRuleProviders {
		params := ruleParameters[provider]
		rt := RuleType{ID: RuleTypeID{Category: "Rule", Owner: "AWS", Provider: provider, Version: "1"}}
		for i, name := range append(slices.Clone(params.required), params.optional...) {
			rt.RuleConfigurationProperties = append(rt.RuleConfigurationProperties, RuleConfigurationProperty{
				Name: name, Required: i < len(params.required), Key: true, Description: ruleDescriptions[name], Type: "String"})
		}
		out = append(out, rt)
	}
	return out
}
