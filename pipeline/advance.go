package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/store"
)

// Retry triggers and modes.
const (
	RetryFailedActions = "FAILED_ACTIONS"
	RetryAllActions    = "ALL_ACTIONS"
	retryAutomated     = "AutomatedStageRetry"
	retryManual        = "ManualStageRetry"
)

// execState is one unfinished execution as advance sees it.
type execState struct {
	ex       store.Execution
	dbStatus string // status as stored, for compare-and-set
	decl     *Declaration
	stage    *store.StageExecution   // the stage it is in (nil while waiting)
	actions  []store.ActionExecution // action executions of that stage, all attempts
	rules    []store.RuleExecution   // rule executions of that stage's conditions, all attempts
	done     bool
	outputs  *executionOutputs
}

// executionOutputs are the artifacts and variables the execution's succeeded actions produced.
type executionOutputs struct {
	artifacts map[string]executor.Artifact
	variables map[string]map[string]string // namespace → key → value
}

// advance moves every unfinished execution of a pipeline as far as the rules allow, writing each
// change in tx and collecting side effects in fx. It runs to a fixpoint: one execution leaving a
// stage may let another enter it.
func (e *Engine) advance(ctx context.Context, tx *store.Tx, pipeline string, fx *effects) error {
	p, err := tx.GetPipeline(ctx, pipeline)
	if err != nil {
		return err
	}
	execs, err := tx.ActiveExecutions(ctx, pipeline)
	if err != nil {
		return err
	}
	if len(execs) == 0 {
		return nil
	}
	fx.spawned = nil // created before this pass: loaded above with the rest
	gates, err := transitionGates(ctx, tx, pipeline)
	if err != nil {
		return err
	}
	states := make([]*execState, 0, len(execs))
	add := func(ex store.Execution) error {
		s := &execState{ex: ex, dbStatus: ex.Status}
		if s.decl, err = e.declaration(ctx, tx, pipeline, ex.PipelineVersion); err != nil {
			return err
		}
		if !ex.Waiting {
			if err := e.loadStage(ctx, tx, s); err != nil {
				return err
			}
		}
		states = append(states, s)
		return nil
	}
	for _, ex := range execs {
		if err := add(ex); err != nil {
			return err
		}
	}
	for round := 0; ; round++ {
		if round > 10*len(states)+100 {
			return fmt.Errorf("pipeline %s: advance did not settle", pipeline)
		}
		changed := false
		// By index: a rollback spawned by a failing stage joins this very round, so that no
		// execution waiting for the stage slips in before it.
		for i := 0; i < len(states); i++ {
			s := states[i]
			if s.done {
				continue
			}
			var c bool
			if s.ex.Waiting {
				c, err = e.stepWaiting(ctx, tx, s, states, p.Version, gates, fx)
			} else {
				c, err = e.stepInStage(ctx, tx, s, fx)
			}
			if err != nil {
				return fmt.Errorf("execution %s: %w", s.ex.ID, err)
			}
			for _, ex := range fx.spawned {
				if err := add(ex); err != nil {
					return err
				}
			}
			fx.spawned = nil
			changed = changed || c
		}
		if !changed {
			return nil
		}
		fx.changed = true
	}
}

// rollback reports whether the execution is a stage rollback.
func (s *execState) rollback() bool { return s.ex.Type == ExecutionTypeRollback }

func (e *Engine) loadStage(ctx context.Context, tx *store.Tx, s *execState) error {
	stages, err := tx.StageExecutions(ctx, s.ex.ID)
	if err != nil {
		return err
	}
	name := s.decl.Stages[s.ex.StageIndex].Name
	for i := range stages {
		if stages[i].StageName == name {
			s.stage = &stages[i]
		}
	}
	if s.stage == nil {
		return fmt.Errorf("execution is in stage %s but has no record of it", name)
	}
	all, err := tx.ActionExecutions(ctx, s.ex.ID)
	if err != nil {
		return err
	}
	s.actions = s.actions[:0]
	for _, a := range all {
		if a.StageName == name {
			s.actions = append(s.actions, a)
		}
	}
	if s.rules, err = tx.StageRuleExecutions(ctx, s.ex.ID, name); err != nil {
		return err
	}
	return nil
}

// gates says whether transitions are enabled: key "stage/Inbound" or "stage/Outbound"; absent = enabled.
type gates map[string]bool

func transitionGates(ctx context.Context, tx *store.Tx, pipeline string) (gates, error) {
	list, err := tx.Transitions(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	g := gates{}
	for _, t := range list {
		if !t.Enabled {
			g[t.StageName+"/"+t.Type] = false
		}
	}
	return g, nil
}

func (g gates) open(stage, typ string) bool {
	v, ok := g[stage+"/"+typ]
	return !ok || v
}

// saveExecution writes an execution's state (compare-and-set on its stored status).
func (s *execState) save(ctx context.Context, tx *store.Tx) error {
	if err := tx.UpdateExecution(ctx, &s.ex, s.dbStatus); err != nil {
		return err
	}
	s.dbStatus = s.ex.Status
	return nil
}

// finish ends an execution with a terminal status.
func (s *execState) finish(ctx context.Context, tx *store.Tx, status, summary string, fx *effects) error {
	s.ex.Status, s.ex.StatusSummary = status, summary
	if err := s.save(ctx, tx); err != nil {
		return err
	}
	s.done = true
	fx.finished = append(fx.finished, status)
	return nil
}

// stepWaiting handles an execution waiting to enter stage ex.StageIndex (an inbound execution).
func (e *Engine) stepWaiting(ctx context.Context, tx *store.Tx, s *execState, all []*execState, currentVersion int, g gates, fx *effects) (bool, error) {
	idx := s.ex.StageIndex
	stage := s.decl.Stages[idx].Name
	if s.ex.Status == StatusStopping {
		summary := "Stopped before entering stage " + stage
		if s.ex.StopReason != "" {
			summary += ": " + s.ex.StopReason
		}
		return true, s.finish(ctx, tx, StatusStopped, summary, fx)
	}
	if s.ex.PipelineVersion != currentVersion {
		return true, s.finish(ctx, tx, StatusCancelled, fmt.Sprintf(
			"The pipeline was updated to version %d before this execution entered stage %s", currentVersion, stage), fx)
	}
	mode := s.ex.Mode
	if mode == ModeSuperseded {
		for _, o := range all {
			// A rollback supersedes nobody: the change waiting behind it still gets its turn.
			if o != s && !o.done && !o.rollback() && o.ex.Seq > s.ex.Seq && o.ex.Waiting && o.ex.StageIndex == idx {
				return true, s.finish(ctx, tx, StatusSuperseded, "Superseded by execution "+o.ex.ID, fx)
			}
		}
	}
	// A rollback does not come from the previous stage, so only the stage's inbound gate holds it.
	if !g.open(stage, "Inbound") || (idx > 0 && !s.rollback() && !g.open(s.decl.Stages[idx-1].Name, "Outbound")) {
		return false, nil
	}
	if mode != ModeParallel {
		for _, o := range all {
			if o == s || o.done {
				continue
			}
			if !o.ex.Waiting && o.ex.StageIndex == idx {
				return false, nil // stage locked
			}
			if !o.ex.Waiting || o.ex.StageIndex != idx {
				continue
			}
			if o.rollback() != s.rollback() {
				if o.rollback() {
					return false, nil // a waiting rollback enters first
				}
				continue
			}
			if mode == ModeQueued && o.ex.Seq < s.ex.Seq {
				return false, nil // first come, first served
			}
		}
	}
	rec := &store.StageExecution{ExecutionID: s.ex.ID, StageName: stage, StageIndex: idx, Attempt: 1, BaseAttempt: 1, Status: StatusInProgress}
	if err := tx.PutStageExecution(ctx, rec); err != nil {
		return false, err
	}
	s.ex.Waiting = false
	if err := s.save(ctx, tx); err != nil {
		return false, err
	}
	s.stage, s.actions, s.rules = rec, nil, nil
	fx.entered = append(fx.entered, stage)
	return true, nil
}

// effective returns, for each action of the stage, the action execution that counts for the current
// attempt, or none when the action must (re)start: results from attempts before BaseAttempt are
// ignored (ALL_ACTIONS retry), and failed results from earlier attempts are re-run (FAILED_ACTIONS).
func (s *execState) effective() map[string]*store.ActionExecution {
	out := map[string]*store.ActionExecution{}
	for i := range s.actions {
		a := &s.actions[i]
		if a.Attempt < s.stage.BaseAttempt {
			continue
		}
		if prev, ok := out[a.ActionName]; ok && prev.Attempt > a.Attempt {
			continue
		}
		out[a.ActionName] = a
	}
	for name, a := range out {
		if a.Attempt < s.stage.Attempt && (a.Status == StatusFailed || a.Status == StatusAbandoned) {
			delete(out, name)
		}
	}
	return out
}

// runOrderGroups groups a stage's actions by runOrder, ascending.
func runOrderGroups(st Stage) [][]Action {
	byOrder := map[int][]Action{}
	var orders []int
	for _, a := range st.Actions {
		o := a.EffectiveRunOrder()
		if _, ok := byOrder[o]; !ok {
			orders = append(orders, o)
		}
		byOrder[o] = append(byOrder[o], a)
	}
	sort.Ints(orders)
	groups := make([][]Action, len(orders))
	for i, o := range orders {
		groups[i] = byOrder[o]
	}
	return groups
}

// stepInStage handles an execution inside a stage: start the next runOrder group, or settle the
// stage as succeeded, failed or stopped.
func (e *Engine) stepInStage(ctx context.Context, tx *store.Tx, s *execState, fx *effects) (bool, error) {
	st := s.decl.Stages[s.ex.StageIndex]
	eff := s.effective()
	running := false
	for _, a := range eff {
		if a.Status == StatusInProgress {
			running = true
		}
	}
	if s.ex.Status == StatusStopping {
		if s.ex.StopAbandon {
			for _, a := range eff {
				if a.Status != StatusInProgress {
					continue
				}
				a.Status, a.Reason = StatusAbandoned, ReasonAbandoned
				a.Summary = "Abandoned by stop request"
				if s.ex.StopReason != "" {
					a.Summary += ": " + s.ex.StopReason
				}
				if err := tx.FinishAction(ctx, a); err != nil {
					return false, err
				}
				fx.cancel = append(fx.cancel, a.ID)
			}
			running = false
		}
		if running {
			if s.stage.Status != StatusStopping {
				s.stage.Status = StatusStopping
				return true, tx.PutStageExecution(ctx, s.stage)
			}
			return false, nil
		}
		if err := abandonRules(ctx, tx, s, "", "Abandoned: the execution was stopped", ""); err != nil {
			return false, err
		}
		s.stage.Status = StatusStopped
		if err := tx.PutStageExecution(ctx, s.stage); err != nil {
			return false, err
		}
		summary := "Stopped"
		if s.ex.StopReason != "" {
			summary = "Stopped: " + s.ex.StopReason
		}
		return true, s.finish(ctx, tx, StatusStopped, summary, fx)
	}
	if done, wait, err := e.checkEntry(ctx, tx, s, st, fx); err != nil || done || wait {
		return done, err
	}
	for _, group := range runOrderGroups(st) {
		var pending []Action
		var failed *store.ActionExecution
		busy := false
		for _, act := range group {
			a, ok := eff[act.Name]
			switch {
			case !ok:
				pending = append(pending, act)
			case a.Status == StatusInProgress:
				busy = true
			case a.Status == StatusFailed || a.Status == StatusAbandoned:
				if failed == nil {
					failed = a
				}
			}
		}
		if busy {
			return false, nil
		}
		if failed != nil {
			return true, e.stageFailed(ctx, tx, s, st, fmt.Sprintf("Action %s in stage %s failed: %s", failed.ActionName, st.Name, failed.Summary), fx)
		}
		if len(pending) > 0 {
			for _, act := range pending {
				if err := e.startAction(ctx, tx, s, act, fx); err != nil {
					return false, err
				}
			}
			return true, nil
		}
	}
	if done, wait, err := e.checkSuccess(ctx, tx, s, st, fx); err != nil || done || wait {
		return done, err
	}
	s.stage.Status = StatusSucceeded
	if err := tx.PutStageExecution(ctx, s.stage); err != nil {
		return false, err
	}
	if s.rollback() {
		// A rollback runs only the stage it rolls back.
		return true, s.finish(ctx, tx, StatusSucceeded, fmt.Sprintf("Rolled back stage %s to execution %s",
			st.Name, s.ex.RollbackTarget), fx)
	}
	return true, e.leaveStage(ctx, tx, s, "", fx)
}

// leaveStage moves the execution on to wait for the next stage, or ends it Succeeded after the last
// one (with summary).
func (e *Engine) leaveStage(ctx context.Context, tx *store.Tx, s *execState, summary string, fx *effects) error {
	if s.ex.StageIndex == len(s.decl.Stages)-1 {
		return s.finish(ctx, tx, StatusSucceeded, summary, fx)
	}
	s.ex.StageIndex++
	s.ex.Waiting = true
	s.stage, s.actions, s.rules = nil, nil, nil
	return s.save(ctx, tx)
}

// stageFailed fails the stage after an action failed: it retries the stage once automatically when
// onFailure says RETRY, and rolls it back when onFailure says ROLLBACK (and its condition, if any,
// fails: the result engages only when the condition is not met).
func (e *Engine) stageFailed(ctx context.Context, tx *store.Tx, s *execState, st Stage, summary string, fx *effects) error {
	if st.OnFailure != nil && st.OnFailure.Result == resultRetry && s.stage.AutoRetries < 1 {
		mode := RetryFailedActions
		if st.OnFailure.RetryConfiguration != nil && st.OnFailure.RetryConfiguration.RetryMode != "" {
			mode = st.OnFailure.RetryConfiguration.RetryMode
		}
		s.stage.Attempt++
		s.stage.AutoRetries++
		s.stage.RetryTrigger = retryAutomated
		if mode == RetryAllActions {
			s.stage.BaseAttempt = s.stage.Attempt
		}
		e.log.Info("retrying failed stage automatically", "pipeline", s.ex.Pipeline, "execution_id", s.ex.ID,
			"stage", st.Name, "retry_mode", mode)
		return tx.PutStageExecution(ctx, s.stage)
	}
	result := resultFail
	if st.OnFailure != nil && !s.rollback() {
		result = firstNonEmpty(st.OnFailure.Result, resultFail)
		if c, ok := stageConditionOf(st, ConditionOnFailure); ok {
			out, why, err := e.evaluateCondition(ctx, tx, s, ConditionOnFailure, c, true, fx)
			if err != nil {
				return err
			}
			if out == condFailed {
				result = firstNonEmpty(c.Result, result)
				summary += ". Failure condition not met (" + why + ")"
			} else {
				if firstNonEmpty(c.Result, result) == resultRollback {
					summary += ". Failure condition met: no rollback"
				}
				result = resultFail
			}
		}
	}
	if result != resultRollback {
		result = resultFail // SKIP after a failure is handled as FAIL (see docs/pipelines.md)
	}
	return e.conditionFailed(ctx, tx, s, st, result, summary, fx)
}

// outputs gathers what the execution's succeeded actions produced (latest result per action).
func (e *Engine) outputs(ctx context.Context, tx *store.Tx, s *execState) (*executionOutputs, error) {
	if s.outputs != nil {
		return s.outputs, nil
	}
	all, err := tx.ActionExecutions(ctx, s.ex.ID)
	if err != nil {
		return nil, err
	}
	if s.rollback() {
		// What the stages before the rolled-back one produced comes from the target execution.
		prior, err := tx.ActionExecutions(ctx, s.ex.RollbackTarget)
		if err != nil {
			return nil, err
		}
		var inherited []store.ActionExecution
		for _, a := range prior {
			if i := s.decl.StageIndex(a.StageName); i >= 0 && i < s.ex.StageIndex {
				inherited = append(inherited, a)
			}
		}
		all = append(inherited, all...)
	}
	latest := map[string]store.ActionExecution{}
	for _, a := range all {
		latest[a.StageName+"/"+a.ActionName] = a
	}
	out := &executionOutputs{artifacts: map[string]executor.Artifact{}, variables: map[string]map[string]string{}}
	for _, a := range latest {
		if a.Status != StatusSucceeded {
			continue
		}
		var o actionOutput
		if err := json.Unmarshal(a.Output, &o); err != nil {
			return nil, fmt.Errorf("stored output of %s: %w", a.ID, err)
		}
		for _, art := range o.OutputArtifacts {
			out.artifacts[art.Name] = art
		}
		if decl, ok := s.decl.Action(a.StageName, a.ActionName); ok && decl.Namespace != "" {
			out.variables[decl.Namespace] = o.OutputVariables
		}
	}
	s.outputs = out
	return out, nil
}

// startAction records an action execution and queues its launch. An action whose configuration
// cannot be resolved, or whose provider is missing, is recorded as Failed straight away.
func (e *Engine) startAction(ctx context.Context, tx *store.Tx, s *execState, act Action, fx *effects) error {
	s.outputs = nil // a retry may have replaced outputs
	now := tx.Now()
	t := executor.ActionType{Category: act.ActionTypeID.Category, Owner: act.ActionTypeID.Owner, Provider: act.ActionTypeID.Provider}
	a := store.ActionExecution{
		ID: newID(), ExecutionID: s.ex.ID, Pipeline: s.ex.Pipeline, PipelineVersion: s.ex.PipelineVersion,
		StageName: s.stage.StageName, ActionName: act.Name, RunOrder: act.EffectiveRunOrder(), Attempt: s.stage.Attempt,
		Status: StatusInProgress,
	}
	in := actionInput{ActionTypeID: act.ActionTypeID, Configuration: act.Configuration, Namespace: act.Namespace, Region: act.Region}
	for _, o := range act.OutputArtifacts {
		in.OutputArtifacts = append(in.OutputArtifacts, o.Name)
	}
	fail := func(reason, summary string) error {
		a.Status, a.Reason, a.Summary, a.ErrorCode, a.Deadline = StatusFailed, reason, summary, "JobFailed", now
		in.ResolvedConfiguration = nil
		a.Input, _ = json.Marshal(in)
		if err := tx.InsertActionExecution(ctx, &a); err != nil {
			return err
		}
		s.actions = append(s.actions, a)
		fx.actions = append(fx.actions, actionEvent{t, StatusFailed, 0})
		return nil
	}
	provider, ok := e.providers.Lookup(t)
	if !ok {
		return fail(ReasonInfrastructure, fmt.Sprintf("Provider %s is not available in this Conveyor build", t))
	}
	outs, err := e.outputs(ctx, tx, s)
	if err != nil {
		return err
	}
	resolved, err := resolveConfiguration(act.Configuration, s.ex, outs)
	if err != nil {
		return fail(ReasonFailed, err.Error())
	}
	in.ResolvedConfiguration = resolved
	for _, name := range act.InputArtifacts {
		art, ok := outs.artifacts[name.Name]
		if !ok {
			return fail(ReasonFailed, fmt.Sprintf("Input artifact %s was not produced by any succeeded action of this execution", name.Name))
		}
		in.InputArtifacts = append(in.InputArtifacts, art)
	}
	if act.ActionTypeID.Category == "Source" {
		in.SourceRevision = sourceRevisionFor(s.ex, act.Name)
	}
	timeout := provider.Spec.DefaultTimeout
	if provider.Spec.HonoursActionTimeout && act.TimeoutInMinutes > 0 {
		timeout = time.Duration(act.TimeoutInMinutes) * time.Minute
	}
	a.Deadline = now.Add(timeout)
	if act.ActionTypeID.Category == "Approval" {
		a.Token = newID()
	}
	a.Input, _ = json.Marshal(in)
	if err := tx.InsertActionExecution(ctx, &a); err != nil {
		return err
	}
	s.actions = append(s.actions, a)
	fx.launch = append(fx.launch, launch{
		provider: provider, deadline: a.Deadline,
		job: executor.Job{
			ActionExecutionID: a.ID, PipelineName: s.ex.Pipeline, PipelineExecutionID: s.ex.ID,
			PipelineVersion: s.ex.PipelineVersion, StageName: a.StageName, ActionName: a.ActionName, Type: t,
			Configuration: resolved, InputArtifacts: in.InputArtifacts, OutputArtifacts: in.OutputArtifacts,
			Namespace: act.Namespace, Token: a.Token, SourceRevision: in.SourceRevision,
			TriggerType: s.ex.TriggerType, TriggerDetail: s.ex.TriggerDetail, StartedAt: now, Deadline: a.Deadline,
		},
	})
	return nil
}

// sourceRevisionOverride is one entry of an execution's sourceRevisions.
type sourceRevisionOverride struct {
	ActionName    string `json:"actionName"`
	RevisionType  string `json:"revisionType"`
	RevisionValue string `json:"revisionValue"`
}

func sourceRevisionFor(ex store.Execution, action string) *executor.SourceRevision {
	var list []sourceRevisionOverride
	if err := json.Unmarshal(ex.SourceRevisions, &list); err != nil {
		return nil
	}
	for _, r := range list {
		if r.ActionName == action {
			return &executor.SourceRevision{Type: r.RevisionType, Value: r.RevisionValue}
		}
	}
	return nil
}

// nameValue is a pipeline variable as stored on an execution.
type nameValue struct {
	Name          string `json:"name"`
	ResolvedValue string `json:"resolvedValue"`
}

// maxResolvedConfig is CodePipeline's limit on an action's resolved configuration.
const maxResolvedConfig = 100 * 1024

// resolveConfiguration replaces #{namespace.key} references in every configuration value.
func resolveConfiguration(config map[string]string, ex store.Execution, outs *executionOutputs) (map[string]string, error) {
	var pipelineVars []nameValue
	_ = json.Unmarshal(ex.Variables, &pipelineVars)
	lookup := func(ns, key string) (string, error) {
		switch ns {
		case "codepipeline":
			if key == "PipelineExecutionId" {
				return ex.ID, nil
			}
			return "", fmt.Errorf("#{codepipeline.%s} is not a variable CodePipeline defines (only PipelineExecutionId)", key)
		case "variables":
			for _, v := range pipelineVars {
				if v.Name == key {
					return v.ResolvedValue, nil
				}
			}
			return "", fmt.Errorf("#{variables.%s}: the execution has no pipeline variable %s", key, key)
		}
		vars, ok := outs.variables[ns]
		if !ok {
			return "", fmt.Errorf("#{%s.%s}: no succeeded action of this execution published namespace %s", ns, key, ns)
		}
		v, ok := vars[key]
		if !ok {
			return "", fmt.Errorf("#{%s.%s}: namespace %s has no variable %s", ns, key, ns, key)
		}
		return v, nil
	}
	out := make(map[string]string, len(config))
	total := 0
	for k, v := range config {
		refs := VariableRefs(v)
		if len(refs) == 0 {
			out[k] = v
			total += len(k) + len(v)
			continue
		}
		var b strings.Builder
		last := 0
		for _, r := range refs {
			val, err := lookup(r.Namespace, r.Key)
			if err != nil {
				return nil, fmt.Errorf("Unresolved variable in configuration %s: %w", k, err)
			}
			b.WriteString(v[last:r.Start])
			b.WriteString(val)
			last = r.End
		}
		b.WriteString(v[last:])
		out[k] = b.String()
		total += len(k) + b.Len()
	}
	if total > maxResolvedConfig {
		return nil, fmt.Errorf("the resolved configuration is %d bytes, more than CodePipeline's limit of %d", total, maxResolvedConfig)
	}
	return out, nil
}
