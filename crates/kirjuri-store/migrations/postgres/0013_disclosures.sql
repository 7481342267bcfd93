-- Disclosures to recipients, their contacts and their one-time links, as
-- SQLite's 0016_disclosures.sql (whose comments give the reasoning).
CREATE TABLE disclosures (
    id           uuid        NOT NULL PRIMARY KEY,
    recipient_id uuid        NOT NULL REFERENCES recipients (id),
    state        text        NOT NULL
                 CHECK (state IN ('awaiting_approval', 'approved', 'refused')),
    categories   text        NOT NULL,
    sealed       bytea       NOT NULL,
    wrapped_key  bytea       NOT NULL,
    n_contacts   bigint      NOT NULL CHECK (n_contacts > 0),
    requested_at timestamptz NOT NULL,
    requested_by uuid        NOT NULL,
    decided_at   timestamptz,
    decided_by   uuid        CHECK (decided_by IS NULL OR decided_by <> requested_by)
);

CREATE INDEX disclosures_by_state ON disclosures (state, requested_at);

CREATE TABLE disclosure_contacts (
    disclosure_id uuid NOT NULL REFERENCES disclosures (id),
    contact_id    uuid NOT NULL,
    PRIMARY KEY (disclosure_id, contact_id)
);

CREATE INDEX disclosure_contacts_by_contact ON disclosure_contacts (contact_id);

CREATE TABLE disclosure_links (
    id            uuid        NOT NULL PRIMARY KEY,
    disclosure_id uuid        NOT NULL REFERENCES disclosures (id),
    token_hash    bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    uuid        NOT NULL,
    used_at       timestamptz,
    revoked_at    timestamptz
);

CREATE INDEX disclosure_links_by_disclosure ON disclosure_links (disclosure_id);
