-- Data-subject requests (DSR-1, DSR-2; issue 12) on PostgreSQL: SQLite's
-- 0007, whose comments give the reasoning; only the types differ. Dates
-- and JSON are text, bound the same way on both databases.
CREATE TABLE requests (
    id                  uuid        NOT NULL PRIMARY KEY,
    reference           text        NOT NULL UNIQUE,
    types               text        NOT NULL CHECK (length(types) > 0),
    channel             text        NOT NULL
                        CHECK (channel IN ('web', 'in_person', 'phone', 'letter')),
    language            text        NOT NULL CHECK (language IN ('fi', 'sv', 'en')),
    state               text        NOT NULL CHECK (state IN ('received', 'awaiting_identity',
                            'verified', 'in_progress', 'answered', 'refused', 'withdrawn')),
    received_at         timestamptz NOT NULL,
    due_date            text        NOT NULL,
    calendar_version    text        NOT NULL,
    clock               text        NOT NULL,
    assurance_needed    text        NOT NULL CHECK (assurance_needed IN ('low', 'substantial', 'high')),
    assurance_proven    text        CHECK (assurance_proven IN ('low', 'substantial', 'high')),
    objection_purposes  text        NOT NULL,
    refusal_ground      text,
    refusal_proposed_by uuid,
    refusal_proposed_at timestamptz,
    sealed_details      bytea       NOT NULL,
    details_key         bytea       NOT NULL,
    version             bigint      NOT NULL CHECK (version > 0),
    created_at          timestamptz NOT NULL,
    created_by          uuid,
    closed_at           timestamptz,
    retain_until        timestamptz,
    CHECK ((closed_at IS NULL) = (retain_until IS NULL)),
    CHECK ((refusal_ground IS NULL) = (refusal_proposed_by IS NULL))
);

CREATE INDEX requests_open ON requests (due_date, id) WHERE closed_at IS NULL;
CREATE INDEX requests_by_retain_until ON requests (retain_until, id)
    WHERE retain_until IS NOT NULL;

CREATE TABLE request_identifiers (
    request_id uuid        NOT NULL REFERENCES requests (id),
    kind       text        NOT NULL,
    hash       bytea       NOT NULL,
    proven_by  text        CHECK (proven_by IN ('code', 'registrar')),
    basis      text,
    proven_at  timestamptz,
    PRIMARY KEY (request_id, kind, hash),
    CHECK ((proven_by IS NULL) = (proven_at IS NULL))
);

CREATE INDEX request_identifiers_by_hash ON request_identifiers (kind, hash);

CREATE TABLE request_verifications (
    id            uuid        NOT NULL PRIMARY KEY,
    request_id    uuid        NOT NULL REFERENCES requests (id),
    method        text        NOT NULL
                  CHECK (method IN ('email_code', 'sms_code', 'in_person', 'strong_electronic')),
    assurance     text        NOT NULL CHECK (assurance IN ('low', 'substantial', 'high')),
    verifier      uuid,
    document_type text        CHECK (document_type IN ('passport', 'id_card', 'driving_licence')),
    at            timestamptz NOT NULL
);

CREATE INDEX request_verifications_by_request ON request_verifications (request_id, at);

CREATE TABLE request_codes (
    request_id   uuid        NOT NULL REFERENCES requests (id),
    kind         text        NOT NULL CHECK (kind IN ('phone', 'email')),
    address_hash bytea       NOT NULL,
    code_hash    bytea       NOT NULL,
    expires_at   timestamptz NOT NULL,
    tries_left   bigint      NOT NULL CHECK (tries_left >= 0),
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (request_id, kind)
);

CREATE TABLE request_events (
    id         uuid        NOT NULL PRIMARY KEY,
    request_id uuid        NOT NULL REFERENCES requests (id),
    at         timestamptz NOT NULL,
    actor      uuid,
    kind       text        NOT NULL,
    detail     text        NOT NULL
);

CREATE INDEX request_events_by_request ON request_events (request_id, at, id);
