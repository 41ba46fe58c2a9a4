-- The spine: pipelines, executions, stage and action executions, transitions, tags, access keys,
-- blobs and versioned objects. Times are unix milliseconds (UTC) from the server clock.

CREATE TABLE pipelines (
    name          TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    declaration   TEXT    NOT NULL,          -- JSON of the current version
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Every version of every pipeline: an execution runs the version it started with.
CREATE TABLE pipeline_versions (
    pipeline_name TEXT    NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    declaration   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (pipeline_name, version)
);

CREATE TABLE stage_transitions (
    pipeline_name   TEXT    NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    stage_name      TEXT    NOT NULL,
    transition_type TEXT    NOT NULL CHECK (transition_type IN ('Inbound', 'Outbound')),
    enabled         INTEGER NOT NULL,
    reason          TEXT    NOT NULL DEFAULT '',
    changed_by      TEXT    NOT NULL DEFAULT '',
    changed_at      INTEGER NOT NULL,
    PRIMARY KEY (pipeline_name, stage_name, transition_type)
);

CREATE TABLE executions (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,   -- arrival order
    id                   TEXT    NOT NULL UNIQUE,
    pipeline_name        TEXT    NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    pipeline_version     INTEGER NOT NULL,
    status               TEXT    NOT NULL,
    status_summary       TEXT    NOT NULL DEFAULT '',
    execution_mode       TEXT    NOT NULL,
    execution_type       TEXT    NOT NULL DEFAULT 'STANDARD',
    trigger_type         TEXT    NOT NULL,
    trigger_detail       TEXT    NOT NULL DEFAULT '',
    -- Where the execution is: inside stage `stage_index`, or waiting to enter it (waiting = 1).
    stage_index          INTEGER NOT NULL DEFAULT 0,
    waiting              INTEGER NOT NULL DEFAULT 1,
    variables            TEXT    NOT NULL DEFAULT '[]',       -- JSON [{name, resolvedValue}]
    source_revisions     TEXT    NOT NULL DEFAULT '[]',       -- JSON [{actionName, revisionType, revisionValue}]
    client_request_token TEXT,
    stop_reason          TEXT    NOT NULL DEFAULT '',
    stop_abandon         INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (pipeline_name, client_request_token)
);
CREATE INDEX executions_by_pipeline ON executions (pipeline_name, seq);
CREATE INDEX executions_active ON executions (pipeline_name) WHERE status IN ('InProgress', 'Stopping');

CREATE TABLE stage_executions (
    execution_id   TEXT    NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    stage_name     TEXT    NOT NULL,
    stage_index    INTEGER NOT NULL,
    attempt        INTEGER NOT NULL,
    -- Action results from this attempt on count for the stage (ALL_ACTIONS retries start afresh).
    base_attempt   INTEGER NOT NULL DEFAULT 1,
    status         TEXT    NOT NULL,
    auto_retries   INTEGER NOT NULL DEFAULT 0,
    manual_retries INTEGER NOT NULL DEFAULT 0,
    retry_trigger  TEXT    NOT NULL DEFAULT '',
    started_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (execution_id, stage_name)
);

CREATE TABLE action_executions (
    id                     TEXT    PRIMARY KEY,
    execution_id           TEXT    NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    pipeline_name          TEXT    NOT NULL,
    pipeline_version       INTEGER NOT NULL,
    stage_name             TEXT    NOT NULL,
    action_name            TEXT    NOT NULL,
    run_order              INTEGER NOT NULL,
    attempt                INTEGER NOT NULL,
    status                 TEXT    NOT NULL,
    -- Why the action ended: failed, timeout, abandoned, superseded, infrastructure, server restart.
    reason                 TEXT    NOT NULL DEFAULT '',
    summary                TEXT    NOT NULL DEFAULT '',
    error_code             TEXT    NOT NULL DEFAULT '',
    external_execution_id  TEXT    NOT NULL DEFAULT '',
    external_execution_url TEXT    NOT NULL DEFAULT '',
    percent_complete       INTEGER NOT NULL DEFAULT 0,
    token                  TEXT    NOT NULL DEFAULT '',
    updated_by             TEXT    NOT NULL DEFAULT '',
    input                  TEXT    NOT NULL DEFAULT '{}',     -- JSON: type, configuration, resolved, artifacts
    output                 TEXT    NOT NULL DEFAULT '{}',     -- JSON: artifacts, variables
    started_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    deadline               INTEGER NOT NULL
);
CREATE INDEX action_executions_by_execution ON action_executions (execution_id, stage_name, action_name, attempt);
CREATE INDEX action_executions_by_pipeline ON action_executions (pipeline_name, stage_name, action_name);
CREATE INDEX action_executions_in_progress ON action_executions (pipeline_name) WHERE status = 'InProgress';
CREATE INDEX action_executions_by_token ON action_executions (token) WHERE token != '';

CREATE TABLE tags (
    resource_arn TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
);

-- API access keys. The secret is sealed (AES-256-GCM) with the server's secret key.
CREATE TABLE access_keys (
    id            TEXT    PRIMARY KEY,
    secret_sealed BLOB    NOT NULL,
    role          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL DEFAULT 0
);

-- Content-addressed blobs on disk (artifacts, uploaded objects).
CREATE TABLE blobs (
    sha256     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Versioned objects (the S3 source provider's buckets and keys).
CREATE TABLE objects (
    bucket     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    version_id TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    sha256     TEXT    NOT NULL REFERENCES blobs(sha256),
    size       INTEGER NOT NULL,
    etag       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX objects_latest ON objects (bucket, key, seq);
