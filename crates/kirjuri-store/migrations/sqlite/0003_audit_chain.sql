-- The audit log's tamper evidence (AUD-2) and its query indexes.
--
-- * `audit_log` holds the log's identity: one random id made once, when this
--   schema is created, so every process on this data folder (and a restored
--   backup of it) signs under the same checkpoint origin
--   `kirjuri/<id>/audit`.
-- * `audit_checkpoints` holds every signed checkpoint (C2SP tlog-checkpoint,
--   Ed25519 signed note) of the RFC 6962 Merkle tree over `audit_events`.
--   `size` is the primary key, so two processes that race to sign the same
--   tree size cannot both store it. `root` and `size` are copies of what
--   the note says, for queries; verifiers trust only the note. `frontier` is
--   the tree's compact range at `size` (the roots of its perfect subtrees,
--   largest first, 32 bytes each), so the writer resumes without rereading
--   the log — after checking it reproduces the signed root.
-- * `audit_refs` indexes every event by the ids it names (its object, its
--   details' `contact`, the strings of a search's `results` array), so "who
--   accessed contact X" is an index lookup. It is derived data, filled by a
--   trigger in the same transaction as the event and rebuildable from
--   `audit_events`; it is not evidence and carries no guard.
--
-- Checkpoints are append-only like the events. The triggers stop mistakes
-- and the application's own connections; someone with the file can drop
-- them, which is what the signatures are for.

CREATE TABLE audit_log (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    log_id     TEXT    NOT NULL CHECK (length(log_id) = 32)
) STRICT;

INSERT INTO audit_log (id, log_id) VALUES (1, lower(hex(randomblob(16))));

CREATE TRIGGER audit_log_refuse_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log identity is fixed');
END;

CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log identity is fixed');
END;

CREATE TABLE audit_checkpoints (
    size       INTEGER NOT NULL PRIMARY KEY CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (length(root) = 32),
    note       TEXT    NOT NULL,
    frontier   BLOB    NOT NULL CHECK (length(frontier) % 32 = 0),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER audit_checkpoints_refuse_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_refuse_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TABLE audit_refs (
    ref TEXT    NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (ref, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_events_index_refs AFTER INSERT ON audit_events
BEGIN
    INSERT OR IGNORE INTO audit_refs (ref, seq)
    SELECT value, NEW.seq FROM (
        SELECT NEW.object AS value
        UNION ALL SELECT json_extract(NEW.details, '$.contact')
        UNION ALL SELECT value FROM json_each(NEW.details, '$.results')
            WHERE json_type(NEW.details, '$.results') = 'array'
    )
    WHERE typeof(value) = 'text';
END;

INSERT OR IGNORE INTO audit_refs (ref, seq)
SELECT value, seq FROM (
    SELECT seq, object AS value FROM audit_events
    UNION ALL SELECT seq, json_extract(details, '$.contact') FROM audit_events
    UNION ALL SELECT e.seq, r.value FROM audit_events AS e, json_each(e.details, '$.results') AS r
        WHERE json_type(e.details, '$.results') = 'array'
)
WHERE typeof(value) = 'text';

-- "What did user Y do" and "every denial" page through these in seq order.
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
