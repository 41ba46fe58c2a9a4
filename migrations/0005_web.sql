-- The web dashboard: local users and their browser sessions, the audit log, and notifications
-- (targets, rules and the deliveries that carry events to them). Times are unix milliseconds (UTC).

CREATE TABLE users (
    name          TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,                 -- bcrypt
    role          TEXT    NOT NULL,                 -- viewer | operator | approver | admin
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL DEFAULT 0
);

-- A session is found by the SHA-256 of its cookie value, so a copy of the database does not hold
-- usable cookies. Deleting a user ends their sessions.
CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_name    TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    remote_addr  TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Who did what, through the UI, the REST extras or the AWS JSON API.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,                   -- user/alice, key/AKIA…
    role        TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL,                   -- ui | api | rest | system
    action      TEXT    NOT NULL,                   -- approve, stop, key.create, CodePipeline.StopPipelineExecution …
    target      TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL DEFAULT 'ok',      -- ok | denied | failed: …
    request_id  TEXT    NOT NULL DEFAULT '',
    remote_addr TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_by_action ON audit_log (action, seq);

-- Notification targets and rules: JSON definitions owned by the notify package.
CREATE TABLE notification_targets (
    name       TEXT    PRIMARY KEY,
    definition TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE notification_rules (
    name       TEXT    PRIMARY KEY,
    definition TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One delivery per (target, event): dedupe_key names the event (execution id and status, approval
-- action execution id, …), so an event seen twice (a restart, a replay) is sent once.
CREATE TABLE notification_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    target          TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    dedupe_key      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,               -- JSON: the event
    status          TEXT    NOT NULL,               -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_status     INTEGER NOT NULL DEFAULT 0,     -- HTTP status of the last attempt
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (target, dedupe_key)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_failed ON notification_deliveries (seq) WHERE status = 'failed';


-- The dashboard reads one execution's actions by pipeline and execution, newest first
-- (ListActionExecutions with an execution filter): with both columns in one index the rows come in
-- rowid order, without scanning the pipeline's whole action history.
CREATE INDEX action_executions_by_pipeline_execution ON action_executions (pipeline_name, execution_id);
