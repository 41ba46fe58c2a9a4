-- Stage conditions: every evaluation of a rule of a stage's beforeEntry, onSuccess or onFailure
-- condition, and the conditions an operator overrode.
CREATE TABLE rule_executions (
    id               TEXT    PRIMARY KEY,
    execution_id     TEXT    NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    pipeline_name    TEXT    NOT NULL,
    pipeline_version INTEGER NOT NULL,
    stage_name       TEXT    NOT NULL,
    stage_attempt    INTEGER NOT NULL,
    condition_type   TEXT    NOT NULL, -- BEFORE_ENTRY, ON_SUCCESS or ON_FAILURE
    rule_name        TEXT    NOT NULL,
    status           TEXT    NOT NULL, -- InProgress, Succeeded, Failed or Abandoned
    summary          TEXT    NOT NULL DEFAULT '',
    input            TEXT    NOT NULL DEFAULT '{}', -- ruleTypeId, configuration, resolvedConfiguration
    updated_by       TEXT    NOT NULL DEFAULT '',
    wake_at          INTEGER NOT NULL DEFAULT 0,    -- when a waiting rule is checked again
    deadline         INTEGER NOT NULL DEFAULT 0,    -- when a waiting rule gives up (0: never)
    started_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX rule_executions_by_execution ON rule_executions (execution_id, stage_name);
CREATE INDEX rule_executions_by_pipeline ON rule_executions (pipeline_name, started_at);

-- Condition types (comma-separated) an operator overrode for this stage run.
ALTER TABLE stage_executions ADD COLUMN condition_overrides TEXT NOT NULL DEFAULT '';
