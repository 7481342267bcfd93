-- Data-subject requests (DSR-1, DSR-2; issue 12): the request, the
-- identifiers it covers as blind-index hashes, its identity checks, its
-- one-time codes and its timeline. Everything personal the requester gave
-- (identifiers as typed, name, free text, an extension's reason, a
-- document's last four characters, a refusal's reasoning) is in
-- `sealed_details`, sealed by the vault under `details_key` as a
-- contact's document is; the rest names no one.
--
-- `created_by`, `refusal_proposed_by`, `verifier` and `actor` are account
-- ids without a foreign key, like the audit log's actor: the record
-- outlives accounts. No column holds an image of an identity document:
-- an in-person check records the document's type (and, sealed, its last
-- four characters) only.
CREATE TABLE requests (
    id                  BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    reference           TEXT    NOT NULL UNIQUE,
    types               TEXT    NOT NULL CHECK (length(types) > 0),
    channel             TEXT    NOT NULL
                        CHECK (channel IN ('web', 'in_person', 'phone', 'letter')),
    language            TEXT    NOT NULL CHECK (language IN ('fi', 'sv', 'en')),
    state               TEXT    NOT NULL CHECK (state IN ('received', 'awaiting_identity',
                            'verified', 'in_progress', 'answered', 'refused', 'withdrawn')),
    received_at         INTEGER NOT NULL,
    -- The due date in force at the last change (YYYY-MM-DD), with the
    -- calendar rules that computed it and the clock it came from (holiday
    -- policy, extension months and day, pauses; JSON, no reason text).
    due_date            TEXT    NOT NULL,
    calendar_version    TEXT    NOT NULL,
    clock               TEXT    NOT NULL CHECK (json_valid(clock)),
    assurance_needed    TEXT    NOT NULL CHECK (assurance_needed IN ('low', 'substantial', 'high')),
    assurance_proven    TEXT    CHECK (assurance_proven IN ('low', 'substantial', 'high')),
    objection_purposes  TEXT    NOT NULL,
    refusal_ground      TEXT,
    refusal_proposed_by BLOB    CHECK (refusal_proposed_by IS NULL OR length(refusal_proposed_by) = 16),
    refusal_proposed_at INTEGER,
    sealed_details      BLOB    NOT NULL,
    details_key         BLOB    NOT NULL,
    -- Bumped by every change; a change names the version it read, so two
    -- registrars moving one request at once cannot both win.
    version             INTEGER NOT NULL CHECK (version > 0),
    created_at          INTEGER NOT NULL,
    created_by          BLOB    CHECK (created_by IS NULL OR length(created_by) = 16),
    closed_at           INTEGER,
    retain_until        INTEGER,
    CHECK ((closed_at IS NULL) = (retain_until IS NULL)),
    CHECK ((refusal_ground IS NULL) = (refusal_proposed_by IS NULL))
) STRICT;

CREATE INDEX requests_open ON requests (due_date, id) WHERE closed_at IS NULL;
CREATE INDEX requests_by_retain_until ON requests (retain_until, id)
    WHERE retain_until IS NOT NULL;

-- The identifiers a request covers, as the contacts' blind index hashes
-- them (same key, same normalisation), so a request finds the subject's
-- contacts. `proven_by`: `code` (a one-time code reached it) or
-- `registrar` (with `basis`, a fixed code such as `in_person_check`).
CREATE TABLE request_identifiers (
    request_id BLOB    NOT NULL REFERENCES requests (id),
    kind       TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    proven_by  TEXT    CHECK (proven_by IN ('code', 'registrar')),
    basis      TEXT,
    proven_at  INTEGER,
    PRIMARY KEY (request_id, kind, hash),
    CHECK ((proven_by IS NULL) = (proven_at IS NULL))
) STRICT;

CREATE INDEX request_identifiers_by_hash ON request_identifiers (kind, hash);

CREATE TABLE request_verifications (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    request_id    BLOB    NOT NULL REFERENCES requests (id),
    method        TEXT    NOT NULL
                  CHECK (method IN ('email_code', 'sms_code', 'in_person', 'strong_electronic')),
    assurance     TEXT    NOT NULL CHECK (assurance IN ('low', 'substantial', 'high')),
    verifier      BLOB    CHECK (verifier IS NULL OR length(verifier) = 16),
    document_type TEXT    CHECK (document_type IN ('passport', 'id_card', 'driving_licence')),
    at            INTEGER NOT NULL
) STRICT;

CREATE INDEX request_verifications_by_request ON request_verifications (request_id, at);

-- One live code per request and kind (phone, email): a new one replaces
-- the old. Only its keyed hash is kept; `tries_left` only ever falls.
CREATE TABLE request_codes (
    request_id   BLOB    NOT NULL REFERENCES requests (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('phone', 'email')),
    address_hash BLOB    NOT NULL,
    code_hash    BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    tries_left   INTEGER NOT NULL CHECK (tries_left >= 0),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (request_id, kind)
) STRICT;

-- What happened to a request, for its timeline: kinds and non-personal
-- facts (states, methods, months, grounds' codes) only.
CREATE TABLE request_events (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    request_id BLOB    NOT NULL REFERENCES requests (id),
    at         INTEGER NOT NULL,
    actor      BLOB    CHECK (actor IS NULL OR length(actor) = 16),
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL CHECK (json_valid(detail))
) STRICT;

CREATE INDEX request_events_by_request ON request_events (request_id, at, id);
