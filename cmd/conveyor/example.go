package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/conveyorci/conveyor/agent"
	"github.com/conveyorci/conveyor/examples"
	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/pipeline"
)

// loadExample creates the quickstart pipeline, with its build project and its source bundle
// uploaded first, unless a pipeline of that name already exists. Creating it starts its first execution, as CodePipeline does.
func loadExample(ctx context.Context, a *app) error {
	raw, err := examples.QuickstartPipeline()
	if err != nil {
		return err
	}
	d, err := a.engine.ParseAndValidate("examples/quickstart/pipeline.json", raw)
	if err != nil {
		return err
	}
	if _, err := a.engine.GetPipeline(ctx, d.Name, 0); err == nil {
		return nil
	} else if code, ok := pipeline.CodeOf(err); !ok || code != pipeline.CodePipelineNotFound {
		return err
	}
	projectJSON, err := examples.QuickstartProject()
	if err != nil {
		return err
	}
	var project build.Project
	if err := json.Unmarshal(projectJSON, &project); err != nil {
		return fmt.Errorf("example project: %w", err)
	}
	if _, err := a.builds.CreateProject(ctx, project); err != nil {
		var be *build.Error
		if !errors.As(err, &be) || be.Code != build.CodeAlreadyExists {
			return fmt.Errorf("create the example build project: %w", err)
		}
	}
	if err := loadExampleDeployment(ctx, a); err != nil {
		return err
	}
	bundle, err := examples.QuickstartBundle()
	if err != nil {
		return err
	}
	if _, err := a.uploads.Put(ctx, examples.QuickstartBucket, examples.QuickstartKey, bytes.NewReader(bundle), "example"); err != nil {
		return fmt.Errorf("upload example bundle: %w", err)
	}
	_, err = a.engine.CreatePipeline(ctx, raw, nil, "example")
	var pe *pipeline.Error
	if errors.As(err, &pe) && pe.Code == pipeline.CodePipelineNameInUse {
		return nil
	}
	if err == nil {
		a.log.Info("loaded the example pipeline", "pipeline", d.Name)
	}
	return err
}

// loadExampleDeployment creates the example's CodeDeploy application and deployment group (hosts
// tagged role=quickstart), unless they exist.
func loadExampleDeployment(ctx context.Context, a *app) error {
	raw, err := examples.QuickstartDeployment()
	if err != nil {
		return err
	}
	var spec struct {
		Application struct {
			Name     string `json:"applicationName"`
			Platform string `json:"computePlatform"`
		} `json:"application"`
		DeploymentGroup deploy.CreateDeploymentGroupInput `json:"deploymentGroup"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("example deployment: %w", err)
	}
	exists := func(err error, code string) bool {
		var de *deploy.Error
		return errors.As(err, &de) && de.Code == code
	}
	if _, err := a.deploy.svc.CreateApplication(ctx, spec.Application.Name, spec.Application.Platform, nil); err != nil && !exists(err, deploy.CodeApplicationAlreadyExists) {
		return fmt.Errorf("create the example application: %w", err)
	}
	if _, err := a.deploy.svc.CreateDeploymentGroup(ctx, spec.DeploymentGroup); err != nil && !exists(err, deploy.CodeGroupAlreadyExists) {
		return fmt.Errorf("create the example deployment group: %w", err)
	}
	return nil
}

// runExampleAgent runs a deploy agent inside the server process for the example (`make run`), so a
// newcomer sees the whole pipeline deploy without setting up a host: it registers itself with a
// token the server issues (only the first time) and deploys to this machine as this user.
func runExampleAgent(ctx context.Context, a *app, serverURL string) error {
	root := filepath.Join(a.cfg.Data, "example-agent")
	cfg := agent.Config{Server: serverURL, Name: "local", Tags: examples.QuickstartAgentTags, Root: root, Version: version,
		Logger: a.log.With("component", "example-agent")}
	if !agent.Registered(root) {
		token, _, err := a.deploy.svc.CreateToken(ctx, 10*time.Minute, examples.QuickstartAgentTags, "example")
		if err != nil {
			return fmt.Errorf("registration token for the example agent: %w", err)
		}
		cfg.Token = token
	}
	ag, err := agent.New(cfg)
	if err != nil {
		return err
	}
	go func() {
		if err := ag.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("the example agent stopped", "err", err)
		}
	}()
	a.log.Info("running the example deploy agent in the server process", "name", cfg.Name, "root", root)
	return nil
}
