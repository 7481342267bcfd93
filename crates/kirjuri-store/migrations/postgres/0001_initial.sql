-- Kirjuri's PostgreSQL schema, version 1: what SQLite's migrations 0001–0004
-- hold, plus the parts of its 0005 that are not retention proper (job leases,
-- instances, objects.source_id, contacts.erased_at). Legal holds and
-- tombstones come in 0002_retention.sql.
--
-- Storage conventions (the same as SQLite's, see src/lib.rs), so a database
-- can move from one backend to the other:
-- * Timestamps are timestamptz (microsecond resolution, like SQLite's integer
--   microseconds); the adapter truncates to the microsecond before binding.
-- * Ids are uuid, ordered bytewise like `uuid::Uuid` and SQLite's blobs, so
--   keyset pagination on (started_at, id) agrees everywhere.
-- * `objects.media` is jsonb. The audit log's `details` is text, checked to
--   be JSON: the bytes written are the bytes the Merkle tree of AUD-2 hashes,
--   and jsonb would reorder and reformat them.
-- * No column holds plaintext personal data: `sealed_document`,
--   `document_key` and `wrapped_key` are ciphertext / wrapped keys, and
--   `contact_index.hash` is a keyed blind-index hash.
--
-- Unique constraints carry names, because the adapter maps a violation to
-- the conflict it reports by the constraint's name.
--
-- Privileges: whoever runs this owns every table. The application may
-- connect as another, less privileged role; `PostgresStore::migrate` grants
-- it what it needs — and on the audit tables only SELECT and INSERT.

CREATE TABLE users (
    id                        uuid        NOT NULL PRIMARY KEY,
    name                      text        NOT NULL CONSTRAINT users_name_unique UNIQUE,
    role                      text        NOT NULL,
    password_hash             text        NOT NULL,
    disabled                  boolean     NOT NULL DEFAULT false,
    created_at                timestamptz NOT NULL,
    -- SQLite 0002: lockout and a maintainer's confidentiality agreement.
    confidentiality_agreement text,
    failed_logins             bigint      NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_at                 timestamptz,
    -- SQLite 0004: the account's UI language.
    language                  text        CHECK (language IS NULL OR length(language) <= 8)
);

CREATE TABLE api_tokens (
    id           uuid        NOT NULL PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id),
    label        text,
    token_hash   bytea       NOT NULL CONSTRAINT api_tokens_token_hash_unique UNIQUE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- `created_by` deliberately has no foreign key: provenance must survive the
-- removal or pseudonymisation of an account, exactly like the audit log's
-- `actor`. An erased contact keeps its row with an empty sealed document and
-- document key; `erased_at` says when.
CREATE TABLE contacts (
    id              uuid        NOT NULL PRIMARY KEY,
    -- Idempotent intake: a retried delivery finds its contact through this.
    -- NULLs never collide.
    external_id     text        CONSTRAINT contacts_external_id_unique UNIQUE,
    channel         text        NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    agent           text        NOT NULL,
    service         text,
    created_at      timestamptz NOT NULL,
    created_by      uuid        NOT NULL,
    sealed_document bytea       NOT NULL,
    document_key    bytea       NOT NULL,
    retain_until    timestamptz NOT NULL,
    erased_at       timestamptz
);

-- Newest-first listings, whole register and per agent; `id` breaks ties so
-- keyset pagination never skips or repeats a row.
CREATE INDEX contacts_by_started_at ON contacts (started_at, id);
CREATE INDEX contacts_by_agent_started_at ON contacts (agent, started_at, id);
-- The purge (RET-3) pages through expired contacts by (retain_until, id),
-- so the index hands them over in that order and a page reads what it
-- returns. Erased rows stay forever with their old deadlines; leaving them
-- out keeps the purge from walking past years of them (as SQLite's 0005).
CREATE INDEX contacts_by_retain_until ON contacts (retain_until, id) WHERE erased_at IS NULL;

-- Blind indexes: one row per (contact, kind, keyed hash). The primary key
-- leads with (kind, hash) and carries contact_id, so a lookup is an
-- index-only scan that never touches this table's heap (once vacuumed), and
-- a further entry of a search is a point lookup on all three columns.
CREATE TABLE contact_index (
    contact_id uuid  NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind       text  NOT NULL CHECK (length(kind) > 0),
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT contact_index_by_hash PRIMARY KEY (kind, hash, contact_id)
);

-- Deleting a contact's entries (cascade, erasure) goes by contact.
CREATE INDEX contact_index_by_contact ON contact_index (contact_id);

-- Committed objects. The wrapped data key lives here, not beside the object,
-- so deleting this row crypto-shreds every copy of the object (SEC-2).
-- No ON DELETE CASCADE from contacts: an object goes only through the purge,
-- which must see it (legal holds, tombstones). A derived object (waveform
-- peaks) names its source, so a hold on a recording keeps it too.
CREATE TABLE objects (
    id            uuid        NOT NULL PRIMARY KEY,
    contact_id    uuid        NOT NULL REFERENCES contacts (id),
    kind          text        NOT NULL,
    wrapped_key   bytea       NOT NULL,
    sha256        text        NOT NULL CHECK (length(sha256) = 64),
    plaintext_len bigint      NOT NULL CHECK (plaintext_len >= 0),
    stored_len    bigint      NOT NULL CHECK (stored_len >= 0),
    media         jsonb       NOT NULL,
    retain_until  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    source_id     uuid,
    -- A contact has at most one object of each kind: a recording is
    -- immutable evidence, never replaced.
    CONSTRAINT objects_contact_kind_unique UNIQUE (contact_id, kind)
);

-- The purge pages through expired objects by (retain_until, id).
CREATE INDEX objects_by_retain_until ON objects (retain_until, id);

-- Objects being written. A row exists from before the first byte reaches
-- object storage until the object is committed or aborted, so an orphan sweep
-- that lists stored files and then reads (objects ∪ pending_objects) never
-- deletes an upload in flight.
CREATE TABLE pending_objects (
    id          uuid        NOT NULL PRIMARY KEY,
    contact_id  uuid        NOT NULL REFERENCES contacts (id),
    kind        text        NOT NULL,
    instance_id text        NOT NULL,
    started_at  timestamptz NOT NULL
);

CREATE INDEX pending_objects_by_contact ON pending_objects (contact_id, kind);

-- SQLite 0002: TOTP secrets (sealed by the vault) and browser sessions
-- (stored by the SHA-256 of their secret only).
CREATE TABLE user_totp (
    user_id               uuid   NOT NULL PRIMARY KEY REFERENCES users (id),
    -- The confirmed secret in use at login (both NULL until confirmed).
    wrapped_key           bytea,
    sealed_secret         bytea,
    -- An enrolment begun but not yet confirmed with a valid code.
    pending_wrapped_key   bytea,
    pending_sealed_secret bytea,
    last_step             bigint,
    CHECK ((wrapped_key IS NULL) = (sealed_secret IS NULL)),
    CHECK ((pending_wrapped_key IS NULL) = (pending_sealed_secret IS NULL))
);

CREATE TABLE sessions (
    id           uuid        NOT NULL PRIMARY KEY,
    secret_hash  bytea       NOT NULL CONSTRAINT sessions_secret_hash_unique UNIQUE
                             CHECK (length(secret_hash) = 32),
    user_id      uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- SQLite 0004: the purpose of processing chosen for this session.
    purpose      text        CHECK (purpose IS NULL OR length(purpose) <= 64)
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);

-- The audit log (AUD-1). `seq` is handed out by the adapter as max(seq) + 1
-- while it holds a transaction-scoped advisory lock that every appending
-- transaction takes first and keeps until it commits, so sequence numbers
-- are commit order with no gaps, across connections and nodes (AUD-2's
-- Merkle tree relies on it); the primary key refuses a duplicate should
-- anything ever bypass the lock. `actor` has no foreign key: the log
-- outlives accounts. The json cast checks `details` is JSON without
-- changing a byte of it.
CREATE TABLE audit_events (
    seq     bigint      NOT NULL PRIMARY KEY CHECK (seq > 0),
    at      timestamptz NOT NULL,
    actor   uuid,
    action  text        NOT NULL,
    object  text,
    purpose text,
    outcome text        NOT NULL,
    details text        NOT NULL CHECK (details::json IS NOT NULL)
);

-- One refusal for every append-only table; the message names the table's
-- rule, as SQLite's triggers do.
CREATE FUNCTION kirjuri_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END;
$$;

-- Statement-level, so even an UPDATE or DELETE that matches no row is
-- refused, and TRUNCATE (which fires no row triggers) too. These stop
-- mistakes and the table owner; the application's role has no UPDATE,
-- DELETE or TRUNCATE privilege on the audit tables in the first place.
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION kirjuri_refuse_change('audit log is append-only');

-- SQLite 0003: the log's identity, its signed checkpoints and its reference
-- index (see that migration for the reasoning; the same holds here).
CREATE TABLE audit_log (
    id     integer NOT NULL PRIMARY KEY CHECK (id = 1),
    log_id text    NOT NULL CHECK (log_id ~ '^[0-9a-f]{32}$')
);

-- 32 lowercase hex digits, like SQLite's hex(randomblob(16)).
INSERT INTO audit_log (id, log_id)
VALUES (1, md5(gen_random_uuid()::text || gen_random_uuid()::text));

CREATE TRIGGER audit_log_fixed
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION kirjuri_refuse_change('the audit log identity is fixed');

CREATE TABLE audit_checkpoints (
    size       bigint      NOT NULL PRIMARY KEY CHECK (size >= 0),
    root       bytea       NOT NULL CHECK (length(root) = 32),
    note       text        NOT NULL,
    frontier   bytea       NOT NULL CHECK (length(frontier) % 32 = 0),
    created_at timestamptz NOT NULL
);

CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION kirjuri_refuse_change('audit checkpoints are append-only');

-- Every event indexed by the ids it names: its object, its details'
-- `contact` and the strings of a search's `results` array — only string
-- values, as SQLite's json_extract/json_each with typeof = 'text'. Derived
-- data, filled in the same statement as the events (one pass over a bulk
-- insert, through the transition table) and rebuildable from them.
-- PostgreSQL's json functions refuse to de-escape `\u0000` anywhere in a
-- document (text cannot hold NUL), so the copy parsed here has it replaced;
-- the stored details keep every byte.
CREATE TABLE audit_refs (
    ref text   NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (ref, seq)
);

CREATE FUNCTION audit_events_index_refs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_refs (ref, seq)
    SELECT r.ref, r.seq FROM (
        SELECT n.seq, n.object AS ref FROM inserted AS n
        UNION ALL
        SELECT d.seq, d.doc ->> 'contact' FROM (
            SELECT n.seq, replace(n.details, '\u0000', '\ufffd')::json AS doc
            FROM inserted AS n
        ) AS d WHERE json_typeof(d.doc -> 'contact') = 'string'
        UNION ALL
        SELECT d.seq, e.value #>> '{}' FROM (
            SELECT n.seq, replace(n.details, '\u0000', '\ufffd')::json AS doc
            FROM inserted AS n
        ) AS d
        CROSS JOIN LATERAL json_array_elements(
            CASE WHEN json_typeof(d.doc -> 'results') = 'array'
                 THEN d.doc -> 'results' ELSE '[]'::json END
        ) AS e(value)
        WHERE json_typeof(e.value) = 'string'
    ) AS r
    WHERE r.ref IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_index_refs
    AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_index_refs();

-- "What did user Y do" and "every denial" page through these in seq order.
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX audit_events_by_action ON audit_events (action, seq);

-- SQLite 0005 (coordination): background jobs run once across processes and
-- nodes — a job runs only while its runner holds the lease — and running
-- instances leave heartbeats (nodes cannot see each other's lock files).
CREATE TABLE job_leases (
    job    text        NOT NULL PRIMARY KEY,
    holder text        NOT NULL,
    until  timestamptz NOT NULL
);

CREATE TABLE instances (
    id           text        NOT NULL PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL
);
