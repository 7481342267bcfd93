-- Retention (RET-1…RET-3) on PostgreSQL: legal holds and their targets, and
-- tombstones — SQLite's 0005 less what 0001 already holds (objects.source_id,
-- contacts.erased_at, the (retain_until, id) deadline indexes, job leases,
-- instances). The reasoning is that migration's; only the types differ.

-- RET-2. `owner`, `created_by`, `lifted_by` are account ids without a foreign
-- key, like the audit log's actor: the record outlives accounts.
CREATE TABLE legal_holds (
    id          uuid        NOT NULL PRIMARY KEY,
    ground_kind text        NOT NULL CHECK (ground_kind IN
                    ('statute', 'contract', 'complaint', 'case', 'authority_request')),
    ground      text        NOT NULL CHECK (length(ground) > 0),
    owner       uuid        NOT NULL,
    review_by   timestamptz NOT NULL,
    expires_at  timestamptz,
    scope       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  uuid        NOT NULL,
    lifted_at   timestamptz,
    lifted_by   uuid,
    lift_reason text        CHECK (lift_reason IS NULL OR length(lift_reason) > 0),
    reminded_at timestamptz,
    CHECK ((lifted_at IS NULL) = (lift_reason IS NULL))
);

-- What a hold keeps: a whole contact (object_id NULL) or one object and what
-- is derived from it. No cap on the number of rows per hold. The unique
-- index's expression sorts a whole-contact target (the nil uuid) before the
-- contact's objects, as `HoldTarget`'s order and SQLite's x'' do, so it also
-- walks a hold's targets page by page.
CREATE TABLE legal_hold_targets (
    hold_id    uuid NOT NULL REFERENCES legal_holds (id),
    contact_id uuid NOT NULL REFERENCES contacts (id),
    object_id  uuid
);

CREATE UNIQUE INDEX legal_hold_targets_unique ON legal_hold_targets
    (hold_id, contact_id, coalesce(object_id, '00000000-0000-0000-0000-000000000000'));
-- "Is this object held?" is asked per expired row: the contact's targets
-- and their holds' ids come from this index alone.
CREATE INDEX legal_hold_targets_by_contact
    ON legal_hold_targets (contact_id, object_id, hold_id);

-- Proof of destruction (RET-3). `id` is the destroyed object's id, or the
-- contact's id for its erased document (kind 'contact'). No foreign keys: a
-- tombstone outlives what it describes.
CREATE TABLE tombstones (
    id                 uuid        NOT NULL PRIMARY KEY,
    contact_id         uuid        NOT NULL,
    kind               text        NOT NULL,
    rule               text        NOT NULL,
    reason             text        NOT NULL CHECK (reason IN
                           ('retention', 'erasure_request', 'ledger_replay')),
    sha256             text        CHECK (sha256 IS NULL OR length(sha256) = 64),
    retain_until       timestamptz NOT NULL,
    deleted_at         timestamptz NOT NULL,
    ledgered_at        timestamptz,
    storage_deleted_at timestamptz
);

CREATE INDEX tombstones_by_contact ON tombstones (contact_id);
-- A restarted purge finds its unfinished steps without a scan.
CREATE INDEX tombstones_unfinished ON tombstones (deleted_at, id)
    WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL;
