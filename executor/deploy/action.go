package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conveyorci/conveyor/executor"
)

// ActionType is the CodeDeploy pipeline action.
var ActionType = executor.ActionType{Category: "Deploy", Owner: "AWS", Provider: "CodeDeploy"}

// ActionTimeout bounds a CodeDeploy action (CodeDeploy's limit for an in-place deployment).
const ActionTimeout = 8 * time.Hour

// ActionSpec is the CodeDeploy action's spec: ApplicationName and DeploymentGroupName, and one
// input artifact, the revision (a zip with an appspec.yml).
func ActionSpec() executor.Spec {
	return executor.Spec{
		Type:           ActionType,
		RequiredConfig: []string{"ApplicationName", "DeploymentGroupName"},
		MinInputs:      1, MaxInputs: 1,
		DefaultTimeout: ActionTimeout,
	}
}

// Action deploys its input artifact to a deployment group and waits for the deployment.
type Action struct {
	Deploy *Service
}

// Execute implements executor.Executor. The action execution id is the deployment's external id,
// so a resumed or repeated action finds its deployment instead of creating another.
func (a *Action) Execute(ctx context.Context, job executor.Job) (executor.Result, error) {
	if len(job.InputArtifacts) != 1 {
		return executor.Failure(fmt.Sprintf("the CodeDeploy action takes exactly one input artifact (the revision), not %d", len(job.InputArtifacts))), nil
	}
	art := job.InputArtifacts[0]
	id, err := a.Deploy.CreateDeployment(ctx, CreateDeploymentInput{
		ApplicationName: job.Configuration["ApplicationName"], DeploymentGroupName: job.Configuration["DeploymentGroupName"],
		Revision:    &RevisionLocation{RevisionType: "S3", S3Location: &S3Location{Bucket: ArtifactBucket, Key: art.BlobSHA256, BundleType: "zip"}},
		Description: fmt.Sprintf("%s/%s/%s, artifact %s", job.PipelineName, job.StageName, job.ActionName, art.Name),
		Creator:     CreatorPipeline, ExternalID: job.ActionExecutionID,
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return executor.Failure(e.Msg), nil
		}
		return executor.Result{}, err
	}
	job.Progress(executor.Progress{ExternalExecutionID: id, ExternalExecutionURL: "/deployments/" + id, Summary: "Deployment " + id + " is running"})
	final, err := a.Deploy.Wait(ctx, id)
	if err != nil {
		// Abandoned or timed out: stop the deployment rather than leave it running. A server
		// shutting down leaves it be; the action resumes after the restart.
		if ctx.Err() != nil && a.Deploy.ctx.Err() == nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, _, serr := a.Deploy.StopDeployment(stopCtx, id, nil, "codepipeline/"+job.PipelineName); serr != nil {
				var e *Error
				if !errors.As(serr, &e) || e.Code != CodeDeploymentAlreadyCompleted {
					return executor.Result{ExternalExecutionID: id}, errors.Join(err, serr)
				}
			}
		}
		return executor.Result{ExternalExecutionID: id}, err
	}
	return a.result(ctx, final)
}

// result maps a finished deployment to the action's result; a failure names the host and the
// lifecycle event that failed.
func (a *Action) result(ctx context.Context, d DeploymentInfo) (executor.Result, error) {
	res := executor.Result{ExternalExecutionID: d.DeploymentID, ExternalExecutionURL: "/deployments/" + d.DeploymentID}
	o := d.DeploymentOverview
	if d.Status == StatusSucceeded {
		res.Status = executor.Succeeded
		res.Summary = fmt.Sprintf("Deployment %s succeeded on %d %s", d.DeploymentID, o.Succeeded, plural(o.Succeeded, "host", "hosts"))
		if o.Failed > 0 {
			res.Summary += fmt.Sprintf(" (%d failed within the configuration's minimum)", o.Failed)
		}
		return res, nil
	}
	res.Status = executor.Failed
	why, err := a.Deploy.failureSummary(ctx, d)
	if err != nil {
		return executor.Result{}, err
	}
	res.Summary = fmt.Sprintf("Deployment %s failed: %s", d.DeploymentID, why)
	if d.Status == StatusStopped {
		res.Summary = fmt.Sprintf("Deployment %s was stopped: %s", d.DeploymentID, why)
	}
	if r := d.RollbackInfo; r != nil && r.RollbackDeploymentID != "" {
		res.Summary += "; rolled back by " + r.RollbackDeploymentID
	}
	return res, nil
}

// failureSummary says why a deployment did not succeed: the first host that failed and how, or
// the deployment's error.
func (s *Service) failureSummary(ctx context.Context, d DeploymentInfo) (string, error) {
	targets, err := s.db.Read().ListTargets(ctx, d.DeploymentID)
	if err != nil {
		return "", err
	}
	if t, ok := firstFailure(targets); ok {
		return failureOf(t), nil
	}
	if e := d.ErrorInformation; e != nil {
		return e.Code + ": " + e.Message, nil
	}
	return d.Status, nil
}

// CanResume: the deployment an action created is found again by its external id.
func (a *Action) CanResume(executor.Job) bool { return true }
