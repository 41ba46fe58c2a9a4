package awsapi

import (
	"context"
	"encoding/json"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/server/auth"
)

// CodeDeployTarget is the X-Amz-Target prefix of the CodeDeploy API.
const CodeDeployTarget = "CodeDeploy_20141006"

// CodeDeployUnsupported lists the CodeDeploy operations answered with UnsupportedOperationException.
var CodeDeployUnsupported = []string{
	"BatchGetApplicationRevisions", "BatchGetDeploymentInstances", "ContinueDeployment", "DeleteDeploymentConfig",
	"DeleteGitHubAccountToken", "DeleteResourcesByExternalId", "GetApplicationRevision", "GetDeploymentInstance",
	"ListApplicationRevisions", "ListDeploymentInstances", "ListGitHubAccountTokenNames", "ListTagsForResource",
	"PutLifecycleEventHookExecutionStatus", "RegisterApplicationRevision", "SkipWaitTimeForInstanceTermination",
	"TagResource", "UntagResource", "UpdateApplication",
}

type appName struct {
	ApplicationName string `json:"applicationName"`
}

type groupName struct {
	ApplicationName     string `json:"applicationName"`
	DeploymentGroupName string `json:"deploymentGroupName"`
}

type deploymentID struct {
	DeploymentID string `json:"deploymentId"`
}

type instanceName struct {
	InstanceName string `json:"instanceName"`
}

type instanceTags struct {
	Tags          []deploy.Tag `json:"tags"`
	InstanceNames []string     `json:"instanceNames"`
}

// CodeDeploy returns the CodeDeploy operations over the deploy service.
func CodeDeploy(s *deploy.Service) map[string]Operation {
	ops := map[string]Operation{
		// --- applications ---
		"CreateApplication": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in struct {
			ApplicationName string       `json:"applicationName"`
			ComputePlatform string       `json:"computePlatform"`
			Tags            []deploy.Tag `json:"tags"`
		}) (any, error) {
			id, err := s.CreateApplication(ctx, in.ApplicationName, in.ComputePlatform, in.Tags)
			if err != nil {
				return nil, err
			}
			return map[string]any{"applicationId": id}, nil
		}),
		"GetApplication": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in appName) (any, error) {
			a, err := s.GetApplication(ctx, in.ApplicationName)
			if err != nil {
				return nil, err
			}
			return map[string]any{"application": a}, nil
		}),
		"BatchGetApplications": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ApplicationNames []string `json:"applicationNames"`
		}) (any, error) {
			apps, err := s.BatchGetApplications(ctx, in.ApplicationNames)
			if err != nil {
				return nil, err
			}
			return map[string]any{"applicationsInfo": apps}, nil
		}),
		"ListApplications": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			NextToken string `json:"nextToken"`
		}) (any, error) {
			names, next, err := s.ListApplications(ctx, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"applications": nonNil(names), "nextToken": omitEmpty(next)}, nil
		}),
		"DeleteApplication": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in appName) (any, error) {
			return nil, s.DeleteApplication(ctx, in.ApplicationName)
		}),

		// --- deployment groups ---
		"CreateDeploymentGroup": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in deploy.CreateDeploymentGroupInput) (any, error) {
			id, err := s.CreateDeploymentGroup(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentGroupId": id}, nil
		}),
		"UpdateDeploymentGroup": {Role: auth.RoleAdmin, Handle: func(ctx context.Context, _ auth.Identity, body []byte) (any, error) {
			var in struct {
				ApplicationName            string `json:"applicationName"`
				CurrentDeploymentGroupName string `json:"currentDeploymentGroupName"`
			}
			if err := Decode(body, &in); err != nil {
				return nil, err
			}
			if err := Required("applicationName", in.ApplicationName, "currentDeploymentGroupName", in.CurrentDeploymentGroupName); err != nil {
				return nil, err
			}
			if err := s.UpdateDeploymentGroup(ctx, body); err != nil {
				return nil, err
			}
			return map[string]any{"hooksNotCleanedUp": []any{}}, nil
		}},
		"GetDeploymentGroup": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in groupName) (any, error) {
			g, err := s.GetDeploymentGroup(ctx, in.ApplicationName, in.DeploymentGroupName)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentGroupInfo": g}, nil
		}),
		"BatchGetDeploymentGroups": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ApplicationName      string   `json:"applicationName"`
			DeploymentGroupNames []string `json:"deploymentGroupNames"`
		}) (any, error) {
			groups, err := s.BatchGetDeploymentGroups(ctx, in.ApplicationName, in.DeploymentGroupNames)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentGroupsInfo": groups}, nil
		}),
		"ListDeploymentGroups": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ApplicationName string `json:"applicationName"`
			NextToken       string `json:"nextToken"`
		}) (any, error) {
			names, next, err := s.ListDeploymentGroups(ctx, in.ApplicationName, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"applicationName": in.ApplicationName, "deploymentGroups": nonNil(names), "nextToken": omitEmpty(next)}, nil
		}),
		"DeleteDeploymentGroup": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in groupName) (any, error) {
			if err := s.DeleteDeploymentGroup(ctx, in.ApplicationName, in.DeploymentGroupName); err != nil {
				return nil, err
			}
			return map[string]any{"hooksNotCleanedUp": []any{}}, nil
		}),

		// --- deployment configurations ---
		"CreateDeploymentConfig": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in struct {
			DeploymentConfigName string                      `json:"deploymentConfigName"`
			MinimumHealthyHosts  *deploy.MinimumHealthyHosts `json:"minimumHealthyHosts"`
			ComputePlatform      string                      `json:"computePlatform"`
			TrafficRoutingConfig json.RawMessage             `json:"trafficRoutingConfig"`
			ZonalConfig          json.RawMessage             `json:"zonalConfig"`
		}) (any, error) {
			if len(in.ZonalConfig) > 0 && string(in.ZonalConfig) != "null" {
				return nil, Errorf("InvalidZonalDeploymentConfigurationException", "zonal configurations are not supported: Conveyor has no availability zones")
			}
			id, err := s.CreateDeploymentConfig(ctx, in.DeploymentConfigName, in.MinimumHealthyHosts, in.ComputePlatform)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentConfigId": id}, nil
		}),
		"GetDeploymentConfig": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			DeploymentConfigName string `json:"deploymentConfigName"`
		}) (any, error) {
			c, err := s.GetDeploymentConfig(ctx, in.DeploymentConfigName)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentConfigInfo": c}, nil
		}),
		"ListDeploymentConfigs": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			NextToken string `json:"nextToken"`
		}) (any, error) {
			names, next, err := s.ListDeploymentConfigs(ctx, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentConfigsList": nonNil(names), "nextToken": omitEmpty(next)}, nil
		}),

		// --- deployments ---
		"CreateDeployment": Op(auth.RoleOperator, func(ctx context.Context, _ auth.Identity, in deploy.CreateDeploymentInput) (any, error) {
			if err := Required("applicationName", in.ApplicationName); err != nil {
				return nil, err
			}
			in.Creator, in.ExternalID = deploy.CreatorUser, ""
			id, err := s.CreateDeployment(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentId": id}, nil
		}),
		"GetDeployment": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in deploymentID) (any, error) {
			d, err := s.GetDeployment(ctx, in.DeploymentID)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentInfo": d}, nil
		}),
		"BatchGetDeployments": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			DeploymentIDs []string `json:"deploymentIds"`
		}) (any, error) {
			ds, err := s.BatchGetDeployments(ctx, in.DeploymentIDs)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentsInfo": ds}, nil
		}),
		"ListDeployments": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in deploy.ListDeploymentsInput) (any, error) {
			ids, next, err := s.ListDeployments(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deployments": nonNil(ids), "nextToken": omitEmpty(next)}, nil
		}),
		"StopDeployment": Op(auth.RoleOperator, func(ctx context.Context, id auth.Identity, in struct {
			DeploymentID        string `json:"deploymentId"`
			AutoRollbackEnabled *bool  `json:"autoRollbackEnabled"`
		}) (any, error) {
			status, msg, err := s.StopDeployment(ctx, in.DeploymentID, in.AutoRollbackEnabled, id.Name)
			if err != nil {
				return nil, err
			}
			return map[string]any{"status": status, "statusMessage": msg}, nil
		}),
		"ListDeploymentTargets": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			DeploymentID  string              `json:"deploymentId"`
			TargetFilters map[string][]string `json:"targetFilters"`
			NextToken     string              `json:"nextToken"`
		}) (any, error) {
			ids, next, err := s.ListDeploymentTargets(ctx, in.DeploymentID, in.TargetFilters, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"targetIds": nonNil(ids), "nextToken": omitEmpty(next)}, nil
		}),
		"BatchGetDeploymentTargets": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			DeploymentID string   `json:"deploymentId"`
			TargetIDs    []string `json:"targetIds"`
		}) (any, error) {
			ts, err := s.BatchGetDeploymentTargets(ctx, in.DeploymentID, in.TargetIDs)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentTargets": ts}, nil
		}),
		"GetDeploymentTarget": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			DeploymentID string `json:"deploymentId"`
			TargetID     string `json:"targetId"`
		}) (any, error) {
			if err := Required("deploymentId", in.DeploymentID, "targetId", in.TargetID); err != nil {
				return nil, err
			}
			ts, err := s.BatchGetDeploymentTargets(ctx, in.DeploymentID, []string{in.TargetID})
			if err != nil {
				return nil, err
			}
			return map[string]any{"deploymentTarget": ts[0]}, nil
		}),

		// --- on-premises instances ---
		"RegisterOnPremisesInstance": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in struct {
			InstanceName  string `json:"instanceName"`
			IAMUserArn    string `json:"iamUserArn"`
			IAMSessionArn string `json:"iamSessionArn"`
		}) (any, error) {
			return nil, s.RegisterOnPremisesInstance(ctx, in.InstanceName, in.IAMUserArn, in.IAMSessionArn)
		}),
		"GetOnPremisesInstance": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in instanceName) (any, error) {
			i, err := s.GetOnPremisesInstance(ctx, in.InstanceName)
			if err != nil {
				return nil, err
			}
			return map[string]any{"instanceInfo": i}, nil
		}),
		"BatchGetOnPremisesInstances": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			InstanceNames []string `json:"instanceNames"`
		}) (any, error) {
			is, err := s.BatchGetOnPremisesInstances(ctx, in.InstanceNames)
			if err != nil {
				return nil, err
			}
			return map[string]any{"instanceInfos": is}, nil
		}),
		"ListOnPremisesInstances": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			RegistrationStatus string             `json:"registrationStatus"`
			TagFilters         []deploy.TagFilter `json:"tagFilters"`
			NextToken          string             `json:"nextToken"`
		}) (any, error) {
			names, next, err := s.ListOnPremisesInstances(ctx, in.RegistrationStatus, in.TagFilters, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"instanceNames": nonNil(names), "nextToken": omitEmpty(next)}, nil
		}),
		"AddTagsToOnPremisesInstances": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in instanceTags) (any, error) {
			return nil, s.TagInstances(ctx, in.InstanceNames, in.Tags, false)
		}),
		"RemoveTagsFromOnPremisesInstances": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in instanceTags) (any, error) {
			return nil, s.TagInstances(ctx, in.InstanceNames, in.Tags, true)
		}),
		"DeregisterOnPremisesInstance": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in instanceName) (any, error) {
			return nil, s.RevokeAgent(ctx, in.InstanceName, true)
		}),
	}
	for _, name := range CodeDeployUnsupported {
		ops[name] = Unsupported("CodeDeploy", name)
	}
	return ops
}
