-- What data subjects have forbidden, as SQLite's 0014_subject_limits.sql
-- (whose comments give the reasoning).
CREATE TABLE subject_limits (
    id         uuid        NOT NULL PRIMARY KEY,
    request_id uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('restriction', 'objection')),
    purpose    text        CHECK ((kind = 'restriction') = (purpose IS NULL)),
    created_at timestamptz NOT NULL,
    created_by uuid        NOT NULL,
    lifted_at  timestamptz,
    lifted_by  uuid,
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);

CREATE INDEX subject_limits_by_request ON subject_limits (request_id);

CREATE TABLE subject_limit_identifiers (
    limit_id uuid  NOT NULL REFERENCES subject_limits (id) ON DELETE CASCADE,
    kind     text  NOT NULL CHECK (length(kind) > 0),
    hash     bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (limit_id, kind, hash)
);

CREATE INDEX subject_limit_identifiers_by_hash ON subject_limit_identifiers (kind, hash);
