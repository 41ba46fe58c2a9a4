package awsapi

import (
	"context"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/server/auth"
)

// CodeBuildTarget is the X-Amz-Target prefix of the CodeBuild API.
const CodeBuildTarget = "CodeBuild_20161006"

// CodeBuildUnsupported lists the CodeBuild operations answered with UnsupportedOperationException.
var CodeBuildUnsupported = []string{
	"BatchDeleteBuilds", "BatchGetBuildBatches", "BatchGetFleets", "BatchGetReportGroups", "CreateFleet",
	"CreateReportGroup", "CreateWebhook", "DeleteBuildBatch", "DeleteFleet", "DeleteReport", "DeleteReportGroup",
	"DeleteResourcePolicy", "DeleteSourceCredentials", "DeleteWebhook", "DescribeCodeCoverages", "GetReportGroupTrend",
	"GetResourcePolicy", "ImportSourceCredentials", "InvalidateProjectCache", "ListBuildBatches",
	"ListBuildBatchesForProject", "ListCuratedEnvironmentImages", "ListFleets", "ListReportGroups", "ListReports",
	"ListReportsForReportGroup", "ListSharedProjects", "ListSharedReportGroups", "ListSourceCredentials",
	"PutResourcePolicy", "RetryBuildBatch", "StartBuildBatch", "StopBuildBatch", "UpdateFleet",
	"UpdateProjectVisibility", "UpdateReportGroup", "UpdateWebhook",
}

// CodeBuild returns the CodeBuild operations over the build service.
func CodeBuild(s *build.Service) map[string]Operation {
	ops := map[string]Operation{
		"CreateProject": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in build.Project) (any, error) {
			p, err := s.CreateProject(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"project": p}, nil
		}),
		"UpdateProject": {Role: auth.RoleAdmin, Handle: func(ctx context.Context, _ auth.Identity, body []byte) (any, error) {
			p, err := s.UpdateProject(ctx, body)
			if err != nil {
				return nil, err
			}
			return map[string]any{"project": p}, nil
		}},
		"DeleteProject": Op(auth.RoleAdmin, func(ctx context.Context, _ auth.Identity, in struct {
			Name string `json:"name"`
		}) (any, error) {
			if err := Required("name", in.Name); err != nil {
				return nil, err
			}
			return nil, s.DeleteProject(ctx, in.Name)
		}),
		"BatchGetProjects": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			Names []string `json:"names"`
		}) (any, error) {
			found, missing, err := s.BatchGetProjects(ctx, in.Names)
			if err != nil {
				return nil, err
			}
			return map[string]any{"projects": found, "projectsNotFound": nonNil(missing)}, nil
		}),
		"ListProjects": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			SortBy    string `json:"sortBy"`
			SortOrder string `json:"sortOrder"`
		}) (any, error) {
			names, err := s.ListProjects(ctx, in.SortBy, in.SortOrder)
			if err != nil {
				return nil, err
			}
			return map[string]any{"projects": names}, nil
		}),
		"StartBuild": {Role: auth.RoleOperator, Handle: func(ctx context.Context, id auth.Identity, body []byte) (any, error) {
			var in build.StartInput
			if err := Decode(body, &in); err != nil {
				return nil, err
			}
			if err := Required("projectName", in.ProjectName); err != nil {
				return nil, err
			}
			// Pipeline-only members cannot be set by API callers.
			in.Inputs, in.OutputNames, in.ActionExecutionID, in.Initiator = nil, nil, "", id.Name
			b, err := s.StartBuild(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"build": b}, nil
		}},
		"StopBuild": Op(auth.RoleOperator, func(ctx context.Context, _ auth.Identity, in struct {
			ID string `json:"id"`
		}) (any, error) {
			if err := Required("id", in.ID); err != nil {
				return nil, err
			}
			b, err := s.StopBuild(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return map[string]any{"build": b}, nil
		}),
		"RetryBuild": Op(auth.RoleOperator, func(ctx context.Context, _ auth.Identity, in struct {
			ID               string `json:"id"`
			IdempotencyToken string `json:"idempotencyToken"`
		}) (any, error) {
			if err := Required("id", in.ID); err != nil {
				return nil, err
			}
			b, err := s.RetryBuild(ctx, in.ID, in.IdempotencyToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"build": b}, nil
		}),
		"BatchGetBuilds": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			IDs []string `json:"ids"`
		}) (any, error) {
			found, missing, err := s.BatchGetBuilds(ctx, in.IDs)
			if err != nil {
				return nil, err
			}
			return map[string]any{"builds": found, "buildsNotFound": nonNil(missing)}, nil
		}),
		"ListBuilds": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			SortOrder string `json:"sortOrder"`
			NextToken string `json:"nextToken"`
		}) (any, error) {
			ids, next, err := s.ListBuilds(ctx, "", in.SortOrder, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"ids": nonNil(ids), "nextToken": omitEmpty(next)}, nil
		}),
		"ListBuildsForProject": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ProjectName string `json:"projectName"`
			SortOrder   string `json:"sortOrder"`
			NextToken   string `json:"nextToken"`
		}) (any, error) {
			if err := Required("projectName", in.ProjectName); err != nil {
				return nil, err
			}
			ids, next, err := s.ListBuilds(ctx, in.ProjectName, in.SortOrder, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"ids": nonNil(ids), "nextToken": omitEmpty(next)}, nil
		}),
		"BatchGetReports": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ReportArns []string `json:"reportArns"`
		}) (any, error) {
			found, missing, err := s.BatchGetReports(ctx, in.ReportArns)
			if err != nil {
				return nil, err
			}
			return map[string]any{"reports": found, "reportsNotFound": nonNil(missing)}, nil
		}),
		"DescribeTestCases": Op(auth.RoleViewer, func(ctx context.Context, _ auth.Identity, in struct {
			ReportArn  string `json:"reportArn"`
			NextToken  string `json:"nextToken"`
			MaxResults int    `json:"maxResults"`
			Filter     *struct {
				Status string `json:"status"`
			} `json:"filter"`
		}) (any, error) {
			if err := Required("reportArn", in.ReportArn); err != nil {
				return nil, err
			}
			status := ""
			if in.Filter != nil {
				status = in.Filter.Status
			}
			cases, next, err := s.DescribeTestCases(ctx, in.ReportArn, status, in.NextToken, in.MaxResults)
			if err != nil {
				return nil, err
			}
			return map[string]any{"testCases": cases, "nextToken": omitEmpty(next)}, nil
		}),
	}
	for _, name := range CodeBuildUnsupported {
		ops[name] = Unsupported("CodeBuild", name)
	}
	return ops
}

// nonNil turns a nil slice into an empty one, so the JSON says [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
