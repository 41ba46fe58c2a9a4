package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/conveyorci/conveyor/store"
)

// Stage rollback, as CodePipeline does it: a new execution of type ROLLBACK runs just the one stage
// again, with the artifacts and variables of an earlier execution that succeeded in it (the
// target). The target must be a STANDARD execution of the pipeline's current version; a source
// stage cannot be rolled back. onFailure ROLLBACK starts one automatically, towards the newest such
// execution; RollbackStage starts one towards the execution the caller names.

// RollbackStage starts a rollback of a stage to a target execution and returns the new execution.
func (e *Engine) RollbackStage(ctx context.Context, pipeline, stage, targetID, identity string) (string, error) {
	var id string
	err := e.mutate(ctx, pipeline, func(tx *store.Tx, fx *effects) error {
		rec, d, err := e.current(ctx, tx, pipeline)
		if err != nil {
			return err
		}
		idx := d.StageIndex(stage)
		switch {
		case idx < 0:
			return errorf(CodeStageNotFound, "Pipeline %s has no stage %s", pipeline, stage)
		case idx == 0:
			return errorf(CodeUnableToRollbackStage, "Stage %s is the source stage; a source stage cannot be rolled back", stage)
		case d.EffectiveExecutionMode() == ModeParallel:
			return errorf(CodeUnableToRollbackStage, "Pipeline %s runs in PARALLEL mode, where stages cannot be rolled back", pipeline)
		}
		target, err := e.execution(ctx, tx, pipeline, targetID)
		if err != nil {
			return err
		}
		if target.Type == ExecutionTypeRollback {
			return errorf(CodeUnableToRollbackStage, "Execution %s is itself a rollback; roll back to the execution it rolled back to (%s)",
				targetID, target.RollbackTarget)
		}
		if target.PipelineVersion != rec.Version {
			return errorf(CodeExecutionOutdated, "Execution %s ran version %d of pipeline %s, which is now at version %d; "+
				"only an execution of the current version can be a rollback target", targetID, target.PipelineVersion, pipeline, rec.Version)
		}
		stages, err := tx.StageExecutions(ctx, targetID)
		if err != nil {
			return err
		}
		succeeded := false
		for _, se := range stages {
			succeeded = succeeded || (se.StageName == stage && se.Status == StatusSucceeded)
		}
		if !succeeded {
			return errorf(CodeUnableToRollbackStage, "Stage %s did not succeed in execution %s; roll back to an execution that succeeded in it",
				stage, targetID)
		}
		active, err := tx.ActiveExecutions(ctx, pipeline)
		if err != nil {
			return err
		}
		for _, a := range active {
			if a.StageIndex == idx && (!a.Waiting || a.Type == ExecutionTypeRollback) {
				return errorf(CodeUnableToRollbackStage, "Stage %s is running execution %s; stop it or wait for it to finish first",
					stage, a.ID)
			}
		}
		id, err = e.startRollback(ctx, tx, idx, target, TriggerManualRollback, identity, fx)
		if err != nil {
			return err
		}
		e.log.Info("stage rollback started", "pipeline", pipeline, "stage", stage, "execution_id", id,
			"target_execution_id", targetID, "by", identity)
		return nil
	})
	return id, err
}

// autoRollback starts the rollback onFailure ROLLBACK asks for when stage st of s failed, and
// returns what to add to the failed execution's summary: where the stage went, or why it stayed.
func (e *Engine) autoRollback(ctx context.Context, tx *store.Tx, s *execState, st Stage, fx *effects) (string, error) {
	if s.ex.StageIndex == 0 {
		return fmt.Sprintf("; stage %s was not rolled back: a source stage cannot be rolled back", st.Name), nil
	}
	rec, err := tx.GetPipeline(ctx, s.ex.Pipeline)
	if err != nil {
		return "", err
	}
	if s.ex.PipelineVersion != rec.Version {
		return fmt.Sprintf("; stage %s was not rolled back: the pipeline was updated to version %d since this execution started",
			st.Name, rec.Version), nil
	}
	target, err := tx.LastSucceededInStage(ctx, s.ex.Pipeline, rec.Version, st.Name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("; stage %s was not rolled back: no earlier execution of this pipeline version succeeded in it",
			st.Name), nil
	}
	if err != nil {
		return "", err
	}
	id, err := e.startRollback(ctx, tx, s.ex.StageIndex, target, TriggerAutomatedRollback, s.ex.ID, fx)
	if err != nil {
		return "", err
	}
	e.log.Info("stage rolling back automatically", "pipeline", s.ex.Pipeline, "stage", st.Name,
		"failed_execution_id", s.ex.ID, "execution_id", id, "target_execution_id", target.ID)
	return fmt.Sprintf("; rolling stage %s back to execution %s in execution %s", st.Name, target.ID, id), nil
}

// startRollback records a ROLLBACK execution waiting to enter stage idx; the caller's advance steps it.
func (e *Engine) startRollback(ctx context.Context, tx *store.Tx, idx int, target store.Execution, trigger, detail string, fx *effects) (string, error) {
	active, err := tx.ActiveExecutions(ctx, target.Pipeline)
	if err != nil {
		return "", err
	}
	if len(active) >= e.maxActive {
		return "", errorf(CodeConcurrentLimitExceeded, "Pipeline %s already has %d unfinished executions", target.Pipeline, len(active))
	}
	ex := store.Execution{
		ID: newID(), Pipeline: target.Pipeline, PipelineVersion: target.PipelineVersion, Status: StatusInProgress,
		Mode: target.Mode, Type: ExecutionTypeRollback, TriggerType: trigger, TriggerDetail: truncate(detail, 1024),
		StageIndex: idx, Waiting: true, Variables: target.Variables, SourceRevisions: target.SourceRevisions,
		RollbackTarget: target.ID,
	}
	if err := tx.InsertExecution(ctx, &ex); err != nil {
		return "", err
	}
	fx.started++
	fx.spawned = append(fx.spawned, ex)
	return ex.ID, nil
}
