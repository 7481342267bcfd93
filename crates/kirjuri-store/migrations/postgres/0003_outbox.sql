-- The durable outbox, as SQLite's 0006_outbox.sql (whose comments give the
-- reasoning); only the types differ.
CREATE TABLE outbox (
    id              uuid        NOT NULL PRIMARY KEY,
    channel         text        NOT NULL CHECK (channel IN ('email', 'sms')),
    kind            text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    wrapped_key     bytea       NOT NULL,
    sealed          bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    state           text        NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        bigint      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    claimed_by      text,
    claimed_until   timestamptz,
    settled_at      timestamptz,
    last_error      text        CHECK (last_error IS NULL OR length(last_error) <= 200)
);

CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX outbox_claimed ON outbox (claimed_until, id) WHERE state = 'sending';
CREATE INDEX outbox_by_created ON outbox (created_at, id);
