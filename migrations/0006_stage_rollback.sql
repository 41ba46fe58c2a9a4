-- Stage rollback: an execution of type ROLLBACK re-runs one stage with the artifacts and variables
-- of an earlier execution that succeeded in it (its target).
ALTER TABLE executions ADD COLUMN rollback_target TEXT NOT NULL DEFAULT '';
