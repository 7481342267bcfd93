-- Kirjuri's SQLite schema, version 1.
--
-- Storage conventions (the PostgreSQL schema mirrors them, see src/lib.rs):
-- * Timestamps are INTEGER microseconds since the Unix epoch, UTC. They sort
--   and compare as numbers, and map one-to-one onto PostgreSQL timestamptz,
--   whose resolution is also one microsecond.
-- * UUIDs are BLOB(16), the raw big-endian bytes (PostgreSQL: uuid). Byte
--   order equals the order of `uuid::Uuid`, so keyset pagination on
--   (started_at, id) agrees between Rust, SQLite and PostgreSQL.
-- * JSON is TEXT checked with json_valid (PostgreSQL: jsonb).
-- * No column holds plaintext personal data: `sealed_document`,
--   `document_key` and `wrapped_key` are ciphertext / wrapped keys, and
--   `contact_index.hash` is a keyed blind-index hash.
--
-- Tables are STRICT so a value of the wrong type is refused, not coerced.

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id           BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    user_id      BLOB    NOT NULL REFERENCES users (id),
    label        TEXT,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;

CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- `created_by` deliberately has no foreign key: provenance must survive the
-- removal or pseudonymisation of an account, exactly like the audit log's
-- `actor`.
CREATE TABLE contacts (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    external_id     TEXT,
    channel         TEXT    NOT NULL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    agent           TEXT    NOT NULL,
    service         TEXT,
    created_at      INTEGER NOT NULL,
    created_by      BLOB    NOT NULL CHECK (length(created_by) = 16),
    sealed_document BLOB    NOT NULL,
    document_key    BLOB    NOT NULL,
    retain_until    INTEGER NOT NULL
) STRICT;

-- Idempotent intake: a retried delivery finds its contact through this.
CREATE UNIQUE INDEX contacts_by_external_id ON contacts (external_id)
    WHERE external_id IS NOT NULL;
-- Newest-first listings, whole register and per agent; `id` breaks ties so
-- keyset pagination never skips or repeats a row.
CREATE INDEX contacts_by_started_at ON contacts (started_at, id);
CREATE INDEX contacts_by_agent_started_at ON contacts (agent, started_at, id);
-- The purge (RET-3) walks expired contacts in deadline order.
CREATE INDEX contacts_by_retain_until ON contacts (retain_until);

-- Blind indexes: one row per (contact, kind, keyed hash). WITHOUT ROWID makes
-- the primary key the table itself, so the (kind, hash) index below covers a
-- lookup completely (it carries contact_id) and never touches the table.
CREATE TABLE contact_index (
    contact_id BLOB NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (length(kind) > 0),
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (contact_id, kind, hash)
) STRICT, WITHOUT ROWID;

CREATE INDEX contact_index_by_hash ON contact_index (kind, hash);

-- Committed objects. The wrapped data key lives here, not beside the object,
-- so deleting this row crypto-shreds every copy of the object (SEC-2).
-- No ON DELETE CASCADE from contacts: an object goes only through the purge,
-- which must see it (legal holds, tombstones).
CREATE TABLE objects (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    contact_id    BLOB    NOT NULL REFERENCES contacts (id),
    kind          TEXT    NOT NULL,
    wrapped_key   BLOB    NOT NULL,
    sha256        TEXT    NOT NULL CHECK (length(sha256) = 64),
    plaintext_len INTEGER NOT NULL CHECK (plaintext_len >= 0),
    stored_len    INTEGER NOT NULL CHECK (stored_len >= 0),
    media         TEXT    NOT NULL CHECK (json_valid(media)),
    retain_until  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    -- A contact has at most one object of each kind: a recording is
    -- immutable evidence, never replaced.
    UNIQUE (contact_id, kind)
) STRICT;

CREATE INDEX objects_by_retain_until ON objects (retain_until);

-- Objects being written. A row exists from before the first byte reaches
-- object storage until the object is committed or aborted, so an orphan sweep
-- that lists stored files and then reads (objects ∪ pending_objects) never
-- deletes an upload in flight.
CREATE TABLE pending_objects (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    contact_id  BLOB    NOT NULL REFERENCES contacts (id),
    kind        TEXT    NOT NULL,
    instance_id TEXT    NOT NULL,
    started_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX pending_objects_by_contact ON pending_objects (contact_id, kind);

-- The audit log (AUD-1). AUTOINCREMENT guarantees a sequence number is never
-- reused, even after the highest row would be gone; SQLite serialises writers,
-- so seq order is commit order — the hash chain of AUD-2 relies on it.
-- `actor` has no foreign key: the log outlives accounts.
CREATE TABLE audit_events (
    seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   BLOB CHECK (actor IS NULL OR length(actor) = 16),
    action  TEXT    NOT NULL,
    object  TEXT,
    purpose TEXT,
    outcome TEXT    NOT NULL,
    details TEXT    NOT NULL CHECK (json_valid(details))
) STRICT;

CREATE TRIGGER audit_events_refuse_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_events_refuse_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
