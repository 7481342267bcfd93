-- Retention (RET-1…RET-3): legal holds, tombstones, derived objects, and the
-- coordination tables that let background jobs run once across processes.

-- A derived object (waveform peaks) names the object it was computed from, so
-- a hold on a recording keeps its derived artefacts too.
ALTER TABLE objects ADD COLUMN source_id BLOB
    CHECK (source_id IS NULL OR length(source_id) = 16);
UPDATE objects SET source_id = (
    SELECT r.id FROM objects AS r
    WHERE r.contact_id = objects.contact_id AND r.kind = 'recording'
) WHERE kind = 'waveform';

-- An erased contact keeps its row (id, external id, channel, times, agent,
-- service) with an empty sealed document and document key; `erased_at`
-- says when. Its tombstone (kind 'contact') holds the rest of the proof.
ALTER TABLE contacts ADD COLUMN erased_at INTEGER;

-- The purge pages through expired rows by (retain_until, id), so these
-- indexes hand them over already in that order: a page reads what it
-- returns, never every expired row. The contacts' index leaves erased rows
-- out — they stay forever with their old deadlines, and a purge (or a dry
-- run) must not walk past years of them.
DROP INDEX objects_by_retain_until;
CREATE INDEX objects_by_retain_until ON objects (retain_until, id);
DROP INDEX contacts_by_retain_until;
CREATE INDEX contacts_by_retain_until ON contacts (retain_until, id) WHERE erased_at IS NULL;

-- RET-2. `owner`, `created_by`, `lifted_by` are account ids without a foreign
-- key, like the audit log's actor: the record outlives accounts.
CREATE TABLE legal_holds (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    ground_kind TEXT    NOT NULL CHECK (ground_kind IN
                    ('statute', 'contract', 'complaint', 'case', 'authority_request')),
    ground      TEXT    NOT NULL CHECK (length(ground) > 0),
    owner       BLOB    NOT NULL CHECK (length(owner) = 16),
    review_by   INTEGER NOT NULL,
    expires_at  INTEGER,
    scope       TEXT    NOT NULL CHECK (json_valid(scope)),
    created_at  INTEGER NOT NULL,
    created_by  BLOB    NOT NULL CHECK (length(created_by) = 16),
    lifted_at   INTEGER,
    lifted_by   BLOB    CHECK (lifted_by IS NULL OR length(lifted_by) = 16),
    lift_reason TEXT,
    reminded_at INTEGER,
    CHECK ((lifted_at IS NULL) = (lift_reason IS NULL)),
    CHECK (lift_reason IS NULL OR length(lift_reason) > 0)
) STRICT;

-- What a hold keeps: a whole contact (object_id NULL) or one object and what
-- is derived from it. No cap on the number of rows per hold.
CREATE TABLE legal_hold_targets (
    hold_id    BLOB NOT NULL REFERENCES legal_holds (id),
    contact_id BLOB NOT NULL REFERENCES contacts (id),
    object_id  BLOB CHECK (object_id IS NULL OR length(object_id) = 16)
) STRICT;

CREATE UNIQUE INDEX legal_hold_targets_unique
    ON legal_hold_targets (hold_id, contact_id, ifnull(object_id, x''));
-- "Is this object held?" is asked per expired row: the contact's targets
-- and their holds' ids come from this index alone.
CREATE INDEX legal_hold_targets_by_contact
    ON legal_hold_targets (contact_id, object_id, hold_id);

-- Proof of destruction (RET-3). `id` is the destroyed object's id, or the
-- contact's id for its erased document (kind 'contact'). No foreign keys: a
-- tombstone outlives what it describes.
CREATE TABLE tombstones (
    id                 BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    contact_id         BLOB    NOT NULL CHECK (length(contact_id) = 16),
    kind               TEXT    NOT NULL,
    rule               TEXT    NOT NULL,
    reason             TEXT    NOT NULL CHECK (reason IN
                           ('retention', 'erasure_request', 'ledger_replay')),
    sha256             TEXT    CHECK (sha256 IS NULL OR length(sha256) = 64),
    retain_until       INTEGER NOT NULL,
    deleted_at         INTEGER NOT NULL,
    ledgered_at        INTEGER,
    storage_deleted_at INTEGER
) STRICT;

CREATE INDEX tombstones_by_contact ON tombstones (contact_id);
-- A restarted purge finds its unfinished steps without a scan.
CREATE INDEX tombstones_unfinished ON tombstones (deleted_at, id)
    WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL;

-- Background jobs run once across processes and nodes: a job runs only
-- while its runner holds the lease.
CREATE TABLE job_leases (
    job    TEXT    NOT NULL PRIMARY KEY,
    holder TEXT    NOT NULL,
    until  INTEGER NOT NULL
) STRICT;

-- Running instances and their heartbeats (several nodes cannot see each
-- other's lock files).
CREATE TABLE instances (
    id           TEXT    NOT NULL PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL
) STRICT;
