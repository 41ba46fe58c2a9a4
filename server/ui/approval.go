package ui

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

type approvalData struct {
	Name, ExecID, Stage, Action string
	Path                        string
	Status                      string
	Reason                      string
	Waiting                     bool
	CustomData                  string
	Link                        string
	Started                     time.Time
	Deadline                    time.Time
	DecidedBy                   string
	Decided                     time.Time
	Comment                     string
	History                     []store.ActionExecution
}

// findApproval returns the newest run of a Manual approval action in one execution.
func (u *UI) findApproval(ctx context.Context, name, execID, stage, action string) (pipeline.ActionExecutionDetail, store.ActionExecution, error) {
	next := ""
	for page := 0; page < 10; page++ {
		list, tok, err := u.d.Engine.ListActionExecutions(ctx, name, execID, next, 100)
		if err != nil {
			return pipeline.ActionExecutionDetail{}, store.ActionExecution{}, err
		}
		for _, a := range list { // newest first
			if a.StageName == stage && a.ActionName == action {
				if a.Input.ActionTypeID.Category != "Approval" {
					return a, store.ActionExecution{}, notFound("%s/%s is not an approval action", stage, action)
				}
				rec, err := u.d.DB.Read().GetActionExecution(ctx, a.ActionExecutionID)
				return a, rec, err
			}
		}
		if next = tok; next == "" {
			break
		}
	}
	return pipeline.ActionExecutionDetail{}, store.ActionExecution{}, notFound("execution %s has not reached the approval %s/%s", short(execID), stage, action)
}

func (u *UI) approvalPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	name, execID := chi.URLParam(r, "name"), chi.URLParam(r, "id")
	stage, action := chi.URLParam(r, "stage"), chi.URLParam(r, "action")
	det, rec, err := u.findApproval(ctx, name, execID, stage, action)
	if err != nil {
		return err
	}
	d := approvalData{Name: name, ExecID: execID, Stage: stage, Action: action, Path: notify.ApprovalPath(name, execID, stage, action),
		Status: det.Status, Reason: det.Reason, Waiting: det.Status == pipeline.StatusInProgress,
		CustomData: det.Input.ResolvedConfiguration["CustomData"], Link: det.Input.ResolvedConfiguration["ExternalEntityLink"],
		Started: det.StartTime.Time()}
	if d.Waiting {
		d.Deadline = rec.Deadline
	} else {
		d.DecidedBy, d.Decided = det.UpdatedBy, det.LastUpdateTime.Time()
		if det.Output.ExecutionResult != nil {
			d.Comment = det.Output.ExecutionResult.ExternalExecutionSummary
		}
	}
	hist, err := u.d.DB.Read().ActionHistory(ctx, name, stage, action, 20)
	if err != nil {
		return err
	}
	d.History = hist
	p.Title, p.Template, p.Data = "Approval "+stage+"/"+action, "approval", d
	p.Topics = []string{"pipeline:" + name}
	return nil
}

// approve records a reviewer's decision: POST only, approvers only (the route says so), with a
// comment. The token comes from the server's own record, so the form cannot carry a foreign one.
func (u *UI) approve(w http.ResponseWriter, r *http.Request) (string, string, error) {
	ctx := r.Context()
	name, execID := chi.URLParam(r, "name"), chi.URLParam(r, "id")
	stage, action := chi.URLParam(r, "stage"), chi.URLParam(r, "action")
	back := notify.ApprovalPath(name, execID, stage, action)
	decision := r.PostFormValue("decision")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	target := name + "/" + stage + "/" + action + "/" + execID
	if decision != "Approved" && decision != "Rejected" {
		return "", back, badInput("choose Approve or Reject")
	}
	if comment == "" {
		return "", back, badInput("a comment is required: say why you approve or reject")
	}
	if len(comment) > 512 {
		return "", back, badInput("the comment has %d characters; at most 512 are kept", len(comment))
	}
	verb := "approve"
	if decision == "Rejected" {
		verb = "reject"
	}
	_, rec, err := u.findApproval(ctx, name, execID, stage, action)
	if err == nil && rec.Status != pipeline.StatusInProgress {
		err = badInput("this approval is no longer waiting: it is %s", strings.ToLower(rec.Status))
	}
	if err == nil {
		id, _ := identity(r)
		_, err = u.d.Engine.PutApprovalResult(ctx, name, stage, action, rec.Token, pipeline.ApprovalResult{Status: decision, Summary: comment}, id)
	}
	u.recordOp(r, verb, target, comment, err)
	if err != nil {
		return "", back, err
	}
	if decision == "Approved" {
		return "Approved " + stage + "/" + action, back, nil
	}
	return "Rejected " + stage + "/" + action, back, nil
}
