package awsapi

import (
	"context"
	"encoding/json"

	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// CodePipelineTarget is the X-Amz-Target prefix of the CodePipeline API.
const CodePipelineTarget = "CodePipeline_20150709"

// CodePipelineUnsupported lists the CodePipeline operations Conveyor answers with
// UnsupportedOperationException (docs/api.md says why for each).
var CodePipelineUnsupported = []string{
	"AcknowledgeJob", "AcknowledgeThirdPartyJob", "CreateCustomActionType", "DeleteCustomActionType",
	"DeleteWebhook", "DeregisterWebhookWithThirdParty", "GetActionType", "GetJobDetails",
	"GetThirdPartyJobDetails", "ListActionTypes", "ListDeployActionExecutionTargets",
	"ListWebhooks", "PollForJobs", "PollForThirdPartyJobs",
	"PutActionRevision", "PutJobFailureResult", "PutJobSuccessResult", "PutThirdPartyJobFailureResult",
	"PutThirdPartyJobSuccessResult", "PutWebhook", "RegisterWebhookWithThirdParty", "UpdateActionType",
}

type pipelineWithTags struct {
	Pipeline json.RawMessage `json:"pipeline"`
	Tags     []store.Tag     `json:"tags"`
}

type pipelineMetadata struct {
	PipelineArn string             `json:"pipelineArn"`
	Created     pipeline.Timestamp `json:"created"`
	Updated     pipeline.Timestamp `json:"updated"`
}

// executionListInput is the input of ListActionExecutions and ListRuleExecutions.
type executionListInput struct {
	PipelineName string `json:"pipelineName"`
	MaxResults   int    `json:"maxResults"`
	NextToken    string `json:"nextToken"`
	Filter       *struct {
		PipelineExecutionID       string `json:"pipelineExecutionId"`
		LatestInPipelineExecution *struct {
			PipelineExecutionID string `json:"pipelineExecutionId"`
		} `json:"latestInPipelineExecution"`
	} `json:"filter"`
}

// check validates the input and returns the execution it is filtered to ("" for all).
func (in executionListInput) check() (string, error) {
	if err := Required("pipelineName", in.PipelineName); err != nil {
		return "", err
	}
	if in.Filter == nil {
		return "", nil
	}
	if id := in.Filter.PipelineExecutionID; id != "" || in.Filter.LatestInPipelineExecution == nil {
		return id, nil
	}
	return in.Filter.LatestInPipelineExecution.PipelineExecutionID, nil
}

// CodePipeline returns the CodePipeline operations over the engine.
func CodePipeline(e *pipeline.Engine) map[string]Operation {
	ops := map[string]Operation{
		"CreatePipeline": Op(auth.RoleAdmin, func(ctx context.Context, id auth.Identity, in pipelineWithTags) (any, error) {
			if len(in.Pipeline) == 0 || string(in.Pipeline) == "null" {
				return nil, Required("pipeline", "")
			}
			info, err := e.CreatePipeline(ctx, in.Pipeline, in.Tags, id.Name)
			if err != nil {
				return nil, err
			}
			tags := in.Tags
			if tags == nil {
				tags = []store.Tag{}
			}
			return map[string]any{"pipeline": info.Declaration, "tags": tags}, nil
		}),
		"UpdatePipeline": Op(auth.RoleAdmin, func(ctx context.Context, id auth.Identity, in pipelineWithTags) (any, error) {
			if len(in.Pipeline) == 0 || string(in.Pipeline) == "null" {
				return nil, Required("pipeline", "")
			}
			info, err := e.UpdatePipeline(ctx, in.Pipeline, id.Name)
			if err != nil {
				return nil, err
			}
			return map[string]any{"pipeline": info.Declaration}, nil
		}),
		"GetPipeline": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		}) (any, error) {
			if err := Required("name", in.Name); err != nil {
				return nil, err
			}
			info, err := e.GetPipeline(ctx, in.Name, in.Version)
			if err != nil {
				return nil, err
			}
			return map[string]any{"pipeline": info.Declaration, "metadata": pipelineMetadata{
				PipelineArn: info.Arn, Created: pipeline.Timestamp(info.Created), Updated: pipeline.Timestamp(info.Updated)}}, nil
		}),
		"ListPipelines": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			NextToken  string `json:"nextToken"`
			MaxResults int    `json:"maxResults"`
		}) (any, error) {
			list, next, err := e.ListPipelines(ctx, in.NextToken, in.MaxResults)
			if err != nil {
				return nil, err
			}
			return map[string]any{"pipelines": list, "nextToken": omitEmpty(next)}, nil
		}),
		"DeletePipeline": Op(auth.RoleAdmin, func(ctx context.Context, id auth.Identity, in struct {
			Name string `json:"name"`
		}) (any, error) {
			if err := Required("name", in.Name); err != nil {
				return nil, err
			}
			return nil, e.DeletePipeline(ctx, in.Name, id.Name)
		}),
		"StartPipelineExecution": Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
			Name               string                         `json:"name"`
			Variables          []pipeline.PipelineVariable    `json:"variables"`
			ClientRequestToken string                         `json:"clientRequestToken"`
			SourceRevisions    []pipeline.SourceRevisionInput `json:"sourceRevisions"`
		}) (any, error) {
			if err := Required("name", in.Name); err != nil {
				return nil, err
			}
			execID, err := e.StartExecution(ctx, pipeline.StartInput{Pipeline: in.Name, Variables: in.Variables,
				ClientRequestToken: in.ClientRequestToken, SourceRevisions: in.SourceRevisions,
				TriggerType: pipeline.TriggerStartExecution, TriggerDetail: id.Name})
			if err != nil {
				return nil, err
			}
			return map[string]string{"pipelineExecutionId": execID}, nil
		}),
		"StopPipelineExecution": Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
			PipelineName        string `json:"pipelineName"`
			PipelineExecutionID string `json:"pipelineExecutionId"`
			Abandon             bool   `json:"abandon"`
			Reason              string `json:"reason"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName, "pipelineExecutionId", in.PipelineExecutionID); err != nil {
				return nil, err
			}
			if err := e.StopExecution(ctx, in.PipelineName, in.PipelineExecutionID, in.Abandon, in.Reason, id.Name); err != nil {
				return nil, err
			}
			return map[string]string{"pipelineExecutionId": in.PipelineExecutionID}, nil
		}),
		"GetPipelineState": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			Name string `json:"name"`
		}) (any, error) {
			if err := Required("name", in.Name); err != nil {
				return nil, err
			}
			return e.State(ctx, in.Name)
		}),
		"GetPipelineExecution": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			PipelineName        string `json:"pipelineName"`
			PipelineExecutionID string `json:"pipelineExecutionId"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName, "pipelineExecutionId", in.PipelineExecutionID); err != nil {
				return nil, err
			}
			ex, err := e.GetExecution(ctx, in.PipelineName, in.PipelineExecutionID)
			if err != nil {
				return nil, err
			}
			return map[string]any{"pipelineExecution": ex}, nil
		}),
		"ListPipelineExecutions": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			PipelineName string `json:"pipelineName"`
			MaxResults   int    `json:"maxResults"`
			NextToken    string `json:"nextToken"`
			Filter       *struct {
				SucceededInStage *struct {
					StageName string `json:"stageName"`
				} `json:"succeededInStage"`
			} `json:"filter"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName); err != nil {
				return nil, err
			}
			stage := ""
			if in.Filter != nil && in.Filter.SucceededInStage != nil {
				stage = in.Filter.SucceededInStage.StageName
			}
			list, next, err := e.ListExecutions(ctx, in.PipelineName, stage, in.NextToken, in.MaxResults)
			if err != nil {
				return nil, err
			}
			return map[string]any{"pipelineExecutionSummaries": list, "nextToken": omitEmpty(next)}, nil
		}),
		"ListActionExecutions": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in executionListInput) (any, error) {
			execID, err := in.check()
			if err != nil {
				return nil, err
			}
			list, next, err := e.ListActionExecutions(ctx, in.PipelineName, execID, in.NextToken, in.MaxResults)
			if err != nil {
				return nil, err
			}
			return map[string]any{"actionExecutionDetails": list, "nextToken": omitEmpty(next)}, nil
		}),
		"ListRuleExecutions": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in executionListInput) (any, error) {
			execID, err := in.check()
			if err != nil {
				return nil, err
			}
			list, next, err := e.ListRuleExecutions(ctx, in.PipelineName, execID, in.NextToken, in.MaxResults)
			if err != nil {
				return nil, err
			}
			return map[string]any{"ruleExecutionDetails": list, "nextToken": omitEmpty(next)}, nil
		}),
		"ListRuleTypes": Op(auth.RoleViewer, func(context.Context, auth.Identity, struct{}) (any, error) {
			return map[string]any{"ruleTypes": pipeline.RuleTypes()}, nil
		}),
		"OverrideStageCondition": Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
			PipelineName        string `json:"pipelineName"`
			StageName           string `json:"stageName"`
			PipelineExecutionID string `json:"pipelineExecutionId"`
			ConditionType       string `json:"conditionType"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName, "stageName", in.StageName,
				"pipelineExecutionId", in.PipelineExecutionID, "conditionType", in.ConditionType); err != nil {
				return nil, err
			}
			return struct{}{}, e.OverrideStageCondition(ctx, in.PipelineName, in.StageName, in.PipelineExecutionID, in.ConditionType, id.Name)
		}),
		"RetryStageExecution": Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
			PipelineName        string `json:"pipelineName"`
			StageName           string `json:"stageName"`
			PipelineExecutionID string `json:"pipelineExecutionId"`
			RetryMode           string `json:"retryMode"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName, "stageName", in.StageName,
				"pipelineExecutionId", in.PipelineExecutionID, "retryMode", in.RetryMode); err != nil {
				return nil, err
			}
			if err := e.RetryStage(ctx, in.PipelineName, in.StageName, in.PipelineExecutionID, in.RetryMode, id.Name); err != nil {
				return nil, err
			}
			return map[string]string{"pipelineExecutionId": in.PipelineExecutionID}, nil
		}),
		"RollbackStage": Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
			PipelineName              string `json:"pipelineName"`
			StageName                 string `json:"stageName"`
			TargetPipelineExecutionID string `json:"targetPipelineExecutionId"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName, "stageName", in.StageName,
				"targetPipelineExecutionId", in.TargetPipelineExecutionID); err != nil {
				return nil, err
			}
			execID, err := e.RollbackStage(ctx, in.PipelineName, in.StageName, in.TargetPipelineExecutionID, id.Name)
			if err != nil {
				return nil, err
			}
			return map[string]string{"pipelineExecutionId": execID}, nil
		}),
		"EnableStageTransition":  transitionOp(e, true),
		"DisableStageTransition": transitionOp(e, false),
		"PutApprovalResult": Op(auth.RoleApprover, func(ctx context.Context, id auth.Identity, in struct {
			PipelineName string `json:"pipelineName"`
			StageName    string `json:"stageName"`
			ActionName   string `json:"actionName"`
			Token        string `json:"token"`
			Result       *struct {
				Summary string `json:"summary"`
				Status  string `json:"status"`
			} `json:"result"`
		}) (any, error) {
			if err := Required("pipelineName", in.PipelineName, "stageName", in.StageName, "actionName", in.ActionName, "token", in.Token); err != nil {
				return nil, err
			}
			if in.Result == nil {
				return nil, Required("result", "")
			}
			at, err := e.PutApprovalResult(ctx, in.PipelineName, in.StageName, in.ActionName, in.Token,
				pipeline.ApprovalResult{Status: in.Result.Status, Summary: in.Result.Summary}, id.Name)
			if err != nil {
				return nil, err
			}
			return map[string]any{"approvedAt": pipeline.Timestamp(at)}, nil
		}),
		"TagResource": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in struct {
			ResourceArn string      `json:"resourceArn"`
			Tags        []store.Tag `json:"tags"`
		}) (any, error) {
			if err := Required("resourceArn", in.ResourceArn); err != nil {
				return nil, err
			}
			return nil, e.TagResource(ctx, in.ResourceArn, in.Tags)
		}),
		"UntagResource": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in struct {
			ResourceArn string   `json:"resourceArn"`
			TagKeys     []string `json:"tagKeys"`
		}) (any, error) {
			if err := Required("resourceArn", in.ResourceArn); err != nil {
				return nil, err
			}
			return nil, e.UntagResource(ctx, in.ResourceArn, in.TagKeys)
		}),
		"ListTagsForResource": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ResourceArn string `json:"resourceArn"`
		}) (any, error) {
			if err := Required("resourceArn", in.ResourceArn); err != nil {
				return nil, err
			}
			tags, err := e.ListTags(ctx, in.ResourceArn)
			if err != nil {
				return nil, err
			}
			return map[string]any{"tags": tags}, nil
		}),
	}
	for _, name := range CodePipelineUnsupported {
		ops[name] = Unsupported("CodePipeline", name)
	}
	return ops
}

// Unsupported answers an operation Conveyor does not implement with a clear error.
func Unsupported(service, name string) Operation {
	return Operation{Role: auth.RoleViewer, Handle: func(context.Context, auth.Identity, []byte) (any, error) {
		return nil, Errorf("UnsupportedOperationException", "Conveyor does not support %s.%s; docs/api.md lists what is supported", service, name)
	}}
}

func transitionOp(e *pipeline.Engine, enable bool) Operation {
	return Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
		PipelineName   string `json:"pipelineName"`
		StageName      string `json:"stageName"`
		TransitionType string `json:"transitionType"`
		Reason         string `json:"reason"`
	}) (any, error) {
		if err := Required("pipelineName", in.PipelineName, "stageName", in.StageName, "transitionType", in.TransitionType); err != nil {
			return nil, err
		}
		return nil, e.SetTransition(ctx, in.PipelineName, in.StageName, in.TransitionType, enable, in.Reason, id.Name)
	})
}

// omitEmpty returns nil for "" so an absent nextToken is omitted rather than empty.
func omitEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
