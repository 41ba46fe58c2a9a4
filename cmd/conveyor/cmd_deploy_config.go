package main

// The `deploymentConfigs:` and `applications:` sections of a conveyor.yaml (apply and validate).
//
//	deploymentConfigs:
//	  - deploymentConfigName: two-at-a-time
//	    minimumHealthyHosts: {type: HOST_COUNT, value: 2}
//	applications:
//	  - applicationName: shop
//	    deploymentGroups:
//	      - deploymentGroupName: web
//	        deploymentConfigName: CodeDeployDefault.OneAtATime
//	        onPremisesInstanceTagFilters: [{Key: role, Value: web, Type: KEY_AND_VALUE}]
//	        autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}
//
// Entries mirror CreateDeploymentConfig, CreateApplication and CreateDeploymentGroup (members
// exactly as the CodeDeploy model spells them, Key/Value/Type included). They are read with the
// projects' reader, so unknown keys and wrong kinds are reported at their line and column.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/smithy-go/middleware"
	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/pipeline"
)

// configDecl is a deploymentConfigs: entry.
type configDecl struct {
	DeploymentConfigName string                      `json:"deploymentConfigName"`
	MinimumHealthyHosts  *deploy.MinimumHealthyHosts `json:"minimumHealthyHosts"`
	ComputePlatform      string                      `json:"computePlatform,omitempty"`
}

// applicationDecl is an applications: entry.
type applicationDecl struct {
	ApplicationName  string      `json:"applicationName"`
	ComputePlatform  string      `json:"computePlatform,omitempty"`
	DeploymentGroups []groupDecl `json:"deploymentGroups,omitempty"`
}

// groupDecl is a deployment group: deploy.GroupSettings with its name (flat, for the reader).
type groupDecl struct {
	DeploymentGroupName          string                            `json:"deploymentGroupName"`
	DeploymentConfigName         string                            `json:"deploymentConfigName,omitempty"`
	ServiceRoleArn               string                            `json:"serviceRoleArn,omitempty"`
	OnPremisesInstanceTagFilters []deploy.TagFilter                `json:"onPremisesInstanceTagFilters,omitempty"`
	OnPremisesTagSet             *deploy.OnPremisesTagSet          `json:"onPremisesTagSet,omitempty"`
	AutoRollbackConfiguration    *deploy.AutoRollbackConfiguration `json:"autoRollbackConfiguration,omitempty"`
	DeploymentStyle              *deploy.DeploymentStyle           `json:"deploymentStyle,omitempty"`
	AlarmConfiguration           *deploy.AlarmConfiguration        `json:"alarmConfiguration,omitempty"`
	OutdatedInstancesStrategy    string                            `json:"outdatedInstancesStrategy,omitempty"`
}

func (g *groupDecl) settings() deploy.GroupSettings {
	return deploy.GroupSettings{DeploymentConfigName: g.DeploymentConfigName, ServiceRoleArn: g.ServiceRoleArn,
		OnPremisesInstanceTagFilters: g.OnPremisesInstanceTagFilters, OnPremisesTagSet: g.OnPremisesTagSet,
		AutoRollbackConfiguration: g.AutoRollbackConfiguration, DeploymentStyle: g.DeploymentStyle,
		AlarmConfiguration: g.AlarmConfiguration, OutdatedInstancesStrategy: g.OutdatedInstancesStrategy}
}

// readDecl converts a YAML node into v (a pointer to one of the decl types), locating problems.
func (pr *projectReader) readDecl(n *yaml.Node, v any, what string) bool {
	before := len(pr.problems)
	t := reflect.TypeOf(v).Elem()
	conv, ok := pr.convert(n, t, "")
	if !ok && len(pr.problems) == before {
		pr.at(n, "", "must be %s", what)
	}
	if len(pr.problems) > before {
		return false
	}
	raw, _ := json.Marshal(conv)
	if err := json.Unmarshal(raw, v); err != nil {
		pr.at(n, "", "%v", err)
		return false
	}
	return true
}

// deployProblem locates a deploy.Error ("field.path: message" or a plain message) in the item.
func (pr *projectReader) deployProblem(item *yaml.Node, prefix string, err error) {
	var de *deploy.Error
	if !errors.As(err, &de) {
		pr.at(item, prefix, "%v", err)
		return
	}
	field, msg, ok := strings.Cut(de.Msg, ": ")
	if !ok || strings.ContainsAny(field, " \"") {
		pr.at(item, prefix, "%s", de.Msg)
		return
	}
	pr.at(locateField(item, strings.TrimPrefix(joinKey(prefix, field), ".")), joinKey(prefix, field), "%s", msg)
}

// --- deploymentConfigs: ---

func loadDeploymentConfigs(cf *configFile, _, value *yaml.Node, _ pipeline.Providers) []*configResource {
	items, bad := sectionList(cf, "deploymentConfigs", value, "deployment config", "deployment configs (- deploymentConfigName: …, minimumHealthyHosts: …)")
	if bad != nil {
		return []*configResource{bad}
	}
	names := declaredNames{}
	var out []*configResource
	for i, item := range items {
		label := fmt.Sprintf("deploymentConfigs[%d]", i)
		r := &configResource{kind: "deployment config", name: label}
		out = append(out, r)
		pr := &projectReader{file: cf.name, prefix: label}
		var d configDecl
		if !pr.readDecl(item, &d, "a deployment config (deploymentConfigName:, minimumHealthyHosts: {type:, value:})") {
			r.problems = pr.problems
			continue
		}
		if d.DeploymentConfigName != "" {
			r.name = d.DeploymentConfigName
		}
		where := locateField(item, "deploymentConfigName")
		if err := deploy.CheckDeploymentConfig(d.DeploymentConfigName, d.MinimumHealthyHosts); err != nil {
			pr.deployProblem(item, "", err)
		} else if d.ComputePlatform != "" && d.ComputePlatform != deploy.ComputePlatformServer {
			pr.at(locateField(item, "computePlatform"), "computePlatform", "only Server is supported (hosts running conveyor agent)")
		} else if msg, dup := names.again("deployment config", d.DeploymentConfigName, where.Line); dup {
			pr.at(where, "deploymentConfigName", "%s", msg)
		}
		if len(pr.problems) > 0 {
			r.problems = pr.problems
			continue
		}
		r.apply = func(ctx context.Context, env *applyEnv) (applyResult, error) {
			return applyDeploymentConfig(ctx, env, d)
		}
	}
	return out
}

// applyDeploymentConfig creates a configuration, or checks that the server's is the same:
// CodeDeploy configurations cannot be changed.
func applyDeploymentConfig(ctx context.Context, env *applyEnv, d configDecl) (applyResult, error) {
	cd, err := env.cfg.codeDeploy()
	if err != nil {
		return applyResult{}, err
	}
	cur, err := cd.GetDeploymentConfig(ctx, &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: aws.String(d.DeploymentConfigName)})
	if isAPIError(err, deploy.CodeConfigDoesNotExist) {
		if env.dryRun {
			return applyResult{Status: "would create"}, nil
		}
		_, err := cd.CreateDeploymentConfig(ctx, &codedeploy.CreateDeploymentConfigInput{DeploymentConfigName: aws.String(d.DeploymentConfigName),
			MinimumHealthyHosts: sdkMinHealthy(d.MinimumHealthyHosts)})
		if err != nil {
			return applyResult{}, apiError(err)
		}
		return applyResult{Status: "created"}, nil
	}
	if err != nil {
		return applyResult{}, apiError(err)
	}
	m := cur.DeploymentConfigInfo.MinimumHealthyHosts
	if m == nil || string(m.Type) != d.MinimumHealthyHosts.Type || int(m.Value) != d.MinimumHealthyHosts.Value {
		return applyResult{}, fmt.Errorf("the server's %s keeps %v healthy hosts, the file says %s %d: deployment configs cannot be changed, declare one under a new name",
			d.DeploymentConfigName, m, d.MinimumHealthyHosts.Type, d.MinimumHealthyHosts.Value)
	}
	return applyResult{Status: "unchanged"}, nil
}

// --- applications: ---

func loadApplications(cf *configFile, _, value *yaml.Node, _ pipeline.Providers) []*configResource {
	items, bad := sectionList(cf, "applications", value, "application", "applications (- applicationName: …, deploymentGroups: […])")
	if bad != nil {
		return []*configResource{bad}
	}
	names := declaredNames{}
	var out []*configResource
	for i, item := range items {
		label := fmt.Sprintf("applications[%d]", i)
		r := &configResource{kind: "application", name: label}
		out = append(out, r)
		pr := &projectReader{file: cf.name, prefix: label}
		var a applicationDecl
		if !pr.readDecl(item, &a, "an application (applicationName:, deploymentGroups: […])") {
			r.problems = pr.problems
			continue
		}
		if a.ApplicationName != "" {
			r.name = a.ApplicationName
		}
		switch err := deploy.CheckApplicationName(a.ApplicationName); {
		case err != nil:
			pr.deployProblem(item, "", err)
		case a.ComputePlatform != "" && a.ComputePlatform != deploy.ComputePlatformServer:
			pr.at(locateField(item, "computePlatform"), "computePlatform", "only Server is supported (hosts running conveyor agent)")
		default:
			where := locateField(item, "applicationName")
			if msg, dup := names.again("application", a.ApplicationName, where.Line); dup {
				pr.at(where, "applicationName", "%s", msg)
			}
		}
		groupNames := declaredNames{}
		for j := range a.DeploymentGroups {
			g := &a.DeploymentGroups[j]
			path := fmt.Sprintf("deploymentGroups[%d]", j)
			where, set := locateField(item, path+".deploymentGroupName"), g.settings()
			if err := deploy.CheckGroupName(g.DeploymentGroupName); err != nil {
				pr.at(where, path+".deploymentGroupName", "%s", err.(*deploy.Error).Msg)
			} else if err := set.Validate(); err != nil {
				pr.deployProblem(item, path, err)
			} else if msg, dup := groupNames.again("deployment group", g.DeploymentGroupName, where.Line); dup {
				pr.at(where, path+".deploymentGroupName", "%s", msg)
			}
		}
		if len(pr.problems) > 0 {
			r.problems = pr.problems
			continue
		}
		r.apply = func(ctx context.Context, env *applyEnv) (applyResult, error) { return applyApplication(ctx, env, a) }
	}
	return out
}

// applyApplication creates the application if it does not exist, then creates or updates each of
// its groups (groups on the server but not in the file are left alone).
func applyApplication(ctx context.Context, env *applyEnv, a applicationDecl) (applyResult, error) {
	cd, err := env.cfg.codeDeploy()
	if err != nil {
		return applyResult{}, err
	}
	res := applyResult{Status: "unchanged"}
	_, err = cd.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String(a.ApplicationName)})
	exists := err == nil
	switch {
	case isAPIError(err, deploy.CodeApplicationDoesNotExist) && env.dryRun:
		res.Status = "would create"
	case isAPIError(err, deploy.CodeApplicationDoesNotExist):
		if _, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(a.ApplicationName)}); err != nil {
			return applyResult{}, apiError(err)
		}
		res.Status, exists = "created", true
	case err != nil:
		return applyResult{}, apiError(err)
	}
	for _, g := range a.DeploymentGroups {
		what, changed, err := applyGroup(ctx, env, cd, a.ApplicationName, g, exists)
		if err != nil {
			return applyResult{}, fmt.Errorf("deployment group %s: %w", g.DeploymentGroupName, err)
		}
		if what == "unchanged" {
			continue
		}
		if res.Status == "unchanged" {
			res.Status = "updated"
			if env.dryRun {
				res.Status = "would update"
			}
		}
		entry := "group " + g.DeploymentGroupName + " " + what
		if len(changed) > 0 {
			entry += " (" + strings.Join(changed, ", ") + ")"
		}
		res.Changed = append(res.Changed, entry)
	}
	return res, nil
}

// applyGroup creates or updates one group; what is created, updated, unchanged or would ….
func applyGroup(ctx context.Context, env *applyEnv, cd *codedeploy.Client, app string, g groupDecl, appExists bool) (what string, changed []string, err error) {
	var cur *groupDecl
	if appExists {
		var cap responseCapture
		_, err := cd.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String(app),
			DeploymentGroupName: aws.String(g.DeploymentGroupName)}, captureCD(&cap))
		switch {
		case isAPIError(err, deploy.CodeGroupDoesNotExist):
		case err != nil:
			return "", nil, apiError(err)
		default:
			var got struct {
				Info groupDecl `json:"deploymentGroupInfo"`
			}
			if err := json.Unmarshal(cap.response, &got); err != nil {
				return "", nil, fmt.Errorf("read deployment group: %w", err)
			}
			cur = &got.Info
		}
	}
	m := declMap(g)
	if cur == nil {
		if env.dryRun {
			return "would create", nil, nil
		}
		var in codedeploy.CreateDeploymentGroupInput
		m["applicationName"] = app
		if err := sdkInput(m, &in); err != nil {
			return "", nil, err
		}
		if _, err := cd.CreateDeploymentGroup(ctx, &in, cdNoInputValidation); err != nil {
			return "", nil, apiError(err)
		}
		return "created", nil, nil
	}
	var paths []string
	na, _ := dropEmpty(normalizedGroup(g))
	nb, _ := dropEmpty(normalizedGroup(*cur))
	diffPaths(na, nb, "", &paths)
	if len(paths) == 0 {
		return "unchanged", nil, nil
	}
	if env.dryRun {
		return "would update", paths, nil
	}
	// UpdateDeploymentGroup keeps members a request leaves out: send every member, empty ones to
	// clear what the file no longer says.
	for k, empty := range map[string]any{
		"onPremisesInstanceTagFilters": []any{}, "onPremisesTagSet": map[string]any{"onPremisesTagSetList": []any{}},
		"autoRollbackConfiguration": map[string]any{"enabled": false}, "alarmConfiguration": map[string]any{"enabled": false},
		"deploymentConfigName": deploy.DefaultConfig,
	} {
		if _, ok := m[k]; !ok {
			m[k] = empty
		}
	}
	delete(m, "deploymentGroupName")
	m["applicationName"], m["currentDeploymentGroupName"] = app, g.DeploymentGroupName
	var in codedeploy.UpdateDeploymentGroupInput
	if err := sdkInput(m, &in); err != nil {
		return "", nil, err
	}
	if _, err := cd.UpdateDeploymentGroup(ctx, &in); err != nil {
		return "", nil, apiError(err)
	}
	return "updated", paths, nil
}

func declMap(g groupDecl) map[string]any {
	raw, _ := json.Marshal(g)
	m := map[string]any{}
	_ = json.Unmarshal(raw, &m)
	return m
}

// normalizedGroup is a group for comparison: the server spells the default configuration out.
func normalizedGroup(g groupDecl) any {
	if g.DeploymentConfigName == "" {
		g.DeploymentConfigName = deploy.DefaultConfig
	}
	return declMap(g)
}

// cdNoInputValidation drops the SDK's client-side checks of required members
// (CreateDeploymentGroup wants a serviceRoleArn, which Conveyor does not need).
func cdNoInputValidation(o *codedeploy.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, err := s.Initialize.Remove("OperationInputValidation")
		return err
	})
}

func sdkMinHealthy(m *deploy.MinimumHealthyHosts) *cdtypes.MinimumHealthyHosts {
	return &cdtypes.MinimumHealthyHosts{Type: cdtypes.MinimumHealthyHostsType(m.Type), Value: int32(m.Value)}
}
