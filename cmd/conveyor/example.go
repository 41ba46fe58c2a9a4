package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/conveyorci/conveyor/examples"
	"github.com/conveyorci/conveyor/executor/build"
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
