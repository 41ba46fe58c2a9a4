package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/executor"
)

// CodeBuild action types (Build and Test categories).
var (
	BuildActionType = executor.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild"}
	TestActionType  = executor.ActionType{Category: "Test", Owner: "AWS", Provider: "CodeBuild"}
)

// ActionTimeout is CodePipeline's limit for a CodeBuild action.
const ActionTimeout = 8 * time.Hour

// ActionSpecs are the CodeBuild action's specs for both categories.
func ActionSpecs() []executor.Spec {
	var out []executor.Spec
	for _, t := range []executor.ActionType{BuildActionType, TestActionType} {
		out = append(out, executor.Spec{
			Type:           t,
			RequiredConfig: []string{"ProjectName"},
			OptionalConfig: []string{"PrimarySource", "EnvironmentVariables", "BatchEnabled", "CombineArtifacts"},
			MinInputs:      1, MaxInputs: 5, MaxOutputs: 5,
			DefaultTimeout: ActionTimeout,
			ValidateConfig: validateActionConfig,
		})
	}
	return out
}

func validateActionConfig(c map[string]string) map[string]string {
	problems := map[string]string{}
	if v, ok := c["EnvironmentVariables"]; ok {
		if _, err := parseActionEnv(v); err != nil {
			problems["EnvironmentVariables"] = err.Error()
		}
	}
	if c["BatchEnabled"] == "true" {
		problems["BatchEnabled"] = "batch builds are not supported"
	}
	if v, ok := c["CombineArtifacts"]; ok && v == "true" {
		problems["CombineArtifacts"] = "CombineArtifacts needs batch builds, which are not supported"
	}
	return problems
}

// parseActionEnv reads the EnvironmentVariables configuration: a JSON array string of
// {name, value, type}.
func parseActionEnv(s string) ([]EnvironmentVariable, error) {
	var vars []EnvironmentVariable
	if err := json.Unmarshal([]byte(s), &vars); err != nil {
		return nil, fmt.Errorf(`must be a JSON array such as [{"name":"STAGE","value":"prod","type":"PLAINTEXT"}]: %v`, err)
	}
	for _, v := range vars {
		if !envNamePattern.MatchString(v.Name) {
			return nil, fmt.Errorf("variable name %q is not valid", v.Name)
		}
		switch v.Type {
		case "", VarPlaintext, VarParameterStore, VarSecretsManager:
		default:
			return nil, fmt.Errorf("variable %s: type must be PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER", v.Name)
		}
	}
	return vars, nil
}

// Action is the CodeBuild pipeline action: it starts a build of the project with the action's input
// artifacts and waits for it.
type Action struct {
	Builds *Service
}

// Execute implements executor.Executor.
func (a *Action) Execute(ctx context.Context, job executor.Job) (executor.Result, error) {
	b, err := a.startOrFind(ctx, job)
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return executor.Failure(be.Msg), nil
		}
		return executor.Result{}, err
	}
	job.Progress(executor.Progress{ExternalExecutionID: b.ID, ExternalExecutionURL: "/builds/" + b.ID, Summary: "Build " + b.ID + " is running"})
	final, err := a.Builds.Wait(ctx, b.ID)
	if err != nil {
		// Abandoned, timed out or shutting down: stop the build rather than leave it running.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if ctx.Err() != nil && a.Builds.ctx.Err() == nil {
			if _, serr := a.Builds.StopBuild(stopCtx, b.ID); serr == nil {
				_, _ = a.Builds.Wait(stopCtx, b.ID)
			}
		}
		return executor.Result{ExternalExecutionID: b.ID}, err
	}
	return actionResult(final, a.Builds), nil
}

// startOrFind starts the build of this action execution, or finds it when the action is resumed
// or repeated (the action execution id is the idempotency token).
func (a *Action) startOrFind(ctx context.Context, job executor.Job) (Build, error) {
	in := StartInput{
		ProjectName: job.Configuration["ProjectName"], IdempotencyToken: job.ActionExecutionID,
		Initiator: "codepipeline/" + job.PipelineName, OutputNames: job.OutputArtifacts, ActionExecutionID: job.ActionExecutionID,
	}
	if v := job.Configuration["EnvironmentVariables"]; v != "" {
		vars, err := parseActionEnv(v)
		if err != nil {
			return Build{}, errorf(CodeInvalidInput, "EnvironmentVariables %v", err)
		}
		in.EnvironmentVariablesOverride = vars
	}
	primary := job.Configuration["PrimarySource"]
	if primary == "" {
		if len(job.InputArtifacts) > 1 {
			return Build{}, errorf(CodeInvalidInput, "the action has %d input artifacts: set PrimarySource to the one whose directory is CODEBUILD_SRC_DIR", len(job.InputArtifacts))
		}
		primary = job.InputArtifacts[0].Name
	}
	found := false
	for _, art := range job.InputArtifacts {
		rev, repoURL := "", ""
		if art.Revision != nil {
			rev, repoURL = art.Revision.RevisionID, art.Revision.RepositoryURL
		}
		id := art.Name
		if art.Name == primary {
			id, found = "", true
		}
		in.Inputs = append(in.Inputs, InputArtifact{Identifier: id, BlobSHA256: art.BlobSHA256, Revision: rev, RepoURL: repoURL})
	}
	if !found {
		return Build{}, errorf(CodeInvalidInput, "PrimarySource %q is not one of the action's input artifacts", primary)
	}
	// The primary source first, as the runner expects.
	for i := range in.Inputs {
		if in.Inputs[i].Identifier == "" {
			in.Inputs[0], in.Inputs[i] = in.Inputs[i], in.Inputs[0]
		}
	}
	return a.Builds.StartBuild(ctx, in)
}

// actionResult maps a finished build to the action's result.
func actionResult(b Build, s *Service) executor.Result {
	res := executor.Result{ExternalExecutionID: b.ID, ExternalExecutionURL: "/builds/" + b.ID}
	if b.BuildStatus != StatusSucceeded {
		res.Status = executor.Failed
		res.Summary = fmt.Sprintf("Build %s %s", b.ID, b.BuildStatus)
		for _, p := range b.Phases {
			if p.PhaseStatus != StatusSucceeded && p.PhaseStatus != "" && p.PhaseStatus != StatusInProgress {
				res.Summary += " in " + p.PhaseType
				if len(p.Contexts) > 0 {
					res.Summary += ": " + p.Contexts[0].Message
				}
				break
			}
		}
		return res
	}
	res.Status, res.Summary = executor.Succeeded, fmt.Sprintf("Build %s succeeded", b.ID)
	res.OutputVariables = map[string]string{}
	for _, v := range b.ExportedEnvironmentVariables {
		res.OutputVariables[v.Name] = v.Value
	}
	arts := append([]BuildArtifacts{}, b.SecondaryArtifacts...)
	if b.Artifacts != nil {
		arts = append([]BuildArtifacts{*b.Artifacts}, arts...)
	}
	var in StartInput
	if rec, err := s.db.Read().GetBuild(context.Background(), b.ID); err == nil {
		_ = json.Unmarshal(rec.Request, &in)
	}
	for i, name := range in.OutputNames {
		for _, a := range arts {
			if (i == 0 && a.ArtifactIdentifier == "") || a.ArtifactIdentifier == name {
				res.OutputArtifacts = append(res.OutputArtifacts, executor.Artifact{Name: name, BlobSHA256: a.Sha256sum, Size: a.Size})
				break
			}
		}
	}
	if len(res.OutputArtifacts) < len(in.OutputNames) {
		res.Status = executor.Failed
		res.Summary = fmt.Sprintf("Build %s succeeded but produced %d of the %d output artifacts (%s)", b.ID,
			len(res.OutputArtifacts), len(in.OutputNames), strings.Join(in.OutputNames, ", "))
	}
	return res
}

// CanResume: the build started by an action execution is found again by its idempotency token.
// (A build interrupted by the restart itself ended FAULT, and the action reports that.)
func (a *Action) CanResume(executor.Job) bool { return true }
