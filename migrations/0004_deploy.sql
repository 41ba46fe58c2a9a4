-- CodeDeploy: applications, deployment groups, custom deployment configs, instances (the hosts'
-- agents) and their registration tokens, deployments, and one target per host and deployment that
-- carries the host command leased to the host's agent. Times are unix milliseconds (UTC).

CREATE TABLE deploy_applications (
    name             TEXT    PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    compute_platform TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE deploy_groups (
    id          TEXT    PRIMARY KEY,                -- deploymentGroupId (UUID)
    application TEXT    NOT NULL REFERENCES deploy_applications(name) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    definition  TEXT    NOT NULL,                   -- JSON: the group's settings as created/updated
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (application, name)
);

-- Custom configurations only; the CodeDeployDefault.* ones are built in.
CREATE TABLE deploy_configs (
    name              TEXT    PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    compute_platform  TEXT    NOT NULL,
    min_healthy_type  TEXT    NOT NULL,             -- HOST_COUNT | FLEET_PERCENT
    min_healthy_value INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);

-- Single-use registration tokens: only their SHA-256 is kept.
CREATE TABLE deploy_agent_tokens (
    hash       TEXT    PRIMARY KEY,
    tags       TEXT    NOT NULL DEFAULT '{}',       -- JSON: tags given to the instance that registers
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0,
    used_by    TEXT    NOT NULL DEFAULT ''          -- the instance that registered with it
);

-- Instances: registered by an agent (with a token) or through RegisterOnPremisesInstance (then an
-- agent registering with the same name takes it over). The agent's credential is kept as its
-- SHA-256 only (it is 256 random bits, so a plain hash is enough).
CREATE TABLE deploy_instances (
    name            TEXT    PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,        -- in the instance ARN
    agent_id        TEXT    UNIQUE,                 -- NULL until an agent registers
    credential_hash TEXT    NOT NULL DEFAULT '',
    iam_user_arn    TEXT    NOT NULL DEFAULT '',
    iam_session_arn TEXT    NOT NULL DEFAULT '',
    tags            TEXT    NOT NULL DEFAULT '{}',  -- JSON object
    hostname        TEXT    NOT NULL DEFAULT '',
    agent_version   TEXT    NOT NULL DEFAULT '',
    os              TEXT    NOT NULL DEFAULT '',
    arch            TEXT    NOT NULL DEFAULT '',
    registered_at   INTEGER NOT NULL,
    deregistered_at INTEGER NOT NULL DEFAULT 0,
    revoked         INTEGER NOT NULL DEFAULT 0,
    last_seen_at    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE deployments (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order (the group's queue)
    id           TEXT    NOT NULL UNIQUE,           -- d-XXXXXXXXX
    application  TEXT    NOT NULL,
    group_id     TEXT    NOT NULL,
    group_name   TEXT    NOT NULL,
    config_name  TEXT    NOT NULL,
    status       TEXT    NOT NULL,                  -- Queued | InProgress | Succeeded | Failed | Stopped
    creator      TEXT    NOT NULL,                  -- user | CodePipeline | codeDeployRollback
    revision     TEXT    NOT NULL,                  -- JSON: the revision location and its blob
    detail       TEXT    NOT NULL DEFAULT '{}',     -- JSON: options, health plan, errors, rollback links
    external_id  TEXT    NOT NULL DEFAULT '',       -- the pipeline action execution that created it
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER NOT NULL DEFAULT 0,
    completed_at INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX deployments_by_group ON deployments (group_id, seq);
CREATE INDEX deployments_active ON deployments (status) WHERE status IN ('Queued', 'InProgress');
CREATE UNIQUE INDEX deployments_by_external_id ON deployments (external_id) WHERE external_id != '';

-- One row per host and deployment; once dispatched it carries the host command (command_id) leased
-- to the instance's agent. Leases themselves live in memory: after a restart every open command
-- gets a fresh lease, so hosts are not failed for the time the server was down.
CREATE TABLE deployment_targets (
    deployment_id    TEXT    NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    instance         TEXT    NOT NULL,
    position         INTEGER NOT NULL,              -- rollout order
    status           TEXT    NOT NULL,              -- Pending | InProgress | Succeeded | Failed | Skipped
    events           TEXT    NOT NULL,              -- JSON: lifecycle events with diagnostics
    revision_sha256  TEXT    NOT NULL DEFAULT '',
    command_id       TEXT    UNIQUE,                -- set when dispatched
    agent_id         TEXT    NOT NULL DEFAULT '',   -- the agent the command is leased to
    delivered_at     INTEGER NOT NULL DEFAULT 0,
    reported_at      INTEGER NOT NULL DEFAULT 0,    -- first report from the agent: never re-delivered after
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    end_reason       TEXT    NOT NULL DEFAULT '',   -- agent | lease | stopped | skipped
    message          TEXT    NOT NULL DEFAULT '',
    dispatched_at    INTEGER NOT NULL DEFAULT 0,
    ended_at         INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, instance)
);
CREATE INDEX deployment_targets_open ON deployment_targets (instance) WHERE status = 'InProgress';
CREATE INDEX deployment_targets_by_instance ON deployment_targets (instance, ended_at);
