-- Sources: connections to git repositories, the deliveries that reached them (webhooks and
-- changes seen by polling), and what polling last saw.

CREATE TABLE connections (
    name             TEXT    PRIMARY KEY,
    provider         TEXT    NOT NULL,            -- github | gitea | gitlab | git
    url              TEXT    NOT NULL,            -- repository or forge base URL, never with credentials
    token_sealed     BLOB,                        -- clone token (sealed), NULL when none
    ssh_key_sealed   BLOB,                        -- clone SSH private key (sealed), NULL when none
    secret_sealed    BLOB,                        -- webhook secret (sealed); NULL: every webhook is refused
    allow_private    INTEGER NOT NULL DEFAULT 0,  -- may the URL resolve to loopback/private/link-local addresses
    poll_interval_ms INTEGER NOT NULL DEFAULT 0,  -- 0: no polling
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- Every delivery is recorded with its verdict, so a user can see why a push did or did not start a
-- pipeline. delivery_id and event_key carry the dedupe constraints; both are NULL for deliveries
-- that were refused (unauthenticated senders must not be able to reserve keys) and for duplicates.
CREATE TABLE webhook_deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    connection   TEXT    NOT NULL REFERENCES connections(name) ON DELETE CASCADE,
    delivery_id  TEXT,                            -- the sender's delivery id
    event_key    TEXT,                            -- repository, ref and commit of a push (the second dedupe key)
    origin       TEXT    NOT NULL,                -- webhook | poll
    received_at  INTEGER NOT NULL,
    remote_addr  TEXT    NOT NULL DEFAULT '',
    event        TEXT    NOT NULL DEFAULT '',     -- push, pull_request, ping, … as the sender names it
    action       TEXT    NOT NULL DEFAULT '',     -- pull requests: OPEN | UPDATED | CLOSED
    sender       TEXT    NOT NULL DEFAULT '',
    repository   TEXT    NOT NULL DEFAULT '',
    ref          TEXT    NOT NULL DEFAULT '',
    before_sha   TEXT    NOT NULL DEFAULT '',
    after_sha    TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL,                -- pending | started | ignored | duplicate | rejected | invalid | failed
    reason       TEXT    NOT NULL DEFAULT '',
    http_status  INTEGER NOT NULL DEFAULT 0,
    executions   TEXT    NOT NULL DEFAULT '[]',   -- JSON [{pipeline, executionId, triggerType}]
    event_json   TEXT    NOT NULL DEFAULT '',     -- the parsed event, so a pending delivery survives a restart
    processed_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (connection, delivery_id),
    UNIQUE (connection, event_key)
);
CREATE INDEX webhook_deliveries_by_connection ON webhook_deliveries (connection, seq);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (connection, seq) WHERE status = 'pending';

-- What polling last saw of a repository: its branch and tag heads.
CREATE TABLE poll_state (
    connection TEXT    NOT NULL REFERENCES connections(name) ON DELETE CASCADE,
    repository TEXT    NOT NULL,
    refs       TEXT    NOT NULL,                  -- JSON {ref: commit}
    polled_at  INTEGER NOT NULL,
    PRIMARY KEY (connection, repository)
);
