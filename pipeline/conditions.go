package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/internal/cron"
	"github.com/conveyorci/conveyor/store"
)

// Stage condition types, as OverrideStageCondition and ListRuleExecutions name them.
const (
	ConditionBeforeEntry = "BEFORE_ENTRY"
	ConditionOnSuccess   = "ON_SUCCESS"
	ConditionOnFailure   = "ON_FAILURE"
)

// Statuses that only stages and conditions have.
const (
	StatusSkipped    = "Skipped"
	StatusOverridden = "Overridden"
)

// Rule providers Conveyor evaluates. The others (CloudWatchAlarm, LambdaInvoke, Commands, CodeBuild)
// need AWS services and are refused when a pipeline is validated.
const (
	RuleVariableCheck    = "VariableCheck"
	RuleDeploymentWindow = "DeploymentWindow"
)

// SupportedRuleProviders lists the rule providers Conveyor evaluates.
var SupportedRuleProviders = []string{RuleDeploymentWindow, RuleVariableCheck}

// variableOperators are VariableCheck's operators.
var variableOperators = []string{"EQ", "NE", "CONTAINS", "MATCHES"}

// ruleInput is a rule execution's stored input (ListRuleExecutions' input).
type ruleInput struct {
	RuleTypeID            RuleTypeID        `json:"ruleTypeId"`
	Configuration         map[string]string `json:"configuration,omitempty"`
	ResolvedConfiguration map[string]string `json:"resolvedConfiguration,omitempty"`
	Region                string            `json:"region,omitempty"`
	RoleArn               string            `json:"roleArn,omitempty"`
}

// ruleVerdict is one check of a rule: Succeeded or Failed, or InProgress until wake.
type ruleVerdict struct {
	status  string
	summary string
	wake    time.Time
}

// checkRule evaluates a rule's resolved configuration at now.
func checkRule(provider string, cfg map[string]string, now time.Time) ruleVerdict {
	switch provider {
	case RuleVariableCheck:
		return checkVariable(cfg)
	case RuleDeploymentWindow:
		return checkWindow(cfg, now)
	}
	return ruleVerdict{status: StatusFailed, summary: fmt.Sprintf("Rule provider %s is not supported by Conveyor (supported: %s)",
		provider, strings.Join(SupportedRuleProviders, ", "))}
}

// checkVariable compares a resolved variable with a value. MATCHES wants the whole value to match,
// as Java's String.matches does.
func checkVariable(cfg map[string]string) ruleVerdict {
	got, want, op := cfg["Variable"], cfg["Value"], cfg["Operator"]
	var ok bool
	switch op {
	case "EQ":
		ok = got == want
	case "NE":
		ok = got != want
	case "CONTAINS":
		ok = strings.Contains(got, want)
	case "MATCHES":
		re, err := regexp.Compile(`^(?:` + want + `)$`)
		if err != nil {
			return ruleVerdict{status: StatusFailed, summary: "Value is not a valid regular expression: " + err.Error()}
		}
		ok = re.MatchString(got)
	default:
		return ruleVerdict{status: StatusFailed, summary: fmt.Sprintf("Operator %q is not one of %s", op, strings.Join(variableOperators, ", "))}
	}
	verdict := ruleVerdict{status: StatusSucceeded, summary: fmt.Sprintf("%s %s %s", quoteShort(got), op, quoteShort(want))}
	if !ok {
		verdict.status, verdict.summary = StatusFailed, fmt.Sprintf("%s is not %s %s", quoteShort(got), op, quoteShort(want))
	}
	return verdict
}

func quoteShort(s string) string {
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strconv.Quote(s)
}

// checkWindow succeeds inside the deployment window and waits for it to open otherwise.
func checkWindow(cfg map[string]string, now time.Time) ruleVerdict {
	sched, err := cron.Parse(cfg["Cron"])
	if err != nil {
		return ruleVerdict{status: StatusFailed, summary: "Cron: " + err.Error()}
	}
	loc, err := windowLocation(cfg["TimeZone"])
	if err != nil {
		return ruleVerdict{status: StatusFailed, summary: "TimeZone: " + err.Error()}
	}
	local := now.In(loc)
	if sched.Matches(local) {
		return ruleVerdict{status: StatusSucceeded, summary: "Inside the deployment window " + cfg["Cron"] + " (" + local.Format("Mon 2006-01-02 15:04 MST") + ")"}
	}
	next, ok := sched.Next(local)
	if !ok {
		return ruleVerdict{status: StatusFailed, summary: "The deployment window " + cfg["Cron"] + " never opens again"}
	}
	return ruleVerdict{status: StatusInProgress, wake: next,
		summary: "Waiting for the deployment window " + cfg["Cron"] + " to open at " + next.Format("Mon 2006-01-02 15:04 MST")}
}

var utcOffset = regexp.MustCompile(`^UTC([+-])([01]?[0-9]|2[0-3]):([0-5][0-9])$`)

// windowLocation reads DeploymentWindow's TimeZone: an IANA name (Europe/Berlin), UTC, or a fixed
// offset UTC+05:30. Abbreviations (EST, IST) are ambiguous and refused. Empty means UTC.
func windowLocation(tz string) (*time.Location, error) {
	switch {
	case tz == "" || tz == "UTC":
		return time.UTC, nil
	case utcOffset.MatchString(tz):
		m := utcOffset.FindStringSubmatch(tz)
		h, _ := strconv.Atoi(m[2])
		mins, _ := strconv.Atoi(m[3])
		off := h*3600 + mins*60
		if m[1] == "-" {
			off = -off
		}
		return time.FixedZone(tz, off), nil
	case !strings.Contains(tz, "/"):
		return nil, fmt.Errorf("%q is not a time zone Conveyor knows: use a Region/City name such as Europe/Berlin, UTC or UTC+05:30", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%q is not a known Region/City time zone", tz)
	}
	return loc, nil
}

// condOutcome is where a condition stands.
type condOutcome int

const (
	condMet condOutcome = iota
	condFailed
	condWaiting
)

// evaluateCondition brings the rule executions of one condition of the current stage attempt up to
// date and says where the condition stands, with the failing (or waiting) rule's summary. A check
// runs each rule that has not finished; once checkOnce is set, a rule that would wait fails instead
// (onFailure conditions decide at once). Rules still waiting when another fails are abandoned.
func (e *Engine) evaluateCondition(ctx context.Context, tx *store.Tx, s *execState, condType string, c Condition, checkOnce bool, fx *effects) (condOutcome, string, error) {
	now := tx.Now()
	latest := map[string]*store.RuleExecution{}
	for i := range s.rules {
		r := &s.rules[i]
		if r.ConditionType == condType && r.StageAttempt == s.stage.Attempt {
			latest[r.RuleName] = r
		}
	}
	var records []*store.RuleExecution
	for _, decl := range c.Rules {
		r, ok := latest[decl.Name]
		switch {
		case !ok:
			rec, err := e.startRule(ctx, tx, s, condType, decl, checkOnce, now)
			if err != nil {
				return condWaiting, "", err
			}
			r = rec
		case r.Status == StatusInProgress:
			if err := recheckRule(ctx, tx, r, decl, now); err != nil {
				return condWaiting, "", err
			}
		}
		records = append(records, r)
	}
	var failed, waiting *store.RuleExecution
	for _, r := range records {
		switch r.Status {
		case StatusFailed, StatusAbandoned:
			if failed == nil {
				failed = r
			}
		case StatusInProgress:
			if waiting == nil {
				waiting = r
			}
		}
	}
	if failed != nil {
		for _, r := range records {
			if r.Status == StatusInProgress {
				r.Status, r.Summary = StatusAbandoned, "Not needed: rule "+failed.RuleName+" failed"
				if err := tx.PutRuleExecution(ctx, r); err != nil {
					return condFailed, "", err
				}
			}
		}
		return condFailed, fmt.Sprintf("rule %s: %s", failed.RuleName, failed.Summary), nil
	}
	if waiting != nil {
		for _, r := range records {
			if r.Status == StatusInProgress {
				fx.wakeAt(r.WakeAt)
				fx.wakeAt(r.Deadline)
			}
		}
		return condWaiting, fmt.Sprintf("rule %s: %s", waiting.RuleName, waiting.Summary), nil
	}
	return condMet, "", nil
}

// startRule records a rule's first check at this stage attempt.
func (e *Engine) startRule(ctx context.Context, tx *store.Tx, s *execState, condType string, decl RuleDeclaration, checkOnce bool, now time.Time) (*store.RuleExecution, error) {
	in := ruleInput{RuleTypeID: decl.RuleTypeID, Configuration: decl.Configuration, Region: decl.Region, RoleArn: decl.RoleArn}
	r := store.RuleExecution{ID: newID(), ExecutionID: s.ex.ID, Pipeline: s.ex.Pipeline, PipelineVersion: s.ex.PipelineVersion,
		StageName: s.stage.StageName, StageAttempt: s.stage.Attempt, ConditionType: condType, RuleName: decl.Name}
	outs, err := e.outputs(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	var v ruleVerdict
	if resolved, err := resolveConfiguration(decl.Configuration, s.ex, outs); err != nil {
		v = ruleVerdict{status: StatusFailed, summary: err.Error()}
	} else {
		in.ResolvedConfiguration = resolved
		v = checkRule(decl.RuleTypeID.Provider, resolved, now)
	}
	if v.status == StatusInProgress && checkOnce {
		v = ruleVerdict{status: StatusFailed, summary: "Not met now (" + v.summary + "); an onFailure condition does not wait"}
	}
	if v.status == StatusInProgress && decl.TimeoutInMinutes > 0 {
		r.Deadline = now.Add(time.Duration(decl.TimeoutInMinutes) * time.Minute)
	}
	r.Status, r.Summary, r.WakeAt = v.status, v.summary, v.wake
	r.Input, _ = json.Marshal(in)
	if err := tx.PutRuleExecution(ctx, &r); err != nil {
		return nil, err
	}
	s.rules = append(s.rules, r)
	return &s.rules[len(s.rules)-1], nil
}

// recheckRule checks a waiting rule again; it writes only when something changed, so a pass that
// finds the window still closed changes nothing.
func recheckRule(ctx context.Context, tx *store.Tx, r *store.RuleExecution, decl RuleDeclaration, now time.Time) error {
	var in ruleInput
	if err := json.Unmarshal(r.Input, &in); err != nil {
		return fmt.Errorf("stored input of rule execution %s: %w", r.ID, err)
	}
	v := checkRule(decl.RuleTypeID.Provider, in.ResolvedConfiguration, now)
	if v.status == StatusInProgress && !r.Deadline.IsZero() && !now.Before(r.Deadline) {
		v = ruleVerdict{status: StatusFailed, summary: fmt.Sprintf("Timed out after %d minutes: %s", decl.TimeoutInMinutes, r.Summary)}
	}
	if v.status == r.Status && v.summary == r.Summary && v.wake.Equal(r.WakeAt) {
		return nil
	}
	r.Status, r.Summary, r.WakeAt = v.status, v.summary, v.wake
	return tx.PutRuleExecution(ctx, r)
}

// abandonRules ends the stage's waiting rules of one condition type ("" for every type).
func abandonRules(ctx context.Context, tx *store.Tx, s *execState, condType, summary, by string) error {
	for i := range s.rules {
		r := &s.rules[i]
		if r.Status != StatusInProgress || (condType != "" && r.ConditionType != condType) {
			continue
		}
		r.Status, r.Summary, r.UpdatedBy = StatusAbandoned, summary, by
		if err := tx.PutRuleExecution(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Overridable reports whether a waiting condition of this type may be overridden: entry and success
// conditions can, except an entry condition whose result is SKIP (as in CodePipeline).
func Overridable(st Stage, condType string) bool {
	c, ok := stageConditionOf(st, condType)
	switch {
	case !ok || condType == ConditionOnFailure:
		return false
	case condType == ConditionBeforeEntry:
		return c.Result != resultSkip
	}
	return true
}

// stageConditionOf returns the stage's condition of a type, if it has one.
func stageConditionOf(st Stage, condType string) (Condition, bool) {
	var conds []Condition
	switch condType {
	case ConditionBeforeEntry:
		if st.BeforeEntry != nil {
			conds = st.BeforeEntry.Conditions
		}
	case ConditionOnSuccess:
		if st.OnSuccess != nil {
			conds = st.OnSuccess.Conditions
		}
	case ConditionOnFailure:
		if st.OnFailure != nil {
			conds = st.OnFailure.Conditions
		}
	}
	if len(conds) == 0 {
		return Condition{}, false
	}
	return conds[0], true
}

// checkEntry decides whether the execution may run the stage's actions. It returns done when the
// stage was settled instead (failed or skipped) and wait while the condition waits.
func (e *Engine) checkEntry(ctx context.Context, tx *store.Tx, s *execState, st Stage, fx *effects) (done, wait bool, err error) {
	c, ok := stageConditionOf(st, ConditionBeforeEntry)
	// Once an action ran, entry was granted; a rollback restores a known-good state unconditionally.
	if !ok || s.rollback() || len(s.actions) > 0 || s.stage.Overridden(ConditionBeforeEntry) {
		return false, false, nil
	}
	out, summary, err := e.evaluateCondition(ctx, tx, s, ConditionBeforeEntry, c, false, fx)
	switch {
	case err != nil:
		return false, false, err
	case out == condWaiting:
		return false, true, nil
	case out == condFailed:
		return true, false, e.conditionFailed(ctx, tx, s, st, firstNonEmpty(c.Result, resultFail), "Entry condition of stage "+st.Name+" failed: "+summary, fx)
	}
	return false, false, nil
}

// checkSuccess decides, once every action succeeded, whether the stage succeeds.
func (e *Engine) checkSuccess(ctx context.Context, tx *store.Tx, s *execState, st Stage, fx *effects) (done, wait bool, err error) {
	c, ok := stageConditionOf(st, ConditionOnSuccess)
	if !ok || s.rollback() || s.stage.Overridden(ConditionOnSuccess) {
		return false, false, nil
	}
	out, summary, err := e.evaluateCondition(ctx, tx, s, ConditionOnSuccess, c, false, fx)
	switch {
	case err != nil:
		return false, false, err
	case out == condWaiting:
		return false, true, nil
	case out == condFailed:
		return true, false, e.conditionFailed(ctx, tx, s, st, firstNonEmpty(c.Result, resultFail), "Success condition of stage "+st.Name+" failed: "+summary, fx)
	}
	return false, false, nil
}

// conditionFailed engages a failed condition's result: SKIP leaves the stage Skipped and moves on,
// ROLLBACK fails the execution and rolls the stage back, FAIL fails the execution.
func (e *Engine) conditionFailed(ctx context.Context, tx *store.Tx, s *execState, st Stage, result, summary string, fx *effects) error {
	if result == resultSkip {
		s.stage.Status = StatusSkipped
		if err := tx.PutStageExecution(ctx, s.stage); err != nil {
			return err
		}
		e.log.Info("stage skipped by its entry condition", "pipeline", s.ex.Pipeline, "execution_id", s.ex.ID, "stage", st.Name)
		return e.leaveStage(ctx, tx, s, "Skipped stage "+st.Name+": "+summary, fx)
	}
	s.stage.Status = StatusFailed
	if err := tx.PutStageExecution(ctx, s.stage); err != nil {
		return err
	}
	if result == resultRollback {
		note, err := e.autoRollback(ctx, tx, s, st, fx)
		if err != nil {
			return err
		}
		summary += note
	}
	return s.finish(ctx, tx, StatusFailed, summary, fx)
}
