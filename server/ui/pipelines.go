package ui

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// --- the overview ---

type overviewRow struct {
	Name     string
	Type     string
	Mode     string
	Stages   []stageCell
	Latest   *store.Execution
	Approval bool // an approval waits in this pipeline
}

type stageCell struct {
	Name   string
	Status string // a status, "Approval" (waiting for approval), "Queued", or "" (not run)
}

type overviewData struct {
	Rows    []overviewRow
	Elapsed time.Duration
}

// overview lists every pipeline with the stages of its newest execution. It reads set-wise (every
// pipeline's newest execution, their stages, the running actions) so its cost does not grow with
// one query per pipeline.
func (u *UI) overview(w http.ResponseWriter, r *http.Request, p *page) error {
	start := time.Now()
	ctx := r.Context()
	decls, err := u.d.Engine.Declarations(ctx)
	if err != nil {
		return err
	}
	tx := u.d.DB.Read()
	latest, err := tx.LatestExecutions(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(latest))
	for _, ex := range latest {
		ids = append(ids, ex.ID)
	}
	stages, err := tx.StageExecutionsOf(ctx, ids)
	if err != nil {
		return err
	}
	running, err := tx.RunningActions(ctx)
	if err != nil {
		return err
	}
	categories := map[string]string{} // pipeline/stage/action → category
	for _, d := range decls {
		for _, st := range d.Stages {
			for _, a := range st.Actions {
				categories[d.Name+"/"+st.Name+"/"+a.Name] = a.ActionTypeID.Category
			}
		}
	}
	approvals := map[string]bool{} // execution/stage with a waiting approval
	pipelineApproval := map[string]bool{}
	for _, a := range running {
		if categories[a.Pipeline+"/"+a.StageName+"/"+a.ActionName] == "Approval" {
			approvals[a.ExecutionID+"/"+a.StageName] = true
			pipelineApproval[a.Pipeline] = true
		}
	}
	rows := make([]overviewRow, 0, len(decls))
	for _, d := range decls {
		row := overviewRow{Name: d.Name, Type: d.EffectivePipelineType(), Mode: d.EffectiveExecutionMode(), Approval: pipelineApproval[d.Name]}
		ex, ok := latest[d.Name]
		if ok {
			exCopy := ex
			row.Latest = &exCopy
		}
		byStage := map[string]store.StageExecution{}
		for _, se := range stages[ex.ID] {
			byStage[se.StageName] = se
		}
		for i, st := range d.Stages {
			c := stageCell{Name: st.Name}
			if se, ran := byStage[st.Name]; ran && ok {
				c.Status = se.Status
				if se.Status == pipeline.StatusInProgress && approvals[ex.ID+"/"+st.Name] {
					c.Status = "Approval"
				}
			} else if ok && ex.StageIndex == i {
				switch ex.Status {
				case pipeline.StatusInProgress:
					c.Status = "Queued"
				case pipeline.StatusSuperseded, pipeline.StatusStopped, pipeline.StatusCancelled:
					c.Status = ex.Status
				}
			}
			row.Stages = append(row.Stages, c)
		}
		rows = append(rows, row)
	}
	p.Title, p.Template, p.Active = "Pipelines", "pipelines", "/"
	p.Topics = []string{"pipeline:*"}
	p.Data = overviewData{Rows: rows, Elapsed: time.Since(start)}
	return nil
}

// --- one pipeline ---

type pipelineData struct {
	Name        string
	Version     int
	Type        string
	Mode        string
	Updated     time.Time
	Variables   []pipeline.VariableDeclaration
	Stages      []stageView
	History     []pipeline.ExecutionSummary
	Active      []pipeline.ExecutionSummary // executions that can be stopped
	MoreHistory bool
}

type stageView struct {
	Name       string
	Index      int
	Transition pipeline.TransitionState
	Status     string
	ExecID     string
	Inbound    []string
	Retries    *pipeline.RetryStageMetadata
	Actions    []actionView
	CanRetry   bool
	Started    time.Time
	Rollback   bool             // the latest execution of the stage is a rollback
	Targets    []rollbackTarget // executions the stage can be rolled back to, newest first
	Conditions []conditionView  // the stage's conditions evaluated for its latest execution
}

// conditionView is one evaluated stage condition: "Entry condition: InProgress (rule …)".
type conditionView struct {
	Label   string // Entry, Success or Failure
	Type    string // BEFORE_ENTRY, ON_SUCCESS or ON_FAILURE
	Status  string
	Summary string
	Rules   []pipeline.RuleState
	// CanOverride: the condition is waiting and its result is not SKIP.
	CanOverride bool
}

// rollbackTarget is an execution that succeeded in a stage: a choice for Roll back.
type rollbackTarget struct {
	ID      string
	Created time.Time
}

type actionView struct {
	Name        string
	Category    string
	Provider    string
	RunOrder    int
	Status      string
	Summary     string
	Reason      string
	Error       string
	Updated     time.Time
	Started     time.Time
	Ended       time.Time
	By          string
	ExternalID  string
	ExternalURL string
	EntityURL   string
	ExecID      string
	Deadline    time.Time
	Waiting     bool // an approval waiting for a decision
	Revision    *revisionView
}

type revisionView struct {
	ID      string
	Message string
	URL     string
}

func (u *UI) pipelinePage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	name := chi.URLParam(r, "name")
	info, err := u.d.Engine.GetPipeline(ctx, name, 0)
	if err != nil {
		return err
	}
	state, err := u.d.Engine.State(ctx, name)
	if err != nil {
		return err
	}
	d := info.Declaration
	data := pipelineData{Name: name, Version: state.PipelineVersion, Type: d.EffectivePipelineType(), Mode: d.EffectiveExecutionMode(),
		Updated: info.Updated, Variables: d.Variables}
	details, revisions := u.executionDetails(ctx, name, state)
	_, role := identity(r)
	for i, st := range d.Stages {
		var ss pipeline.StageState
		if i < len(state.StageStates) {
			ss = state.StageStates[i]
		}
		sv := stageView{Name: st.Name, Index: i, Transition: ss.InboundTransitionState, Retries: ss.RetryStageMetadata}
		for _, in := range ss.InboundExecutions {
			sv.Inbound = append(sv.Inbound, in.PipelineExecutionID)
		}
		if ss.LatestExecution != nil {
			sv.Status, sv.ExecID = ss.LatestExecution.Status, ss.LatestExecution.PipelineExecutionID
			sv.CanRetry = sv.Status == pipeline.StatusFailed || sv.Status == pipeline.StatusStopped
			sv.Rollback = ss.LatestExecution.Type == pipeline.ExecutionTypeRollback
		}
		sv.Conditions = conditionViews(st, ss)
		if i > 0 && data.Mode != pipeline.ModeParallel && sv.Status != pipeline.StatusInProgress && sv.Status != pipeline.StatusStopping &&
			role.Allows(auth.RoleOperator) {
			if sv.Targets, err = u.rollbackTargets(ctx, name, state.PipelineVersion, st.Name); err != nil {
				return err
			}
		}
		for j, a := range st.Actions {
			av := actionView{Name: a.Name, Category: a.ActionTypeID.Category, Provider: a.ActionTypeID.Provider, RunOrder: a.RunOrder}
			if av.RunOrder == 0 {
				av.RunOrder = 1
			}
			if j < len(ss.ActionStates) {
				as := ss.ActionStates[j]
				av.EntityURL = as.EntityURL
				if le := as.LatestExecution; le != nil {
					av.Status, av.Summary, av.Reason, av.By = le.Status, le.Summary, le.Reason, le.LastUpdatedBy
					av.Updated, av.ExternalID, av.ExternalURL, av.ExecID = le.LastStatusChange.Time(), le.ExternalExecutionID, le.ExternalExecutionURL, le.PipelineExecutionID
					if le.ErrorDetails != nil {
						av.Error = le.ErrorDetails.Message
					}
					if le.Deadline != nil {
						av.Deadline = le.Deadline.Time()
					}
					av.Waiting = av.Category == "Approval" && le.Status == pipeline.StatusInProgress
					if det, ok := details[le.ActionExecutionID]; ok {
						av.Started = det.StartTime.Time()
						if det.Status != pipeline.StatusInProgress {
							av.Ended = det.LastUpdateTime.Time()
						}
					}
				}
				if rev := as.CurrentRevision; rev != nil {
					av.Revision = &revisionView{ID: rev.RevisionID, URL: as.RevisionURL}
					for _, ar := range revisions[av.ExecID] {
						if ar.RevisionID == rev.RevisionID {
							av.Revision.Message = ar.RevisionSummary
							if av.Revision.URL == "" {
								av.Revision.URL = ar.RevisionURL
							}
						}
					}
				}
			}
			if !av.Started.IsZero() && (sv.Started.IsZero() || av.Started.Before(sv.Started)) {
				sv.Started = av.Started
			}
			sv.Actions = append(sv.Actions, av)
		}
		data.Stages = append(data.Stages, sv)
	}
	hist, next, err := u.d.Engine.ListExecutions(ctx, name, "", "", 10)
	if err != nil {
		return err
	}
	data.History, data.MoreHistory = hist, next != ""
	active, err := u.activeExecutions(ctx, name)
	if err != nil {
		return err
	}
	data.Active = active
	p.Title, p.Template, p.Data = name, "pipeline", data
	p.Topics = []string{"pipeline:" + name}
	return nil
}

// conditionLabels name condition types on the page.
var conditionLabels = map[string]string{pipeline.ConditionBeforeEntry: "Entry", pipeline.ConditionOnSuccess: "Success",
	pipeline.ConditionOnFailure: "Failure"}

// conditionViews lists the stage's evaluated conditions for the page.
func conditionViews(st pipeline.Stage, ss pipeline.StageState) []conditionView {
	var out []conditionView
	for _, c := range ss.Conditions() {
		cv := conditionView{Label: conditionLabels[c.Type], Type: c.Type, Status: c.State.LatestExecution.Status,
			Summary: c.State.LatestExecution.Summary}
		for _, cs := range c.State.ConditionStates {
			cv.Rules = append(cv.Rules, cs.RuleStates...)
		}
		cv.CanOverride = cv.Status == pipeline.StatusInProgress && pipeline.Overridable(st, c.Type)
		out = append(out, cv)
	}
	return out
}

// rollbackTargets lists the recent executions a stage can be rolled back to: STANDARD executions
// of the current pipeline version that succeeded in it.
func (u *UI) rollbackTargets(ctx context.Context, name string, version int, stage string) ([]rollbackTarget, error) {
	recs, err := u.d.DB.Read().ListExecutions(ctx, name, store.ExecutionFilter{SucceededInStage: stage, Limit: 10})
	if err != nil {
		return nil, err
	}
	var out []rollbackTarget
	for _, ex := range recs {
		if ex.Type == pipeline.ExecutionTypeStandard && ex.PipelineVersion == version {
			out = append(out, rollbackTarget{ID: ex.ID, Created: ex.Created})
		}
	}
	return out, nil
}

// activeExecutions lists the unfinished executions (to stop), newest first.
func (u *UI) activeExecutions(ctx context.Context, name string) ([]pipeline.ExecutionSummary, error) {
	recs, err := u.d.DB.Read().ActiveExecutions(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.ExecutionSummary, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		ex := recs[i]
		out = append(out, pipeline.ExecutionSummary{PipelineExecutionID: ex.ID, Status: ex.Status, StartTime: pipeline.Timestamp(ex.Created),
			LastUpdateTime: pipeline.Timestamp(ex.Updated), Trigger: pipeline.ExecutionTrigger{TriggerType: ex.TriggerType, TriggerDetail: ex.TriggerDetail}})
	}
	return out, nil
}

// executionDetails reads the action executions and source revisions of the executions the stages
// show (at most a few: the latest of each stage), for durations and commit messages.
func (u *UI) executionDetails(ctx context.Context, name string, state pipeline.PipelineState) (map[string]pipeline.ActionExecutionDetail, map[string][]pipeline.ArtifactRevision) {
	details := map[string]pipeline.ActionExecutionDetail{}
	revisions := map[string][]pipeline.ArtifactRevision{}
	seen := map[string]bool{}
	for _, ss := range state.StageStates {
		for _, as := range ss.ActionStates {
			if as.LatestExecution == nil || as.LatestExecution.PipelineExecutionID == "" {
				continue
			}
			id := as.LatestExecution.PipelineExecutionID
			if seen[id] || len(seen) >= 8 {
				continue
			}
			seen[id] = true
			list, _, err := u.d.Engine.ListActionExecutions(ctx, name, id, "", 100)
			if err == nil {
				for _, a := range list {
					details[a.ActionExecutionID] = a
				}
			}
			if ex, err := u.d.Engine.GetExecution(ctx, name, id); err == nil {
				revisions[id] = ex.ArtifactRevisions
			}
		}
	}
	return details, revisions
}

// --- history ---

type historyData struct {
	Name    string
	History []pipeline.ExecutionSummary
	Next    string
	Stage   string
}

func (u *UI) historyPage(w http.ResponseWriter, r *http.Request, p *page) error {
	name := chi.URLParam(r, "name")
	q := r.URL.Query()
	list, next, err := u.d.Engine.ListExecutions(r.Context(), name, q.Get("succeededInStage"), q.Get("next"), 50)
	if err != nil {
		return err
	}
	p.Title, p.Template = name+" history", "history"
	p.Data = historyData{Name: name, History: list, Next: next, Stage: q.Get("succeededInStage")}
	p.Topics = []string{"pipeline:" + name}
	return nil
}

// --- one execution ---

type executionData struct {
	Name      string
	Exec      pipeline.ExecutionDetail
	Summary   pipeline.ExecutionSummary
	Stages    []execStageView
	Active    bool
	Created   time.Time
	Updated   time.Time
	StopNote  string
	Retryable string // the stage a retry would re-run
}

type execStageView struct {
	Name    string
	Status  string
	Actions []pipeline.ActionExecutionDetail
}

func (u *UI) executionPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	name, id := chi.URLParam(r, "name"), chi.URLParam(r, "id")
	ex, err := u.d.Engine.GetExecution(ctx, name, id)
	if err != nil {
		return err
	}
	info, err := u.d.Engine.GetPipeline(ctx, name, ex.PipelineVersion)
	if err != nil {
		return err
	}
	var actions []pipeline.ActionExecutionDetail
	next := ""
	for page := 0; page < 10; page++ {
		list, tok, err := u.d.Engine.ListActionExecutions(ctx, name, id, next, 100)
		if err != nil {
			return err
		}
		actions = append(actions, list...)
		if next = tok; next == "" {
			break
		}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].StartTime.Time().Before(actions[j].StartTime.Time()) })
	rec, err := u.d.DB.Read().GetExecution(ctx, name, id)
	if err != nil {
		return err
	}
	stageRecs, err := u.d.DB.Read().StageExecutions(ctx, id)
	if err != nil {
		return err
	}
	stageStatus := map[string]string{}
	for _, se := range stageRecs {
		stageStatus[se.StageName] = se.Status
	}
	data := executionData{Name: name, Exec: ex, Active: ex.Status == pipeline.StatusInProgress || ex.Status == pipeline.StatusStopping,
		Created: rec.Created, Updated: rec.Updated, StopNote: rec.StopReason}
	for _, st := range info.Declaration.Stages {
		sv := execStageView{Name: st.Name, Status: stageStatus[st.Name]}
		for _, a := range actions {
			if a.StageName == st.Name {
				sv.Actions = append(sv.Actions, a)
			}
		}
		if sv.Status == pipeline.StatusFailed || sv.Status == pipeline.StatusStopped {
			data.Retryable = st.Name
		}
		data.Stages = append(data.Stages, sv)
	}
	p.Title, p.Template, p.Data = name+" · "+short(id), "execution", data
	p.Topics = []string{"pipeline:" + name}
	return nil
}

// --- operations ---

func executionURL(name, id string) string {
	return "/pipelines/" + url.PathEscape(name) + "/executions/" + url.PathEscape(id)
}

func (u *UI) start(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := chi.URLParam(r, "name")
	if err := r.ParseForm(); err != nil {
		return "", "", badInput("the form could not be read")
	}
	var vars []pipeline.PipelineVariable
	var detail []string
	for k, v := range r.PostForm {
		if n, ok := strings.CutPrefix(k, "var."); ok && len(v) > 0 && v[0] != "" {
			vars = append(vars, pipeline.PipelineVariable{Name: n, Value: v[0]})
		}
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	for _, v := range vars {
		detail = append(detail, v.Name+"="+v.Value)
	}
	id, _ := identity(r)
	execID, err := u.d.Engine.StartExecution(r.Context(), pipeline.StartInput{Pipeline: name, Variables: vars,
		TriggerType: pipeline.TriggerStartExecution, TriggerDetail: id})
	u.recordOp(r, "start", name, strings.Join(detail, " "), err)
	if err != nil {
		return "", "", err
	}
	return "Started execution " + short(execID), "/pipelines/" + url.PathEscape(name), nil
}

func (u *UI) stop(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name, execID := chi.URLParam(r, "name"), chi.URLParam(r, "id")
	abandon := r.PostFormValue("mode") == "abandon"
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	id, _ := identity(r)
	err := u.d.Engine.StopExecution(r.Context(), name, execID, abandon, reason, id)
	mode := "wait"
	if abandon {
		mode = "abandon"
	}
	u.recordOp(r, "stop", name+"/"+execID, strings.TrimSpace("mode="+mode+" "+reason), err)
	if err != nil {
		return "", "", err
	}
	return "Stopping execution " + short(execID), "", nil
}

func (u *UI) retry(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name, execID := chi.URLParam(r, "name"), chi.URLParam(r, "id")
	stage := r.PostFormValue("stage")
	mode := r.PostFormValue("mode")
	if mode == "" {
		mode = pipeline.RetryFailedActions
	}
	if stage == "" {
		return "", "", badInput("name the stage to retry")
	}
	id, _ := identity(r)
	err := u.d.Engine.RetryStage(r.Context(), name, stage, execID, mode, id)
	u.recordOp(r, "retry", name+"/"+stage+"/"+execID, "mode="+mode, err)
	if err != nil {
		return "", "", err
	}
	return "Retrying stage " + stage, "", nil
}

func (u *UI) rollback(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name, stage := chi.URLParam(r, "name"), chi.URLParam(r, "stage")
	target := r.PostFormValue("target")
	if target == "" {
		return "", "", badInput("choose the execution to roll stage %s back to", stage)
	}
	id, _ := identity(r)
	execID, err := u.d.Engine.RollbackStage(r.Context(), name, stage, target, id)
	u.recordOp(r, "rollback", name+"/"+stage, "target="+target, err)
	if err != nil {
		return "", "", err
	}
	return "Rolling stage " + stage + " back to execution " + short(target) + " in execution " + short(execID), "", nil
}

func (u *UI) overrideCondition(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name, stage, execID := chi.URLParam(r, "name"), chi.URLParam(r, "stage"), r.PostFormValue("execution")
	condType := r.PostFormValue("condition")
	if execID == "" || condType == "" {
		return "", "", badInput("name the execution and the condition to override")
	}
	id, _ := identity(r)
	err := u.d.Engine.OverrideStageCondition(r.Context(), name, stage, execID, condType, id)
	u.recordOp(r, "override-condition", name+"/"+stage+"/"+execID, "condition="+condType, err)
	if err != nil {
		return "", "", err
	}
	return "Overrode the " + strings.ToLower(strings.ReplaceAll(condType, "_", " ")) + " condition of stage " + stage, "", nil
}

func (u *UI) transition(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name, stage := chi.URLParam(r, "name"), chi.URLParam(r, "stage")
	typ := r.PostFormValue("type")
	if typ == "" {
		typ = "Inbound"
	}
	enable, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		return "", "", badInput("enabled must be true or false")
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	id, _ := identity(r)
	err = u.d.Engine.SetTransition(r.Context(), name, stage, typ, enable, reason, id)
	action := "transition.disable"
	if enable {
		action = "transition.enable"
	}
	u.recordOp(r, action, name+"/"+stage+"/"+typ, reason, err)
	if err != nil {
		return "", "", err
	}
	if enable {
		return "Enabled the transition into " + stage, "", nil
	}
	return "Disabled the transition into " + stage, "", nil
}
