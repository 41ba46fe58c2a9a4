-- CodeBuild: projects, builds, test reports and their cases, and the secret store that answers
-- parameter-store and secrets-manager references.

CREATE TABLE build_projects (
    name          TEXT    PRIMARY KEY,
    definition    TEXT    NOT NULL,                 -- JSON: the CodeBuild Project shape as created
    build_counter INTEGER NOT NULL DEFAULT 0,       -- CODEBUILD_BUILD_NUMBER of the latest build
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Builds outlive their project (DeleteProject keeps them), so no foreign key to build_projects.
CREATE TABLE builds (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,    -- <project>:<uuid>
    project             TEXT    NOT NULL,
    build_number        INTEGER NOT NULL,
    status              TEXT    NOT NULL,           -- IN_PROGRESS | SUCCEEDED | FAILED | FAULT | TIMED_OUT | STOPPED
    current_phase       TEXT    NOT NULL,
    initiator           TEXT    NOT NULL,
    idempotency_token   TEXT,
    request             TEXT    NOT NULL,           -- JSON: what the build runs with (resolved project + overrides)
    detail              TEXT    NOT NULL,           -- JSON: phases, artifacts, exported variables, reports, logs
    action_execution_id TEXT    NOT NULL DEFAULT '',-- the pipeline action that started it, if any
    stop_requested      INTEGER NOT NULL DEFAULT 0,
    started_at          INTEGER NOT NULL,
    ended_at            INTEGER NOT NULL DEFAULT 0,
    updated_at          INTEGER NOT NULL,
    UNIQUE (project, idempotency_token)
);
CREATE INDEX builds_by_project ON builds (project, seq);
CREATE INDEX builds_in_progress ON builds (status) WHERE status = 'IN_PROGRESS';
CREATE INDEX builds_by_action ON builds (action_execution_id) WHERE action_execution_id != '';

CREATE TABLE reports (
    arn         TEXT    PRIMARY KEY,
    build_id    TEXT    NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    group_name  TEXT    NOT NULL,                   -- <project>-<report group>
    type        TEXT    NOT NULL,                   -- TEST | CODE_COVERAGE
    format      TEXT    NOT NULL,
    status      TEXT    NOT NULL,                   -- SUCCEEDED | FAILED | INCOMPLETE
    summary     TEXT    NOT NULL DEFAULT '{}',      -- JSON TestReportSummary
    files       TEXT    NOT NULL DEFAULT '[]',      -- JSON [{name, sha256, size}] of the raw report files
    created_at  INTEGER NOT NULL
);
CREATE INDEX reports_by_build ON reports (build_id);

CREATE TABLE test_cases (
    report_arn  TEXT    NOT NULL REFERENCES reports(arn) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    prefix      TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    duration_ns INTEGER NOT NULL DEFAULT 0,
    message     TEXT    NOT NULL DEFAULT '',
    file        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (report_arn, seq)
);
CREATE INDEX test_cases_by_status ON test_cases (report_arn, status);

-- Secrets: values sealed with the server's secret key; names answer both parameter-store names and
-- secrets-manager ids.
CREATE TABLE secrets (
    name         TEXT    PRIMARY KEY,
    value_sealed BLOB    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
